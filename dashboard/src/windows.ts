// Window rows as the views draw them: a min/max band with the average line, and the table of numbers behind it.
import type { Chart } from 'chart.js';
import type { WindowRow } from './api.ts';
import { h } from './dom.ts';
import { fmtNum, fmtTime, mid, zoneOffset } from './format.ts';
import { hideGaps, type GapPoint } from './gaps.ts';

/** A window that holds readings (the others hold only an anomaly, such as a dropout, and have no temperatures). */
export type FilledWindow = WindowRow & { avg: number; min: number; max: number };

export const withReadings = (windows: readonly WindowRow[]): FilledWindow[] =>
  windows.filter((w): w is FilledWindow => w.count > 0 && w.avg !== null && w.min !== null && w.max !== null);

/** The columns of windowTableRows. */
export const WINDOW_COLUMNS = [`window end (${zoneOffset()})`, 'avg °C', 'min °C', 'max °C', 'readings', 'state'];

/** A window on a chart: `gap` when the window before it is missing (no reading in between: a silence). */
interface WindowPoint extends GapPoint {
  final?: boolean;
}

/**
 * Datasets 0–2 of a chart made with band() then the average line: min, max, avg at each window's middle. A silence
 * (windows without readings, so missing) is a gap in the band and the line, not a line across it; the line is dashed
 * into windows that are not final yet (the watermark has not passed their end: more readings may come).
 */
export function setWindowSeries(chart: Chart<'line'>, windows: readonly FilledWindow[]): void {
  const ds = chart.data.datasets;
  const gap = windows.map((w, i) => i > 0 && Date.parse(w.start) - Date.parse(windows[i - 1].start) > w.slideMs);
  ds[0].data = windows.map((w) => ({ x: mid(w), y: w.min }));
  ds[1].data = windows.map((w, i) => ({ x: mid(w), y: w.max, gap: gap[i] }));
  ds[2].data = windows.map((w, i) => ({ x: mid(w), y: w.avg, final: w.final, gap: gap[i] }));
  const [max, avg] = [ds[1], ds[2]];
  max.segment = { backgroundColor: hideGaps(max) };
  avg.segment = {
    borderColor: hideGaps(avg),
    // Read from the point, not an index into `windows`: decimation draws a subset of the points.
    borderDash: (ctx) => ((avg.data[ctx.p1DataIndex] as WindowPoint | undefined)?.final === false ? [5, 4] : undefined),
  };
}

/** The newest `n` windows, newest first, as rows of end, avg, min, max, readings and whether the window is final. */
export function windowTableRows(windows: readonly FilledWindow[], n: number): HTMLTableRowElement[] {
  return windows
    .slice(-n)
    .reverse()
    .map((w) =>
      h(
        'tr',
        { class: w.final ? undefined : 'partial' },
        h('td', {}, fmtTime(Date.parse(w.end))),
        h('td', {}, w.avg.toFixed(2)),
        h('td', {}, w.min.toFixed(2)),
        h('td', {}, w.max.toFixed(2)),
        h('td', {}, fmtNum(w.count)),
        h('td', { title: w.final ? 'the watermark has passed its end: it will not change' : 'more readings may still come into it' }, w.final ? 'final' : 'partial'),
      ),
    );
}
