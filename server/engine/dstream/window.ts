/**
 * Incremental reduceByKeyAndWindow (Spark's ReducedWindowedDStream). The window at t covers the batches in
 * (t − length, t]; the previous window, at t − slide, covered (t − slide − length, t − slide]. So
 *
 *   window(t) = invFn(window(t − slide), batches leaving: (t − slide − length, t − length])
 *               ⊕ fn(batches entering: (t − slide, t])
 *
 * per key, where each batch is already reduced by key (the parent stream, memoised for length + slide). Only the
 * previous result and those per-batch reductions are kept; nothing is recomputed from raw records. As in Spark, a
 * key whose value fell back to the "zero" stays until `filterFn` drops it, and a key missing from the previous
 * result (dropped by the filter) takes only its entering values.
 *
 * With slide ≥ length consecutive windows share no batch, so each window is reduced from scratch.
 */
import { windowTimes } from './duration.ts';
import { reduceToMap, type Pair } from './pair.ts';

export interface IncrementalReduceOptions<K, V> {
  lengthMs: number;
  slideMs: number;
  /** Slide of the per-batch reduced parent (the batch interval, usually). */
  stepMs: number;
  fn: (a: V, b: V) => V;
  invFn: (a: V, b: V) => V;
  filterFn?: (pair: Pair<K, V>) => boolean;
}

export class IncrementalWindowReducer<K, V> {
  private previous: Map<K, V> | undefined;
  private previousTime = Number.NaN;

  constructor(private readonly o: IncrementalReduceOptions<K, V>) {}

  /**
   * The window result at `time`; `batch(t)` returns the parent's per-batch reduction at t. Must be called at
   * every window time in order to stay incremental (the context computes stateful streams every batch).
   */
  compute(time: number, zeroTime: number, batch: (t: number) => readonly Pair<K, V>[]): Pair<K, V>[] {
    const { lengthMs, slideMs, stepMs, fn, invFn, filterFn } = this.o;
    let result: Map<K, V>;
    if (this.previous && this.previousTime === time - slideMs && slideMs < lengthMs) {
      result = this.previous; // owned by this reducer only: updated in place
      const leaving = new Map<K, V>();
      for (const t of windowTimes(time - lengthMs, slideMs, stepMs, zeroTime)) reduceToMap(batch(t), fn, leaving);
      for (const [k, v] of leaving) if (result.has(k)) result.set(k, invFn(result.get(k) as V, v));
      const entering = new Map<K, V>();
      for (const t of windowTimes(time, slideMs, stepMs, zeroTime)) reduceToMap(batch(t), fn, entering);
      for (const [k, v] of entering) result.set(k, result.has(k) ? fn(result.get(k) as V, v) : v);
    } else {
      result = new Map<K, V>();
      for (const t of windowTimes(time, lengthMs, stepMs, zeroTime)) reduceToMap(batch(t), fn, result);
    }
    if (filterFn) {
      for (const [k, v] of result) if (!filterFn([k, v])) result.delete(k);
    }
    this.previous = result;
    this.previousTime = time;
    return [...result];
  }
}
