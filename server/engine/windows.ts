/**
 * Window arithmetic for epoch-aligned sliding windows: a window of length L and slide S covers [k·S, k·S + L).
 * Readings are kept in panes of width P = gcd(L, S), so a reading updates one pane and a window is the merge of
 * the L/P panes it covers. Pure integer arithmetic on epoch milliseconds; ends are exclusive.
 */
export interface WindowShape {
  readonly lengthMs: number;
  readonly slideMs: number;
  /** Pane width: gcd(length, slide). */
  readonly paneMs: number;
}

export function windowShape(lengthMs: number, slideMs: number): WindowShape {
  return { lengthMs, slideMs, paneMs: gcd(lengthMs, slideMs) };
}

export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Start of the pane holding time t (floor, also for negative t). */
export function paneStart(shape: WindowShape, t: number): number {
  return Math.floor(t / shape.paneMs) * shape.paneMs;
}

/**
 * Windows by number: window k is [k·S, k·S + L). Those containing [from, from + width) — a pane or a single instant
 * (width 1) — are k = firstContaining(…) … lastContaining(…), none when it falls in the gap between windows (slide >
 * length):  k·S ≤ from and from + width ≤ k·S + L  ⇔  (from + width − L)/S ≤ k ≤ from/S.
 */
export function firstContaining(shape: WindowShape, from: number, width = 1): number {
  return Math.ceil((from + width - shape.lengthMs) / shape.slideMs);
}

export function lastContaining(shape: WindowShape, from: number): number {
  return Math.floor(from / shape.slideMs);
}

/** The number of the last window that ends at or before `t` (k·S + L ≤ t); the next one ends after it. */
export function lastEndingBy(shape: WindowShape, t: number): number {
  return Math.floor((t - shape.lengthMs) / shape.slideMs);
}

/** Starts of every window containing [from, from + width), ascending (firstContaining). */
export function windowStartsContaining(shape: WindowShape, from: number, width = 1): number[] {
  const starts: number[] = [];
  for (let k = firstContaining(shape, from, width); k <= lastContaining(shape, from); k++) starts.push(k * shape.slideMs);
  return starts;
}

/** End (exclusive) of the last window that contains time t, or -Infinity when t is in a gap. */
export function lastWindowEnd(shape: WindowShape, t: number): number {
  const start = Math.floor(t / shape.slideMs) * shape.slideMs;
  return start + shape.lengthMs > t ? start + shape.lengthMs : -Infinity;
}
