/**
 * A DStream is a sequence of batches: for every batch time t it can compute its records (an array, Spark's RDD)
 * from its parents' records at t. Streams are lazy: only those an output operation reaches are computed, each at
 * most once per batch time (memoised, and forgotten once no window can need them any more).
 *
 * Every concrete stream is a `DStream` built from a `StreamSpec` (its parents, its slide and a compute function),
 * so operator modules never subclass it and import it as a type only.
 */
import type { StreamingContext } from './context.ts';
import { checkDuration, checkMultiple, concat, windowTimes } from './duration.ts';
import { DStreamError, DStreamErrorCodes, invalidArgument } from './errors.ts';
import { printLines } from './format.ts';
import * as pairs from './pair.ts';
import { KeyedState, type UpdateStateFn, type UpdateStateOptions } from './state.ts';
import { IncrementalWindowReducer } from './window.ts';

export type Pair<K, V> = pairs.Pair<K, V>;

/** An output operation's callback: the batch's records (read-only, shared) and the batch time (epoch ms). */
export type BatchFn<T> = (records: readonly T[], batchTime: number) => void | Promise<void>;

export interface StreamSpec<T> {
  /** Operator name, for messages. */
  name: string;
  parents: readonly DStream<any>[];
  /** Interval at which the stream has batches; defaults to its first parent's slide (or the batch interval). */
  slideMs?: number;
  /** Records at batch time `time`; called only at valid times (after the start, on the slide), once per time. */
  compute(time: number): readonly T[];
  /** How long the parents must keep their batches, given how long this stream keeps its own. */
  parentRememberMs?(ownRememberMs: number): number;
  /** Carries state from batch to batch: the context computes it at every valid batch time, in order. */
  stateful?: boolean;
}

export interface ReduceByKeyAndWindowOptions<K, V> {
  /** Inverse of `fn` (`invFn(fn(a, b), b) = a`): makes the window incremental. */
  invFn?: (a: V, b: V) => V;
  /** Keeps only the pairs it returns true for, e.g. `([, v]) => v !== 0` to drop keys that fell back to zero. */
  filterFn?: (pair: Pair<K, V>) => boolean;
}

let nextId = 0;

export class DStream<T> {
  readonly context: StreamingContext;
  readonly name: string;
  /** Interval between this stream's batches (ms): the batch interval, or a window's slide. */
  readonly slideMs: number;
  /** @internal creation order, which is a topological order of the graph */
  readonly _id = nextId++;
  /** @internal */
  readonly _parents: readonly DStream<any>[];
  /** @internal */
  readonly _stateful: boolean;
  /** @internal how long (ms) computed batches are kept; set when the context starts */
  _rememberMs = 0;
  private readonly spec: StreamSpec<T>;
  private readonly memo = new Map<number, readonly T[]>();

  constructor(context: StreamingContext, spec: StreamSpec<T>) {
    context._assertDefinable(`define a ${spec.name} stream`);
    for (const parent of spec.parents) {
      if (parent.context !== context) {
        throw new DStreamError(
          DStreamErrorCodes.TS_ERR_INCOMPATIBLE_STREAMS,
          `${spec.name}: stream ${parent.name} belongs to another streaming context`,
        );
      }
    }
    this.context = context;
    this.name = spec.name;
    this.spec = spec;
    this._parents = spec.parents;
    this._stateful = spec.stateful ?? false;
    this.slideMs = spec.slideMs ?? spec.parents[0]?.slideMs ?? context.batchIntervalMs;
  }

  // ---- engine internals (used by StreamingContext) ----

  /** @internal */
  _isValidTime(time: number): boolean {
    const zero = this.context._zeroTime;
    return time > zero && (time - zero) % this.slideMs === 0;
  }

  /** @internal the records at `time`, computed at most once; undefined off this stream's slide */
  _getOrCompute(time: number): readonly T[] | undefined {
    if (!this._isValidTime(time)) return undefined;
    let records = this.memo.get(time);
    if (records === undefined) {
      records = this.spec.compute(time);
      this.memo.set(time, records);
    }
    return records;
  }

