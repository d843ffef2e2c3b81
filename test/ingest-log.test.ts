import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { test } from 'node:test';
import { IngestLog, type IngestLogOptions } from '../server/ingest/log.ts';
import { BLOCK_HEADER, BLOCK_MAGIC, BlockWriter, decodeCut, decodeCutInChunks } from '../server/ingest/log-format.ts';
import type { DeadLetter } from '../server/ingest/log.ts';
import type { Reading } from '../server/ingest/reading.ts';
import { systemClock } from '../server/clock.ts';
import { StorageHealth } from '../server/storage-health.ts';
import { tempDir } from './helpers.ts';

const reading = (i: number): Reading => ({
  deviceId: `dev-${i % 3}`,
  ts: 1_700_000_000_000 + i,
  temperature: 20 + i / 10,
  humidity: i % 2 === 0 ? 40 + i : undefined,
  seq: i % 4 === 0 ? undefined : i,
  arrival: 1_700_000_000_500 + i,
  // Some readings carry a device message id (IoT Hub's $.mid), non-ASCII included.
  ...(i % 3 === 0 ? { messageId: `mid-${i}-é` } : {}),
});

const letter: DeadLetter = {
  receivedAt: 1_700_000_000_000,
  deviceId: null,
  topic: 'x/y',
  reason: 'bad_topic',
  detail: 'topic "x/y" is not devices/{deviceId}/telemetry',
  payload: Buffer.from([0x7b, 0xff, 0x00, 0xc3, 0x28, 0x7d]), // not UTF-8: the log keeps the bytes
  payloadBytes: 6,
};

function open(dir: string, overrides: Partial<IngestLogOptions> = {}, after = 0): IngestLog {
  const health = new StorageHealth(systemClock);
  const opts = { dir, segmentBytes: 1 << 20, maxBacklog: 1_000_000, fsync: true, retainMs: 0, repair: false, health };
  return IngestLog.open({ ...opts, onFatal: (e) => assert.fail(e), ...overrides }, after);
}

const durable = (log: IngestLog, ack = () => {}) => new Promise<void>((resolve) => log.whenDurable(() => (ack(), resolve())));

test('records come back from take() exactly as appended, once durable, with their last offset', async (t) => {
  const log = open(tempDir(t));
  t.after(() => log.close());
  for (let i = 1; i <= 5; i++) log.appendReading(reading(i));
  log.appendDeadLetter(letter);
  assert.deepEqual(log.take(), { readings: [], deadLetters: [], lastOffset: 0 }, 'nothing is visible before the fsync');
  await durable(log);
  assert.deepEqual(log.take(), { readings: [1, 2, 3, 4, 5].map(reading), deadLetters: [letter], lastOffset: 6 });
  assert.deepEqual(log.take(), { readings: [], deadLetters: [], lastOffset: 6 });
});

test('recovery cuts a torn tail and replays what follows the checkpoint, across segments', async (t) => {
  const dir = tempDir(t);
  const log = open(dir, { segmentBytes: 200 }); // a few records per segment
  for (let i = 1; i <= 20; i++) {
    log.appendReading(reading(i));
    await durable(log);
  }
  await log.close();
  const segments = readdirSync(dir).sort();
  assert.ok(segments.length > 3, `rotated into ${segments.length} segments`);
  // A crash in the middle of the next group commit leaves half a block behind.
  appendFileSync(join(dir, segments.at(-1)!), Buffer.from([0x4c, 0x53, 0x54, 0x47, 0xff, 0, 0, 0, 1]));

  const again = open(dir, { segmentBytes: 200 }, 12);
  t.after(() => again.close());
  assert.equal(again.endOffset, 20);
  assert.equal(again.backlog, 8);
  assert.deepEqual(again.take().readings, [13, 14, 15, 16, 17, 18, 19, 20].map(reading));
  again.appendReading(reading(21));
  await durable(again);
  assert.deepEqual(again.take(), { readings: [reading(21)], deadLetters: [], lastOffset: 21 });
});

