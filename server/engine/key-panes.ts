import { addAnomalyToPane, clearPane, PANE_WIDTH } from './aggregate.ts';
import { ANOMALY_TYPES } from './detectors/types.ts';
import { lastWindowEnd, type WindowShape } from './windows.ts';

/** Doubles at the head of a key's slab: its scalar bookkeeping (KeyPanes' accessors), then the slots. */
const HEAD = 4;
const PENDING_FROM = 0;
const REFRESH_AT = 1;
const DUE_AT = 2;
const LAST_START = 3;
/** Doubles per slot: the pane's start (NaN: a free slot), then the pane (PANE_WIDTH doubles, aggregate.ts). */
const SLOT = 1 + PANE_WIDTH;
/** Slots a key's slab starts with, and grows by. */
const GROW = 4;

/**
 * Pane and window bookkeeping of one key (a device, or the fleet) for one window shape. Everything that is a number
 * lives in one Float64Array, the slab: the key's scalars, then a slot per pane (its start, then PANE_WIDTH doubles). A
 * key holds a handful of panes (length / pane width, plus the allowed lateness), so a scan finds one. The counts by
 * anomaly type of the few panes that hold an anomaly are kept apart, by pane start.
 *
 * At 100,000 devices a batch thread holds 300,000 keys: as fields, the scalars were a boxed double each (V8 keeps a
 * double field in an object of its own), and the starts and the two sets of times an array and an object each, about
 * 10 of the heap's ≈ 100 objects a device, which every full garbage collection visits.
 */
export class KeyPanes {
  slab = KeyPanes.emptySlab(GROW);
  /** Panes held (slots in use). */
  size = 0;
  /** Offset of the last pane found by pane(), -1 for none: readings mostly arrive in order, so it is often the next. */
  lastOffset = -1;
  /** Counts by anomaly type (indexed as ANOMALY_TYPES) of the panes with an anomaly, by start; null until the first. */
  private types: Map<number, Float64Array> | null = null;
  /**
   * Starts of panes updated since the last emit (their state goes to the checkpoint): a set in a plain array. Emptied
   * with `length = 0`, which lets V8 drop its storage: allocated again at the key's next reading, but not held by
   * every key between batches (≈ 480 bytes a device with 3 window shapes).
   */
  readonly dirty: number[] = [];
  /** Starts of windows that hold data and are not final yet: each is emitted once more when it becomes final. */
  readonly open: number[] = [];

  private static emptySlab(slots: number): Float64Array {
    const slab = new Float64Array(HEAD + slots * SLOT);
    slab[PENDING_FROM] = Infinity;
    slab[REFRESH_AT] = -Infinity;
    slab[DUE_AT] = -Infinity;
    slab[LAST_START] = NaN;
    for (let i = 0; i < slots; i++) slab[HEAD + i * SLOT] = NaN;
    return slab;
  }

  /** Lowest pane start changed since the open windows were last refreshed (Infinity: none). */
  get pendingFrom(): number {
    return this.slab[PENDING_FROM];
  }
  set pendingFrom(t: number) {
    this.slab[PENDING_FROM] = t;
  }

  /** Batch time from which the open windows may be refreshed again (once per slide). */
  get refreshAt(): number {
    return this.slab[REFRESH_AT];
  }
  set refreshAt(t: number) {
    this.slab[REFRESH_AT] = t;
  }

  /**
   * The watermark from which this key has something to do without new data: its first open window to become final,
   * or its first pane to evict (-Infinity: not known yet, visit it). Without new data, a batch passes over the key
   * while the watermark is below it.
   */
  get dueAt(): number {
    return this.slab[DUE_AT];
  }

  /**
   * Sets dueAt after a visit: a window becomes final at its end, a pane is evicted at the end of the last window of
   * `shape` holding it. Every window and pane the key holds after a visit ends above the watermark (the final ones
   * were emitted and the old panes evicted in it, new data is never behind the watermark).
   */
  updateDueAt(shape: WindowShape): void {
    let due = Infinity;
    for (const w of this.open) due = Math.min(due, w + shape.lengthMs);
    for (let s = HEAD; s < this.slab.length; s += SLOT) {
      const p = this.slab[s];
      if (p === p) due = Math.min(due, lastWindowEnd(shape, p)); // p === p: not a free slot
    }
    this.slab[DUE_AT] = due;
  }

  /** Start of the pane at lastOffset (NaN: none). */
  get lastStart(): number {
    return this.slab[LAST_START];
  }

  /** Forgets the last pane found: the next reading looks its pane up (and marks it dirty) again. */
  clearLast(): void {
    this.slab[LAST_START] = NaN;
    this.lastOffset = -1;
  }

