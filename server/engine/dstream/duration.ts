import { invalidDuration, notAMultiple } from './errors.ts';

/** Checks that `value` is a usable duration: a whole number of ms > 0. `what` names it in the error. */
export function checkDuration(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw invalidDuration(what, value);
  return value;
}

/**
 * Checks that `value` is a whole multiple of `base` (the parent stream's slide). The parent of most streams slides
 * by the batch interval, which is how the message names it then.
 */
export function checkMultiple(what: string, value: number, base: number, batchIntervalMs: number): number {
  if (value % base !== 0) {
    const of = base === batchIntervalMs ? 'the batch interval' : "the parent stream's slide";
    throw notAMultiple(what, value, of, base);
  }
  return value;
}

/**
 * Batch times of a parent sliding by `step` that fall in the window (end − length, end], after `zeroTime`
 * (partial windows at the start simply have fewer batches), oldest first.
 */
export function windowTimes(end: number, length: number, step: number, zeroTime: number): number[] {
  const times: number[] = [];
  for (let t = end; t > end - length && t > zeroTime; t -= step) times.push(t);
  return times.reverse();
}

/** Concatenates batches (one level only: records that are arrays, like pairs, stay whole). */
export function concat<T>(parts: readonly (readonly T[])[]): T[] {
  const out: T[] = [];
  for (const part of parts) for (const r of part) out.push(r);
  return out;
}
