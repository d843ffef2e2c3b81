/**
 * LogTail, the jobs' reader of the ingest log (ctx.telemetryStream()): it follows the server's writer across
 * segments, never hands over a partial block, and says what it lost when retention deleted segments before it read
 * them. The writer is the real IngestLog.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { StreamingContext } from '../server/engine/dstream/index.ts';
import { IngestLog } from '../server/ingest/log.ts';
import { BlockWriter } from '../server/ingest/log-format.ts';
import { LogTail } from '../server/ingest/log-tail.ts';
import type { Reading } from '../server/ingest/reading.ts';
import { ManualClock } from '../server/clock.ts';
import { tempDir } from './helpers.ts';
import { systemClock } from '../server/clock.ts';
import { StorageHealth } from '../server/storage-health.ts';

const reading = (i: number): Reading => ({
  deviceId: `dev-${i % 3}`,
  ts: 1_700_000_000_000 + i,
  temperature: 20 + i / 10,
  humidity: i % 2 === 0 ? 40 + i : undefined,
  seq: i,
  arrival: 1_700_000_000_500 + i,
});

function open(dir: string, segmentBytes = 1 << 20): IngestLog {
  const health = new StorageHealth(systemClock);
  return IngestLog.open({ dir, segmentBytes, maxBacklog: 1_000_000, fsync: false, retainMs: 0, repair: false, health, onFatal: (e) => assert.fail(e) }, 0);
}

/** Appends readings `from`…`to`, one group commit each. */
async function append(log: IngestLog, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    log.appendReading(reading(i));
    await new Promise<void>((resolve) => log.whenDurable(resolve));
  }
}

const range = (from: number, to: number): Reading[] => Array.from({ length: to - from + 1 }, (_, k) => reading(from + k));

function poll(tail: LogTail, maxBytes?: number): Reading[] {
  const out: Reading[] = [];
  tail.poll(out, maxBytes);
  return out;
}

test('the tail hands over the readings after its start offset, across segment rotations, each once', async (t) => {
  const dir = tempDir(t);
  const log = open(dir, 4096);
  t.after(() => log.close());
  await append(log, 1, 10);
  const reports: string[] = [];
  const tail = new LogTail(dir, 7, (m) => reports.push(m));
  t.after(() => tail.close());
  assert.deepEqual(poll(tail), range(8, 10));
  assert.deepEqual(poll(tail), []);
  await append(log, 11, 200); // about 60 bytes a reading: several 4 KiB segments
  assert.ok(readdirSync(dir).length >= 3, `rotated into ${readdirSync(dir).length} segments`);
  assert.deepEqual(poll(tail), range(11, 200));
  assert.equal(tail.position, 201);
  // A byte budget splits the backlog over polls without losing or repeating a reading.
  await append(log, 201, 300);
  const parts = [poll(tail, 1000), poll(tail, 1000)];
  assert.ok(parts[0].length > 0 && parts[0].length < 100, `first poll took ${parts[0].length}`);
  assert.deepEqual([...parts[0], ...parts[1], ...poll(tail)], range(201, 300));
  assert.deepEqual(reports, []);
  assert.equal(LogTail.endOffset(dir), 300);
});

test('a block is handed over only once it is whole', async (t) => {
  const dir = tempDir(t);
  const log = open(dir);
  await append(log, 1, 3);
  await log.close();
  const [segment] = readdirSync(dir);
  const tail = new LogTail(dir, 0, assert.fail);
  t.after(() => tail.close());
  const writer = new BlockWriter();
  writer.reading(reading(4));
  writer.reading(reading(5));
  const block = writer.finish();
  // What a concurrent reader may see of a write in progress: the header and part of the payload.
  appendFileSync(join(dir, segment), block.subarray(0, 30));
  assert.deepEqual(poll(tail), range(1, 3));
  assert.deepEqual(poll(tail), []);
  appendFileSync(join(dir, segment), block.subarray(30));
  assert.deepEqual(poll(tail), range(4, 5));
  assert.equal(tail.position, 6);
});

test('falling behind retention: the deleted records are reported and skipped, the tail goes on', async (t) => {
  const dir = tempDir(t);
  const log = open(dir, 4096);
  t.after(() => log.close());
  await append(log, 1, 5);
  const reports: string[] = [];
  const tail = new LogTail(dir, 0, (m) => reports.push(m));
  t.after(() => tail.close());
  assert.deepEqual(poll(tail), range(1, 5)); // the first segment stays open in the tail
  await append(log, 6, 300);
  const segments = readdirSync(dir).sort();
  // Retention deletes every closed segment, the one the tail has open included.
  for (const name of segments.slice(0, -1)) unlinkSync(join(dir, name));
  const lastFirst = Number(segments.at(-1)!.slice(0, 20));
  const got = poll(tail);
  // The open segment is still readable after its deletion; the ones after it are gone.
  const firstSegmentEnd = got.findIndex((r, k) => r.seq !== k + 6);
  const fromOpen = got.slice(0, firstSegmentEnd);
  assert.deepEqual(fromOpen, range(6, 5 + fromOpen.length));
  assert.deepEqual(got.slice(firstSegmentEnd), range(lastFirst, 300));
  assert.deepEqual(reports, [
    `telemetryStream fell behind the ingest log's retention: records ${6 + fromOpen.length}…${lastFirst - 1} were deleted ` +
      `before this job read them; continuing at ${lastFirst} (ingest.retainMs keeps segments longer)`,
  ]);
});

