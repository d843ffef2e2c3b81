import { PaneSlots } from './pane-slots.ts';
import { SlotPool } from './slot-pool.ts';
import { firstContaining, lastContaining, lastEndingBy, lastWindowEnd, type WindowShape } from './windows.ts';

/**
 * A key's head slot holds, for each window shape `i`, its bookkeeping: times as doubles (TIMES of them a shape, from
 * i × TIMES) — when its open windows are next refreshed and due, the start of the last pane found (readings mostly
 * arrive in order, so it is often the next) — then, after every shape's times, slots and counts as int32s (INTS a
 * shape): that pane's slot, its list of panes, how many it holds and how many changed.
 */
const PENDING_FROM = 0;
const REFRESH_AT = 1;
const DUE_AT = 2;
const LAST_START = 3;
const TIMES = 4;
const LAST_SLOT = 0;
const FIRST = 1;
const LAST = 2;
const SIZE = 3;
const CHANGED_PANES = 4;
const INTS = 5;
/** Placed since the key's last settle(): the windows it opens have not been shown. */
const NEW = 1;
/** Changed since the key's last settle(): its state goes to the checkpoint. */
const CHANGED = 2;

/**
 * The panes of every key (a device, or the fleet) of a job, for each of its window shapes (0 … shapes − 1), in
 * pools of fixed slots (SlotPool, PaneSlots) rather than objects: a key is a head slot `d` (addKey()), holding per
 * shape the scalars of its bookkeeping and a list of its panes through their slots, oldest start first
 * (`for (let s = first(d, i); s >= 0; s = next(s))`). A pane is known by its slot `s`: its doubles are at(s) onwards in
 * data(s). A key mostly holds a handful of panes per shape (length / pane width, plus the allowed lateness), so a walk
 * finds one; a pane after the newest (readings in order) is placed without a walk, and ascending starts are found by
 * walking on from the last one found (findFrom), so that a device's backlog of hours in one batch — thousands of
 * panes — costs no walk per reading or window. How a pane's state is kept (one reading, or an aggregate): PaneSlots.
 *
 * The windows a key shows are not kept: they are those that hold one of its panes (EventTimeWindows). At 100,000
 * devices with three window shapes, an object a key and shape with an array of its pane slots, one of its open windows
 * and one of its changed panes cost ≈ 1.6 KB a device (objects, and arrays' elements grown 17 at a time).
 */
export class KeyPanes extends PaneSlots {
  private readonly heads: SlotPool;

  constructor(readonly shapes: number) {
    super();
    this.heads = new SlotPool(TIMES * shapes + Math.ceil((INTS * shapes) / 2));
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
    this.setHeadInt(d, i, LAST_SLOT, -1);
    this.setHeadInt(d, i, FIRST, -1);
    this.setHeadInt(d, i, LAST, -1);
    this.setHeadInt(d, i, SIZE, 0);
    this.setHeadInt(d, i, CHANGED_PANES, 0);
  }

  /** Gives key `d`'s slots back to the pools (it holds no pane any more: evicted). */
  removeKey(d: number): void {
    for (let i = 0; i < this.shapes; i++) for (let s = this.first(d, i); s >= 0; s = this.next(s)) this.give(s);
    this.heads.give(d);
  }

  /** Whether key `d` holds no pane of any shape. */
  isEmpty(d: number): boolean {
    for (let i = 0; i < this.shapes; i++) if (this.size(d, i) > 0) return false;
    return true;
  }

  private head(d: number, i: number, f: number): number {
    return this.heads.data(d)[this.heads.offset(d) + i * TIMES + f];
  }

  private setHead(d: number, i: number, f: number, v: number): void {
    this.heads.data(d)[this.heads.offset(d) + i * TIMES + f] = v;
  }

  private headInt(d: number, i: number, f: number): number {
    return this.heads.int32s(d)[2 * (this.heads.offset(d) + TIMES * this.shapes) + i * INTS + f];
  }

  private setHeadInt(d: number, i: number, f: number, v: number): void {
    this.heads.int32s(d)[2 * (this.heads.offset(d) + TIMES * this.shapes) + i * INTS + f] = v;
  }