  /** @internal */
  _setComputed(time: number, records: readonly T[]): void {
    this.memo.set(time, records);
  }

  /** @internal raises how long this stream (and so its parents) keep computed batches */
  _remember(ms: number): void {
    const next = Math.max(this._rememberMs, ms, this.slideMs);
    if (next === this._rememberMs) return;
    this._rememberMs = next;
    const forParents = this.spec.parentRememberMs ? this.spec.parentRememberMs(next) : next;
    for (const parent of this._parents) parent._remember(forParents);
  }

  /** @internal drops batches no consumer can need after batch `time` */
  _forget(time: number): void {
    const cutoff = time - this._rememberMs;
    for (const t of this.memo.keys()) if (t <= cutoff) this.memo.delete(t);
  }

  /** @internal batch times currently memoised (for tests of the memory bound) */
  get _cachedTimes(): number[] {
    return [...this.memo.keys()];
  }

  /** A stream with this one as its only parent, computed batch by batch by `fn`. */
  private derive<R>(name: string, fn: (records: readonly T[], time: number) => readonly R[]): DStream<R> {
    return new DStream<R>(this.context, {
      name,
      parents: [this],
      compute: (time) => fn(this._getOrCompute(time) ?? [], time),
    });
  }

  // ---- transformations ----

  map<K, V>(fn: (record: T) => [K, V]): DStream<[K, V]>;
  map<R>(fn: (record: T) => R): DStream<R>;
  map<R>(fn: (record: T) => R): DStream<R> {
    checkFunction('map function', fn);
    return this.derive('map', (records) => {
      const out = new Array<R>(records.length);
      for (let i = 0; i < records.length; i++) out[i] = fn(records[i]);
      return out;
    });
  }

  flatMap<K, V>(fn: (record: T) => Iterable<[K, V]>): DStream<[K, V]>;
  flatMap<R>(fn: (record: T) => Iterable<R>): DStream<R>;
  flatMap<R>(fn: (record: T) => Iterable<R>): DStream<R> {
    checkFunction('flatMap function', fn);
    return this.derive('flatMap', (records) => {
      const out: R[] = [];
      for (const record of records) for (const r of fn(record)) out.push(r);
      return out;
    });
  }

  filter<S extends T>(fn: (record: T) => record is S): DStream<S>;
  filter(fn: (record: T) => boolean): DStream<T>;
  filter(fn: (record: T) => boolean): DStream<T> {
    checkFunction('filter function', fn);
    return this.derive('filter', (records) => records.filter((r) => fn(r)));
  }

  /** The records of this stream and of `others` at each batch time; all must share the same slide. */
  union(...others: DStream<T>[]): DStream<T> {
    const streams: DStream<T>[] = [this, ...others];
    for (const s of streams) {
      if (s.slideMs !== this.slideMs) {
        throw new DStreamError(
          DStreamErrorCodes.TS_ERR_INCOMPATIBLE_STREAMS,
          `union: streams slide by different durations (${this.slideMs} ms and ${s.slideMs} ms)`,
        );
      }
    }
    return new DStream<T>(this.context, {
      name: 'union',
      parents: streams,
      compute: (time) => streams.flatMap((s) => s._getOrCompute(time) ?? []),
    });
  }

  /** Any array-to-array function of a batch (Spark's `transform(rdd => …)`); `records` must not be mutated. */
  transform<R>(fn: (records: readonly T[], batchTime: number) => readonly R[]): DStream<R> {
    checkFunction('transform function', fn);
    return this.derive('transform', fn);
  }

  /** One record per batch: its number of records (0 for an empty batch). */
  count(): DStream<number> {
    return this.derive('count', (records) => [records.length]);
  }

  /** One record per non-empty batch: its records folded with `fn`. */
  reduce(fn: (a: T, b: T) => T): DStream<T> {
    checkFunction('reduce function', fn);
    return this.derive('reduce', (records) => (records.length === 0 ? [] : [records.reduce((a, b) => fn(a, b))]));
  }

