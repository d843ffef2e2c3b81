import { resolveConfig } from '../server/config.ts';
import type { Anomaly } from '../server/engine/detectors/index.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { ANOMALY_TYPES, type TruthRecord } from '../simulator/anomalies.ts';
import { createSource, deviceIds } from '../simulator/index.ts';
import { latest } from './anomaly-eval.ts';
const [everySec, minutes, devices, seed] = process.argv.slice(2, 6).map(Number);
const typ = process.argv[6];
const ids = deviceIds('thermostat-', devices);
const truth: TruthRecord[] = [];
const startMs = Date.parse('2026-11-24T09:00:00Z');
const source = createSource({ seed, deviceIds: ids, rate: 1, speedup: everySec / devices, startMs, anomalyRate: 6, anomalyTypes: ANOMALY_TYPES, events: [], onTruth: (r) => truth.push(r) });
const job = new TelemetryJob(resolveConfig({}), startMs, null);
const all: Anomaly[] = [];
const series = new Map<string, [number, number][]>();
let batch: any[] = []; let end = startMs + 1000; let off = 0;
const total = Math.round((minutes * 60 * devices) / everySec);
for (let n = 0; n < total; n++) {
  const r = source.next(); if (!r) continue;
  if (r.ts >= end) { off += batch.length; all.push(...job.process({ readings: batch, deadLetters: [], lastOffset: off }, end).anomalies); batch = []; end += 1000 * Math.ceil((r.ts - end + 1) / 1000); }
  batch.push({ ...r, arrival: r.ts });
  (series.get(r.deviceId) ?? series.set(r.deviceId, []).get(r.deviceId)!).push([r.ts, r.temperature]);
}
source.finish();
const dets = latest(all);
const hm = (t: number | string) => new Date(t).toISOString().slice(11, 19);
let shown = 0;
for (const t of truth.filter((t) => t.type === typ && !t.truncated)) {
  const s = Date.parse(t.start), e = Date.parse(t.end);
  const hit = dets.some((d) => d.deviceId === t.deviceId && d.type === typ && (d.start ?? d.ts) <= e + 15000 && (d.end ?? d.detectedAt) >= s - 15000);
  if (hit) continue;
  const ser = series.get(t.deviceId)!;
  const i = ser.findIndex(([ts]) => ts >= s);
  if (i < 20) continue;
  if (shown++ > 10) break;
  console.log(`${t.deviceId} ${hm(s)}-${hm(e)} mag ${t.magnitude} | dets near: ${dets.filter((d) => d.deviceId === t.deviceId && Math.abs(d.ts - s) < 600000).map((d) => `${d.type}@${hm(d.ts)}${d.end ? '-' + hm(d.end) : ''}`).join(' ')} | other: ${truth.filter((x) => x.deviceId === t.deviceId && x !== t && Math.abs(Date.parse(x.start) - s) < 900000).map((x) => `${x.type}@${hm(x.start)}-${hm(x.end)}`).join(' ')}`);
  console.log('   ', ser.slice(Math.max(0, i - 10), i + 5).map(([ts, v]) => `${hm(ts).slice(3)}:${v}`).join(' '));
}
