import { addAnomalyToPane, clearPane, PANE_WIDTH } from './aggregate.ts';
import { ANOMALY_TYPES } from './detectors/types.ts';
import { SlotPool } from './slot-pool.ts';
import { lastWindowEnd, type WindowShape } from './windows.ts';

/** Doubles of a key's head (its scalar bookkeeping, KeyPanes' accessors), in the heads' pool. */
const HEAD = 4;
const PENDING_FROM = 0;
const REFRESH_AT = 1;
const DUE_AT = 2;
const LAST_START = 3;
/** Doubles per pane slot: the pane's start, then the pane (PANE_WIDTH doubles, aggregate.ts). */
const SLOT = 1 + PANE_WIDTH;
/** The pools of a job's keys: their pane slots and their heads. */
export interface KeyPools {
  panes: SlotPool;
  heads: SlotPool;
}

export const keyPools = (): KeyPools => ({ panes: new SlotPool(SLOT), heads: new SlotPool(HEAD) });

/**
 * Pane and window bookkeeping of one key (a device, or the fleet) for one window shape. Its numbers live in pools
 * (SlotPool) shared by every key: its scalars in a head slot, each pane in a pane slot (its start, then PANE_WIDTH
 * doubles). A pane is known by its slot `s`: its doubles are at(s) onwards in data(s). A key holds a handful of panes
 * (length / pane width, plus the allowed lateness), so a scan finds one. The counts by anomaly type of the few panes
 * that hold an anomaly are kept apart, by pane start.
 *
 * At 100,000 devices a batch thread holds 300,000 keys: as fields, the scalars were a boxed double each (V8 keeps a
 * double field in an object of its own), and the starts and the two sets of times an array and an object each, about
 * 10 of the heap's ≈ 100 objects a device, which every full garbage collection visits.
 */
export class KeyPanes {
  private readonly head: number;
  /**
   * The key's pane slots, by place: -1 where a pane was forgotten (a new pane takes the first such place), so that
   * panes are visited in the order they were placed, as in the one array a key had before the pools.
   */
  private readonly places: number[] = [];
  /** Panes held (places in use). */
  size = 0;
  /** Slot of the last pane found by pane(), -1 for none: readings mostly arrive in order, so it is often the next. */
  lastSlot = -1;
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

  constructor(private readonly pools: KeyPools = keyPools()) {
    this.head = pools.heads.take();
    const a = pools.heads.data(this.head);
    const o = pools.heads.offset(this.head);
    a[o + PENDING_FROM] = Infinity;
    a[o + REFRESH_AT] = -Infinity;
    a[o + DUE_AT] = -Infinity;
    a[o + LAST_START] = NaN;
  }

  /** Gives the key's slots back to the pools (it holds no pane any more: evicted). */
  dispose(): void {
    for (const s of this.places) if (s >= 0) this.pools.panes.give(s);
    this.places.length = 0;
    this.size = 0;
    this.pools.heads.give(this.head);
  }

  private getHead(i: number): number {
    return this.pools.heads.data(this.head)[this.pools.heads.offset(this.head) + i];
  }

  private setHead(i: number, v: number): void {
    this.pools.heads.data(this.head)[this.pools.heads.offset(this.head) + i] = v;
  }

  /** The array pane `s`'s doubles are in. */
  data(s: number): Float64Array {
    return this.pools.panes.data(s);
  }

  /** Where pane `s`'s doubles begin in data(s) (its start is the double before). */
  at(s: number): number {
    return this.pools.panes.offset(s) + 1;
  }

  /** Start of pane `s`. */
  startOf(s: number): number {
    return this.pools.panes.data(s)[this.pools.panes.offset(s)];
  }

  /** Lowest pane start changed since the open windows were last refreshed (Infinity: none). */
  get pendingFrom(): number {
    return this.getHead(PENDING_FROM);
  }
  set pendingFrom(t: number) {
    this.setHead(PENDING_FROM, t);
  }