  countByValue(): DStream<[T, number]> {
    return this.derive('countByValue', (records) => pairs.countByValue(records));
  }

  // ---- key/value transformations (records are [key, value] tuples) ----

  mapValues<K, V, W>(this: DStream<[K, V]>, fn: (value: V) => W): DStream<[K, W]> {
    checkFunction('mapValues function', fn);
    return this.derive('mapValues', (records) => pairs.mapValues(records, fn));
  }

  reduceByKey<K, V>(this: DStream<[K, V]>, fn: (a: V, b: V) => V): DStream<[K, V]> {
    checkFunction('reduceByKey function', fn);
    return this.derive('reduceByKey', (records) => pairs.reduceByKey(records, fn));
  }

  groupByKey<K, V>(this: DStream<[K, V]>): DStream<[K, V[]]> {
    return this.derive('groupByKey', (records) => pairs.groupByKey(records));
  }

  /** Inner join per batch: `[k, [v, w]]` for every pair of records with equal keys. */
  join<K, V, W>(this: DStream<[K, V]>, other: DStream<[K, W]>): DStream<[K, [V, W]]> {
    if (other.slideMs !== this.slideMs) {
      throw new DStreamError(
        DStreamErrorCodes.TS_ERR_INCOMPATIBLE_STREAMS,
        `join: streams slide by different durations (${this.slideMs} ms and ${other.slideMs} ms)`,
      );
    }
    return new DStream<[K, [V, W]]>(this.context, {
      name: 'join',
      parents: [this, other],
      compute: (time) => pairs.join(this._getOrCompute(time) ?? [], other._getOrCompute(time) ?? []),
    });
  }

  /**
   * Keeps a state per key across batches. `fn(newValues, state, key)` runs every batch for every key that has a
   * state or new values; returning undefined removes the key. `timeoutMs` removes keys idle that long.
   */
  updateStateByKey<K, V, S>(
    this: DStream<[K, V]>,
    fn: UpdateStateFn<K, V, S>,
    options: UpdateStateOptions = {},
  ): DStream<[K, S]> {
    checkFunction('updateStateByKey function', fn);
    const timeoutMs = options.timeoutMs === undefined ? undefined : checkDuration('state timeout', options.timeoutMs);
    const state = new KeyedState<K, V, S>(fn, timeoutMs);
    return new DStream<[K, S]>(this.context, {
      name: 'updateStateByKey',
      parents: [this],
      stateful: true,
      compute: (time) => state.update(this._getOrCompute(time) ?? [], time),
    });
  }

  // ---- window operations ----

  /** @internal validates a window against this stream's slide; returns [length, slide] */
  _checkWindow(length: unknown, slide: unknown): [number, number] {
    const batch = this.context.batchIntervalMs;
    const l = checkMultiple('window length', checkDuration('window length', length), this.slideMs, batch);
    const s = checkMultiple('window slide', checkDuration('window slide', slide), this.slideMs, batch);
    return [l, s];
  }

  /**
   * Every `slide` ms (counted from the start), the records of the batches in (t − length, t]. Windows before
   * `length` has elapsed are partial; a slide longer than the length leaves gaps.
   */
  window(length: number, slide: number = this.slideMs): DStream<T> {
    const [l, s] = this._checkWindow(length, slide);
    const step = this.slideMs;
    return new DStream<T>(this.context, {
      name: 'window',
      parents: [this],
      slideMs: s,
      parentRememberMs: (own) => own + l,
      compute: (time) => {
        const parts = windowTimes(time, l, step, this.context._zeroTime).map((t) => this._getOrCompute(t) ?? []);
        return parts.length === 1 ? parts[0] : concat(parts);
      },
    });
  }

  /** One record per window: its number of records (0 for an empty window). */
  countByWindow(length: number, slide: number = this.slideMs): DStream<number> {
    this._checkWindow(length, slide);
    return this.count()
      .window(length, slide)
      .transform((counts) => [counts.reduce((a, b) => a + b, 0)]);
  }

