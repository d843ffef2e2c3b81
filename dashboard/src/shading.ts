// A chart.js plugin that shades time spans behind the lines: interval anomalies (stuck, drift, dropout).
import type { Chart, Plugin } from 'chart.js';

export interface Span {
  start: number;
  end: number;
  color: string;
  label: string;
}

export function intervalShading(spans: () => readonly Span[]): Plugin<'line'> {
  return {
    id: 'intervalShading',
    beforeDatasetsDraw(chart: Chart) {
      const { ctx, chartArea, scales } = chart;
      const x = scales.x;
      if (!x || !chartArea) return;
      ctx.save();
      for (const s of spans()) {
        const left = Math.max(chartArea.left, x.getPixelForValue(s.start));
        const right = Math.min(chartArea.right, x.getPixelForValue(s.end));
        if (right <= left) continue;
        ctx.globalAlpha = 0.14;
        ctx.fillStyle = s.color;
        ctx.fillRect(left, chartArea.top, right - left, chartArea.bottom - chartArea.top);
        ctx.globalAlpha = 0.6;
        ctx.fillRect(left, chartArea.top, right - left, 3);
      }
      ctx.restore();
    },
  };
}
