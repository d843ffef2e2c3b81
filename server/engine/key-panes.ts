import type { Reading } from '../ingest/reading.ts';
import { addAnomalyToPane, addToPane, addValuesToPane, clearPane, PANE_WIDTH, writePane, type Aggregate } from './aggregate.ts';
import { ANOMALY_TYPES } from './detectors/types.ts';
import { SlotPool } from './slot-pool.ts';
import { firstContaining, lastContaining, lastEndingBy, lastWindowEnd, type WindowShape } from './windows.ts';

/**
 * Doubles of a key's head for one window shape, in its head slot (one slot a key, a head per shape): when its open
 * windows are next refreshed and due, the last pane found (readings mostly arrive in order, so it is often the next),
 * and its list of panes.
 */
const PENDING_FROM = 0;
const REFRESH_AT = 1;
const DUE_AT = 2;
const LAST_START = 3;
const LAST_SLOT = 4;
const FIRST = 5;
const LAST = 6;
const SIZE = 7;
const CHANGED_PANES = 8;
const HEAD = 9;
/**
 * A pane slot: the pane's start, the slot of its key's next pane (-1: the last), its flags, then the one reading it
 * holds — temperature, ts (NaN: none yet) and humidity (NaN: none) — or, once WIDE, the slot of its aggregate
 * (PANE_WIDTH doubles, aggregate.ts) in the pool of wide panes.
 */
const START = 0;
const NEXT = 1;
const FLAGS = 2;
const T = 3;
const TS = 4;
const H = 5;
const WIDE_SLOT = 3;
const SLOT = 6;
/** Placed since the key's last settle(): the windows it opens have not been shown. */
const NEW = 1;
/** Changed since the key's last settle(): its state goes to the checkpoint. */
const CHANGED = 2;
/** Its aggregate is in a slot of the wide pool (WIDE_SLOT): it holds more than one reading, or an anomaly, or was written whole. */
const WIDE = 4;

/**
 * The panes of every key (a device, or the fleet) of a job, for each of its window shapes (0 … shapes − 1), in
 * pools of fixed slots (SlotPool) rather than objects: a key is a head slot `d` (addKey()), holding per shape the
 * scalars of its bookkeeping and a list of its panes through their slots, oldest start first
 * (`for (let s = first(d, i); s >= 0; s = next(s))`). A pane is known by its slot `s`: its doubles are at(s) onwards in
 * data(s). A key mostly holds a handful of panes per shape (length / pane width, plus the allowed lateness), so a walk
 * finds one; a pane after the newest (readings in order) is placed without a walk, and ascending starts are found by
 * walking on from the last one found (findFrom), so that a device's backlog of hours in one batch — thousands of
 * panes — costs no walk per reading or window. The counts by anomaly type of the few panes that hold an anomaly are
 * kept apart, by slot.
 *
 * A pane holding one reading keeps just that reading (48 bytes a slot, not the 176 of a whole aggregate), and is
 * widened into an aggregate of its own by its second reading, an anomaly, or a write of its whole state (widen()): at
 * 100,000 devices reporting every 10 s, most panes of windows sliding by 2 or 10 s hold one reading. Readers see every
 * pane as an aggregate (data(), at()).
 *
 * The windows a key shows are not kept: they are those that hold one of its panes (EventTimeWindows). At 100,000
 * devices with three window shapes, an object a key and shape with an array of its pane slots, one of its open windows
 * and one of its changed panes cost ≈ 1.6 KB a device (objects, and arrays' elements grown 17 at a time).
 */
export class KeyPanes {
  private readonly panes = new SlotPool(SLOT);
  private readonly wide = new SlotPool(PANE_WIDTH);
  /** The aggregate of the one-reading pane data() last read. */
  private readonly one = new Float64Array(PANE_WIDTH);
  /** An aggregate write() keeps as one reading, as written whole, to compare. */
  private readonly whole = new Float64Array(PANE_WIDTH);
  private readonly heads: SlotPool;
  private readonly types = new Map<number, Float64Array>();

