import { resolveConfig } from '../server/config.ts';
import type { Anomaly } from '../server/engine/detectors/index.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { ANOMALY_TYPES, type TruthRecord } from '../simulator/anomalies.ts';
import { createSource, deviceIds } from '../simulator/index.ts';
import { latest } from './anomaly-eval.ts';
const [everySec, minutes, devices, typ] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), process.argv[5]];
const ids = deviceIds('thermostat-', devices);
const truth: TruthRecord[] = [];
const startMs = Date.parse('2026-11-24T09:00:00Z');
const source = createSource({ seed: 1, deviceIds: ids, rate: 1, speedup: everySec / devices, startMs, anomalyRate: 6, anomalyTypes: ANOMALY_TYPES, events: [], onTruth: (r) => truth.push(r) });
const job = new TelemetryJob(resolveConfig({}), startMs, null);
const series = new Map<string, [number, number][]>();
const all: Anomaly[] = [];
let batch: any[] = []; let end = startMs + 1000; let off = 0;
const total = Math.round((minutes * 60 * devices) / everySec);
for (let n = 0; n < total; n++) {
  const r = source.next(); if (!r) continue;
  if (r.ts >= end) { off += batch.length; all.push(...job.process({ readings: batch, deadLetters: [], lastOffset: off }, end).anomalies); batch = []; end += 1000 * Math.ceil((r.ts - end + 1) / 1000); }
  batch.push({ ...r, arrival: r.ts });
  (series.get(r.deviceId) ?? series.set(r.deviceId, []).get(r.deviceId)!).push([r.ts, r.temperature]);
}
source.finish();
const dets = latest(all).filter((a) => a.type === typ);
let shown = 0;
for (const d of dets) {
  const tr = truth.filter((t) => t.deviceId === d.deviceId);
  const hit = tr.some((t) => t.type === typ && Date.parse(t.start) - 5000 <= (d.end ?? d.detectedAt) && Date.parse(t.end) + 5000 >= (d.start ?? d.ts));
  if (hit && process.argv[6] !== 'all') continue;
  if (shown++ > 8) break;
  const s = series.get(d.deviceId)!;
  const i = s.findIndex(([ts]) => ts >= d.ts);
  console.log(JSON.stringify({ ...d, ts: new Date(d.ts).toISOString().slice(11, 19), det: new Date(d.detectedAt).toISOString().slice(11, 19), start: d.start && new Date(d.start).toISOString().slice(11,19), end: d.end && new Date(d.end).toISOString().slice(11,19) }));
  console.log('  truth:', tr.map((t) => `${t.type} ${t.start.slice(11, 19)}-${t.end.slice(11, 19)} ${t.magnitude}`).join('; '));
  console.log('  series:', s.slice(Math.max(0, i - 12), i + 6).map(([, v]) => v).join(' '));
}
console.log('total', dets.length);
