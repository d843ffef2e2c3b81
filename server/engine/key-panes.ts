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
/**
 * A pane slot: the pane's start, the slot of its key's next pane (-1: the last), 1 while the pane is new (placed since
 * the key's last visit by emit, KeyPanes.settle()), then the pane (PANE_WIDTH doubles, aggregate.ts).
 */
const START = 0;
const NEXT = 1;
const NEW = 2;
const SLOT = 3 + PANE_WIDTH;

/** The pools of a job's keys: their pane slots and their heads. */
export interface KeyPools {
  panes: SlotPool;
  heads: SlotPool;
}

export const keyPools = (): KeyPools => ({ panes: new SlotPool(SLOT), heads: new SlotPool(HEAD) });

/**
 * Pane bookkeeping of one key (a device, or the fleet) for one window shape. Its numbers live in pools (SlotPool)
 * shared by every key: its scalars in a head slot, each pane in a pane slot, the key's panes a list through their
 * slots in the order they were placed (first, next(s)). A pane is known by its slot `s`: its doubles are at(s)
 * onwards in data(s). A key holds a handful of panes (length / pane width, plus the allowed lateness), so a walk finds
 * one. The counts by anomaly type of the few panes that hold an anomaly are kept apart, by pane start.
 *
 * The windows a key shows are not kept: they are those that hold one of its panes (EventTimeWindows). At 100,000
 * devices a batch thread holds 300,000 keys: an array of a key's pane slots and one of its open windows cost ≈ 1.2 KB
 * a device (an array's object and its elements, grown 17 at a time), and their scalars as fields a boxed double each.
 */
export class KeyPanes {
  private readonly head: number;
  /** Slot of the first pane placed (-1: none), and of the last. */
  first = -1;
  private last = -1;
  /** Panes held. */
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
    for (let s = this.first; s >= 0; s = this.next(s)) this.pools.panes.give(s);
    this.first = this.last = -1;
    this.size = 0;
    this.pools.heads.give(this.head);
  }

  private getHead(i: number): number {
    return this.pools.heads.data(this.head)[this.pools.heads.offset(this.head) + i];
  }

  private setHead(i: number, v: number): void {
    this.pools.heads.data(this.head)[this.pools.heads.offset(this.head) + i] = v;
  }

  private slot(s: number, i: number): number {
    return this.pools.panes.data(s)[this.pools.panes.offset(s) + i];
  }

  private setSlot(s: number, i: number, v: number): void {
    this.pools.panes.data(s)[this.pools.panes.offset(s) + i] = v;
  }

  /** The array pane `s`'s doubles are in. */
  data(s: number): Float64Array {
    return this.pools.panes.data(s);
  }

  /** Where pane `s`'s doubles begin in data(s). */
  at(s: number): number {
    return this.pools.panes.offset(s) + SLOT - PANE_WIDTH;
  }

  /** Start of pane `s`. */
  startOf(s: number): number {
    return this.slot(s, START);
  }

  /** The pane placed after pane `s` (-1: none): `for (let s = k.first; s >= 0; s = k.next(s))` visits every pane. */
  next(s: number): number {
    return this.slot(s, NEXT);
  }

  /** Whether pane `s` was placed since the key's last settle(). */
  isNew(s: number): boolean {
    return this.slot(s, NEW) === 1;
  }

  /** Its panes are not new any more (emit has shown the windows they opened). */
  settle(): void {
    for (let s = this.first; s >= 0; s = this.next(s)) this.setSlot(s, NEW, 0);
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
   * The watermark from which this key has something to do without new data: its first window holding a pane to
   * become final, or its first pane to evict (-Infinity: not known yet, visit it). Without new data, a batch passes
   * over the key while the watermark is below it.
   */
  get dueAt(): number {
    return this.getHead(DUE_AT);
  }

  /**
   * Sets dueAt after a visit at watermark `wm`: a window becomes final at its end, a pane is evicted at the end of the
   * last window of `shape` holding it. Every window and pane the key holds after a visit ends above the watermark (the
   * final ones were emitted and the old panes evicted in it, new data is never behind the watermark).
   */
  updateDueAt(shape: WindowShape, wm: number): void {
    const { lengthMs, slideMs, paneMs } = shape;
    let due = Infinity;
    for (let s = this.first; s >= 0; s = this.next(s)) {
      const p = this.startOf(s);
      // The first window holding p that ends above the watermark, else the last holding it (the pane's eviction).
      const last = Math.floor(p / slideMs);
      const i = Math.max(Math.ceil((p + paneMs - lengthMs) / slideMs), Math.floor((wm - lengthMs) / slideMs) + 1);
      due = Math.min(due, i <= last ? i * slideMs + lengthMs : lastWindowEnd(shape, p));
    }
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

  /** Slot of the pane starting at `start`, or -1. */
  find(start: number): number {
    for (let s = this.first; s >= 0; s = this.next(s)) if (this.startOf(s) === start) return s;
    return -1;
  }

  /** Whether a pane placed before the key's last settle() starts in [from, to). */
  holdsSettled(from: number, to: number): boolean {
    for (let s = this.first; s >= 0; s = this.next(s)) {
      const p = this.startOf(s);
      if (p >= from && p < to && !this.isNew(s)) return true;
    }
    return false;
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

  /** A new pane for `start` (not present yet), cleared, placed last. */
  create(start: number): number {
    const s = this.pools.panes.take();
    const a = this.pools.panes.data(s);
    const o = this.pools.panes.offset(s);
    a[o + START] = start;
    a[o + NEXT] = -1;
    a[o + NEW] = 1;
    clearPane(a, o + SLOT - PANE_WIDTH);
    if (this.last < 0) this.first = s;
    else this.setSlot(this.last, NEXT, s);
    this.last = s;
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
    let before = -1;
    let s = this.first;
    while (s >= 0 && this.startOf(s) !== start) {
      before = s;
      s = this.next(s);
    }
    if (s < 0) return;
    const after = this.next(s);
    if (before < 0) this.first = after;
    else this.setSlot(before, NEXT, after);
    if (this.last === s) this.last = before;
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
