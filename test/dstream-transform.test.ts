import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byTime, collect, harness } from './dstream-helpers.ts';

test('map, flatMap, filter over a queueStream, one queued array per batch', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const lines = h.ctx.queueStream([['a b', 'c'], [], ['d e f']]);
  const words = collect(lines.flatMap((l) => l.split(' ')));
  const upper = collect(lines.map((l) => l.toUpperCase()));
  const long = collect(lines.filter((l) => l.length > 1));
  h.ctx.start();
  await h.step(4);
  assert.deepEqual(byTime(words), { 1000: ['a', 'b', 'c'], 2000: [], 3000: ['d', 'e', 'f'], 4000: [] });
  assert.deepEqual(byTime(upper), { 1000: ['A B', 'C'], 2000: [], 3000: ['D E F'], 4000: [] });
  assert.deepEqual(byTime(long), { 1000: ['a b'], 2000: [], 3000: ['d e f'], 4000: [] });
});

test('queueStream with oneAtATime = false takes everything queued; defaultBatch fills empty batches', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const queue: number[][] = [[1], [2, 3]];
  const all = collect(h.ctx.queueStream(queue, false, [0]));
  h.ctx.start();
  await h.step();
  queue.push([4], [5]);
  await h.step(2);
  assert.deepEqual(byTime(all), { 1000: [1, 2, 3], 2000: [4, 5], 3000: [0] });
});

test('input pushed between batch times goes into the next batch', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const input = h.ctx.inputStream<string>();
  const out = collect(input);
  assert.equal(input.push('before start'), true);
  h.ctx.start();
  h.clock.advance(500);
  input.push('a');
  input.pushAll(['b', 'c']);
  await h.step(); // t = 1500: the batch at 1000 was cut at 1000
  input.push('d');
  h.clock.advance(500); // t = 2000: batch 2000
  await h.ctx.awaitIdle();
  assert.deepEqual(byTime(out), { 1000: ['before start', 'a', 'b', 'c'], 2000: ['d'] });
});

test('union, transform, count, reduce, countByValue', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const a = h.ctx.queueStream([[1, 2], [3]]);
  const b = h.ctx.queueStream([[10], [], [20, 20]]);
  const union = collect(a.union(b));
  const ctxUnion = collect(h.ctx.union(b, a));
  const transformed = collect(a.transform((records, time) => records.map((r) => `${r}@${time}`)));
  const counts = collect(b.count());
  const sums = collect(b.reduce((x, y) => x + y));
  const byValue = collect(b.countByValue());
  h.ctx.start();
  await h.step(3);
  assert.deepEqual(byTime(union), { 1000: [1, 2, 10], 2000: [3], 3000: [20, 20] });
  assert.deepEqual(byTime(ctxUnion), { 1000: [10, 1, 2], 2000: [3], 3000: [20, 20] });
  assert.deepEqual(byTime(transformed), { 1000: ['1@1000', '2@1000'], 2000: ['3@2000'], 3000: [] });
  assert.deepEqual(byTime(counts), { 1000: [1], 2000: [0], 3000: [2] });
  assert.deepEqual(byTime(sums), { 1000: [10], 2000: [], 3000: [40] });
  assert.deepEqual(byTime(byValue), { 1000: [[10, 1]], 2000: [], 3000: [[20, 2]] });
});

test('key/value: mapValues, reduceByKey, groupByKey, join', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const left = h.ctx.queueStream<[string, number]>([
    [['a', 1], ['b', 2], ['a', 3]],
    [['c', 4]],
  ]);
  const right = h.ctx.queueStream<[string, string]>([
    [['a', 'x'], ['a', 'y'], ['z', 'w']],
    [['c', 'v']],
  ]);
  const doubled = collect(left.mapValues((v) => v * 2));
  const sums = collect(left.reduceByKey((x, y) => x + y));
  const groups = collect(left.groupByKey());
  const joined = collect(left.join(right));
  h.ctx.start();
  await h.step(2);
  assert.deepEqual(byTime(doubled), { 1000: [['a', 2], ['b', 4], ['a', 6]], 2000: [['c', 8]] });
  assert.deepEqual(byTime(sums), { 1000: [['a', 4], ['b', 2]], 2000: [['c', 4]] });
  assert.deepEqual(byTime(groups), { 1000: [['a', [1, 3]], ['b', [2]]], 2000: [['c', [4]]] });
  assert.deepEqual(byTime(joined), {
    1000: [['a', [1, 'x']], ['a', [1, 'y']], ['a', [3, 'x']], ['a', [3, 'y']]],
    2000: [['c', [4, 'v']]],
  });
});