  /** Key `d`'s pane of shape `i` with the oldest start (-1: none). */
  first(d: number, i: number): number {
    return this.headInt(d, i, FIRST);
  }

  /** Panes of shape `i` key `d` holds. */
  size(d: number, i: number): number {
    return this.headInt(d, i, SIZE);
  }

  /** Panes of shape `i` key `d` changed since its last settle(). */
  changedCount(d: number, i: number): number {
    return this.headInt(d, i, CHANGED_PANES);
  }

  /** Whether pane `s` changed since its key's last settle(). */
  isChanged(s: number): boolean {
    return (this.marks(s) & CHANGED) !== 0;
  }

  /** Whether pane `s` was placed since its key's last settle(). */
  isNew(s: number): boolean {
    return (this.marks(s) & NEW) !== 0;
  }

  /**
   * Marks pane `s` of shape `i` of key `d` changed (its state goes to the checkpoint); until the key's next settle(),
   * so is the pane of the last reading, which pane() returns without looking it up.
   */
  markChanged(d: number, i: number, s: number): void {
    const marks = this.marks(s);
    if ((marks & CHANGED) !== 0) return;
    this.setMarks(s, marks | CHANGED);
    this.setHeadInt(d, i, CHANGED_PANES, this.headInt(d, i, CHANGED_PANES) + 1);
  }

  /** Key `d`'s panes of shape `i` are neither new nor changed any more (emit has shown and checkpointed them). */
  settle(d: number, i: number): void {
    for (let s = this.first(d, i); s >= 0; s = this.next(s)) this.setMarks(s, 0);
    this.setHeadInt(d, i, CHANGED_PANES, 0);
    this.setHead(d, i, LAST_START, NaN);
    this.setHeadInt(d, i, LAST_SLOT, -1);
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
    if (start === this.head(d, i, LAST_START)) return this.headInt(d, i, LAST_SLOT);
    return this.findFrom(d, i, start, -1);
  }

  /**
   * Slot of key `d`'s pane of shape `i` starting at `start`, or -1, walking on from pane `from` if it starts at or
   * before `start` (a pane of the key found before: ascending starts are found in one walk), else from the first.
   */
  findFrom(d: number, i: number, start: number, from: number): number {
    const last = this.headInt(d, i, LAST);
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
    if (start === this.head(d, i, LAST_START)) return this.headInt(d, i, LAST_SLOT);
    let s = this.find(d, i, start);
    if (s < 0) s = this.create(d, i, start);
    this.markChanged(d, i, s);
    this.setHead(d, i, LAST_START, start);
    this.setHeadInt(d, i, LAST_SLOT, s);
    return s;
  }

  /** A new pane of shape `i` for key `d` at `start` (not present yet), empty, placed in the order of starts. */
  create(d: number, i: number, start: number): number {
    const s = this.take(start, NEW);
    const last = this.headInt(d, i, LAST);
    if (last < 0 || start > this.startOf(last)) {
      // After the newest (readings in order): placed last, without a walk.
      this.setNext(s, -1);
      if (last < 0) this.setHeadInt(d, i, FIRST, s);
      else this.setNext(last, s);
      this.setHeadInt(d, i, LAST, s);
    } else {
      let before = -1;
      let after = this.first(d, i);
      while (this.startOf(after) < start) {
        before = after;
        after = this.next(after);
      }
      this.setNext(s, after);
      if (before < 0) this.setHeadInt(d, i, FIRST, s);
      else this.setNext(before, s);
    }
    this.setHeadInt(d, i, SIZE, this.size(d, i) + 1);
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
    if (before < 0) this.setHeadInt(d, i, FIRST, after);
    else this.setNext(before, after);
    if (this.headInt(d, i, LAST) === s) this.setHeadInt(d, i, LAST, before);
    if (this.isChanged(s)) this.setHeadInt(d, i, CHANGED_PANES, this.headInt(d, i, CHANGED_PANES) - 1);
    if (this.headInt(d, i, LAST_SLOT) === s) {
      this.setHead(d, i, LAST_START, NaN);
      this.setHeadInt(d, i, LAST_SLOT, -1);
    }
    this.setHeadInt(d, i, SIZE, this.size(d, i) - 1);
    this.give(s);
  }
}
