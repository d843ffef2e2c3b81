import assert from 'node:assert/strict';
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../server/clock.ts';
import { ThermostreamError } from '../server/errors.ts';
import { BLOCK_HEADER } from '../server/ingest/log-format.ts';
import { IngestLog, REPLAY_CHUNK, type IngestLogOptions } from '../server/ingest/log.ts';
import type { Reading } from '../server/ingest/reading.ts';
import { StorageHealth } from '../server/storage-health.ts';
import { tempDir } from './helpers.ts';
import { exitCode } from '../server/main.ts';

const reading = (i: number): Reading => ({ deviceId: `dev-${i % 3}`, ts: 1_700_000_000_000 + i, temperature: 20 + i / 10, humidity: undefined, seq: i, arrival: 1_700_000_000_500 + i });

function open(dir: string, overrides: Partial<IngestLogOptions> = {}, after = 0): IngestLog {
  const health = new StorageHealth(systemClock);
  const opts = { dir, segmentBytes: 200, maxBacklog: 10_000_000, fsync: false, retainMs: 0, repair: false, health };
  return IngestLog.open({ ...opts, onFatal: (e) => assert.fail(e), ...overrides }, after);
}

/** 20 readings, one block each (one group commit per reading), about three blocks per 200-byte segment. */
async function writeLog(dir: string, n = 20): Promise<string[]> {
  const log = open(dir);
  for (let i = 1; i <= n; i++) {
    log.appendReading(reading(i));
    await new Promise<void>((resolve) => log.whenDurable(resolve));
  }
  await log.close();
  return readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();
}

/** Flips one byte of a segment file. */
function flip(path: string, at: number): void {
  const bytes = readFileSync(path);
  bytes[at] ^= 0xff;
  writeFileSync(path, bytes);
}

/** Byte positions of the blocks of a segment. */
function blocks(path: string): number[] {
  const bytes = readFileSync(path);
  const out: number[] = [];
  for (let p = 0; p < bytes.length; p += BLOCK_HEADER + bytes.readUInt32LE(p + 4)) out.push(p);
  return out;
}

const offsetsOf = (readings: readonly Reading[]) => readings.map((r) => r.seq);

test('a damaged block in a closed segment is refused with the file, the byte and the way out; --repair keeps every intact record', async (t) => {
  const dir = tempDir(t);
  const segments = await writeLog(dir);
  assert.ok(segments.length >= 4, `${segments.length} segments`);
  const second = join(dir, segments[1]);
  const firstOfSecond = Number(segments[1].slice(0, 20));
  const [, b2, b3] = blocks(second);
  flip(second, b2 + BLOCK_HEADER + 5); // inside the payload of the segment's second block

  assert.throws(
    () => open(dir),
    (err: ThermostreamError) => {
      assert.equal(err.code, 'TS_ERR_LOG_CORRUPT');
      assert.equal(
        err.message,
        `the ingest log segment ${second} is damaged at byte ${b2} of ${readFileSync(second).length}: the block holding ` +
          `the records from offset ${firstOfSecond + 1} fails its CRC check, and intact blocks follow at byte ` +
          `${b3}, so this is corruption (a disk or copy error), not a torn write from a crash. Nothing ` +
          'was changed and nothing was skipped. Restore the data directory from a backup, or start once with --repair ' +
          'to keep every intact record, drop the damaged bytes and report how many records they held.',
      );
      return true;
    },
  );

  const repaired = open(dir, { repair: true });
  t.after(() => repaired.close());
  const lost = firstOfSecond + 1;
  assert.deepEqual(repaired.repairs, [
    `repaired ${second}: dropped bytes ${b2}…${b3 - 1} (${b3 - b2} bytes) holding 1 ` +
      `record(s), offsets ${lost}…${lost}; the intact blocks after them now start segment ${String(lost + 1).padStart(20, '0')}.seg`,
  ]);
  assert.equal(repaired.backlog, 19);
  const taken = repaired.take();
  assert.deepEqual(offsetsOf(taken.readings), Array.from({ length: 20 }, (_, i) => i + 1).filter((i) => i !== lost));
  assert.equal(taken.lastOffset, 20, 'every kept record keeps its offset');
  assert.equal(repaired.endOffset, 20);
});

