import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byTime, collect, harness, mulberry32, sortPairs } from './dstream-helpers.ts';

// Batch interval 1000 ms, context started at 0: batches at 1000, 2000, …; a window at t covers (t − length, t].

test('window(3000, 1000): every batch, the last three batches; partial windows at the start', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const out = collect(h.ctx.queueStream([[1], [2], [3], [4], [5]]).window(3000, 1000));
  h.ctx.start();
  await h.step(6);
  // time      1000 2000 3000 4000 5000 6000
  // batch       1    2    3    4    5    -
  // @1000     [ 1 ]
  // @2000     [ 1    2 ]
  // @3000     [ 1    2    3 ]
  // @4000          [ 2    3    4 ]
  // @5000               [ 3    4    5 ]
  // @6000                    [ 4    5    - ]
  assert.deepEqual(byTime(out), {
    1000: [1],
    2000: [1, 2],
    3000: [1, 2, 3],
    4000: [2, 3, 4],
    5000: [3, 4, 5],
    6000: [4, 5],
  });
});

test('window(4000, 2000): emits only on multiples of the slide', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const out = collect(h.ctx.queueStream([[1], [2], [3], [4], [5], [6]]).window(4000, 2000));
  h.ctx.start();
  await h.step(6);
  // time      1000 2000 3000 4000 5000 6000
  // batch       1    2    3    4    5    6
  // @2000     [ 1    2 ]
  // @4000     [ 1    2    3    4 ]
  // @6000               [ 3    4    5    6 ]
  assert.deepEqual(byTime(out), { 2000: [1, 2], 4000: [1, 2, 3, 4], 6000: [3, 4, 5, 6] });
});

test('window(2000, 3000): a slide longer than the length leaves gaps', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const out = collect(h.ctx.queueStream([[1], [2], [3], [4], [5], [6]]).window(2000, 3000));
  h.ctx.start();
  await h.step(6);
  // time      1000 2000 3000 4000 5000 6000
  // batch       1    2    3    4    5    6
  // @3000          [ 2    3 ]
  // @6000                         [ 5    6 ]
  // (batches 1 and 4 are in no window)
  assert.deepEqual(byTime(out), { 3000: [2, 3], 6000: [5, 6] });
});

test('window of a windowed stream: lengths and slides in multiples of the parent slide', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const pairsOfBatches = h.ctx.queueStream([[1], [2], [3], [4], [5], [6]]).window(2000, 2000);
  const out = collect(pairsOfBatches.window(4000, 2000));
  h.ctx.start();
  await h.step(6);
  // time        1000 2000 3000 4000 5000 6000
  // inner @2000 [ 1    2 ]
  // inner @4000           [ 3    4 ]
  // inner @6000                     [ 5    6 ]
  // outer @2000 [ 1    2 ]
  // outer @4000 [ 1    2    3    4 ]
  // outer @6000           [ 3    4    5    6 ]
  assert.deepEqual(byTime(out), { 2000: [1, 2], 4000: [1, 2, 3, 4], 6000: [3, 4, 5, 6] });
});

test('countByWindow and reduceByWindow (with and without the inverse function)', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const s = h.ctx.queueStream([[5, 5], [], [1], [], []]);
  const counts = collect(s.countByWindow(2000, 1000));
  const sums = collect(s.reduceByWindow((a, b) => a + b, 2000, 1000));
  const incremental = collect(s.reduceByWindow((a, b) => a + b, 2000, 1000, { invFn: (a, b) => a - b }));
  h.ctx.start();
  await h.step(5);
  // time      1000 2000 3000 4000 5000
  // batch     5 5   -    1    -    -
  // @1000     [5 5]                       count 2, sum 10
  // @2000     [5 5  - ]                   count 2, sum 10
  // @3000          [ -   1 ]              count 1, sum 1
  // @4000               [1   - ]          count 1, sum 1
  // @5000                    [ -   - ]    count 0, no sum (empty window); incremental keeps 0 as Spark does
  assert.deepEqual(byTime(counts), { 1000: [2], 2000: [2], 3000: [1], 4000: [1], 5000: [0] });
  assert.deepEqual(byTime(sums), { 1000: [10], 2000: [10], 3000: [1], 4000: [1], 5000: [] });
  assert.deepEqual(byTime(incremental), { 1000: [10], 2000: [10], 3000: [1], 4000: [1], 5000: [0] });
});

