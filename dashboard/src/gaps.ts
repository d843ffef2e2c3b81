// Silences in a time series: where a chart leaves a gap instead of drawing a straight line across.

/** A point of a time series; `gap` when it follows a silence (the segment into it is not drawn). */
export interface GapPoint {
  x: number;
  y: number;
  gap?: boolean;
}

/**
 * The longest spacing of the dashboard's samples still drawn as a line: three times the larger of its 2-s refresh
 * and the batch interval (a sample comes with a batch). Longer is a silence: the server was away, or the tab hidden.
 */
export function maxSpacingMs(batchIntervalMs: number | undefined): number {
  return 3 * Math.max(2_000, batchIntervalMs ?? 0);
}

/** The points in order, each marked `gap` when it is more than `maxSpacing` ms after the one before. */
export function markGaps(points: readonly { x: number; y: number }[], maxSpacing: number): GapPoint[] {
  return points.map((p, i) => (i > 0 && p.x - points[i - 1].x > maxSpacing ? { ...p, gap: true } : p));
}

/**
 * For a chart.js dataset's `segment` colours: transparent for the segment that ends at a gap point. Read from the
 * dataset's points when drawn, not from the rows they came from: decimation draws a subset of them.
 */
export function hideGaps(dataset: { data: unknown[] }): (ctx: { p1DataIndex: number }) => string | undefined {
  return (ctx) => ((dataset.data[ctx.p1DataIndex] as GapPoint | undefined)?.gap ? 'transparent' : undefined);
}