// The last segment keeps processed records until it closes (ingest.segmentBytes): damage there costs no result.
test('a damaged block the checkpoint already covers: the refusal and the repair say its records were processed', async (t) => {
  const dir = tempDir(t);
  const segments = await writeLog(dir, 18); // four blocks per segment: two in the last one
  const last = join(dir, segments.at(-1)!);
  const firstOfLast = Number(segments.at(-1)!.slice(0, 20));
  const [b1, b2] = blocks(last);
  flip(last, b1 + BLOCK_HEADER + 5);
  assert.throws(() => open(dir, {}, 18), (err: ThermostreamError) => {
    assert.equal(err.code, 'TS_ERR_LOG_CORRUPT');
    assert.match(
      err.message,
      new RegExp(`Nothing was changed and nothing was skipped\\. The damaged records \\(offsets ${firstOfLast}…${firstOfLast}\\) were ` +
        'processed before the checkpoint \\(offset 18\\): the results hold them, and --repair drops only their raw copy\\. Restore the data directory'),
    );
    return true;
  });
  assert.throws(() => open(dir, {}, firstOfLast - 1), (err: ThermostreamError) => !err.message.includes('processed before'));
  const repaired = open(dir, { repair: true }, 18);
  t.after(() => repaired.close());
  assert.deepEqual(repaired.repairs, [
    `repaired ${last}: dropped bytes ${b1}…${b2 - 1} (${b2 - b1} bytes) holding 1 record(s), offsets ${firstOfLast}…${firstOfLast} ` +
      `(processed before the checkpoint at offset 18: the results hold them); the intact blocks after them now start segment ` +
      `${String(firstOfLast + 1).padStart(20, '0')}.seg`,
  ]);
  assert.equal(repaired.backlog, 0);
});

test('a damaged block before the end of the last segment is corruption, not a torn tail', async (t) => {
  const dir = tempDir(t);
  const segments = await writeLog(dir, 18); // four blocks per segment: two in the last one
  const last = join(dir, segments.at(-1)!);
  const positions = blocks(last);
  assert.ok(positions.length >= 2, 'the last segment has at least two blocks');
  flip(last, positions[0] + BLOCK_HEADER + 3);
  assert.throws(() => open(dir), /TS_ERR_LOG_CORRUPT|is damaged at byte 0 of .*intact blocks follow/);
  // A torn tail in the same place (nothing valid after it) is cut off, as after any crash, and said: a segment cut
  // short by a copy looks the same.
  const size = positions.at(-1)! + 7;
  writeFileSync(last, readFileSync(last).subarray(0, size));
  const log = open(dir);
  const firstOfLast = Number(segments.at(-1)!.slice(0, 20));
  assert.equal(log.endOffset, firstOfLast - 1);
  assert.equal(
    log.tornTail,
    `cut the torn end off the ingest log segment ${last}: bytes 0…${size - 1} (${size} bytes) after its last whole block, ` +
      `where the records from offset ${firstOfLast} would start. After a crash this is the group commit being written, never ` +
      `acknowledged; after a clean stop or a copy, the file was cut short and the records from offset ${firstOfLast} on are lost`,
  );
  await log.close();
  const again = open(dir);
  t.after(() => again.close());
  assert.equal(again.tornTail, null, 'nothing cut at the next start');
});

