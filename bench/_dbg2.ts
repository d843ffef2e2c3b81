import { resolveConfig } from '../server/config.ts';
import type { Anomaly } from '../server/engine/detectors/index.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { ANOMALY_TYPES, type TruthRecord } from '../simulator/anomalies.ts';
import { createSource, deviceIds } from '../simulator/index.ts';
import { deviceParams } from '../simulator/model.ts';
import { latest } from './anomaly-eval.ts';
const [everySec, minutes, devices, seed] = process.argv.slice(2, 6).map(Number);
const ids = deviceIds('thermostat-', devices);
const truth: TruthRecord[] = [];
const startMs = Date.parse('2026-11-24T09:00:00Z');
const source = createSource({ seed, deviceIds: ids, rate: 1, speedup: everySec / devices, startMs, anomalyRate: 6, anomalyTypes: ANOMALY_TYPES, events: [], onTruth: (r) => truth.push(r) });
const job = new TelemetryJob(resolveConfig(process.argv[6] ? JSON.parse(process.argv[6]) : {}), startMs, null);
const all: Anomaly[] = [];
let batch: any[] = []; let end = startMs + 1000; let off = 0;
const total = Math.round((minutes * 60 * devices) / everySec);
for (let n = 0; n < total; n++) {
  const r = source.next(); if (!r) continue;
  if (r.ts >= end) { off += batch.length; all.push(...job.process({ readings: batch, deadLetters: [], lastOffset: off }, end).anomalies); batch = []; end += 1000 * Math.ceil((r.ts - end + 1) / 1000); }
  batch.push({ ...r, arrival: r.ts });
}
source.finish();
const dets = latest(all).filter((a) => a.type === 'drift');
const hm = (t: number | string) => new Date(t).toISOString().slice(11, 19);
console.log('MISSED:');
for (const t of truth.filter((t) => t.type === 'drift' && !t.truncated)) {
  const s = Date.parse(t.start), e = Date.parse(t.end);
  const hit = dets.some((d) => d.deviceId === t.deviceId && (d.start ?? d.ts) <= e + 15000 && (d.end ?? d.detectedAt) >= s - 15000);
  if (hit) continue;
  const p = deviceParams(seed, t.deviceId);
  console.log(`${t.deviceId} ${hm(s)}-${hm(e)} (${((e - s) / 60000).toFixed(1)} min) mag ${t.magnitude} hyst ${p.hysteresis.toFixed(2)} noise ${p.noiseSd.toFixed(3)} heat ${p.heatPerHour.toFixed(1)} loss ${p.lossPerHour.toFixed(2)} | dets: ${dets.filter((d) => d.deviceId === t.deviceId).map((d) => `${hm(d.ts)}..${d.end ? hm(d.end) : 'open'}`).join(', ')} | other: ${truth.filter((x) => x.deviceId === t.deviceId && x !== t).map((x) => `${x.type}@${hm(x.start)}`).join(' ')}`);
}
console.log('FALSE:');
for (const d of dets) {
  const tr = truth.filter((t) => t.deviceId === d.deviceId);
  const hit = tr.some((t) => t.type === 'drift' && Date.parse(t.start) - 15000 <= (d.end ?? d.detectedAt) && Date.parse(t.end) + 15000 >= (d.start ?? d.ts));
  if (hit) continue;
  const p = deviceParams(seed, d.deviceId);
  console.log(`${d.deviceId} ${hm(d.ts)}..${d.end ? hm(d.end) : 'open'} det ${hm(d.detectedAt)} value ${d.value?.toFixed(2)} exp ${d.expected?.toFixed(2)} thr ${d.threshold?.toFixed(2)} hyst ${p.hysteresis.toFixed(2)} | truth: ${tr.map((x) => `${x.type}@${hm(x.start)}-${hm(x.end)}`).join(' ')}`);
}