  /** Batch time from which the open windows may be refreshed again (once per slide). */
  get refreshAt(): number {
    return this.getHead(REFRESH_AT);
  }
  set refreshAt(t: number) {
    this.setHead(REFRESH_AT, t);
  }

  /**
   * The watermark from which this key has something to do without new data: its first open window to become final,
   * or its first pane to evict (-Infinity: not known yet, visit it). Without new data, a batch passes over the key
   * while the watermark is below it.
   */
  get dueAt(): number {
    return this.getHead(DUE_AT);
  }

  /**
   * Sets dueAt after a visit: a window becomes final at its end, a pane is evicted at the end of the last window of
   * `shape` holding it. Every window and pane the key holds after a visit ends above the watermark (the final ones
   * were emitted and the old panes evicted in it, new data is never behind the watermark).
   */
  updateDueAt(shape: WindowShape): void {
    let due = Infinity;
    for (const w of this.open) due = Math.min(due, w + shape.lengthMs);
    for (const s of this.places) if (s >= 0) due = Math.min(due, lastWindowEnd(shape, this.startOf(s)));
    this.setHead(DUE_AT, due);
  }

  /** Start of the pane at lastSlot (NaN: none). */
  get lastStart(): number {
    return this.getHead(LAST_START);
  }

  /** Forgets the last pane found: the next reading looks its pane up (and marks it dirty) again. */
  clearLast(): void {
    this.setHead(LAST_START, NaN);
    this.lastSlot = -1;
  }

  /** Places of panes, forgotten ones included: startAt(i) for i below it. */
  get placeCount(): number {
    return this.places.length;
  }

  /** Start of the pane at place `i` (NaN: none there). */
  startAt(i: number): number {
    const s = this.places[i];
    return s < 0 ? NaN : this.startOf(s);
  }

  /** Slot of the pane starting at `start`, or -1. */
  find(start: number): number {
    for (const s of this.places) if (s >= 0 && this.startOf(s) === start) return s;
    return -1;
  }

  /** Slot of the pane starting at `start`, created empty if missing; marks it dirty. */
  pane(start: number): number {
    if (start === this.getHead(LAST_START)) return this.lastSlot;
    let s = this.find(start);
    if (s < 0) s = this.create(start);
    addTime(this.dirty, start);
    this.setHead(LAST_START, start);
    this.lastSlot = s;
    return s;
  }

  /** A new pane for `start` (not present yet), cleared. */
  create(start: number): number {
    const s = this.pools.panes.take();
    const a = this.pools.panes.data(s);
    const o = this.pools.panes.offset(s);
    a[o] = start;
    clearPane(a, o + 1);
    const i = this.places.indexOf(-1);
    if (i < 0) this.places.push(s);
    else this.places[i] = s;
    this.types?.delete(start);
    this.size++;
    return s;
  }

  /** Counts by anomaly type of pane `s`; null when it holds no anomaly. */
  byType(s: number): Float64Array | null {
    return this.types === null ? null : (this.types.get(this.startOf(s)) ?? null);
  }

  /** Counts an anomaly of type `typeIndex` in pane `s`. */
  addAnomaly(s: number, typeIndex: number): void {
    addAnomalyToPane(this.data(s), this.at(s));
    const start = this.startOf(s);
    const types = (this.types ??= new Map());
    let counts = types.get(start);
    if (counts === undefined) {
      counts = new Float64Array(ANOMALY_TYPES.length);
      types.set(start, counts);
    }
    counts[typeIndex]++;
  }

  /** Sets the counts by type of pane `s` (copied; null or all zero: none). */
  setByType(s: number, counts: Float64Array | null): void {
    const start = this.startOf(s);
    if (counts !== null && counts.some((n) => n !== 0)) (this.types ??= new Map()).set(start, Float64Array.from(counts));
    else this.types?.delete(start);
  }

  forget(start: number): void {
    this.types?.delete(start);
    const s = this.find(start);
    if (s < 0) return;
    this.places[this.places.indexOf(s)] = -1;
    this.pools.panes.give(s);
    this.size--;
    if (start === this.getHead(LAST_START)) this.clearLast();
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
