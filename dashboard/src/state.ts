// What the views share: the latest engine figures, their recent history (as Spark's UI keeps the last batches),
// and the configured windows.
import { getJson, type BatchInfo, type Stats, type WindowRow, type WindowSpec } from './api.ts';

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
 * A batch seen in /api/v1/stats (polled every second, so one batch in a few at short intervals): its delays as
 * they are, and for the rate the engine's own figure over its recent batches (a sampled batch's count would alias).
 */
export function recordBatch(b: BatchInfo): void {
  const t = Date.parse(b.batchTime);
  if (state.batches.length > 0 && state.batches[state.batches.length - 1].t >= t) return; // seen (stream and poll)
  state.batches.push({ ...b, t });
  if (state.batches.length > MAX_SAMPLES) state.batches.shift();
  const s = state.stats;
  const wm = b.watermark ? Date.parse(b.watermark) : null;
  state.samples.push({
    t,
    inputRate: s?.inputRate ?? 0,
    batchRate: s?.inputRate ?? 0,
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

/**
 * The configured windows: from /api/v1/stats (`windows`), else the shapes of a device's newest windows
 * (GET /api/v1/devices/:id), else the default window's shape from one fleet window.
 */
export async function knownWindows(device?: { windows?: WindowRow[] }): Promise<WindowSpec[]> {
  if (state.windows.length > 0) return state.windows;
  const shapes = new Map<string, WindowSpec>();
  for (const w of device?.windows ?? []) shapes.set(`${w.lengthMs}/${w.slideMs}`, { lengthMs: w.lengthMs, slideMs: w.slideMs });
  if (shapes.size > 0) return [...shapes.values()].sort((a, b) => a.lengthMs - b.lengthMs || a.slideMs - b.slideMs);
  const one = await getJson<{ items: WindowRow[] }>('/api/v1/windows?limit=1');
  return one.items.slice(0, 1).map((w) => ({ lengthMs: w.lengthMs, slideMs: w.slideMs }));
}
