import { meanWithin } from '../engine/aggregate.ts';
/** A point of a device's temperature series: a raw reading (count 1) or a window aggregate. */
export interface SeriesPoint {
  ts: number;
  temperature: number;
  humidity: number | null;
  count: number;
  min: number;
  max: number;
  source: 'raw' | 'window';
}

/**
 * At most `budget` points: consecutive points (ascending ts) are merged in equal runs; a merged point has the
 * run's first ts, its count-weighted mean temperature (humidity: the count-weighted mean of those that have one:
 * a window's average stands for its count readings, not one), min, max and summed count. Pure.
 */
export function downsample(points: readonly SeriesPoint[], budget: number): SeriesPoint[] {
  if (points.length <= budget) return [...points];
  if (budget <= 0) return [];
  const run = Math.ceil(points.length / budget);
  const out: SeriesPoint[] = [];
  for (let i = 0; i < points.length; i += run) {
    const group = points.slice(i, i + run);
    let count = 0;
    let sum = 0;
    let hSum = 0;
    let hN = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const p of group) {
      count += p.count;
      sum += p.temperature * p.count;
      if (p.humidity !== null) {
        hSum += p.humidity * p.count;
        hN += p.count;
      }
      if (p.min < min) min = p.min;
      if (p.max > max) max = p.max;
    }
    out.push({ ts: group[0].ts, temperature: meanWithin(sum, count, min, max), humidity: hN > 0 ? hSum / hN : null, count, min, max, source: group[0].source });
  }
  return out;
}

/** Splits `budget` between two parts in proportion to their sizes, each getting at least one point if it has any. */
export function splitBudget(a: number, b: number, budget: number): [number, number] {
  if (a + b <= budget) return [a, b];
  if (a === 0) return [0, budget];
  if (b === 0) return [budget, 0];
  const forA = Math.min(budget - 1, Math.max(1, Math.round((budget * a) / (a + b))));
  return [forA, budget - forA];
}

/**
 * A chart's series in at most `budget` points: the window aggregates (`agg`, before the raw readings' time), then
 * the raw readings, each part merged down to its share of the budget. A budget too small to give each part a point
 * (1) merges both parts into one run rather than leave the aggregates out.
 */
export function series(agg: readonly SeriesPoint[], raw: readonly SeriesPoint[], budget: number): SeriesPoint[] {
  const [forAgg, forRaw] = splitBudget(agg.length, raw.length, budget);
  if ((forAgg === 0 && agg.length > 0) || (forRaw === 0 && raw.length > 0)) return downsample([...agg, ...raw], budget);
  return [...downsample(agg, forAgg), ...downsample(raw, forRaw)];
}