  constructor(readonly shapes: number) {
    this.heads = new SlotPool(HEAD * shapes);
  }

  /** A new key, holding no pane. */
  addKey(): number {
    const d = this.heads.take();
    for (let i = 0; i < this.shapes; i++) this.resetShape(d, i);
    return d;
  }

  /**
   * Key `d`'s bookkeeping of shape `i` as a new key's (it holds no pane of the shape: a new key, or its last pane of
   * the shape evicted). A shape starts afresh as it did when each shape's state was a key of its own, dropped with its
   * last pane: its open windows' next refresh is not paced by the refreshes of before.
   */
  resetShape(d: number, i: number): void {
    this.setHead(d, i, PENDING_FROM, Infinity);
    this.setHead(d, i, REFRESH_AT, -Infinity);
    this.setHead(d, i, DUE_AT, -Infinity);
    this.setHead(d, i, LAST_START, NaN);
    this.setHead(d, i, LAST_SLOT, -1);
    this.setHead(d, i, FIRST, -1);
    this.setHead(d, i, LAST, -1);
    this.setHead(d, i, SIZE, 0);
    this.setHead(d, i, CHANGED_PANES, 0);
  }

  /** Gives key `d`'s slots back to the pools (it holds no pane any more: evicted). */
  removeKey(d: number): void {
    for (let i = 0; i < this.shapes; i++) for (let s = this.first(d, i); s >= 0; s = this.next(s)) this.free(s);
    this.heads.give(d);
  }

  /** Whether key `d` holds no pane of any shape. */
  isEmpty(d: number): boolean {
    for (let i = 0; i < this.shapes; i++) if (this.size(d, i) > 0) return false;
    return true;
  }

  private head(d: number, i: number, f: number): number {
    return this.heads.data(d)[this.heads.offset(d) + i * HEAD + f];
  }

  private setHead(d: number, i: number, f: number, v: number): void {
    this.heads.data(d)[this.heads.offset(d) + i * HEAD + f] = v;
  }

  private slot(s: number, f: number): number {
    return this.panes.data(s)[this.panes.offset(s) + f];
  }

  private setSlot(s: number, f: number, v: number): void {
    this.panes.data(s)[this.panes.offset(s) + f] = v;
  }

  /**
   * The array pane `s`'s aggregate (PANE_WIDTH doubles, aggregate.ts) is in. A one-reading pane's is written out into
   * an array the next data() call reuses: read it before then, and widen() a pane before writing to it.
   */
  data(s: number): Float64Array {
    const a = this.panes.data(s);
    const o = this.panes.offset(s);
    if ((a[o + FLAGS] & WIDE) !== 0) return this.wide.data(a[o + WIDE_SLOT]);
    this.writeOne(a, o, this.one, 0);
    return this.one;
  }

  /** Where pane `s`'s aggregate begins in data(s). */
  at(s: number): number {
    const a = this.panes.data(s);
    const o = this.panes.offset(s);
    return (a[o + FLAGS] & WIDE) !== 0 ? this.wide.offset(a[o + WIDE_SLOT]) : 0;
  }

  /** Whether pane `s` has an aggregate of its own (it is not kept as the one reading it holds). */
  isWide(s: number): boolean {
    return (this.slot(s, FLAGS) & WIDE) !== 0;
  }

  /**
   * Writes the reading pane `s` holds, if it is kept as one (not wide, not empty), at out[0…2]: temperature, ts and
   * humidity (NaN: none), the checkpoint's state of a one-reading pane (aggregate.ts, ONE_READING). False if not.
   */
  readingOf(s: number, out: Float64Array): boolean {
    const a = this.panes.data(s);
    const o = this.panes.offset(s);
    if ((a[o + FLAGS] & WIDE) !== 0 || Number.isNaN(a[o + TS])) return false;
    out[0] = a[o + T];
    out[1] = a[o + TS];
    out[2] = a[o + H];
    return true;
  }