test('reduceByKeyAndWindow(3000, 1000) without inverse, with inverse, with inverse and filter', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const words = h.ctx.queueStream([['a', 'a', 'b'], ['b'], ['c'], [], ['a'], []]).map((w) => [w, 1]);
  const add = (x: number, y: number): number => x + y;
  const sub = (x: number, y: number): number => x - y;
  const plain = collect(words.reduceByKeyAndWindow(add, 3000, 1000));
  const inverse = collect(words.reduceByKeyAndWindow(add, 3000, 1000, { invFn: sub }));
  const filtered = collect(words.reduceByKeyAndWindow(add, 3000, 1000, { invFn: sub, filterFn: ([, n]) => n > 0 }));
  h.ctx.start();
  await h.step(6);
  // time      1000   2000  3000  4000  5000  6000
  // batch     a a b   b     c     -     a     -
  // @1000     [a:2 b:1]
  // @2000     [a:2 b:2          ]
  // @3000     [a:2 b:2     c:1  ]
  // @4000           [b:1   c:1   -  ]
  // @5000                 [c:1   -    a:1]
  // @6000                       [-    a:1   - ]
  assert.deepEqual(byTime(plain), {
    1000: [['a', 2], ['b', 1]],
    2000: [['a', 2], ['b', 2]],
    3000: [['a', 2], ['b', 2], ['c', 1]],
    4000: [['b', 1], ['c', 1]],
    5000: [['c', 1], ['a', 1]],
    6000: [['a', 1]],
  });
  // With an inverse function and no filter, keys that fell back to 0 stay (as in Spark).
  assert.deepEqual(byTime(inverse), {
    1000: [['a', 2], ['b', 1]],
    2000: [['a', 2], ['b', 2]],
    3000: [['a', 2], ['b', 2], ['c', 1]],
    4000: [['a', 0], ['b', 1], ['c', 1]],
    5000: [['a', 1], ['b', 0], ['c', 1]],
    6000: [['a', 1], ['b', 0], ['c', 0]],
  });
  assert.deepEqual(byTime(filtered), byTime(plain));
});

test('reduceByKeyAndWindow(3000, 2000) incremental: previous window − leaving batches + entering batches', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const s = h.ctx.queueStream<[string, number]>([[['k', 1]], [['k', 10]], [['k', 100]], [['k', 1000]], [['k', 10000]], []]);
  const invCalls: string[] = [];
  const out = collect(
    s.reduceByKeyAndWindow((a, b) => a + b, 3000, 2000, {
      invFn: (a, b) => {
        invCalls.push(`${a}-${b}`);
        return a - b;
      },
    }),
  );
  h.ctx.start();
  await h.step(6);
  // time      1000 2000 3000 4000 5000 6000
  // batch       1   10  100  1000 1e4   -
  // @2000     [ 1   10 ]                          = 11
  // @4000          [10  100  1000]                = 11 − 1 + 1100
  // @6000                    [1000 1e4   - ]      = 1110 − 110 + 10000
  assert.deepEqual(byTime(out), { 2000: [['k', 11]], 4000: [['k', 1110]], 6000: [['k', 11000]] });
  assert.deepEqual(invCalls, ['11-1', '1110-110']);
});

