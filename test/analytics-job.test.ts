/**
 * The telemetry job with windows and detectors together: fleet windows are the combination of the device windows
 * (all three default windows, seeded simulated fleet with anomalies), a spike at a window boundary counts in the
 * window of its own reading, and a restart in the middle of a stuck interval (from the SQLite checkpoint) flags it
 * once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { ANOMALY_TYPES, type Anomaly } from '../server/engine/detectors/index.ts';
import { FLEET, type WindowResult } from '../server/engine/event-time.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { windowObjects } from '../server/engine/window-pack.ts';
import type { Reading } from '../server/ingest/reading.ts';
import { createStore } from '../server/store/index.ts';
import { createSource, deviceIds } from '../simulator/index.ts';
import { tempDir } from './helpers.ts';

const T0 = Date.parse('2026-11-24T10:00:00Z');
const calm = (i: number): number => [20.0, 20.1, 20.2, 20.1][i % 4];
const reading = (deviceId: string, ts: number, temperature: number): Reading => ({ deviceId, ts, temperature, humidity: 40, seq: undefined, arrival: ts });

test('fleet windows equal the combination of the device windows, for all three default windows', () => {
  const config = resolveConfig({});
  assert.deepEqual(config.windows.map((w) => [w.lengthMs, w.slideMs]), [[10_000, 2_000], [60_000, 10_000], [300_000, 60_000]]);
  const ids = deviceIds('thermostat-', 20);
  const source = createSource({
    seed: 11, deviceIds: ids, rate: 1, speedup: 2 / 20, startMs: T0, anomalyRate: 20,
    anomalyTypes: ['spike', 'dip', 'stuck', 'drift', 'dropout'], events: [],
  });
  const job = new TelemetryJob(config, T0, null);
  const windows = new Map<string, WindowResult>();
  let batch: Reading[] = [];
  let offset = 0;
  const flush = (now: number) => {
    offset += batch.length;
    for (const w of windowObjects(job.process({ readings: batch, deadLetters: [], lastOffset: offset }, now).windows)) {
      windows.set(`${w.deviceId}|${w.lengthMs}|${w.start}`, w); // the latest result of each window
    }
    batch = [];
  };
  for (let n = 0; n < 20 * 900; n++) { // 30 simulated minutes, one reading per device every 2 s
    const r = source.next();
    if (r !== undefined) batch.push({ ...r, arrival: r.ts, humidity: r.humidity });
    if (n % 200 === 199) flush(source.simTimeMs(n));
  }
  flush(source.simTimeMs(20 * 900) + 600_000); // idle: the windows with readings become final, dropouts are raised
  const byWindow = new Map<string, WindowResult[]>();
  for (const d of windows.values()) {
    if (d.deviceId === FLEET) continue;
    const key = `${d.lengthMs}|${d.start}`;
    byWindow.set(key, [...(byWindow.get(key) ?? []), d]);
  }
  let fleetWindows = 0;
  let anomalies = 0;
  for (const w of windows.values()) {
    if (w.deviceId !== FLEET) continue;
    fleetWindows++;
    const parts = byWindow.get(`${w.lengthMs}|${w.start}`) ?? [];
    assert.ok(parts.every((d) => d.final === w.final));
    const withReadings = parts.filter((d) => d.count > 0);
    const sum = (f: (d: WindowResult) => number) => parts.reduce((s, d) => s + f(d), 0);
    const count = sum((d) => d.count);
    const near = (a: number | null, b: number, what: string) => assert.ok(a !== null && Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);
    assert.equal(w.count, count);
    if (count === 0) {
      // A window with only anomalies (a dropout raised by the watermark): nothing to measure.
      assert.deepEqual([w.avg, w.min, w.max, w.stddev, w.first, w.last], [null, null, null, null, null, null]);
      assert.equal(w.anomalies, sum((d) => d.anomalies));
      continue;
    }
    near(w.avg, sum((d) => d.count * (d.avg ?? 0)) / count, 'avg');
    near(w.stddev, Math.sqrt(sum((d) => d.count * ((d.stddev ?? 0) ** 2 + (d.avg ?? 0) ** 2)) / count - w.avg! ** 2), 'stddev');
    assert.equal(w.min, Math.min(...withReadings.map((d) => d.min!)));
    assert.equal(w.max, Math.max(...withReadings.map((d) => d.max!)));
    assert.ok(withReadings.some((d) => d.first === w.first) && withReadings.some((d) => d.last === w.last));
    assert.equal(w.humidityCount, sum((d) => d.humidityCount));
    near(w.humidityAvg, sum((d) => d.humidityCount * (d.humidityAvg ?? 0)) / w.humidityCount, 'humidityAvg');
    assert.equal(w.anomalies, sum((d) => d.anomalies));
    for (const type of ANOMALY_TYPES) assert.equal(w.anomaliesByType[type], sum((d) => d.anomaliesByType[type]), type);
    anomalies += w.anomalies;
  }
  assert.ok(fleetWindows > 1000, `${fleetWindows} fleet windows`);
  assert.ok(anomalies > 0, 'the fleet had anomalies to count');
});

test('a spike at a window boundary counts in the windows of its own reading', () => {
  const job = new TelemetryJob(resolveConfig({}), T0, null);
  // One reading a second; the spike at T0 + 59.999 s is the last instant of [T0 + 50 s, T0 + 60 s) (10 s / 2 s
  // windows) and of [T0, T0 + 60 s) (1 min / 10 s); the next reading, at T0 + 60.999 s, confirms it.
  const readings = Array.from({ length: 61 }, (_, i) => reading('d', T0 + i * 1000 + 999, i === 59 ? 30 : calm(i)));
  const out = job.process({ readings, deadLetters: [], lastOffset: 61 }, T0 + 61_000);
  assert.deepEqual(out.anomalies.map((a) => [a.type, a.ts - T0, a.detectedAt - T0]), [['spike', 59_999, 60_999]]);
  const counts = (lengthMs: number, start: number) => {
    const w = windowObjects(out.windows).find((x) => x.deviceId === 'd' && x.lengthMs === lengthMs && x.start === T0 + start);
    return w?.anomaliesByType.spike;
  };
  assert.equal(counts(10_000, 50_000), 1, '[50 s, 60 s) holds the spike');
  assert.equal(counts(10_000, 52_000), 1);
  assert.equal(counts(10_000, 60_000), 0, '[60 s, 70 s) does not');
  assert.equal(counts(60_000, 0), 1, '[0, 60 s) holds it');
  assert.equal(counts(60_000, 10_000), 1);
  assert.equal(counts(300_000, 0), 1);
  const fleet = windowObjects(out.windows).find((x) => x.deviceId === FLEET && x.lengthMs === 10_000 && x.start === T0 + 50_000);
  assert.equal(fleet?.anomaliesByType.spike, 1);
});

test('a dropout found only when the device comes back (one batch holds the gap) counts in the windows, once', () => {
  const HOUR = 3_600_000;
  const job = new TelemetryJob(resolveConfig({ windows: [{ lengthMs: HOUR, slideMs: HOUR }] }), T0, null);
  // Every 10 s, then 200 s of silence, then every 10 s again: the watermark never reaches the gap before the device
  // is back, so the dropout is raised and closed by the same reading.
  const ts = [...Array.from({ length: 30 }, (_, i) => T0 + i * 10_000), ...Array.from({ length: 10 }, (_, i) => T0 + 490_000 + i * 10_000)];
  const out = job.process({ readings: ts.map((t, i) => reading('gap', t, calm(i))), deadLetters: [], lastOffset: ts.length }, T0 + 600_000);
  const dropouts = out.anomalies.filter((a) => a.type === 'dropout');
  assert.deepEqual(dropouts.map((a) => [a.start! - T0, a.end! - T0]), [[300_000, 490_000]], 'due 10 s after the last reading, closed by the next');
  const hour = windowObjects(out.windows).find((w) => w.deviceId === 'gap' && w.start === T0 - (T0 % HOUR));
  assert.equal(hour?.anomaliesByType.dropout, 1);
  assert.equal(windowObjects(out.windows).find((w) => w.deviceId === FLEET && w.start === hour?.start)?.anomaliesByType.dropout, 1);
});

test('a restart in the middle of a stuck interval flags it once: the detector state is in the SQLite checkpoint', async (t) => {
  const config = resolveConfig({ dataDir: tempDir(t) });
  const values = Array.from({ length: 200 }, (_, i) => (i >= 100 && i < 160 ? 20.5 : calm(i)));
  const readings = values.map((v, i) => reading('d', T0 + i * 1000, v));
  const store = await createStore(config);
  t.after(() => store.close());
  const runBatches = async (job: TelemetryJob, from: number, to: number) => {
    for (let i = from; i < to; i += 10) {
      await store.commitBatch(job.process({ readings: readings.slice(i, i + 10), deadLetters: [], lastOffset: i + 10 }, T0 + (i + 10) * 1000));
    }
  };
  await runBatches(new TelemetryJob(config, T0, null), 0, 130); // the plateau started at 100 and was flagged at 109
  // "Crash": a new job from the checkpoint replays nothing it has committed and continues from reading 130.
  const recovered = (await store.recover())!;
  assert.equal(recovered.checkpoint.logOffset, 130);
  await runBatches(new TelemetryJob(config, T0 + 130_000, recovered), 130, 200);
  const stuck = await store.anomalies({ type: 'stuck', from: -Infinity, to: Infinity, limit: 10 });
  assert.deepEqual(
    stuck.map((a: Anomaly) => ({ ts: a.ts - T0, start: a.start! - T0, end: a.end! - T0, detectedAt: a.detectedAt - T0 })),
    [{ ts: 100_000, start: 100_000, end: 159_000, detectedAt: 109_000 }],
  );
  const windows = await store.windows({ deviceId: 'd', lengthMs: 300_000, slideMs: 60_000, from: T0 - 300_000, to: T0 + 1, limit: 10 });
  assert.equal(windows.at(-1)?.anomaliesByType.stuck, 1, 'counted once in the 5 min window');
});

test('processing-time mode: a device whose clock is behind is overdue by arrival, not by how far its ts lags the server', async (t) => {
  const config = resolveConfig({ dataDir: tempDir(t), timeMode: 'processing' });
  const NOW = T0 + 86_400_000;
  // One reading a second, arriving as sent, stamped by a clock a day behind (timeMode processing is for such clocks).
  const batch = (job: TelemetryJob, from: number, to: number) => {
    const readings = Array.from({ length: to - from }, (_, k) => ({ ...reading('late-clock', T0 + (from + k) * 1000, calm(from + k)), arrival: NOW + (from + k) * 1000 }));
    return job.process({ readings, deadLetters: [], lastOffset: to }, NOW + to * 1000);
  };
  const store = await createStore(config);
  t.after(() => store.close());
  const job = new TelemetryJob(config, NOW, null);
  const flagged: Anomaly[] = [];
  for (let i = 0; i < 60; i += 5) {
    const out = batch(job, i, i + 5);
    await store.commitBatch(out);
    flagged.push(...out.anomalies);
  }
  assert.deepEqual(flagged, [], 'a device reporting every second is not silent');

  // Silent from reading 60 on, by the server's clock: overdue once the watermark (arrival − 10 s) is 3 s past its
  // last arrival; dated when it was due on its own clock; the restored state (a restart) knows its last arrival.
  const restored = new TelemetryJob(config, NOW + 61_000, (await store.recover())!);
  assert.deepEqual(restored.process({ readings: [], deadLetters: [], lastOffset: 60 }, NOW + 72_000).anomalies, []);
  const raised = restored.process({ readings: [], deadLetters: [], lastOffset: 60 }, NOW + 73_500).anomalies;
  assert.deepEqual(raised.map((a) => [a.type, a.ts - T0, a.end, a.score]), [['dropout', 60_000, null, 4.5]]);
});
