/**
 * Exactly-once across a restart, at the level of the job: a telemetry job restored from its SQLite checkpoint in the
 * middle of a stream shows the same final windows (device and fleet, every default window shape) and the same
 * anomalies as a job that never stopped, in each openWindowRefresh mode. The load has late readings, gaps, spikes,
 * stuck and drifting devices, so that panes are evicted and created again, and detectors hold state, across the restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { windowObjects } from '../server/engine/window-pack.ts';
import type { Reading } from '../server/ingest/reading.ts';
import { createStore } from '../server/store/index.ts';
import { tempDir } from './helpers.ts';

const T0 = Date.UTC(2026, 0, 1);
const DEVICES = 60;
const BATCHES = 150;
const RESTART = 80;

/** The readings of each 1-s batch: a seeded fleet in which some devices go quiet, spike, stick or drift. */
function load(): Reading[][] {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const seqs = new Int32Array(DEVICES);
  return Array.from({ length: BATCHES }, (_, b) => {
    const readings: Reading[] = [];
    for (let d = 0; d < DEVICES; d++) {
      if ((d % 17 === 3 && b > 40 && b < 100) || random() < 0.05) continue; // a gap; a reading missed
      const late = random() < 0.03 ? -15_000 * random() : 0;
      let temperature = 20 + Math.sin(b / 30 + d) * 2 + random() * 0.1;
      if (random() < 0.01) temperature += 15;
      if (d % 13 === 5 && b > 60) temperature = 22.5;
      if (d % 11 === 1 && b > 70) temperature += (b - 70) * 0.05;
      const ts = T0 + b * 1000 + ((d * 97) % 1000) + late;
      readings.push({ deviceId: `dev-${d}`, ts, temperature, humidity: 40 + random() * 5, seq: ++seqs[d], arrival: T0 + b * 1000 + 500 });
    }
    return readings;
  });
}

/**
 * A batch's final windows and its anomalies, as sorted lines. Numbers to 10 significant digits: a fleet window sums
 * its devices' panes in the order the job holds its keys, which a restore changes.
 */
function finals(out: ReturnType<TelemetryJob['process']>): string[] {
  const round = (_k: string, v: unknown) => (typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v) ? Number(v.toPrecision(10)) : v);
  const windows = windowObjects(out.windows).filter((w) => w.final).map((w) => `window ${JSON.stringify(w, round)}`);
  const anomalies = out.anomalies.map((a) => `anomaly ${JSON.stringify(a, round)}`);
  return [...windows, ...anomalies].sort();
}

for (const mode of ['slide', 'batch', 'final'] as const) {
  test(`openWindowRefresh "${mode}": a job restored from its checkpoint shows the same final windows and anomalies as one that never stopped`, async (t) => {
    const batches = load();
    const config = resolveConfig({ dataDir: tempDir(t), openWindowRefresh: mode });
    const store = await createStore(config);
    t.after(() => store.close());
    const batch = (job: TelemetryJob, b: number) => job.process({ readings: batches[b], deadLetters: [], lastOffset: (b + 1) * DEVICES }, T0 + (b + 1) * 1000 + 10);

    const uninterrupted: string[][] = [];
    const job = new TelemetryJob(config, T0, null);
    for (let b = 0; b < BATCHES; b++) uninterrupted.push(finals(batch(job, b)));

    const first = new TelemetryJob(config, T0, null);
    for (let b = 0; b < RESTART; b++) await store.commitBatch(batch(first, b));
    const recovered = (await store.recover())!;
    assert.equal(recovered.checkpoint.logOffset, RESTART * DEVICES);
    assert.ok(recovered.panes.length > 0 && recovered.detectors.length > 0, 'state to restore');
    const restored = new TelemetryJob(config, T0 + RESTART * 1000, recovered);
    let windows = 0;
    for (let b = RESTART; b < BATCHES; b++) {
      const lines = finals(batch(restored, b));
      assert.deepEqual(lines, uninterrupted[b], `batch ${b}`);
      windows += lines.length;
    }
    assert.ok(windows > 1000, `${windows} final windows and anomalies compared`);
  });
}