test('retention: covered segments go once older than retainMs, never the open one', async (t) => {
  const dir = tempDir(t);
  const log = open(dir, { segmentBytes: 200, retainMs: 60_000 });
  t.after(() => log.close());
  for (let i = 1; i <= 20; i++) {
    log.appendReading(reading(i));
    await durable(log);
  }
  const before = readdirSync(dir).length;
  const newest = Math.max(...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs));
  log.truncateThrough(20, newest);
  assert.equal(readdirSync(dir).length, before, 'kept: younger than retainMs');
  log.truncateThrough(10, newest + 120_000);
  const left = readdirSync(dir).map((f) => Number(f.slice(0, 20)));
  assert.ok(left.length < before && left.length >= 1);
  assert.ok(left[0] <= 11, 'the segment holding offset 11 is still there');
  log.truncateThrough(20, newest + 120_000);
  assert.equal(readdirSync(dir).length, 1, 'only the open segment is left');
});

test('backpressure: acknowledgements are held while the backlog is over maxBacklog, and released by take()', async (t) => {
  const log = open(tempDir(t), { maxBacklog: 3 });
  t.after(() => log.close());
  const acked: number[] = [];
  for (let i = 1; i <= 5; i++) {
    log.appendReading(reading(i));
    log.whenDurable(() => acked.push(i));
  }
  await log.drain();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(acked, [], 'five durable readings, more than 3: nothing acknowledged yet');
  assert.equal(log.heldAcks, 5);
  assert.equal(log.take().readings.length, 5);
  assert.deepEqual(acked, [1, 2, 3, 4, 5]);
  let qos0 = false;
  log.whenAccepted(() => (qos0 = true));
  assert.equal(qos0, true, 'QoS 0 goes on at once while the backlog is low');
});

test('a checkpoint ahead of the log (its directory removed): new records are numbered after the checkpoint', async (t) => {
  const dir = tempDir(t);
  const log = open(dir, {}, 100);
  assert.equal(log.backlog, 0);
  log.appendReading(reading(1));
  await durable(log);
  assert.equal(log.take().lastOffset, 101);
  await log.close();
  const again = open(dir, {}, 100);
  t.after(() => again.close());
  assert.equal(again.backlog, 1, 'not mistaken for a record the checkpoint covers');
  assert.deepEqual(again.take().readings, [reading(1)]);
});

test('inputAt: now while records wait for a cut (being written or durable), else the newest arrival appended', async (t) => {
  const log = open(tempDir(t));
  t.after(() => log.close());
  assert.equal(log.inputAt(5000), -Infinity, 'nothing since the start');
  log.appendReading(reading(1));
  log.appendReading(reading(2));
  assert.equal(log.inputAt(5000), 5000, 'appended, not durable yet');
  await durable(log);
  assert.equal(log.inputAt(5000), 5000, 'durable, not taken');
  log.take();
  assert.equal(log.inputAt(5000), reading(2).arrival, 'taken: the arrival of the newest reading');
});

