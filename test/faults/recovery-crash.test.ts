import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { systemClock } from '../../server/clock.ts';
import { IngestLog } from '../../server/ingest/log.ts';
import { StorageHealth } from '../../server/storage-health.ts';
import { getJson, tempDir, waitFor } from '../helpers.ts';
import { ServerProcess } from '../server-process.ts';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const LENGTH = 10_000;
const SLIDE = 2_000;
const DEVICES = 100;
const PER_DEVICE = 10_000;
const TOTAL = DEVICES * PER_DEVICE;
const CONFIG = { batchIntervalMs: 200, allowedLatenessMs: 3_600_000, windows: [{ lengthMs: LENGTH, slideMs: SLIDE }], ingest: { segmentBytes: 8 << 20 } };

const tsOf = (d: number, seq: number): number => T0 + seq * 100 + d;

/** A backlog written with the log's own writer while no engine runs: what a server that crashed behind leaves. */
async function writeBacklog(dataDir: string): Promise<void> {
  const health = new StorageHealth(systemClock);
  const opts = { dir: join(dataDir, 'log'), segmentBytes: 8 << 20, maxBacklog: TOTAL, fsync: false, retainMs: 0, repair: false };
  const log = IngestLog.open({ ...opts, health, onFatal: (err) => assert.fail(err) }, 0);
  for (let seq = 1; seq <= PER_DEVICE; seq++) {
    for (let d = 0; d < DEVICES; d++) {
      log.appendReading({ deviceId: `dev-${d}`, ts: tsOf(d, seq), temperature: 20 + (seq % 7), humidity: undefined, seq, arrival: tsOf(d, seq) + 5 });
    }
    if (seq % 50 === 0) await log.drain(); // blocks of 5,000 records, as group commits under load would make
  }
  await log.close();
}

/** The fleet's window counts, computed directly. */
function fleetCounts(): Map<number, number> {
  const counts = new Map<number, number>();
  for (let seq = 1; seq <= PER_DEVICE; seq++) {
    for (let d = 0; d < DEVICES; d++) {
      const ts = tsOf(d, seq);
      for (let start = Math.floor(ts / SLIDE) * SLIDE; start > ts - LENGTH; start -= SLIDE) counts.set(start, (counts.get(start) ?? 0) + 1);
    }
  }
  return counts;
}

test('kill -9 again and again while a backlog of 1,000,000 readings is replayed: recovery is idempotent and finishes', { timeout: 240_000 }, async (t) => {
  const dataDir = tempDir(t);
  await writeBacklog(dataDir);
  const server = await ServerProcess.create(dataDir, CONFIG);
  t.after(() => server.kill());

  let maxRssMb = 0;
  const checkpoints: number[] = [];
  let seed = 99;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const KILLS = 5;
  let killsDuringReplay = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    // Each batch waits 300 ms, and the kill comes within 250 ms of this start's first commit: most likely inside its
    // second batch. A start then commits one batch of the replay (at most 250,000 readings in blocks: REPLAY_BLOCKS_MAX_RECORDS), so
    // the kills land during the replay however fast the machine is (a kill timed from the start let a quick one
    // finish the replay in three starts).
    await server.start({ THERMOSTREAM_FAULT: 'slow-batch:300' });
    const pid = server.child!.pid!;
    const sampleRss = () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      maxRssMb = Math.max(maxRssMb, Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024);
    };
    const before = checkpoints.at(-1) ?? 0;
    await waitFor('a batch of the replay committed by this start', async () => {
      sampleRss();
      return ((await getJson(`${server.httpUrl}/api/v1/stats`)).body.lastBatch?.logOffset ?? 0) > before;
    }, 60_000);
    const until = Date.now() + random() * 250;
    while (Date.now() < until) {
      sampleRss();
      await new Promise((r) => setTimeout(r, 50));
    }
    await server.kill('SIGKILL');
    const db = server.db();
    checkpoints.push((db.prepare('SELECT log_offset FROM checkpoint').pluck().get() as number | undefined) ?? 0);
    db.close();
    // During the replay: the kill left some of it uncommitted (the backlog in the stats is 0 once the last batch
    // has taken the rest, while that batch still runs).
    if (checkpoints.at(-1)! >= TOTAL) break;
    killsDuringReplay++;
  }
  // A replay batch takes up to ≈ 300,000 readings here: at least two kills land inside the replay of 1,000,000.
  assert.ok(killsDuringReplay >= 2, `${killsDuringReplay} kills came during the replay (checkpoints ${checkpoints.join(', ')})`);
  for (let i = 1; i < checkpoints.length; i++) assert.ok(checkpoints[i] >= checkpoints[i - 1], 'the checkpoint never goes back');

  // The last start finishes the replay.
  await server.start();
  await waitFor('the replay to finish', async () => {
    const s = (await getJson(`${server.httpUrl}/api/v1/stats`)).body;
    const status = readFileSync(`/proc/${server.child!.pid}/status`, 'utf8');
    maxRssMb = Math.max(maxRssMb, Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024);
    return s.backlog === 0 && s.lastBatch?.logOffset === TOTAL;
  }, 180_000);
  assert.equal(await server.kill('SIGTERM'), 0);

  const db = server.db();
  t.after(() => db.close());
  const devices = db.prepare('SELECT device_id AS deviceId, readings FROM devices ORDER BY readings, device_id').all() as { readings: number }[];
  assert.equal(devices.length, DEVICES);
  assert.deepEqual(new Set(devices.map((d) => d.readings)), new Set([PER_DEVICE]), 'every reading counted exactly once');
  const stored = new Map(
    (db.prepare('SELECT start, count FROM fleet_windows WHERE length_ms = ?').all(LENGTH) as { start: number; count: number }[]).map(
      (w) => [w.start, w.count],
    ),
  );
  assert.deepEqual(stored, fleetCounts(), 'the fleet windows hold every reading once');
  assert.ok(maxRssMb < 500, `RSS peaked at ${maxRssMb.toFixed(0)} MB`);
  t.diagnostic(`checkpoints at the kills: ${checkpoints.join(', ')}; RSS peak ${maxRssMb.toFixed(0)} MB`);
});
