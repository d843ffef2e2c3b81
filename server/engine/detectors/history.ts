/**
 * A device's recent readings as a ring buffer, with its median and MAD. Sorting a few dozen numbers is cheap but
 * not free, so the statistics are cached and refreshed every REFRESH readings, or on demand when a reading looks
 * extreme against the cached ones (then it is judged against fresh statistics).
 */
import { defineSlots, Slots } from '../slot-pool.ts';
import type { StateOut } from './slots.ts';

const REFRESH = 16;
/** The named doubles of a History; its ring of `capacity` values follows them. */
const NAMES = ['size', 'next', 'sinceRefresh', 'median', 'mad'];

export class History extends Slots {
  declare size: number;
  declare private next: number;
  declare private sinceRefresh: number;
  declare median: number;
  declare mad: number;
  /** Shared by every device's history (refresh() is synchronous): one buffer, not one per device. */
  private static scratch = new Float64Array(64);

  constructor(readonly capacity: number) {
    super();
    if (History.scratch.length < capacity) History.scratch = new Float64Array(capacity);
  }

  /** A new device's history: empty. */
  reset(): void {
    this.size = this.next = 0;
    this.sinceRefresh = REFRESH;
    this.median = this.mad = NaN;
  }

  /** Offset of the ring of values in the array. */
  private get values(): number {
    return this.o + NAMES.length;
  }

  push(x: number): void {
    this.a[this.values + this.next] = x;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    this.sinceRefresh++;
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
    for (let i = 0; i < n; i++) s[i] = this.a[this.values + i];
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
    const head = Math.min(this.size, this.capacity - first); // from the oldest to the ring's end, then from its start
    out.copy(this.a, this.values + first, head);
    out.copy(this.a, this.values, this.size - head);
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

/** Doubles a History of `capacity` values takes. */
export function historyWidth(capacity: number): number {
  return HISTORY_NAMED + capacity;
}
const HISTORY_NAMED = defineSlots(History, NAMES);

function middle(sorted: Float64Array): number {
  const n = sorted.length;
  const h = n >> 1;
  return n % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}
