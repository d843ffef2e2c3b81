/**
 * Exactly-once across restarts, randomized: a telemetry job restarted one to three times from its SQLite checkpoint
 * ends with the same final windows (device and fleet), anomalies and late readings as one that never stopped, over
 * seeded random jobs — window shapes, allowed lateness, event or processing time, each openWindowRefresh, 200 ms or
 * 1 s batches, readings with seq, with message ids or with neither, resends in the same batch and batches later,
 * dedupe state evicted or not, pauses long enough for the idle watermark, late readings and readings ahead. Where
 * test/job-restore.test.ts compares one job batch by batch, this compares many jobs by the sets they end with (a
 * restart is not idle time, so a restored job may finish a window a batch later, never differently).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { windowObjects } from '../server/engine/window-pack.ts';
import type { Reading } from '../server/ingest/reading.ts';
import { createStore } from '../server/store/index.ts';
import { tempDir } from './helpers.ts';

const CASES = Number(process.env.CASES ?? 40);
const T0 = Date.UTC(2026, 0, 1) + 123;

/** A seeded job: its configuration, its batches of readings (then empty ones until every window is final), restarts. */
function randomJob(seed: number) {
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const windows: { lengthMs: number; slideMs: number }[] = [];
  for (let i = 1 + Math.floor(random() * 3); i > 0; i--) {
    const slideMs = pick([1000, 2000, 3000, 5000, 10_000]);
    const lengthMs = slideMs * pick([1, 2, 3, 5]);
    if (!windows.some((w) => w.lengthMs === lengthMs && w.slideMs === slideMs)) windows.push({ lengthMs, slideMs });
  }
  const job = {
    windows,
    allowedLatenessMs: pick([0, 2000, 5000, 10_000]),
    timeMode: pick(['event', 'event', 'processing'] as const),
    openWindowRefresh: pick(['slide', 'batch', 'final'] as const),
    batchIntervalMs: pick([1000, 1000, 200]),
    dedupe: { messageIds: 16, idleEvictMs: pick([0, 0, 3000, 8000]) },
  };
  const interval = job.batchIntervalMs;
  const devices = 1 + Math.floor(random() * 12);
  const loaded = 40 + Math.floor(random() * 60);
  const chosen = Array.from({ length: 1 + Math.floor(random() * 3) }, () => 1 + Math.floor(random() * (loaded - 2)));
  // A pause in the input (no pause: an empty range), long enough or not for the idle watermark.
  const pauseFrom = random() < 0.4 ? Math.floor(random() * loaded) : loaded;
  const pauseTo = pauseFrom + 5 + Math.floor(random() * 20);
  const ids = pick(['seq', 'seq', 'messageId', 'none'] as const);
  const noHumidity = random() < 0.3;

  const seqs = new Int32Array(devices);
  const sent: Reading[] = [];
  const batches: Reading[][] = [];
  for (let b = 0; b < loaded; b++) {
    const readings: Reading[] = [];
    const arrival = T0 + b * interval + interval / 2;
    for (let d = 0; d < devices && (b < pauseFrom || b >= pauseTo); d++) {
      for (let n = random() < 0.2 ? 0 : random() < 0.2 ? 2 : 1; n > 0; n--) {
        const late = random() < 0.08 ? -Math.floor(random() * 15_000) : 0;
        const ahead = random() < 0.02 ? Math.floor(random() * 3000) : 0;
        let temperature = Math.round((20 + Math.sin(b / 20 + d) * 3 + random()) * 100) / 100;
        if (random() < 0.02) temperature += 12;
        const ts = T0 + b * interval + Math.floor(random() * interval) + late + ahead;
        const humidity = !noHumidity || random() < 0.3 ? Math.round((40 + random() * 10) * 10) / 10 : undefined;
        const r: Reading = { deviceId: `d${d}`, ts, temperature, humidity, seq: ids === 'seq' ? ++seqs[d] : undefined, arrival };
        if (ids === 'messageId') r.messageId = `m${d}-${b}-${n}`;
        if (ids !== 'none') {
          if (random() < 0.05) readings.push({ ...r });
          if (sent.length > 0 && random() < 0.05) readings.push({ ...sent[Math.floor(random() * sent.length)], arrival });
          sent.push(r);
        }
        readings.push(r);
      }
    }
    batches.push(readings);
  }
  // Restarts while readings come: a restart is not idle time, so one in a pause delays the watermark's following the
  // clock, and with it when a dropout is seen and (by that time) which windows count it. By design; not compared here.
  const calm = pauseTo + Math.ceil(job.allowedLatenessMs / interval) + 2;
  const restarts = new Set(chosen.filter((b) => (b < pauseFrom - 1 || b > calm) && batches[b].length > 0));
  const longest = Math.max(...windows.map((w) => w.lengthMs));
  for (let i = Math.ceil((longest + 2 * job.allowedLatenessMs + 20_000) / interval) + 5; i > 0; i--) batches.push([]);
  return { job, batches, restarts, describe: JSON.stringify({ ...job, devices, loaded, restarts: [...restarts], pauseFrom, pauseTo, ids }) };
}