  /** Slots in the slab, free ones included: startAt(i) for i below it. */
  get slots(): number {
    return (this.slab.length - HEAD) / SLOT;
  }

  /** Start of the pane in slot `i` (NaN: free). */
  startAt(i: number): number {
    return this.slab[HEAD + i * SLOT];
  }

  /** Offset of the pane in the slab, or -1. */
  find(start: number): number {
    const slab = this.slab;
    for (let s = HEAD; s < slab.length; s += SLOT) if (slab[s] === start) return s + 1;
    return -1;
  }

  /** Offset of the pane starting at `start`, created empty if missing; marks it dirty. */
  pane(start: number): number {
    if (start === this.slab[LAST_START]) return this.lastOffset;
    let o = this.find(start);
    if (o < 0) o = this.create(start);
    addTime(this.dirty, start);
    this.slab[LAST_START] = start;
    this.lastOffset = o;
    return o;
  }

  /** A new slot for `start` (not present yet), cleared. */
  create(start: number): number {
    let s = HEAD;
    while (s < this.slab.length && this.slab[s] === this.slab[s]) s += SLOT; // x === x: not NaN, not free
    if (s === this.slab.length) {
      // Grown by GROW slots, not doubled: a key's live panes stay at a fixed count once its windows slide.
      const slab = KeyPanes.emptySlab(this.slots + GROW);
      slab.set(this.slab);
      this.slab = slab;
    }
    this.slab[s] = start;
    this.types?.delete(start);
    this.size++;
    clearPane(this.slab, s + 1);
    return s + 1;
  }

  /** Counts by anomaly type of the pane at offset `o`; null when it holds no anomaly. */
  byType(o: number): Float64Array | null {
    return this.types === null ? null : (this.types.get(this.slab[o - 1]) ?? null);
  }

  /** Counts an anomaly of type `typeIndex` in the pane at offset `o`. */
  addAnomaly(o: number, typeIndex: number): void {
    addAnomalyToPane(this.slab, o);
    const start = this.slab[o - 1];
    const types = (this.types ??= new Map());
    let counts = types.get(start);
    if (counts === undefined) {
      counts = new Float64Array(ANOMALY_TYPES.length);
      types.set(start, counts);
    }
    counts[typeIndex]++;
  }

  /** Sets the counts by type of the pane at offset `o` (copied; null or all zero: none). */
  setByType(o: number, counts: Float64Array | null): void {
    const start = this.slab[o - 1];
    if (counts !== null && counts.some((n) => n !== 0)) (this.types ??= new Map()).set(start, Float64Array.from(counts));
    else this.types?.delete(start);
  }

  forget(start: number): void {
    this.types?.delete(start);
    const o = this.find(start);
    if (o < 0) return;
    this.slab[o - 1] = NaN;
    this.size--;
    if (start === this.slab[LAST_START]) this.clearLast();
  }
}

/**
 * A handful of times (pane or window starts) in a plain array of doubles, as a Set<number> would hold them, in
 * insertion order. A key holds a few of each (its windows' panes and open windows); a Set's hash table and the boxed
 * number of each entry cost several times that: ≈ 1.3 KB per device with 3 window shapes (bench engine-fleet).
 */
export function addTime(times: number[], t: number): void {
  if (!times.includes(t)) times.push(t);
}

export function deleteTime(times: number[], t: number): void {
  const i = times.indexOf(t);
  if (i < 0) return;
  // Not splice(), which allocates the array of what it removed, nor copyWithin(), which boxes each double it moves.
  for (let j = i + 1; j < times.length; j++) times[j - 1] = times[j];
  times.pop();
}

/**
 * Times in the order added, each once, in an array reused from one use to the next (the window starts to emit of
 * one key after another). Emptied by its count, with a map of time → the use that added it, so that emptying
 * allocates nothing: a Set's clear() allocates a new table, once per key per window shape per batch.
 */
export class TimeList {
  readonly times: number[] = [];
  length = 0;
  private use = 0;
  private readonly added = new Map<number, number>();

  clear(): void {
    this.length = 0;
    // The map holds every time added since it was last emptied (window starts: a few per slide, shared by all keys).
    if (++this.use > 1 << 29 || this.added.size > 4096) {
      this.added.clear();
      this.use = 1;
    }
  }

  add(t: number): void {
    if (this.added.get(t) === this.use) return;
    this.added.set(t, this.use);
    this.times[this.length++] = t === 0 ? 0 : t; // -0 as 0, as a Set holds it
  }
}