  /** Adds reading `r` to pane `s`: an empty pane keeps the reading, one holding a reading already is widened. */
  addReading(s: number, r: Reading): void {
    const a = this.panes.data(s);
    const o = this.panes.offset(s);
    if ((a[o + FLAGS] & WIDE) === 0) {
      if (Number.isNaN(a[o + TS])) {
        a[o + T] = r.temperature;
        a[o + TS] = r.ts;
        a[o + H] = r.humidity ?? NaN;
        return;
      }
      this.widen(s);
    }
    const w = a[o + WIDE_SLOT];
    addToPane(this.wide.data(w), this.wide.offset(w), r);
  }

  /** Pane `s` with an aggregate of its own, so that what data(s) and at(s) point at can be written. */
  widen(s: number): void {
    const a = this.panes.data(s);
    const o = this.panes.offset(s);
    if ((a[o + FLAGS] & WIDE) !== 0) return;
    const w = this.wide.take();
    this.writeOne(a, o, this.wide.data(w), this.wide.offset(w));
    a[o + FLAGS] |= WIDE;
    a[o + WIDE_SLOT] = w;
  }

  /**
   * Writes aggregate `g` as pane `s`'s state, with its counts by type (a restored pane, a fleet pane merged anew): as the
   * one reading it holds when that gives `g` back exactly, so that a restart does not widen every pane.
   */
  write(s: number, g: Aggregate): void {
    const a = this.panes.data(s);
    const o = this.panes.offset(s);
    if ((a[o + FLAGS] & WIDE) === 0 && g.count === 1 && g.anomalies === 0) {
      a[o + T] = g.first;
      a[o + TS] = g.firstTs;
      a[o + H] = g.humidityCount === 1 ? g.humidityFirst : NaN;
      this.writeOne(a, o, this.one, 0);
      writePane(g, this.whole, 0);
      let same = true;
      for (let j = 0; j < PANE_WIDTH && same; j++) same = Object.is(this.one[j], this.whole[j]);
      if (same) return;
    }
    this.widen(s);
    writePane(g, this.data(s), this.at(s));
    this.setByType(s, g.byType);
  }

  /** Writes the aggregate of the one-reading (or empty) pane at `o` of `a` at `to` of `into`. */
  private writeOne(a: Float64Array, o: number, into: Float64Array, to: number): void {
    clearPane(into, to);
    const ts = a[o + TS];
    if (Number.isNaN(ts)) return;
    const h = a[o + H];
    addValuesToPane(into, to, a[o + T], ts, Number.isNaN(h) ? undefined : h);
  }

  /** Start of pane `s`. */
  startOf(s: number): number {
    return this.slot(s, START);
  }

  /** Key `d`'s pane of shape `i` with the oldest start (-1: none). */
  first(d: number, i: number): number {
    return this.head(d, i, FIRST);
  }

  /** The pane after pane `s`, the next start (-1: none). */
  next(s: number): number {
    return this.slot(s, NEXT);
  }

  /** Panes of shape `i` key `d` holds. */
  size(d: number, i: number): number {
    return this.head(d, i, SIZE);
  }

  /** Panes of shape `i` key `d` changed since its last settle(). */
  changedCount(d: number, i: number): number {
    return this.head(d, i, CHANGED_PANES);
  }

  /** Whether pane `s` changed since its key's last settle(). */
  isChanged(s: number): boolean {
    return (this.slot(s, FLAGS) & CHANGED) !== 0;
  }

  /** Whether pane `s` was placed since its key's last settle(). */
  isNew(s: number): boolean {
    return (this.slot(s, FLAGS) & NEW) !== 0;
  }

  /**
   * Marks pane `s` of shape `i` of key `d` changed (its state goes to the checkpoint); until the key's next settle(),
   * so is the pane of the last reading, which pane() returns without looking it up.
   */
  markChanged(d: number, i: number, s: number): void {
    const flags = this.slot(s, FLAGS);
    if ((flags & CHANGED) !== 0) return;
    this.setSlot(s, FLAGS, flags | CHANGED);
    this.setHead(d, i, CHANGED_PANES, this.head(d, i, CHANGED_PANES) + 1);
  }

