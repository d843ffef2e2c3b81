import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../server/clock.ts';
import { DStreamError, StreamingContext } from '../server/engine/dstream/index.ts';
import { byTime, collect, harness } from './dstream-helpers.ts';

function assertCoded(fn: () => unknown, code: string, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DStreamError);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  });
}

test('invalid durations raise TS_ERR_DURATION naming the value', () => {
  const D = 'TS_ERR_DURATION';
  const must = (what: string, shown: string): string =>
    `${what} must be a positive whole number of milliseconds, got ${shown}`;
  assertCoded(() => new StreamingContext(0), D, must('batch interval', '0'));
  assertCoded(() => new StreamingContext(-1000), D, must('batch interval', '-1000'));
  assertCoded(() => new StreamingContext(Number.NaN), D, must('batch interval', 'NaN'));
  assertCoded(() => new StreamingContext('1s' as unknown as number), D, must('batch interval', '"1s"'));
  assertCoded(() => new StreamingContext(2.5), D, must('batch interval', '2.5'));

  const ctx = new StreamingContext(1000, { clock: new ManualClock() });
  const s = ctx.queueStream<[string, number]>([]);
  assertCoded(() => s.window(1500, 1000), D, 'window length 1500 ms is not a multiple of the batch interval 1000 ms');
  assertCoded(() => s.window(3000, 2500), D, 'window slide 2500 ms is not a multiple of the batch interval 1000 ms');
  assertCoded(() => s.window(0), D, must('window length', '0'));
  assertCoded(() => s.window(-3000, 1000), D, must('window length', '-3000'));
  assertCoded(() => s.window(Number.NaN, 1000), D, must('window length', 'NaN'));
  assertCoded(() => s.window(3000, Number.POSITIVE_INFINITY), D, must('window slide', 'Infinity'));
  assertCoded(() => s.window(undefined as unknown as number), D, must('window length', 'undefined'));
  assertCoded(() => s.countByWindow(2500, 1000), D, 'window length 2500 ms is not a multiple of the batch interval 1000 ms');
  assertCoded(() => s.reduceByWindow(([k]) => [k, 0], 3000, 0), D, must('window slide', '0'));
  assertCoded(
    () => s.reduceByKeyAndWindow((a, b) => a + b, 30_000, 10_500, { invFn: (a, b) => a - b }),
    D,
    'window slide 10500 ms is not a multiple of the batch interval 1000 ms',
  );
  assertCoded(() => s.groupByKeyAndWindow(1234), D, 'window length 1234 ms is not a multiple of the batch interval 1000 ms');
  assertCoded(() => s.countByValueAndWindow('30s' as unknown as number), D, must('window length', '"30s"'));
  assertCoded(
    () => s.window(2000, 2000).window(3000, 2000),
    D,
    "window length 3000 ms is not a multiple of the parent stream's slide 2000 ms",
  );
  assertCoded(() => s.updateStateByKey(() => 1, { timeoutMs: -5 }), D, must('state timeout', '-5'));
});

