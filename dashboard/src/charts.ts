// chart.js, registered piece by piece (only what the dashboard draws), themed from the page's CSS variables.
import {
  Chart,
  Decimation,
  Filler,
  Interaction,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  TimeScale,
  Tooltip,
  type ChartConfiguration,
  type InteractionModeFunction,
  type Plugin,
} from 'chart.js';
import { zoneLabel } from './format.ts';
import './time-adapter.ts';

declare module 'chart.js' {
  interface InteractionModeMap {
    /** An anomaly marker under the pointer (a data point carrying `a`), else the nearest points in time. */
    markerFirst: InteractionModeFunction;
  }
}
/**
 * Hovering an anomaly marker shows its tooltip even where a window's middle or a band is as near (at 1 h, a pixel
 * is several seconds); elsewhere the tooltip is the nearest x, as on every chart here.
 */
Interaction.modes.markerFirst = (chart, e, options, useFinalPosition) => {
  const hits = Interaction.modes.point(chart, e, { ...options, intersect: true }, useFinalPosition).filter(
    (i) => (chart.data.datasets[i.datasetIndex].data[i.index] as { a?: unknown } | undefined)?.a !== undefined,
  );
  return hits.length > 0 ? hits : Interaction.modes.nearest(chart, e, { ...options, axis: 'x', intersect: false }, useFinalPosition);
};

Chart.register(LineController, ScatterController, LineElement, PointElement, LinearScale, TimeScale, Filler, Tooltip, Legend, Decimation);
// Tests and curious users reach the charts with Chart.getChart(canvas).
(window as unknown as { Chart: typeof Chart }).Chart = Chart;

export { Chart };

export const css = (name: string): string => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** The anomaly types of 6/9, each with a colour that reads on light and dark backgrounds. */
export const ANOMALY_COLORS: Record<string, string> = {
  threshold: '#d9480f',
  spike: '#e03131',
  dip: '#1c7ed6',
  stuck: '#ae3ec9',
  drift: '#f59f00',
  rate: '#0ca678',
  dropout: '#868e96',
};
export const anomalyColor = (type: string): string => ANOMALY_COLORS[type] ?? '#f76707';

export function applyTheme(): void {
  Chart.defaults.color = css('--muted');
  Chart.defaults.borderColor = css('--grid');
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 12;
  for (const chart of Object.values(Chart.instances)) {
    const scales = chart.options.scales ?? {};
    for (const s of Object.values(scales)) {
      if (!s) continue;
      if (s.grid) s.grid.color = css('--grid');
      if (s.ticks) s.ticks.color = css('--muted');
    }
    chart.update('none');
  }
}

/** Options every time-series chart here shares: no animation, a time x axis, a tooltip over the nearest x. */
export function timeSeries(canvas: HTMLCanvasElement, config: { y: string; y2?: string; datasets: ChartConfiguration<'line'>['data']['datasets']; plugins?: Plugin<'line'>[] }): Chart<'line'> {
  return new Chart<'line'>(canvas, {
    type: 'line',
    data: { datasets: config.datasets },
    plugins: config.plugins,
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        // The times are the browser's (the API's are UTC): the axis says which zone.
        x: { type: 'time', time: { tooltipFormat: 'datetime' }, title: { display: true, text: `time (${zoneLabel()})` }, ticks: { maxRotation: 0, autoSkipPadding: 16 }, grid: { display: false } },
        y: { title: { display: true, text: config.y }, grace: '5%' },
        ...(config.y2 ? { y2: { position: 'right' as const, title: { display: true, text: config.y2 }, grid: { display: false }, beginAtZero: true } } : {}),
      },
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 12, boxHeight: 12, usePointStyle: true, filter: (item) => !String(item.text).startsWith('_') } },
        tooltip: {
          callbacks: {
            // a band's lower edge is "_min" (kept out of the legend), its upper edge is named after the band
            label: (item) => {
              const label = String(item.dataset.label ?? '');
              const name = label.startsWith('_') ? label.slice(1) : label.endsWith('range') ? 'max' : label;
              return `${name}: ${item.parsed.y == null ? '–' : item.parsed.y.toFixed(2)}`;
            },
          },
        },
        decimation: { enabled: true, algorithm: 'lttb', samples: 600 },
      },
      elements: { point: { radius: 0, hoverRadius: 4 }, line: { borderWidth: 2, tension: 0 } },
    },
  });
}

/** A min/max band: two datasets, the upper filled down to the lower; labels starting with _ stay out of legends. */
export function band(label: string, color: string): ChartConfiguration<'line'>['data']['datasets'] {
  return [
    { label: '_min', data: [], borderWidth: 0, pointRadius: 0, fill: false, borderColor: 'transparent', backgroundColor: 'transparent' },
    { label, data: [], borderWidth: 0, pointRadius: 0, fill: '-1', borderColor: 'transparent', backgroundColor: color },
  ];
}

/** Shows [from, to] on the x axis, with tick labels in the unit that suits the span (seconds, minutes, hours). */
export function setRange(chart: Chart<'line'>, from: number, to: number): void {
  const x = chart.options.scales!.x as { min?: number; max?: number; time?: { unit?: string } };
  const span = to - from;
  x.min = from;
  x.max = to;
  x.time = { ...x.time, unit: span <= 90_000 ? 'second' : span <= 6 * 3_600_000 ? 'minute' : 'hour' };
}
