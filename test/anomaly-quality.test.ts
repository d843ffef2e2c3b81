/**
 * Detection quality at the default settings, on the simulator's readings with anomaly injection and its ground
 * truth (the real TelemetryJob, no broker: bench/anomaly-eval.ts). The full-size measurement is
 * `npm run bench -- anomalies` (docs/BENCHMARKS.md); this smaller run fails below 0.9 (drift 0.8).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateInProcess } from '../bench/anomaly-eval.ts';

test('precision and recall per type on a simulated fleet with injected anomalies', () => {
  // Two simulated hours: the drift detector's baseline needs 7.5 min before it arms, and drifts last 10–30 min.
  const report = evaluateInProcess({ devices: 50, everySec: 5, minutes: 120, seed: 3, anomalyRate: 6, start: '2026-11-24T09:00:00Z' });
  const low = report.types.filter((t) => {
    const bar = t.type === 'drift' ? 0.8 : 0.9;
    return t.precision < bar || t.recall < bar;
  });
  assert.deepEqual(low, [], JSON.stringify(report.types, null, 1));
  assert.ok(report.types.every((t) => t.truth >= 10), `enough true anomalies of each type: ${report.types.map((t) => `${t.type} ${t.truth}`).join(', ')}`);
});