test('ctx.telemetryStream() makes a batch of what became durable since the previous batch', async (t) => {
  const dir = tempDir(t);
  const log = open(dir);
  t.after(() => log.close());
  await append(log, 1, 2); // before the start: not in the stream
  const clock = new ManualClock(1_000);
  const ctx = new StreamingContext(1000, { clock, log: assert.fail });
  const batches: [number, number[]][] = [];
  const telemetry = ctx.telemetryStream({ logDir: dir });
  telemetry.foreachBatch((records, time) => void batches.push([time, records.map((r) => r.seq!)]));
  ctx.start();
  t.after(() => ctx.stop());
  await append(log, 3, 4);
  clock.advance(1000);
  await ctx.awaitIdle();
  clock.advance(1000);
  await ctx.awaitIdle();
  await append(log, 5, 5);
  clock.advance(1000);
  await ctx.awaitIdle();
  assert.deepEqual(batches, [
    [2_000, [3, 4]],
    [3_000, []],
    [4_000, [5]],
  ]);
  // Each batch's log offset: where a resubmitted job resumes (at-least-once outputs).
  assert.deepEqual([2_000, 3_000, 4_000, 5_000].map((time) => telemetry.offsetAt(time)), [4, 4, 5, undefined]);
  const resumed = new StreamingContext(1000, { clock, log: assert.fail });
  const again: number[] = [];
  resumed.telemetryStream({ logDir: dir, afterOffset: 3 }).foreachBatch((records) => void again.push(...records.map((r) => r.seq!)));
  resumed.start();
  t.after(() => resumed.stop());
  clock.advance(1000);
  await resumed.awaitIdle();
  assert.deepEqual(again, [4, 5]);
  assert.throws(() => new StreamingContext(1000).telemetryStream({ afterOffset: -1, logDir: dir }), {
    code: 'TS_ERR_ARGUMENT',
    message: 'telemetryStream afterOffset must be a non-negative integer, got -1',
  });
});

test('ctx.telemetryStream() drops resent readings, (deviceId, seq) or (deviceId, messageId), as the built-in job does', async (t) => {
  const dir = tempDir(t);
  const log = open(dir);
  t.after(() => log.close());
  const clock = new ManualClock(1_000);
  const ctx = new StreamingContext(1000, { clock, log: assert.fail });
  const batches: string[][] = [];
  ctx.telemetryStream({ logDir: dir }).foreachBatch((records) => void batches.push(records.map((r) => `${r.deviceId}/${r.seq ?? r.messageId}`)));
  ctx.start();
  t.after(() => ctx.stop());
  const noSeq = (deviceId: string, messageId: string): Reading => ({ deviceId, ts: 1_700_000_000_000, temperature: 20, humidity: undefined, seq: undefined, messageId, arrival: 1_700_000_000_000 });
  for (const r of [reading(1), reading(2), reading(1), noSeq('azure', 'm-1'), reading(4)]) log.appendReading(r);
  await new Promise<void>((resolve) => log.whenDurable(resolve));
  clock.advance(1000);
  await ctx.awaitIdle();
  // A resend after a lost PUBACK comes in a later batch: it is still known.
  for (const r of [reading(2), noSeq('azure', 'm-1'), noSeq('azure', 'm-2'), reading(5)]) log.appendReading(r);
  await new Promise<void>((resolve) => log.whenDurable(resolve));
  clock.advance(1000);
  await ctx.awaitIdle();
  assert.deepEqual(batches, [
    ['dev-1/1', 'dev-2/2', 'azure/m-1', 'dev-1/4'],
    ['azure/m-2', 'dev-2/5'],
  ]);
});

test('a graceful stop of ctx.telemetryStream() processes what was durable at the stop, over as many batches as it takes', async (t) => {
  const dir = tempDir(t);
  const log = open(dir);
  t.after(() => log.close());
  const clock = new ManualClock(1_000);
  const ctx = new StreamingContext(1000, { clock, log: assert.fail });
  const batches: [number, number[]][] = [];
  const telemetry = ctx.telemetryStream({ logDir: dir, maxBytesPerBatch: 1 }); // a block per batch
  telemetry.foreachBatch((records, time) => void batches.push([time, records.map((r) => r.seq!)]));
  ctx.start();
  t.after(() => ctx.stop());
  await append(log, 1, 1);
  clock.advance(1000);
  await ctx.awaitIdle();
  await append(log, 2, 3); // acknowledged before the stop (DELETE, the server's shutdown): "received"
  let stopped = false;
  const stopping = ctx.stop({ graceful: true }).then(() => (stopped = true));
  await append(log, 4, 4); // after it: not for this job
  for (let i = 0; i < 4 && !stopped; i++) {
    clock.advance(1000);
    await new Promise((resolve) => setImmediate(resolve));
    await ctx.awaitIdle();
  }
  await stopping;
  assert.deepEqual(batches, [
    [2_000, [1]],
    [3_000, [2]],
    [4_000, [3]],
  ]);
  assert.equal(telemetry.offsetAt(4_000), 3, 'a resubmitted job resumes after what the stopped one processed');
});

test('ctx.telemetryStream({ afterOffset }) beyond the log\'s end says so: readings up to it will be skipped', async (t) => {
  const dir = tempDir(t);
  const log = open(dir);
  t.after(() => log.close());
  await append(log, 1, 2);
  const clock = new ManualClock(1_000);
  const diagnostics: string[] = [];
  const ctx = new StreamingContext(1000, { clock, log: (m) => diagnostics.push(m) });
  ctx.telemetryStream({ logDir: dir, afterOffset: 5_000 }).foreachBatch(() => {});
  ctx.start();
  t.after(() => ctx.stop());
  assert.deepEqual(diagnostics, [
    'telemetryStream: afterOffset 5000 is beyond the end of the ingest log, offset 2: the readings up to offset 5000 ' +
      'will be skipped as they come (an offset stored from another data dir, or a log started afresh?)',
  ]);
});
