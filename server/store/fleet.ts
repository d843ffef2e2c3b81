import { Aggregate } from '../engine/aggregate.ts';
import { anomalyCountsFrom, anomalyCountsJson, windowResult } from '../engine/window-pack.ts';
import { ANOMALY_TYPES } from '../engine/detectors/index.ts';
import { FLEET, type WindowResult } from '../engine/event-time.ts';

/**
 * Fleet-wide windows across instances: each instance writes its partial aggregate of a window (count, sum, sum of
 * squares, min, max, first/last with their times, humidity alike, anomaly counts) under its instance id, and every
 * read merges the partials of a window exactly as the engine merges panes (Aggregate.merge), then summarises. With
 * one instance the merge of one partial gives back the engine's own result, bit for bit.
 */

/** The fleet_windows columns under FleetPartialRow's names (identifiers quoted: valid in SQLite and PostgreSQL). */
export const FLEET_COLUMNS = `instance_id AS "instanceId", length_ms AS "lengthMs", slide_ms AS "slideMs", start, "end",
  count, sum, sum_sq AS "sumSq", min, max, first, first_ts AS "firstTs", last, last_ts AS "lastTs",
  humidity_count AS "humidityCount", humidity_sum AS "humiditySum", humidity_sum_sq AS "humiditySumSq",
  humidity_min AS "humidityMin", humidity_max AS "humidityMax", humidity_first AS "humidityFirst",
  humidity_first_ts AS "humidityFirstTs", humidity_last AS "humidityLast", humidity_last_ts AS "humidityLastTs",
  anomalies, anomaly_counts AS "anomalyCounts", final, updated_at AS "updatedAt"`;

/** The columns written, in the order of partialValues(). */
export const FLEET_INSERT_COLUMNS = [
  'instance_id', 'length_ms', 'slide_ms', 'start', '"end"', 'count', 'sum', 'sum_sq', 'min', 'max', 'first', 'first_ts',
  'last', 'last_ts', 'humidity_count', 'humidity_sum', 'humidity_sum_sq', 'humidity_min', 'humidity_max',
  'humidity_first', 'humidity_first_ts', 'humidity_last', 'humidity_last_ts', 'anomalies', 'anomaly_counts', 'final',
  'updated_at',
] as const;

/** One instance's partial of one fleet window; NULL where the aggregate holds ±Infinity or NaN (nothing yet). */
export interface FleetPartialRow {
  instanceId: string;
  lengthMs: number;
  slideMs: number;
  start: number;
  end: number;
  count: number;
  sum: number;
  sumSq: number;
  min: number | null;
  max: number | null;
  first: number | null;
  firstTs: number | null;
  last: number | null;
  lastTs: number | null;
  humidityCount: number;
  humiditySum: number;
  humiditySumSq: number;
  humidityMin: number | null;
  humidityMax: number | null;
  humidityFirst: number | null;
  humidityFirstTs: number | null;
  humidityLast: number | null;
  humidityLastTs: number | null;
  anomalies: number;
  anomalyCounts: string;
  final: number;
  updatedAt: number;
}

const fin = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** A fleet window result as the row values of FLEET_INSERT_COLUMNS. */
export function partialValues(instanceId: string, w: WindowResult, updatedAt: number): unknown[] {
  const s = w.sums;
  if (s === undefined) throw new Error(`fleet window ${w.lengthMs}/${w.slideMs} at ${w.start} has no sums`);
  return [
    instanceId, w.lengthMs, w.slideMs, w.start, w.end, w.count, s.sum, s.sumSq, w.min, w.max, w.first, fin(s.firstTs),
    w.last, fin(s.lastTs), w.humidityCount, s.humiditySum, s.humiditySumSq, w.humidityMin, w.humidityMax,
    w.humidityFirst, fin(s.humidityFirstTs), w.humidityLast, fin(s.humidityLastTs), w.anomalies,
    anomalyCountsJson(w.anomaliesByType), w.final ? 1 : 0, updatedAt,
  ];
}

function aggregateOf(r: FleetPartialRow): Aggregate {
  const a = new Aggregate();
  a.count = r.count;
  a.sum = r.sum;
  a.sumSq = r.sumSq;
  a.min = r.min ?? Infinity;
  a.max = r.max ?? -Infinity;
  a.first = r.first ?? NaN;
  a.firstTs = r.firstTs ?? Infinity;
  a.last = r.last ?? NaN;
  a.lastTs = r.lastTs ?? -Infinity;
  a.humidityCount = r.humidityCount;
  a.humiditySum = r.humiditySum;
  a.humiditySumSq = r.humiditySumSq;
  a.humidityMin = r.humidityMin ?? Infinity;
  a.humidityMax = r.humidityMax ?? -Infinity;
  a.humidityFirst = r.humidityFirst ?? NaN;
  a.humidityFirstTs = r.humidityFirstTs ?? Infinity;
  a.humidityLast = r.humidityLast ?? NaN;
  a.humidityLastTs = r.humidityLastTs ?? -Infinity;
  a.anomalies = r.anomalies;
  const byType = anomalyCountsFrom(r.anomalyCounts);
  if (ANOMALY_TYPES.some((t) => byType[t] !== 0)) {
    const counts = (a.byType ??= new Float64Array(ANOMALY_TYPES.length)); // allocated only where there are anomalies
    ANOMALY_TYPES.forEach((t, i) => (counts[i] = byType[t]));
  }
  return a;
}

/**
 * Merges partial rows sorted by (lengthMs, slideMs, start) into fleet windows: final once every instance's partial
 * is final, updatedAt the latest partial's.
 */
export function mergeFleet(rows: readonly FleetPartialRow[]): (WindowResult & { updatedAt: number })[] {
  const out: (WindowResult & { updatedAt: number })[] = [];
  for (let i = 0; i < rows.length; ) {
    const r = rows[i];
    const agg = aggregateOf(r);
    let final = r.final === 1;
    let updatedAt = r.updatedAt;
    let j = i + 1;
    for (; j < rows.length && rows[j].lengthMs === r.lengthMs && rows[j].slideMs === r.slideMs && rows[j].start === r.start; j++) {
      agg.merge(aggregateOf(rows[j]));
      final &&= rows[j].final === 1;
      if (rows[j].updatedAt > updatedAt) updatedAt = rows[j].updatedAt;
    }
    out.push({ ...windowResult(FLEET, r.lengthMs, r.slideMs, r.start, r.end, final, agg), updatedAt });
    i = j;
  }
  return out;
}

/** The order of windowsUpdatedSince: updated_at, then (deviceId, lengthMs, slideMs, start), byte order of ids. */
export function byUpdate(a: WindowResult & { updatedAt: number }, b: WindowResult & { updatedAt: number }): number {
  return a.updatedAt - b.updatedAt || (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0) ||
    a.lengthMs - b.lengthMs || a.slideMs - b.slideMs || a.start - b.start;
}