  /** One record per non-empty window: its records folded with `fn` (incrementally when `invFn` is given). */
  reduceByWindow(
    fn: (a: T, b: T) => T,
    length: number,
    slide: number = this.slideMs,
    options: { invFn?: (a: T, b: T) => T } = {},
  ): DStream<T> {
    checkFunction('reduceByWindow function', fn);
    if (options.invFn !== undefined) checkFunction('reduceByWindow invFn', options.invFn);
    this._checkWindow(length, slide);
    if (options.invFn) {
      return this.map((r): [0, T] => [0, r])
        .reduceByKeyAndWindow(fn, length, slide, { invFn: options.invFn })
        .map(([, v]) => v);
    }
    return this.reduce(fn).window(length, slide).reduce(fn);
  }

  /**
   * Per key, the values of the window folded with `fn`. With `invFn` the window is updated incrementally from the
   * previous one (and keys that fell back to the zero value stay unless `filterFn` drops them, as in Spark).
   */
  reduceByKeyAndWindow<K, V>(
    this: DStream<[K, V]>,
    fn: (a: V, b: V) => V,
    length: number,
    slide: number = this.slideMs,
    options: ReduceByKeyAndWindowOptions<K, V> = {},
  ): DStream<[K, V]> {
    const [l, s] = this._checkWindow(length, slide);
    const { invFn, filterFn } = options;
    checkFunction('reduceByKeyAndWindow function', fn);
    if (invFn !== undefined) checkFunction('reduceByKeyAndWindow invFn', invFn);
    if (filterFn !== undefined) checkFunction('reduceByKeyAndWindow filterFn', filterFn);
    const reduced = this.reduceByKey(fn);
    if (!invFn || s >= l) {
      const windowed = reduced.window(l, s).reduceByKey(fn);
      return filterFn ? windowed.filter(filterFn) : windowed;
    }
    const reducer = new IncrementalWindowReducer<K, V>({
      lengthMs: l,
      slideMs: s,
      stepMs: reduced.slideMs,
      fn,
      invFn,
      filterFn,
    });
    return new DStream<[K, V]>(this.context, {
      name: 'reduceByKeyAndWindow',
      parents: [reduced],
      slideMs: s,
      stateful: true,
      parentRememberMs: (own) => own + l + s,
      compute: (time) => reducer.compute(time, this.context._zeroTime, (t) => reduced._getOrCompute(t) ?? []),
    });
  }

  groupByKeyAndWindow<K, V>(this: DStream<[K, V]>, length: number, slide: number = this.slideMs): DStream<[K, V[]]> {
    return this.window(length, slide).groupByKey();
  }

  /** Per distinct record, its number of occurrences in the window (incremental; values at zero are dropped). */
  countByValueAndWindow(length: number, slide: number = this.slideMs): DStream<[T, number]> {
    this._checkWindow(length, slide);
    return this.map((r): [T, number] => [r, 1]).reduceByKeyAndWindow((a, b) => a + b, length, slide, {
      invFn: (a, b) => a - b,
      filterFn: ([, n]) => n !== 0,
    });
  }

  // ---- output operations ----

  /** Runs `fn` for every batch of this stream, in order, awaiting it before the next output operation. */
  foreachBatch(fn: BatchFn<T>): void {
    this.context._registerOutput(this, fn);
  }

  /** Spark's name for `foreachBatch`. */
  foreachRDD(fn: BatchFn<T>): void {
    this.foreachBatch(fn);
  }

  /**
   * Prints the first `num` records of every batch in Spark's console format, through `out` (by default the
   * context's `out`, which writes to stdout).
   */
  print(num = 10, out?: (line: string) => void): void {
    if (!Number.isSafeInteger(num) || num < 0) throw invalidArgument('print count', num, 'a non-negative integer');
    this.foreachBatch((records, time) => {
      const write = out ?? this.context._out;
      for (const line of printLines(records, time, num)) write(line);
    });
  }
}

/** Transformations take functions: one that is not (a job in plain JavaScript has no types) is named at once. */
function checkFunction(what: string, fn: unknown): void {
  if (typeof fn !== 'function') throw invalidArgument(what, fn, 'a function');
}
