/**
 * The detectors on simulated readings without a broker: the simulator's pure source (model + anomaly injection +
 * ground truth) feeds the real TelemetryJob in event-time batches, and the anomalies it commits are scored against
 * the truth. Fast and deterministic: the quality test (test/anomaly-quality.test.ts) and tuning use it; the
 * `anomalies` benchmark runs the same scoring end to end over MQTT.
 */
import { resolveConfig } from '../server/config.ts';
import type { Anomaly } from '../server/engine/detectors/index.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { driftArmReadings } from '../server/engine/detectors/drift.ts';
import type { Reading } from '../server/ingest/reading.ts';
import { ANOMALY_TYPES, type TruthRecord } from '../simulator/anomalies.ts';
import { createSource, deviceIds } from '../simulator/index.ts';
import { scoreAnomalies, type ScoreReport } from './anomaly-score.ts';

export interface EvalOptions {
  devices: number;
  /** Simulated seconds between two readings of a device. */
  everySec: number;
  minutes: number;
  seed: number;
  /** Random anomalies per device per simulated hour. */
  anomalyRate: number;
  /** Simulated start (the time of day matters: night setback). */
  start: string;
  /** Config overrides (e.g. { detectors: { spike: { sensitivity: 5 } } }). */
  config?: Record<string, unknown>;
}

export const EVAL_DEFAULTS: EvalOptions = { devices: 200, everySec: 1, minutes: 30, seed: 1, anomalyRate: 6, start: '2026-11-24T09:00:00Z' };

/** Latest version of each anomaly (an interval anomaly is emitted when it opens and again when it closes). */
export function latest(anomalies: Iterable<Anomaly>): Anomaly[] {
  const m = new Map<string, Anomaly>();
  for (const a of anomalies) m.set(`${a.deviceId}|${a.type}|${a.ts}`, a);
  return [...m.values()];
}

export function evaluateInProcess(o: EvalOptions): ScoreReport & { readings: number } {
  const ids = deviceIds('thermostat-', o.devices);
  const truth: TruthRecord[] = [];
  const startMs = Date.parse(o.start);
  const source = createSource({
    seed: o.seed,
    deviceIds: ids,
    rate: 1,
    speedup: o.everySec / o.devices,
    startMs,
    anomalyRate: o.anomalyRate,
    anomalyTypes: ANOMALY_TYPES,
    events: [],
    onTruth: (r) => truth.push(r),
  });
  const config = resolveConfig(o.config ?? {});
  const job = new TelemetryJob(config, startMs, null);
  const total = Math.round((o.minutes * 60 * o.devices) / o.everySec);
  const anomalies: Anomaly[] = [];
  const seen = new Map<string, number>();
  const baselineFrom = new Map<string, number>();
  const driftBaselineFrom = new Map<string, number>();
  const dr = config.detectors.drift;
  const driftArm = Math.max(config.detectors.warmupReadings + 1, driftArmReadings(Math.max(dr.memoryReadings, dr.memoryMs / (o.everySec * 1000))));
  let batch: Reading[] = [];
  let batchEnd = startMs + 1000;
  let offset = 0;
  let readings = 0;
  let lastTs = startMs;
  const flush = (now: number) => {
    offset += batch.length;
    anomalies.push(...job.process({ readings: batch, deadLetters: [], lastOffset: offset }, now).anomalies);
    batch = [];
  };
  for (let n = 0; n < total; n++) {
    const r = source.next();
    if (r === undefined) continue;
    if (r.ts >= batchEnd) {
      flush(batchEnd);
      batchEnd += 1000 * Math.ceil((r.ts - batchEnd + 1) / 1000);
    }
    const k = (seen.get(r.deviceId) ?? 0) + 1;
    seen.set(r.deviceId, k);
    if (k === config.detectors.warmupReadings) baselineFrom.set(r.deviceId, r.ts);
    if (k === driftArm) driftBaselineFrom.set(r.deviceId, r.ts);
    batch.push({ deviceId: r.deviceId, ts: r.ts, temperature: r.temperature, humidity: r.humidity, seq: r.seq, arrival: r.ts });
    readings++;
    lastTs = r.ts;
  }
  flush(lastTs);
  source.finish();
  const report = scoreAnomalies(truth, latest(anomalies), { baselineFrom, driftBaselineFrom, runEnd: lastTs, marginMs: 3 * o.everySec * 1000 });
  return { ...report, readings };
}

/** `node --import tsx bench/anomaly-eval.ts [everySec] [minutes] [devices]`: prints the report (for tuning). */
if (process.argv[1]?.endsWith('anomaly-eval.ts')) { // by name: bundled into the server host, import.meta.url is the bundle's
  const [everySec, minutes, devices, seed] = process.argv.slice(2, 6).map(Number);
  const o = { ...EVAL_DEFAULTS, config: process.argv[6] ? JSON.parse(process.argv[6]) : undefined, ...(everySec ? { everySec } : {}), ...(minutes ? { minutes } : {}), ...(devices ? { devices } : {}), ...(seed ? { seed } : {}) };
  const t = Date.now();
  const r = evaluateInProcess(o);
  console.log(JSON.stringify(o));
  console.table(r.types.map((x) => ({ ...x, precision: x.precision.toFixed(3), recall: x.recall.toFixed(3) })));
  console.log(JSON.stringify({ other: r.other, excludedTruth: r.excludedTruth, excludedDetections: r.excludedDetections, readings: r.readings, ms: Date.now() - t }));
}