test('lifecycle errors: no output, defining after start, starting twice, incompatible streams', async (t) => {
  const ctx = new StreamingContext(1000, { clock: new ManualClock() });
  t.after(() => ctx.stop());
  const s = ctx.queueStream<number>([]);
  assertCoded(
    () => ctx.start(),
    'TS_ERR_NO_OUTPUT',
    'no output operations registered, so nothing to execute: add print() or foreachBatch() before start()',
  );
  assertCoded(
    () => s.union(s.window(2000, 2000)),
    'TS_ERR_INCOMPATIBLE_STREAMS',
    'union: streams slide by different durations (1000 ms and 2000 ms)',
  );
  const other = new StreamingContext(1000, { clock: new ManualClock() });
  assertCoded(
    () => s.union(other.queueStream<number>([])),
    'TS_ERR_INCOMPATIBLE_STREAMS',
    'union: stream queueStream belongs to another streaming context',
  );
  assertCoded(() => s.print(-1), 'TS_ERR_ARGUMENT', 'print count must be a non-negative integer, got -1');
  // A job in plain JavaScript has no types to catch these: they are named where the stream is defined, not at a batch.
  const kv = s.map((x): [number, number] => [x, x]);
  const notAFunction = (f: unknown) => f as (...args: any[]) => any;
  assertCoded(() => s.map(notAFunction(undefined)), 'TS_ERR_ARGUMENT', 'map function must be a function, got undefined');
  assertCoded(() => s.filter(notAFunction('x > 1')), 'TS_ERR_ARGUMENT', 'filter function must be a function, got "x > 1"');
  assertCoded(() => kv.reduceByKey(notAFunction(null)), 'TS_ERR_ARGUMENT', 'reduceByKey function must be a function, got null');
  assertCoded(
    () => kv.reduceByKeyAndWindow((a, b) => a + b, 3000, 1000, { invFn: notAFunction(5) }),
    'TS_ERR_ARGUMENT',
    'reduceByKeyAndWindow invFn must be a function, got 5',
  );
  assertCoded(() => kv.updateStateByKey(notAFunction({})), 'TS_ERR_ARGUMENT', 'updateStateByKey function must be a function, got {}');
  s.print();
  ctx.start();
  assertCoded(() => ctx.start(), 'TS_ERR_CONTEXT_STATE', 'cannot start the streaming context: the streaming context is active');
  assertCoded(() => s.map((x) => x), 'TS_ERR_CONTEXT_STATE', 'cannot define a map stream: the streaming context is active');
  assertCoded(() => s.print(), 'TS_ERR_CONTEXT_STATE', 'cannot add an output operation: the streaming context is active');
  assertCoded(() => ctx.inputStream(), 'TS_ERR_CONTEXT_STATE', 'cannot define a inputStream stream: the streaming context is active');
  await ctx.stop();
  assert.equal(ctx.state, 'stopped');
  assertCoded(() => ctx.start(), 'TS_ERR_CONTEXT_STATE', 'cannot start the streaming context: the streaming context is stopped');
});

test('stats() and onBatchCompleted report every batch; an overrunning batch delays the next, never overlaps', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const input = h.ctx.inputStream<number>();
  let running = 0;
  let maxRunning = 0;
  input.foreachBatch(async (records, time) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    // Batch 1000 takes 2500 ms of (manual) time: batches 2000 and 3000 are generated meanwhile and wait.
    if (time === 1000) await new Promise<void>((resolve) => h.clock.setTimeout(resolve, 2500));
    running--;
  });
  const completed: number[] = [];
  const unsubscribe = h.ctx.onBatchCompleted((info) => completed.push(info.batchTime));
  input.pushAll([1, 2, 3]);
  h.ctx.start();
  h.clock.advance(1000); // batch 1000 starts processing
  await flush();
  input.push(4);
  h.clock.advance(1000); // batch 2000 generated, queued
  h.clock.advance(1500); // t = 3500: batch 3000 queued; batch 1000 finishes → 2000 and 3000 run
  await h.ctx.awaitIdle();
  unsubscribe();
  h.clock.advance(500); // t = 4000: batch 4000 is on time again
  await h.ctx.awaitIdle();
  assert.equal(maxRunning, 1);
  assert.deepEqual(completed, [1000, 2000, 3000]);
  const stats = h.ctx.stats();
  // [batch time, input records, scheduling delay, processing time, total delay]
  assert.deepEqual(
    stats.batches.map((b) => [b.batchTime, b.inputRecords, b.schedulingDelayMs, b.processingTimeMs, b.totalDelayMs]),
    [
      [1000, 3, 0, 2500, 2500],
      [2000, 1, 1500, 0, 1500],
      [3000, 0, 500, 0, 500],
      [4000, 0, 0, 0, 0],
    ],
  );
  assert.equal(stats.state, 'active');
  assert.equal(stats.startTime, 0);
  assert.equal(stats.pendingBatches, 0);
  assert.deepEqual(stats.totals, {
    batches: 4,
    failedBatches: 0,
    inputRecords: 4,
    processingTimeMs: 2500,
    maxSchedulingDelayMs: 1500,
  });
});

/** stop({ graceful: true }) on a manual clock: batches keep coming until all received input is processed. */
async function stopGracefully(h: ReturnType<typeof harness>): Promise<void> {
  let stopped = false;
  const stopping = h.ctx.stop({ graceful: true }).then(() => (stopped = true));
  for (let i = 0; i < 10 && !stopped; i++) {
    await flush();
    await h.step();
  }
  await stopping;
}