/** Numbers equal to 10 significant digits: fleet sums add their devices' readings in another order after a restore. */
function sameNumbers(x: unknown, y: unknown): boolean {
  if (typeof x === 'number' && typeof y === 'number') return x === y || Math.abs(x - y) <= 1e-10 * Math.max(Math.abs(x), Math.abs(y));
  if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object') return x === y;
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((k) => sameNumbers((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]));
}

/** What a run ends with, by identity (a window's device, shape and start; an anomaly's device, type, ts and start). */
type Ending = Map<string, unknown>;

function record(into: Ending, out: ReturnType<TelemetryJob['process']>): void {
  for (const w of windowObjects(out.windows)) if (w.final) into.set(`window ${w.deviceId} ${w.lengthMs}/${w.slideMs} ${w.start}`, w);
  for (const { detectedAt: _, ...a } of out.anomalies) into.set(`anomaly ${a.deviceId} ${a.type} ${a.ts} ${a.start} ${a.end}`, a);
  for (const r of out.late) into.set(`late ${r.deviceId} ${r.ts} ${r.temperature} ${r.seq} ${r.messageId}`, r);
}

test(`${CASES} random jobs restarted from their checkpoints end as if they had never stopped`, async (t) => {
  let compared = 0;
  let restartedJobs = 0;
  for (let c = 0; c < CASES; c++) {
    const { job, batches, restarts, describe } = randomJob(1000 + c * 7919);
    const config = resolveConfig({ ...job, dataDir: tempDir(t) });
    const interval = job.batchIntervalMs;
    const run = (j: TelemetryJob, b: number) =>
      j.process({ readings: batches[b].map((r) => ({ ...r })), deadLetters: [], lastOffset: (b + 1) * 1000 }, T0 + (b + 1) * interval + 7);

    const uninterrupted: Ending = new Map();
    const job1 = new TelemetryJob(config, T0, null);
    for (let b = 0; b < batches.length; b++) record(uninterrupted, run(job1, b));

    const restarted: Ending = new Map();
    const store = await createStore(config);
    let job2 = new TelemetryJob(config, T0, null);
    for (let b = 0; b < batches.length; b++) {
      if (restarts.has(b)) job2 = new TelemetryJob(config, T0 + b * interval + 1, await store.recover());
      const out = run(job2, b);
      await store.commitBatch(out);
      record(restarted, out);
    }
    await store.close();

    const missing = [...uninterrupted.keys()].filter((k) => !restarted.has(k));
    const extra = [...restarted.keys()].filter((k) => !uninterrupted.has(k));
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `case ${c}: ${describe}`);
    for (const [k, v] of uninterrupted) assert.ok(sameNumbers(restarted.get(k), v), `case ${c}, ${k}: ${JSON.stringify(restarted.get(k))} against ${JSON.stringify(v)} (${describe})`);
    compared += uninterrupted.size;
    if (restarts.size > 0) restartedJobs++;
  }
  assert.ok(restartedJobs > CASES / 2, `${restartedJobs} of ${CASES} jobs restarted`);
  assert.ok(compared > 5000, `${compared} final windows, anomalies and late readings compared`);
});
