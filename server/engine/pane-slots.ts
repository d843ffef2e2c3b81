import type { Reading } from '../ingest/reading.ts';
import { addAnomalyToPane, addToPane, addValuesToPane, clearPane, PANE_WIDTH, writePane, type Aggregate } from './aggregate.ts';
import { ANOMALY_TYPES } from './detectors/types.ts';
import { packHundredths, SlotPool, unpackHumidity, unpackTemperature } from './slot-pool.ts';

/**
 * A pane slot: 3 doubles (24 bytes). The first is the pane's start; the rest are int32s (at 2 × offset + these): the
 * slot of the next pane in its list (-1: the last), its flags, then the one reading it holds — its ts as ms after the
 * start, its temperature and humidity in hundredths (packHundredths) — or, once WIDE, the slot of its aggregate
 * (PANE_WIDTH doubles, aggregate.ts) in the pool of wide panes.
 */
const SLOT = 3;
const NEXT = 2;
const FLAGS = 3;
const TS = 4;
const WIDE_SLOT = 4;
const VALUES = 5;
/** It holds one reading, kept in the slot (TS, VALUES). Neither this nor WIDE: it holds none. */
const ONE = 1 << 29;
/** Its aggregate is in a slot of the wide pool (WIDE_SLOT): it holds more than one reading, or an anomaly, or was written whole. */
const WIDE = 1 << 30;

/**
 * Panes in pools of fixed slots (SlotPool) rather than objects: a pane is known by its slot `s`, which holds its start,
 * the next pane of its list and flags of the list's own (KeyPanes keeps the lists), and its state. A pane holding one
 * reading keeps just that reading (24 bytes a slot, not the 176 of a whole aggregate), and is widened into an
 * aggregate of its own by its second reading, an anomaly, a write of more than one reading's aggregate (widen()), or a
 * reading the slot cannot give back exactly (a ts not a whole ms, a value with more than two decimals or beyond
 * ±327.67): at 100,000 devices reporting every 10 s, most panes of windows sliding by 2 or 10 s hold one reading.
 * Readers see every pane as an aggregate (data(), at()). The counts by anomaly type of the few panes that hold an
 * anomaly are kept apart, by slot.
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
    const o = this.slots.offset(s);
    this.slots.data(s)[o] = start;
    this.slots.int32s(s)[2 * o + FLAGS] = marks;
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
    return this.slots.data(s)[this.slots.offset(s)];
  }

  /** The pane after pane `s` in its list (-1: none). */
  next(s: number): number {
    return this.slots.int32s(s)[2 * this.slots.offset(s) + NEXT];
  }

  protected setNext(s: number, next: number): void {
    this.slots.int32s(s)[2 * this.slots.offset(s) + NEXT] = next;
  }

  /** The flags of pane `s` its list keeps (KeyPanes: new, changed). */
  protected marks(s: number): number {
    return this.slots.int32s(s)[2 * this.slots.offset(s) + FLAGS] & ~(ONE | WIDE);
  }

  protected setMarks(s: number, marks: number): void {
    const i = this.slots.int32s(s);
    const f = 2 * this.slots.offset(s) + FLAGS;
    i[f] = (i[f] & (ONE | WIDE)) | marks;
  }

  /** The slot of pane `s`'s aggregate in the wide pool; -1: it is kept as the one reading it holds (or none). */
  private wideSlot(s: number): number {
    const i = this.slots.int32s(s);
    const o = 2 * this.slots.offset(s);
    return (i[o + FLAGS] & WIDE) !== 0 ? i[o + WIDE_SLOT] : -1;
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
    const i = this.slots.int32s(s);
    const o = 2 * this.slots.offset(s);
    if ((i[o + FLAGS] & ONE) === 0) return false;
    out[0] = unpackTemperature(i[o + VALUES]);
    out[1] = this.startOf(s) + i[o + TS];
    out[2] = unpackHumidity(i[o + VALUES]) ?? NaN;
    return true;
  }

  /**
   * Adds reading `r` to pane `s`: an empty pane keeps the reading if it can give it back exactly; a pane holding one
   * already, or a reading it cannot keep, is widened.
   */
  addReading(s: number, r: Reading): void {
    const i = this.slots.int32s(s);
    const o = 2 * this.slots.offset(s);
    const flags = i[o + FLAGS];
    if ((flags & WIDE) === 0) {
      if ((flags & ONE) === 0 && this.keep(s, r.temperature, r.ts, r.humidity)) return;
      this.widen(s);
    }
    const w = i[o + WIDE_SLOT];
    addToPane(this.wide.data(w), this.wide.offset(w), r);
  }

  /** Pane `s` with an aggregate of its own, so that what data(s) and at(s) point at can be written. */
  widen(s: number): void {
    if (this.isWide(s)) return;
    const w = this.wide.take();
    this.writeOne(s, this.wide.data(w), this.wide.offset(w));
    const i = this.slots.int32s(s);
    const o = 2 * this.slots.offset(s);
    i[o + FLAGS] = (i[o + FLAGS] & ~ONE) | WIDE;
    i[o + WIDE_SLOT] = w;
  }

  /**
   * Writes aggregate `g` as pane `s`'s state, with its counts by type (a restored pane, a fleet pane merged anew): as the
   * one reading it holds when that gives `g` back exactly, so that a restart does not widen every pane.
   */
  write(s: number, g: Aggregate): void {
    if (!this.isWide(s) && g.count === 1 && g.anomalies === 0 && this.keep(s, g.first, g.firstTs, g.humidityCount === 1 ? g.humidityFirst : undefined)) {
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

  /**
   * Keeps a reading — temperature `t`, `ts`, humidity `h` — in the slot of pane `s` (not wide) as the one it holds, if
   * the slot gives each back exactly: a ts a whole number of ms within ±2^31 of the start, values in hundredths.
   */
  private keep(s: number, t: number, ts: number, h: number | undefined): boolean {
    const start = this.startOf(s);
    const after = ts - start;
    const values = packHundredths(t, h);
    if ((after | 0) !== after || !Object.is(start + after, ts) || Number.isNaN(values)) return false;
    const i = this.slots.int32s(s);
    const o = 2 * this.slots.offset(s);
    i[o + FLAGS] |= ONE;
    i[o + TS] = after;
    i[o + VALUES] = values;
    return true;
  }

  /** Writes the aggregate of one-reading (or empty) pane `s` at `to` of `into`. */
  private writeOne(s: number, into: Float64Array, to: number): void {
    clearPane(into, to);
    const i = this.slots.int32s(s);
    const o = 2 * this.slots.offset(s);
    if ((i[o + FLAGS] & ONE) === 0) return;
    const h = unpackHumidity(i[o + VALUES]);
    addValuesToPane(into, to, unpackTemperature(i[o + VALUES]), this.startOf(s) + i[o + TS], h === null ? undefined : h);
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