test('a damaged block header in a closed segment: the records after it keep their offsets (counted from the next segment)', async (t) => {
  const dir = tempDir(t);
  const segments = await writeLog(dir);
  const second = join(dir, segments[1]);
  const firstOfSecond = Number(segments[1].slice(0, 20));
  const [b1] = blocks(second);
  flip(second, b1); // the first block's magic
  const repaired = open(dir, { repair: true });
  t.after(() => repaired.close());
  assert.match(repaired.repairs[0], new RegExp(`holding 1 record\\(s\\), offsets ${firstOfSecond}…${firstOfSecond}`));
  const taken = repaired.take();
  assert.deepEqual(offsetsOf(taken.readings), Array.from({ length: 20 }, (_, i) => i + 1).filter((i) => i !== firstOfSecond));
});

test('recovery replays a backlog in bounded chunks, each cut ending where the next starts', async (t) => {
  const dir = tempDir(t);
  const N = REPLAY_CHUNK + 5000;
  const log = open(dir, { segmentBytes: 1 << 20 });
  for (let i = 1; i <= N; i++) {
    log.appendReading(reading(i));
    if (i % 1000 === 0) await log.drain(); // blocks of 1,000 records: a chunk is whole blocks
  }
  await log.drain();
  await log.close();
  const again = open(dir, { segmentBytes: 1 << 20 }, 1000);
  t.after(() => again.close());
  assert.equal(again.backlog, N - 1000);
  const first = again.take();
  assert.ok(first.readings.length >= REPLAY_CHUNK && first.readings.length < REPLAY_CHUNK + 1000, `${first.readings.length}`);
  assert.equal(first.readings[0].seq, 1001);
  assert.equal(first.lastOffset, first.readings.at(-1)!.seq);
  const second = again.take();
  assert.equal(second.readings[0].seq, first.lastOffset + 1);
  assert.equal(second.lastOffset, N);
  assert.equal(again.backlog, 0);
  again.appendReading(reading(N + 1));
  await again.drain();
  assert.deepEqual(offsetsOf(again.take().readings), [N + 1]);
});

// docs/OPERATIONS.md: a database and a log from different backups. A log that lacks records the checkpoint has not
// consumed (the database is older than the log's first segment) is refused; a log older than the checkpoint (every
// record it lacks was processed) starts, its new records numbered after the checkpoint, in a segment of their own.
test('a log that starts after the checkpoint is refused (TS_ERR_LOG_GAP); a log that ends before it starts a new segment after it', async (t) => {
  const gap = tempDir(t);
  const names = await writeLog(gap);
  const first = Number(names[1].slice(0, 20));
  unlinkSync(join(gap, names[0])); // as retention deletes a processed segment after a newer checkpoint
  assert.throws(() => open(gap, {}, 0), (err: ThermostreamError) => {
    assert.equal(err.code, 'TS_ERR_LOG_GAP');
    assert.equal(exitCode(err), 3, 'a restart will not cure it: an operator must act');
    // No checkpoint (a database deleted beside its log): said so, rather than 'the database is older than the log'.
    assert.equal(
      err.message,
      `the ingest log in ${gap} starts at offset ${first}, but the database has consumed no record (it has no checkpoint: ` +
        `a new database, deleted or not restored with the log): records 1…${first - 1} are gone. Restore the data directory ` +
        'as a whole from one backup; or, to start afresh without what the log holds, move the log directory aside.',
    );
    return true;
  });
  assert.throws(() => open(gap, {}, 1), (err: ThermostreamError) => {
    assert.equal(err.code, 'TS_ERR_LOG_GAP');
    assert.match(err.message, new RegExp(`starts at offset ${first}, but the checkpoint has consumed only up to 1: records 2…${first - 1} are gone \\(the database is older than the log`));
    return true;
  });
  assert.doesNotThrow(() => open(gap, {}, first - 1).close());

  const older = tempDir(t);
  await writeLog(older); // offsets 1…20
  const log = open(older, {}, 25);
  assert.equal(log.endOffset, 25);
  log.appendReading(reading(26));
  await new Promise<void>((resolve) => log.whenDurable(resolve));
  assert.equal(log.endOffset, 26);
  await log.close();
  assert.equal(readdirSync(older).filter((f) => f.endsWith('.seg')).sort().at(-1), '00000000000000000026.seg');
});
