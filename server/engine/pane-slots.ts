import type { Reading } from '../ingest/reading.ts';
import { addAnomalyToPane, addToPane, addValuesToPane, clearPane, PANE_WIDTH, writePane, type Aggregate } from './aggregate.ts';
import { ANOMALY_TYPES } from './detectors/types.ts';
import { SlotPool } from './slot-pool.ts';

/**
 * A pane slot: the pane's start, the slot of the next pane in its list (-1: the last), its flags, then the one reading
 * it holds — temperature, ts (NaN: none yet) and humidity (NaN: none) — or, once WIDE, the slot of its aggregate
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
/** Its aggregate is in a slot of the wide pool (WIDE_SLOT): it holds more than one reading, or an anomaly, or was written whole. */
const WIDE = 1 << 30;

/**
 * Panes in pools of fixed slots (SlotPool) rather than objects: a pane is known by its slot `s`, which holds its start,
 * the next pane of its list and flags of the list's own (KeyPanes keeps the lists), and its state. A pane holding one
 * reading keeps just that reading (48 bytes a slot, not the 176 of a whole aggregate), and is widened into an
 * aggregate of its own by its second reading, an anomaly, or a write of more than one reading's aggregate (widen()):
 * at 100,000 devices reporting every 10 s, most panes of windows sliding by 2 or 10 s hold one reading. Readers see
 * every pane as an aggregate (data(), at()). The counts by anomaly type of the few panes that hold an anomaly are kept
 * apart, by slot.
 */
export class PaneSlots {
  private readonly slots = new SlotPool(SLOT);
  private readonly wide = new SlotPool(PANE_WIDTH);
  /** The aggregate of the one-reading pane data() last read. */
  private readonly one = new Float64Array(PANE_WIDTH);
  /** An aggregate write() keeps as one reading, as written whole, to compare. */
  private readonly whole = new Float64Array(PANE_WIDTH);
  private readonly types = new Map<number, Float64Array>();

  /** A new empty pane at `start`, its list's flags `marks` (its next pane: set by the caller). */
  protected take(start: number, marks: number): number {
    const s = this.slots.take();
    const a = this.slots.data(s);
    const o = this.slots.offset(s);
    a[o + START] = start;
    a[o + FLAGS] = marks;
    a[o + TS] = NaN;
    return s;
  }

  /** Gives pane `s`'s slots back. */
  protected give(s: number): void {
    this.types.delete(s);
    const w = this.wideSlot(s);
    if (w >= 0) this.wide.give(w);
    this.slots.give(s);
  }

  /** Start of pane `s`. */
  startOf(s: number): number {
    return this.slots.data(s)[this.slots.offset(s) + START];
  }

  /** The pane after pane `s` in its list (-1: none). */
  next(s: number): number {
    return this.slots.data(s)[this.slots.offset(s) + NEXT];
  }

  protected setNext(s: number, next: number): void {
    this.slots.data(s)[this.slots.offset(s) + NEXT] = next;
  }

  /** The flags of pane `s` its list keeps (KeyPanes: new, changed). */
  protected marks(s: number): number {
    return this.slots.data(s)[this.slots.offset(s) + FLAGS] & ~WIDE;
  }

  protected setMarks(s: number, marks: number): void {
    const a = this.slots.data(s);
    const o = this.slots.offset(s);
    a[o + FLAGS] = (a[o + FLAGS] & WIDE) | marks;
  }

  /** The slot of pane `s`'s aggregate in the wide pool; -1: it is kept as the one reading it holds (or none). */
  private wideSlot(s: number): number {
    const a = this.slots.data(s);
    const o = this.slots.offset(s);
    return (a[o + FLAGS] & WIDE) !== 0 ? a[o + WIDE_SLOT] : -1;
  }

  /** Whether pane `s` has an aggregate of its own (it is not kept as the one reading it holds). */
  isWide(s: number): boolean {
    return this.wideSlot(s) >= 0;
  }

  /**
   * The array pane `s`'s aggregate (PANE_WIDTH doubles, aggregate.ts) is in. A one-reading pane's is written out into
   * an array the next data() call reuses: read it before then, and widen() a pane before writing to it.
   */
  data(s: number): Float64Array {
    const w = this.wideSlot(s);
    if (w >= 0) return this.wide.data(w);
    this.writeOne(s, this.one, 0);
    return this.one;
  }

  /** Where pane `s`'s aggregate begins in data(s). */
  at(s: number): number {
    const w = this.wideSlot(s);
    return w >= 0 ? this.wide.offset(w) : 0;
  }

  /**
   * Writes the reading pane `s` holds, if it is kept as one (not wide, not empty), at out[0…2]: temperature, ts and
   * humidity (NaN: none), the checkpoint's state of a one-reading pane (aggregate.ts, ONE_READING). False if not.
   */
  readingOf(s: number, out: Float64Array): boolean {
    const a = this.slots.data(s);
    const o = this.slots.offset(s);
    if (this.isWide(s) || Number.isNaN(a[o + TS])) return false;
    out[0] = a[o + T];
    out[1] = a[o + TS];
    out[2] = a[o + H];
    return true;
  }

  /** Adds reading `r` to pane `s`: an empty pane keeps the reading, one holding a reading already is widened. */
  addReading(s: number, r: Reading): void {
    const a = this.slots.data(s);
    const o = this.slots.offset(s);
    if (!this.isWide(s)) {
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
    if (this.isWide(s)) return;
    const w = this.wide.take();
    this.writeOne(s, this.wide.data(w), this.wide.offset(w));
    const a = this.slots.data(s);
    const o = this.slots.offset(s);
    a[o + FLAGS] |= WIDE;
    a[o + WIDE_SLOT] = w;
  }

  /**
   * Writes aggregate `g` as pane `s`'s state, with its counts by type (a restored pane, a fleet pane merged anew): as the
   * one reading it holds when that gives `g` back exactly, so that a restart does not widen every pane.
   */
  write(s: number, g: Aggregate): void {
    if (!this.isWide(s) && g.count === 1 && g.anomalies === 0) {
      const a = this.slots.data(s);
      const o = this.slots.offset(s);
      a[o + T] = g.first;
      a[o + TS] = g.firstTs;
      a[o + H] = g.humidityCount === 1 ? g.humidityFirst : NaN;
      this.writeOne(s, this.one, 0);
      writePane(g, this.whole, 0);
      let same = true;
      for (let j = 0; j < PANE_WIDTH && same; j++) same = Object.is(this.one[j], this.whole[j]);
      if (same) return;
    }
    this.widen(s);
    writePane(g, this.data(s), this.at(s));
    this.setByType(s, g.byType);
  }

  /** Writes the aggregate of one-reading (or empty) pane `s` at `to` of `into`. */
  private writeOne(s: number, into: Float64Array, to: number): void {
    const a = this.slots.data(s);
    const o = this.slots.offset(s);
    clearPane(into, to);
    const ts = a[o + TS];
    if (Number.isNaN(ts)) return;
    const h = a[o + H];
    addValuesToPane(into, to, a[o + T], ts, Number.isNaN(h) ? undefined : h);
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