test('groupByKeyAndWindow and countByValueAndWindow', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const s = h.ctx.queueStream([['x', 'y', 'x'], ['y'], [], []]);
  const groups = collect(s.map((w) => [w, w.toUpperCase()]).groupByKeyAndWindow(2000, 1000));
  const counts = collect(s.countByValueAndWindow(2000, 1000));
  h.ctx.start();
  await h.step(4);
  // time      1000    2000  3000  4000
  // batch     x y x    y     -     -
  // @1000     [x y x]
  // @2000     [x y x   y ]
  // @3000             [y     - ]
  // @4000                   [-     - ]
  assert.deepEqual(byTime(groups), {
    1000: [['x', ['X', 'X']], ['y', ['Y']]],
    2000: [['x', ['X', 'X']], ['y', ['Y', 'Y']]],
    3000: [['y', ['Y']]],
    4000: [],
  });
  assert.deepEqual(byTime(counts), {
    1000: [['x', 2], ['y', 1]],
    2000: [['x', 2], ['y', 2]],
    3000: [['y', 1]],
    4000: [],
  });
});

test('reduceByKeyAndWindow with and without inverse agree on 10,000 seeded random records', async (t) => {
  const batches = 100;
  const random = mulberry32(20261125);
  const queue: [string, number][][] = Array.from({ length: batches }, () => []);
  for (let i = 0; i < 10_000; i++) {
    const batch = Math.floor(random() * batches);
    const key = `k${Math.floor(random() * 30)}`;
    queue[batch].push([key, 1 + Math.floor(random() * 9)]); // positive: a sum of 0 means no record in the window
  }
  for (const [length, slide] of [
    [5000, 1000],
    [10000, 3000],
    [7000, 7000],
    [2000, 5000],
  ]) {
    const h = harness();
    t.after(() => h.ctx.stop());
    const s = h.ctx.queueStream(queue.map((b) => [...b]));
    let plainCalls = 0;
    let incrementalCalls = 0;
    const plain = collect(s.reduceByKeyAndWindow((a, b) => (plainCalls++, a + b), length, slide));
    const incremental = collect(
      s.reduceByKeyAndWindow((a, b) => (incrementalCalls++, a + b), length, slide, {
        invFn: (a, b) => a - b,
      }),
    );
    const filtered = collect(
      s.reduceByKeyAndWindow((a, b) => a + b, length, slide, { invFn: (a, b) => a - b, filterFn: ([, v]) => v !== 0 }),
    );
    h.ctx.start();
    await h.step(batches + 10);
    assert.equal(plain.size, Math.floor((batches + 10) / (slide / 1000)));
    assert.deepEqual([...incremental.keys()], [...plain.keys()]);
    for (const [time, records] of plain) {
      const label = `length ${length}, slide ${slide}, window at ${time}`;
      assert.deepEqual(sortPairs(filtered.get(time)!), sortPairs(records), label);
      assert.deepEqual(sortPairs(incremental.get(time)!.filter(([, v]) => v !== 0)), sortPairs(records), label);
    }
    if (slide < length) {
      assert.ok(incrementalCalls < plainCalls, `incremental did ${incrementalCalls} reductions vs ${plainCalls}`);
    }
  }
});

test('memoised batches are forgotten once no window needs them', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const input = h.ctx.inputStream<[string, number]>();
  const mapped = input.mapValues((v) => v + 1);
  const windowed = mapped.reduceByKeyAndWindow((a, b) => a + b, 5000, 1000, { invFn: (a, b) => a - b });
  windowed.foreachBatch(() => {});
  h.ctx.start();
  for (let i = 0; i < 200; i++) {
    input.push([`k${i % 7}`, i]);
    await h.step();
  }
  // The window needs the last length + slide of per-batch results; the rest has been dropped.
  for (const stream of [input, mapped, windowed]) {
    assert.ok(stream._cachedTimes.length <= 8, `${stream.name} keeps ${stream._cachedTimes.length} batches`);
  }
  assert.ok(input._cachedTimes.every((time) => time > 200_000 - 8000));
});