  /** Key `d`'s panes of shape `i` are neither new nor changed any more (emit has shown and checkpointed them). */
  settle(d: number, i: number): void {
    for (let s = this.first(d, i); s >= 0; s = this.next(s)) this.setSlot(s, FLAGS, this.slot(s, FLAGS) & WIDE);
    this.setHead(d, i, CHANGED_PANES, 0);
    this.setHead(d, i, LAST_START, NaN);
    this.setHead(d, i, LAST_SLOT, -1);
  }

  /** Lowest pane start changed since the open windows were last refreshed (Infinity: none). */
  pendingFrom(d: number, i: number): number {
    return this.head(d, i, PENDING_FROM);
  }

  setPendingFrom(d: number, i: number, t: number): void {
    this.setHead(d, i, PENDING_FROM, t);
  }

  /** Batch time from which the open windows may be refreshed again (once per slide). */
  refreshAt(d: number, i: number): number {
    return this.head(d, i, REFRESH_AT);
  }

  setRefreshAt(d: number, i: number, t: number): void {
    this.setHead(d, i, REFRESH_AT, t);
  }

  /**
   * The watermark from which key `d` has something to do in shape `i` without new data: its first window holding a
   * pane to become final, or its first pane to evict (-Infinity: not known yet, visit it). Without new data, a batch
   * passes over the key while the watermark is below it.
   */
  dueAt(d: number, i: number): number {
    return this.head(d, i, DUE_AT);
  }

  /**
   * Sets dueAt after a visit at watermark `wm`: a window becomes final at its end, a pane is evicted at the end of the
   * last window of `shape` holding it. Every window and pane the key holds after a visit ends above the watermark (the
   * final ones were emitted and the old panes evicted in it, new data is never behind the watermark).
   */
  updateDueAt(d: number, i: number, shape: WindowShape, wm: number): void {
    let due = Infinity;
    for (let s = this.first(d, i); s >= 0; s = this.next(s)) {
      const p = this.startOf(s);
      // The first window holding p that ends above the watermark, else the last holding it (the pane's eviction).
      const k = Math.max(firstContaining(shape, p, shape.paneMs), lastEndingBy(shape, wm) + 1);
      due = Math.min(due, k <= lastContaining(shape, p) ? k * shape.slideMs + shape.lengthMs : lastWindowEnd(shape, p));
    }
    this.setHead(d, i, DUE_AT, due);
  }

  /** Slot of key `d`'s pane of shape `i` starting at `start`, or -1. */
  find(d: number, i: number, start: number): number {
    if (start === this.head(d, i, LAST_START)) return this.head(d, i, LAST_SLOT);
    return this.findFrom(d, i, start, -1);
  }

  /**
   * Slot of key `d`'s pane of shape `i` starting at `start`, or -1, walking on from pane `from` if it starts at or
   * before `start` (a pane of the key found before: ascending starts are found in one walk), else from the first.
   */
  findFrom(d: number, i: number, start: number, from: number): number {
    const last = this.head(d, i, LAST);
    if (last < 0 || start > this.startOf(last)) return -1; // after the newest
    const s = this.firstFrom(d, i, start, from);
    return s >= 0 && this.startOf(s) === start ? s : -1;
  }

  /** The first pane of key `d` of shape `i` starting at or after `start` (-1: none), walking on from `from` as findFrom. */
  firstFrom(d: number, i: number, start: number, from: number): number {
    let s = from >= 0 && this.startOf(from) <= start ? from : this.first(d, i);
    while (s >= 0 && this.startOf(s) < start) s = this.next(s);
    return s;
  }

