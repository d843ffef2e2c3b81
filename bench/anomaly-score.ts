/**
 * Scores detected anomalies against the simulator's ground truth (--truth), per type: precision, recall and median
 * detection delay. Used by `npm run bench -- anomalies` and by test/anomaly-quality.test.ts.
 *
 * Matching, per device and type (spike, dip, stuck, drift, dropout):
 *   - spike / dip: the detection is dated at the affected reading itself (exact ts);
 *   - stuck, drift, dropout: the detection's [start, end] overlaps the truth's [start, end] widened by `marginMs`
 *     (a stuck sensor repeats the reading before its first affected one; a dropout is dated when the device was due).
 * A detection matching no truth of its type is a false positive; a truth no detection matches is a miss. Delay is
 * detectedAt − truth start (event time) of the first matching detection.
 *
 * Left out, and counted as such: truth that starts before the device's baseline exists (its first warmupReadings
 * readings: the detectors do not flag there by design), truth cut short by the end of the run, and detections
 * made after the run's last reading (dropouts raised when the whole fleet stops).
 */
import type { TruthRecord } from '../simulator/anomalies.ts';

export const SCORED_TYPES = ['spike', 'dip', 'stuck', 'drift', 'dropout'] as const;
type Scored = (typeof SCORED_TYPES)[number];

export interface Detection {
  deviceId: string;
  type: string;
  ts: number;
  start: number | null;
  end: number | null;
  detectedAt: number;
}

export interface TypeScore {
  type: string;
  truth: number;
  detected: number;
  truePositives: number;
  falsePositives: number;
  missed: number;
  precision: number;
  recall: number;
  medianDelayMs: number | null;
}

export interface ScoreReport {
  types: TypeScore[];
  /** Detections of unscored types (threshold, rate): how many, and how many fall on a true anomaly of any type. */
  other: { type: string; detected: number; onTruth: number }[];
  excludedTruth: { warmup: number; truncated: number };
  excludedDetections: number;
}

export interface ScoreOptions {
  /** Per device: ts of the reading after which its baseline exists (truth starting earlier is left out). */
  baselineFrom: ReadonlyMap<string, number>;
  /** Per device, for drift: ts of the reading after which the drift baseline exists (default: baselineFrom). */
  driftBaselineFrom?: ReadonlyMap<string, number>;
  /** The run's last reading ts: detections made after it are left out. */
  runEnd: number;
  marginMs: number;
}

export function scoreAnomalies(truth: readonly TruthRecord[], detections: readonly Detection[], o: ScoreOptions): ScoreReport {
  const excluded = { warmup: 0, truncated: 0 };
  const kept: { t: TruthRecord; start: number; end: number; hit: number | null }[] = [];
  for (const t of truth) {
    const start = Date.parse(t.start);
    const end = Date.parse(t.end);
    if (t.truncated) excluded.truncated++;
    else if (!(start > (((t.type === 'drift' ? o.driftBaselineFrom : undefined) ?? o.baselineFrom).get(t.deviceId) ?? Infinity))) excluded.warmup++;
    else kept.push({ t, start, end, hit: null });
  }
  const dets = detections.filter((d) => d.detectedAt <= o.runEnd);
  const byKey = new Map<string, typeof kept>();
  for (const k of kept) {
    const key = `${k.t.deviceId}|${k.t.type}`;
    byKey.set(key, [...(byKey.get(key) ?? []), k]);
  }
  const perType = new Map<string, { detected: number; tp: number }>();
  const other = new Map<string, { detected: number; onTruth: number }>();
  for (const d of dets) {
    if (!(SCORED_TYPES as readonly string[]).includes(d.type)) {
      const o2 = other.get(d.type) ?? { detected: 0, onTruth: 0 };
      o2.detected++;
      const on = truth.some((t) => t.deviceId === d.deviceId && overlaps(d, Date.parse(t.start), Date.parse(t.end) , o.marginMs));
      if (on) o2.onTruth++;
      other.set(d.type, o2);
      continue;
    }
    const s = perType.get(d.type) ?? { detected: 0, tp: 0 };
    s.detected++;
    let matched = false;
    // A detection on an anomaly left out (warmup, truncated) is neither right nor wrong: it is left out too.
    const all = truth.filter((t) => t.deviceId === d.deviceId && t.type === d.type);
    for (const t of all) {
      if (!matches(d, t, o.marginMs)) continue;
      matched = true;
      const k = kept.find((x) => x.t === t);
      if (k === undefined) {
        s.detected--;
        matched = false;
        break;
      }
      if (k.hit === null || d.detectedAt < k.hit) k.hit = d.detectedAt;
    }
    if (matched) s.tp++;
    perType.set(d.type, s);
  }
  const types = SCORED_TYPES.map((type): TypeScore => {
    const ks = kept.filter((k) => k.t.type === type);
    const hits = ks.filter((k) => k.hit !== null);
    const s = perType.get(type) ?? { detected: 0, tp: 0 };
    const delays = hits.map((k) => k.hit! - k.start).sort((a, b) => a - b);
    return {
      type,
      truth: ks.length,
      detected: s.detected,
      truePositives: s.tp,
      falsePositives: s.detected - s.tp,
      missed: ks.length - hits.length,
      precision: s.detected === 0 ? 1 : s.tp / s.detected,
      recall: ks.length === 0 ? 1 : hits.length / ks.length,
      medianDelayMs: delays.length === 0 ? null : delays[(delays.length - 1) >> 1],
    };
  });
  return {
    types,
    other: [...other].map(([type, v]) => ({ type, ...v })),
    excludedTruth: excluded,
    excludedDetections: detections.length - dets.length,
  };
}

function matches(d: Detection, t: TruthRecord, marginMs: number): boolean {
  const start = Date.parse(t.start);
  const end = Date.parse(t.end);
  const type = t.type as Scored;
  if (type === 'spike' || type === 'dip') return d.ts >= start && d.ts <= end;
  return overlaps(d, start, end, marginMs);
}

function overlaps(d: Detection, start: number, end: number, marginMs: number): boolean {
  const from = d.start ?? d.ts;
  const to = d.end ?? Math.max(d.detectedAt, from);
  return from <= end + marginMs && to >= start - marginMs;
}
