// What the views share: the latest engine figures, their recent history (as Spark's UI keeps the last batches),
// and the configured windows.
import type { BatchInfo, Stats, WindowSpec } from './api.ts';

export interface Sample {
  t: number;
  inputRate: number;
  batchRate: number;
  processingMs: number;
  schedulingDelayMs: number;
  totalDelayMs: number;
  watermarkLagMs: number | null;
  backlog: number;
  devicesOnline?: number;
}

const MAX_SAMPLES = 900;

export const state = {
  stats: null as Stats | null,
  windows: [] as WindowSpec[],
  batches: [] as (BatchInfo & { t: number })[],
  samples: [] as Sample[],
  online: [] as { t: number; online: number; total: number }[],
};

export function recordStats(s: Stats): void {
  state.stats = s;
  if (s.windows && s.windows.length > 0) state.windows = s.windows;
}

/**
 * `fromStream`: every batch arrives (SSE), so its own records give the rate; when polling, the page sees one batch
 * in a few, so the engine's rate over its recent batches is plotted instead (a sampled batch would alias).
 */
export function recordBatch(b: BatchInfo, fromStream: boolean): void {
  const t = Date.parse(b.batchTime);
  if (state.batches.length > 0 && state.batches[state.batches.length - 1].t >= t) return; // seen (stream and poll)
  state.batches.push({ ...b, t });
  if (state.batches.length > MAX_SAMPLES) state.batches.shift();
  const s = state.stats;
  const wm = b.watermark ? Date.parse(b.watermark) : null;
  state.samples.push({
    t,
    inputRate: s?.inputRate ?? 0,
    batchRate: fromStream && s ? b.records / (s.batchIntervalMs / 1000) : (s?.inputRate ?? 0),
    processingMs: Math.max(0, b.processingMs),
    schedulingDelayMs: Math.max(0, b.schedulingDelayMs), // clocks of two timers can disagree by a millisecond
    totalDelayMs: Math.max(0, b.totalDelayMs),
    watermarkLagMs: wm === null ? null : Math.max(0, t - wm),
    backlog: s?.backlog ?? 0,
  });
  if (state.samples.length > MAX_SAMPLES) state.samples.shift();
}

export function recordOnline(online: number, total: number): void {
  const t = Date.now();
  const last = state.online[state.online.length - 1];
  if (last && t - last.t < 1000) return;
  state.online.push({ t, online, total });
  if (state.online.length > MAX_SAMPLES) state.online.shift();
}