  /** Whether a pane from `s` on (a key's, -1: none) that starts before `to` was placed before its key's last settle(). */
  settledBefore(s: number, to: number): boolean {
    for (; s >= 0 && this.startOf(s) < to; s = this.next(s)) if (!this.isNew(s)) return true;
    return false;
  }

  /** Slot of key `d`'s pane of shape `i` starting at `start`, created empty if missing; marks it changed. */
  pane(d: number, i: number, start: number): number {
    if (start === this.head(d, i, LAST_START)) return this.head(d, i, LAST_SLOT);
    let s = this.find(d, i, start);
    if (s < 0) s = this.create(d, i, start);
    this.markChanged(d, i, s);
    this.setHead(d, i, LAST_START, start);
    this.setHead(d, i, LAST_SLOT, s);
    return s;
  }

  /** A new pane of shape `i` for key `d` at `start` (not present yet), empty, placed in the order of starts. */
  create(d: number, i: number, start: number): number {
    const s = this.panes.take();
    const a = this.panes.data(s);
    const o = this.panes.offset(s);
    a[o + START] = start;
    a[o + FLAGS] = NEW;
    a[o + TS] = NaN;
    const last = this.head(d, i, LAST);
    if (last < 0 || start > this.startOf(last)) {
      // After the newest (readings in order): placed last, without a walk.
      a[o + NEXT] = -1;
      if (last < 0) this.setHead(d, i, FIRST, s);
      else this.setSlot(last, NEXT, s);
      this.setHead(d, i, LAST, s);
    } else {
      let before = -1;
      let after = this.first(d, i);
      while (this.startOf(after) < start) {
        before = after;
        after = this.next(after);
      }
      a[o + NEXT] = after;
      if (before < 0) this.setHead(d, i, FIRST, s);
      else this.setSlot(before, NEXT, s);
    }
    this.setHead(d, i, SIZE, this.size(d, i) + 1);
    return s;
  }

  /** Forgets key `d`'s pane of shape `i` starting at `start` (if it holds one). */
  forget(d: number, i: number, start: number): void {
    let before = -1;
    let s = this.first(d, i);
    while (s >= 0 && this.startOf(s) < start) {
      before = s;
      s = this.next(s);
    }
    if (s < 0 || this.startOf(s) !== start) return;
    const after = this.next(s);
    if (before < 0) this.setHead(d, i, FIRST, after);
    else this.setSlot(before, NEXT, after);
    if (this.head(d, i, LAST) === s) this.setHead(d, i, LAST, before);
    if (this.isChanged(s)) this.setHead(d, i, CHANGED_PANES, this.head(d, i, CHANGED_PANES) - 1);
    if (this.head(d, i, LAST_SLOT) === s) {
      this.setHead(d, i, LAST_START, NaN);
      this.setHead(d, i, LAST_SLOT, -1);
    }
    this.setHead(d, i, SIZE, this.size(d, i) - 1);
    this.free(s);
  }

  private free(s: number): void {
    this.types.delete(s);
    if ((this.slot(s, FLAGS) & WIDE) !== 0) this.wide.give(this.slot(s, WIDE_SLOT));
    this.panes.give(s);
  }

  /** Counts by anomaly type of pane `s`; null when it holds no anomaly. */
  byType(s: number): Float64Array | null {
    return this.types.get(s) ?? null;
  }

  /** Counts an anomaly of type `typeIndex` in pane `s`. */
  addAnomaly(s: number, typeIndex: number): void {
    this.widen(s);
    addAnomalyToPane(this.data(s), this.at(s));
    let counts = this.types.get(s);
    if (counts === undefined) {
      counts = new Float64Array(ANOMALY_TYPES.length);
      this.types.set(s, counts);
    }
    counts[typeIndex]++;
  }

  /** Sets the counts by type of pane `s` (copied; null or all zero: none). */
  setByType(s: number, counts: Float64Array | null): void {
    if (counts !== null && counts.some((n) => n !== 0)) this.types.set(s, Float64Array.from(counts));
    else this.types.delete(s);
  }
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