test('updateStateByKey: runs for every key each batch, undefined removes the key', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const events = h.ctx.queueStream<[string, number]>([
    [['a', 1], ['b', 5], ['a', 2]],
    [['b', -5]],
    [['c', 7]],
  ]);
  const calls: string[] = [];
  // A running sum per key; a key whose sum reaches 0 is removed.
  const totals = collect(
    events.updateStateByKey<string, number, number>((values, state, key) => {
      calls.push(`${key}:${values.join('+') || '-'}`);
      const sum = values.reduce((x, y) => x + y, state ?? 0);
      return sum === 0 ? undefined : sum;
    }),
  );
  h.ctx.start();
  await h.step(4);
  assert.deepEqual(byTime(totals), {
    1000: [['a', 3], ['b', 5]],
    2000: [['a', 3]],
    3000: [['a', 3], ['c', 7]],
    4000: [['a', 3], ['c', 7]],
  });
  assert.deepEqual(calls, ['a:1+2', 'b:5', 'a:-', 'b:-5', 'a:-', 'c:7', 'a:-', 'c:-']);
});

test('updateStateByKey with a timeout drops keys idle for that long', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const events = h.ctx.queueStream<[string, number]>([[['a', 1], ['b', 1]], [['b', 1]], [], [['b', 1]]]);
  const counts = collect(
    events.updateStateByKey<string, number, number>((values, state) => (state ?? 0) + values.length, {
      timeoutMs: 2000,
    }),
  );
  h.ctx.start();
  await h.step(6);
  // a: last new value at 1000 → idle 2000 ms at 3000 → gone. b: last at 4000 → gone at 6000.
  assert.deepEqual(byTime(counts), {
    1000: [['a', 1], ['b', 1]],
    2000: [['a', 1], ['b', 2]],
    3000: [['b', 2]],
    4000: [['b', 3]],
    5000: [['b', 3]],
    6000: [],
  });
});

test('each stream is computed at most once per batch, and only if an output reaches it', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const source = h.ctx.queueStream([[1, 2, 3], [4]]);
  let mapped = 0;
  let unused = 0;
  const shared = source.map((x) => {
    mapped++;
    return x * 10;
  });
  source.map((x) => {
    unused++;
    return x;
  }); // no output operation: never computed, as in Spark
  const a = collect(shared.filter((x) => x > 10));
  const b = collect(shared);
  h.ctx.start();
  await h.step(2);
  assert.equal(mapped, 4);
  assert.equal(unused, 0);
  assert.deepEqual(byTime(a), { 1000: [20, 30], 2000: [40] });
  assert.deepEqual(byTime(b), { 1000: [10, 20, 30], 2000: [40] });
});

test('print writes Spark console format: header per batch, n records, "..." when more, empty line', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const words = h.ctx.queueStream([['x', 'y', 'x', 'z'], []]);
  words.map((w) => [w, 1]).reduceByKey((a, b) => a + b).print(2);
  words.map((w) => [w, [1, 2]]).groupByKey().print();
  h.ctx.start();
  await h.step(2);
  assert.deepEqual(h.lines, [
    '-------------------------------------------',
    'Time: 1000 ms',
    '-------------------------------------------',
    '(x,2)',
    '(y,1)',
    '...',
    '',
    '-------------------------------------------',
    'Time: 1000 ms',
    '-------------------------------------------',
    '(x,[(1,2), (1,2)])',
    '(y,[(1,2)])',
    '(z,[(1,2)])',
    '',
    '-------------------------------------------',
    'Time: 2000 ms',
    '-------------------------------------------',
    '',
    '-------------------------------------------',
    'Time: 2000 ms',
    '-------------------------------------------',
    '',
  ]);
});

test('print with an explicit writer, and print(0)', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const own: string[] = [];
  const s = h.ctx.queueStream([[{ id: 1 }, 'text', 2.5, [1, [2, 3]]]]);
  s.print(10, (line) => own.push(line));
  s.print(0);
  h.ctx.start();
  await h.step();
  assert.deepEqual(own.slice(3), ['{"id":1}', 'text', '2.5', '(1,(2,3))', '']);
  assert.deepEqual(h.lines.slice(3), ['...', '']);
});

test('foreachBatch: async output operations run one after another, in registration order', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const s = h.ctx.queueStream([[1], [2]]);
  const events: string[] = [];
  s.foreachBatch(async (records, time) => {
    events.push(`A start ${time} ${records.join()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    events.push(`A end ${time}`);
  });
  s.foreachRDD((records, time) => {
    events.push(`B ${time} ${records.join()}`);
  });
  h.ctx.start();
  h.clock.advance(2000); // both batches queued at once: still processed one after the other
  await h.ctx.awaitIdle();
  assert.deepEqual(events, ['A start 1000 1', 'A end 1000', 'B 1000 1', 'A start 2000 2', 'A end 2000', 'B 2000 2']);
});
