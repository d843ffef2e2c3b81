import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import type { SyncState } from '../../server/ingest/sync-record.ts';
import { SYNC_RECORD_FILE } from '../../server/main.ts';
import { getJson, tempDir, waitFor } from '../helpers.ts';
import { diffWindows, oracleWindows, publishUntilAcked, ServerProcess, storedWindows } from '../server-process.ts';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const LENGTH = 10_000;
const SLIDE = 2_000;
const CONFIG = {
  batchIntervalMs: 200,
  allowedLatenessMs: 3_600_000,
  windows: [{ lengthMs: LENGTH, slideMs: SLIDE }],
  // Small segments, deleted as soon as a checkpoint covers them: cuts also land around creating and deleting files.
  ingest: { segmentBytes: 16_384, retainMs: 0 },
};

/**
 * What the disk holds after a power cut: the page cache is gone, so every segment keeps only what its last
 * fdatasync covered, and a segment whose directory entry was never fsync'ed is gone. The server (under
 * THERMOSTREAM_FAULT=power-cut-record) keeps those facts in a side file; SQLite (synchronous=FULL) is trusted.
 */
function powerCut(dataDir: string): { truncatedBytes: number; removed: number } {
  const record = JSON.parse(readFileSync(join(dataDir, SYNC_RECORD_FILE), 'utf8')) as Record<string, SyncState>;
  const logDir = join(dataDir, 'log');
  let truncatedBytes = 0;
  let removed = 0;
  for (const name of readdirSync(logDir)) {
    const path = join(logDir, name);
    const state = record[name];
    if (state === undefined || !state.dirSynced) {
      unlinkSync(path);
      removed++;
      continue;
    }
    const size = statSync(path).size;
    if (size > state.synced) {
      truncateSync(path, state.synced);
      truncatedBytes += size - state.synced;
    }
  }
  return { truncatedBytes, removed };
}

const temperatureOf = (d: number, seq: number): number => Math.round((18 + ((d * 7919 + seq * 104729) % 800) / 100) * 10) / 10;

test('20 simulated power cuts under QoS 1 load: nothing acknowledged is lost, nothing is counted twice', { timeout: 240_000 }, async (t) => {
  const DEVICES = 30;
  const CUTS = 20;
  const dataDir = tempDir(t);
  const server = await ServerProcess.create(dataDir, CONFIG, { THERMOSTREAM_FAULT: 'power-cut-record' });
  t.after(() => server.kill());
  await server.start();

  const acked: { deviceId: string; ts: number; temperature: number }[] = [];
  const sent = new Array<number>(DEVICES).fill(0);
  const clients = Array.from({ length: DEVICES }, (_, d) =>
    mqtt.connect(server.mqttUrl, { clientId: `cut-${d}`, reconnectPeriod: 100, connectTimeout: 2000 }),
  );
  t.after(() => Promise.all(clients.map((c) => c.endAsync(true))));
  const deadline = Date.now() + 200_000;
  let cutting = true;
  // Each device publishes in order, one reading at a time, until the cuts are done (at most 5,000 readings).
  const publishers = clients.map(async (client, d) => {
    const deviceId = `dev-${d}`;
    for (let seq = 1; cutting && seq <= 5000; seq++) {
      const reading = { deviceId, ts: T0 + seq * 100, temperature: temperatureOf(d, seq) };
      await publishUntilAcked(client, `devices/${deviceId}/telemetry`, JSON.stringify({ ...reading, seq }), deadline, 1000);
      acked.push(reading);
      sent[d] = seq;
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  let seed = 4242;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  let truncatedBytes = 0;
  let removed = 0;
  for (let cut = 0; cut < CUTS; cut++) {
    await new Promise((r) => setTimeout(r, 100 + random() * 600));
    await server.kill('SIGKILL');
    const r = powerCut(dataDir);
    truncatedBytes += r.truncatedBytes;
    removed += r.removed;
    await server.start();
  }
  cutting = false;
  await Promise.all(publishers);

  await waitFor('all readings processed', async () => {
    const stats = (await getJson(`${server.httpUrl}/api/v1/stats`)).body;
    return stats.backlog === 0 && stats.lastBatch !== null && stats.lastBatch.logOffset >= stats.logEndOffset;
  }, 30_000);
  assert.equal(await server.kill('SIGTERM'), 0);
  const db = server.db();
  t.after(() => db.close());
  const perDevice = db.prepare('SELECT device_id AS deviceId, readings FROM devices ORDER BY device_id').all();
  const expected = sent.map((n, d) => ({ deviceId: `dev-${d}`, readings: n })).sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  assert.deepEqual(perDevice, expected, 'each device counted once per acknowledged reading');
  const problems = diffWindows(storedWindows(db, LENGTH, SLIDE), oracleWindows(acked, LENGTH, SLIDE));
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} windows differ`);
  t.diagnostic(`${acked.length} readings acknowledged; the cuts dropped ${truncatedBytes} unsynced bytes and ${removed} unsynced segment file(s)`);
  assert.ok(existsSync(join(dataDir, SYNC_RECORD_FILE)));
});
