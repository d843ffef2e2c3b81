/**
 * A device's recent readings as a ring buffer, with its median and MAD. Sorting a few dozen numbers is cheap but
 * not free, so the statistics are cached and refreshed every REFRESH readings, or on demand when a reading looks
 * extreme against the cached ones (then it is judged against fresh statistics).
 *
 * The ring is kept in hundredths, an int16 a value, in the device's own slot while every value it took has at most
 * two decimals within ±327.67 (a thermostat's 21.37): a quarter of the room of doubles (at 100,000 devices with a
 * history of 32, 6.4 MB instead of 25.6). The first value that does not fit moves the ring, for good, to a slot of
 * doubles in a pool of its own (`wide`). Either way a value comes back exactly as it came, so the statistics are the
 * same.
 */
import { defineSlots, scaledExactly, SlotPool, Slots } from '../slot-pool.ts';
import type { StateOut } from './slots.ts';

const REFRESH = 16;
/** The named doubles of a History; its ring of `capacity` values in hundredths follows them (compactWidth). */
const NAMES = ['size', 'next', 'sinceRefresh', 'median', 'mad', 'wideSlot'];
const SCALE = 100;
const INT16_MAX = 0x7fff;

export class History extends Slots {
  declare size: number;
  declare private next: number;
  declare private sinceRefresh: number;
  declare median: number;
  declare mad: number;
  /** The ring's slot in `wide` once a value did not fit in hundredths; -1 before. */
  declare private wideSlot: number;
  /** The pool slot's chunk seen as int16s (DeviceDetectors.point sets it with the view). */
  compact: Int16Array = new Int16Array(0);
  /** Shared by every device's history (refresh() is synchronous): one buffer, not one per device. */
  private static scratch = new Float64Array(64);

  constructor(
    readonly capacity: number,
    private readonly wide: SlotPool,
  ) {
    super();
    if (History.scratch.length < capacity) History.scratch = new Float64Array(capacity);
  }

  /** A new device's history: empty, in hundredths. */
  reset(): void {
    this.size = this.next = 0;
    this.sinceRefresh = REFRESH;
    this.median = this.mad = NaN;
    this.wideSlot = -1;
  }

  /** Where the ring's values begin in `compact`. */
  private get from(): number {
    return (this.o + NAMES.length) * 4;
  }

  /** The i-th value of the ring (by place, not age). */
  private value(i: number): number {
    const w = this.wideSlot;
    return w < 0 ? this.compact[this.from + i] / SCALE : this.wide.data(w)[this.wide.offset(w) + i];
  }

  push(x: number): void {
    if (this.wideSlot < 0) {
      const n = scaledExactly(x, SCALE, INT16_MAX);
      if (n === n) this.compact[this.from + this.next] = n;
      else this.widen();
    }
    const w = this.wideSlot;
    if (w >= 0) this.wide.data(w)[this.wide.offset(w) + this.next] = x;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    this.sinceRefresh++;
  }

  /** Moves the ring's values to a slot of doubles. */
  private widen(): void {
    const w = this.wide.take();
    const a = this.wide.data(w);
    const o = this.wide.offset(w);
    for (let i = 0; i < this.size; i++) a[o + i] = this.compact[this.from + i] / SCALE;
    this.wideSlot = w;
  }

  /** Median and MAD as of at most REFRESH readings ago. */
  maybeRefresh(): void {
    if (this.sinceRefresh >= REFRESH) this.refresh();
  }

  refresh(): void {
    this.sinceRefresh = 0;
    const n = this.size;
    if (n === 0) return;
    const s = History.scratch.subarray(0, n);
    for (let i = 0; i < n; i++) s[i] = this.value(i);
    s.sort();
    const med = middle(s);
    for (let i = 0; i < n; i++) s[i] = Math.abs(s[i] - med);
    s.sort();
    this.median = med;
    this.mad = middle(s);
  }

  /** Appends the values to `out`, oldest first, for snapshots. */
  saveTo(out: StateOut): void {
    const first = this.size < this.capacity ? 0 : this.next;
    for (let k = 0; k < this.size; k++) out.push(this.value((first + k) % this.capacity));
  }

  /** Appends the cached statistics and their age, for snapshots: a restored history judges with the same ones. */
  saveCacheTo(out: StateOut): void {
    out.copy(this.a, this.o + 2, 3); // sinceRefresh, median, mad: slots 2 to 4
  }

  /** Restores what saveCacheTo wrote (after load(), which computed fresh statistics for snapshots without it). */
  loadCache(a: ArrayLike<number>, i: number): number {
    this.sinceRefresh = a[i];
    this.median = a[i + 1];
    this.mad = a[i + 2];
    return i + 3;
  }

  /** Refills from a snapshot (oldest first); keeps the newest values if there are more than fit. */
  load(values: ArrayLike<number>): void {
    const from = Math.max(0, values.length - this.capacity);
    for (let i = from; i < values.length; i++) this.push(values[i]);
    this.refresh();
  }
}

/** Doubles a History of `capacity` values takes in a device's slot: its named ones and its ring in hundredths. */
export function historyWidth(capacity: number): number {
  return HISTORY_NAMED + Math.ceil(capacity / 4);
}
const HISTORY_NAMED = defineSlots(History, NAMES);

function middle(sorted: Float64Array): number {
  const n = sorted.length;
  const h = n >> 1;
  return n % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}