/** Lets pending promise callbacks run (a manual clock does not yield to them between timers). */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

test('stop({ graceful: true }) processes everything already received, then stops', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const input = h.ctx.inputStream<string>();
  const queue = [['q1'], ['q2'], ['q3']];
  const out = collect(input.union(h.ctx.queueStream(queue)));
  h.ctx.start();
  await h.step(); // batch 1000: q1
  input.push('late');
  let stopped = false;
  const stopping = h.ctx.stop({ graceful: true }).then(() => (stopped = true));
  assert.equal(input.push('refused'), false); // stopping: inputs no longer accept records
  await h.step(); // batch 2000: late, q2
  assert.equal(stopped, false);
  await h.step(); // batch 3000: q3 — the queue is empty now, so this was the last batch
  await stopping;
  await h.step(); // no more batches
  assert.equal(h.ctx.state, 'stopped');
  await h.ctx.awaitTermination();
  assert.deepEqual(byTime(out), { 1000: ['q1'], 2000: ['late', 'q2'], 3000: ['q3'] });
});

test('stop() without graceful: the running batch completes, queued batches and new input are dropped', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const input = h.ctx.inputStream<number>();
  const seen: number[] = [];
  input.foreachBatch(async (_records, time) => {
    seen.push(time);
    if (time === 1000) await new Promise<void>((resolve) => h.clock.setTimeout(resolve, 1500));
  });
  h.ctx.start();
  h.clock.advance(1000); // batch 1000 running
  await flush();
  h.clock.advance(1000); // batch 2000 queued
  const stopped = h.ctx.stop();
  h.clock.advance(500); // batch 1000 completes
  await stopped;
  assert.deepEqual(seen, [1000]);
  assert.equal(h.ctx.state, 'stopped');
  assert.equal(await h.ctx.awaitTerminationOrTimeout(1000), true);
});

test('a failing output operation stops the context; awaitTermination rejects with TS_ERR_BATCH_FAILED', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const s = h.ctx.queueStream([[1], [2], [3]]);
  const seen: number[] = [];
  s.foreachBatch((records) => {
    if (records[0] === 2) throw new Error('disk full');
    seen.push(records[0]);
  });
  h.ctx.start();
  await h.step(3);
  await assert.rejects(h.ctx.awaitTermination(), (err: unknown) => {
    assert.ok(err instanceof DStreamError);
    assert.equal(err.code, 'TS_ERR_BATCH_FAILED');
    assert.equal(err.message, 'batch 2000 failed: disk full');
    assert.equal((err.cause as Error).message, 'disk full');
    return true;
  });
  assert.deepEqual(seen, [1]);
  assert.equal(h.ctx.stats().totals.failedBatches, 1);
  assert.equal(h.ctx.stats().batches[1].error, 'disk full');
  assert.deepEqual(h.logs, ['batch 2000 failed: disk full; stopping the streaming context']);
});

test('receiverStream: started with the context, stores go to the next batch, stopped with it', async (t) => {
  const h = harness();
  t.after(() => h.ctx.stop());
  const events: string[] = [];
  let store: ((r: string) => boolean) | undefined;
  const stream = h.ctx.receiverStream<string>({
    onStart(sink) {
      events.push('start');
      store = (r) => sink.store(r);
    },
    onStop() {
      events.push('stop');
    },
  });
  const out = collect(stream);
  assert.deepEqual(events, []);
  h.ctx.start();
  assert.deepEqual(events, ['start']);
  store?.('one');
  await h.step();
  store?.('two');
  await stopGracefully(h);
  assert.deepEqual(events, ['start', 'stop']);
  assert.equal(store?.('after'), false);
  assert.deepEqual(byTime(out), { 1000: ['one'], 2000: ['two'] });
});

test('stop before start resolves and terminates', async () => {
  const ctx = new StreamingContext(1000, { clock: new ManualClock() });
  await ctx.stop();
  await ctx.awaitTermination();
  assert.equal(ctx.state, 'stopped');
});