test('a raw cut decodes in chunks of readings, within and across blocks, skipping what a replay has already had', async (t) => {
  const dir = tempDir(t);
  const log = open(dir);
  for (let i = 1; i <= 7; i++) log.appendReading(reading(i));
  log.appendDeadLetter(letter);
  await durable(log); // block 1: offsets 1–8
  for (let i = 9; i <= 12; i++) log.appendReading(reading(i));
  await durable(log); // block 2: offsets 9–12
  const live = log.takeRaw();
  assert.deepEqual([live.firstOffset, live.after, live.lastOffset], [1, 0, 12]);
  assert.equal(live.buffers.length, 2, 'the two group commits as they were written, not copied into one');
  assert.ok(live.buffers.every((b) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength), 'each owns its memory (handed to the batch thread, not copied)');
  const chunks: number[][] = [];
  const handed: Reading[][] = [];
  /** A reading as decoded, its fields read while it is handed over, without those it does not have. */
  const fields = (r: Reading): Reading => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as Reading;
  const decoded: Reading[] = [];
  const letters = decodeCutInChunks(live, 3, (rs) => {
    chunks.push(rs.map((r) => r.ts - reading(0).ts));
    handed.push([...rs]);
    for (const r of rs) decoded.push(fields(r));
  });
  assert.deepEqual(chunks, [[1, 2, 3], [4, 5, 6], [7, 9, 10], [11, 12]], 'three at a time, the last hand smaller');
  assert.deepEqual(decoded, [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12].map((i) => fields(reading(i))), 'every field of each reading, as it is handed over');
  assert.ok(handed[1].every((r, i) => r === handed[0][i]) && handed[3].every((r, i) => r === handed[0][i]), 'the objects of a chunk are those of the chunk before, filled again');
  assert.deepEqual(letters, [letter]);
  assert.deepEqual(decodeCut(live), { readings: [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12].map(reading), deadLetters: [letter], lastOffset: 12 });
  await log.close();

  // A replay after a checkpoint at offset 5 starts inside block 1: whole blocks cross, the first five are skipped.
  const again = open(dir, {}, 5);
  t.after(() => again.close());
  const replay = again.takeRaw();
  assert.deepEqual([replay.firstOffset, replay.after, replay.lastOffset], [1, 5, 12]);
  const seen: number[] = [];
  decodeCutInChunks(replay, 2, (rs) => seen.push(rs.length));
  assert.deepEqual(seen, [2, 2, 2], 'readings 6, 7, 9, 10, 11, 12 (offset 8 is the dead letter)');
  assert.equal(again.backlog, 0);
});

test('a dead letter as earlier versions logged it (record type 2: JSON, the payload as text) is still read, as the text\'s UTF-8', () => {
  const json = Buffer.from(JSON.stringify({ ...letter, payload: 'caf\u00e9 \uFFFD', payloadBytes: 9 }));
  const record = Buffer.concat([Buffer.from([2]), Buffer.alloc(4), json]);
  record.writeUInt32LE(json.length, 1);
  const header = Buffer.alloc(BLOCK_HEADER);
  header.writeUInt32LE(BLOCK_MAGIC, 0);
  header.writeUInt32LE(record.length, 4);
  header.writeUInt32LE(1, 8);
  header.writeUInt32LE(crc32(record), 12);
  const cut = { buffers: [Buffer.concat([header, record])], firstOffset: 1, after: 0, lastOffset: 1 };
  assert.deepEqual(decodeCut(cut), { readings: [], deadLetters: [{ ...letter, payload: Buffer.from('caf\u00e9 \uFFFD'), payloadBytes: 9 }], lastOffset: 1 });
});

test('a group commit writer grows for a flood and gives the memory back once groups are small again', () => {
  const writer = new BlockWriter();
  const start = writer.capacity;
  for (let i = 0; i < 100_000; i++) writer.reading(reading(i));
  const flood = writer.finish();
  assert.ok(writer.capacity >= flood.length, `${writer.capacity} bytes kept while groups are this large`);
  for (let round = 0; round < 8; round++) {
    writer.reading(reading(round));
    const block = writer.finish();
    assert.deepEqual(decodeCut({ buffers: [block], firstOffset: 1, after: 0, lastOffset: 1 }).readings, [reading(round)]);
  }
  assert.equal(writer.capacity, start, 'back to its initial size after a few small groups');
});

test('a reading without ts keeps that in the log (ts NaN there): read back with the arrival time as its ts and tsFilled', () => {
  const writer = new BlockWriter();
  const filled: Reading = { deviceId: 'u', ts: 5000, temperature: 20, humidity: undefined, seq: 1, arrival: 5000, tsFilled: true };
  const stamped: Reading = { deviceId: 's', ts: 5000, temperature: 21, humidity: 40, seq: 1, arrival: 5000 };
  writer.reading(filled);
  writer.reading(stamped);
  const block = writer.finish();
  assert.ok(Number.isNaN(block.readDoubleLE(BLOCK_HEADER + 3)), 'the first record\'s ts is NaN');
  assert.deepEqual(decodeCut({ buffers: [block], firstOffset: 1, after: 0, lastOffset: 2 }).readings, [filled, stamped]);
});
