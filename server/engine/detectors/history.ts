/**
 * A device's recent readings as a ring buffer, with its median and MAD. Sorting a few dozen numbers is cheap but
 * not free, so the statistics are cached and refreshed every REFRESH readings, or on demand when a reading looks
 * extreme against the cached ones (then it is judged against fresh statistics).
 */
const REFRESH = 16;

export class History {
  readonly values: Float64Array;
  size = 0;
  private next = 0;
  private sinceRefresh = REFRESH;
  median = NaN;
  mad = NaN;
  /** Shared by every device's history (refresh() is synchronous): one buffer, not one per device. */
  private static scratch = new Float64Array(64);

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
    if (History.scratch.length < capacity) History.scratch = new Float64Array(capacity);
  }

  push(x: number): void {
    this.values[this.next] = x;
    this.next = (this.next + 1) % this.values.length;
    if (this.size < this.values.length) this.size++;
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
    s.set(this.values.subarray(0, n));
    s.sort();
    const med = middle(s);
    for (let i = 0; i < n; i++) s[i] = Math.abs(s[i] - med);
    s.sort();
    this.median = med;
    this.mad = middle(s);
  }

  /** Appends the values to `out`, oldest first, for snapshots. */
  saveTo(out: number[]): void {
    const cap = this.values.length;
    const first = this.size < cap ? 0 : this.next;
    for (let i = 0; i < this.size; i++) out.push(this.values[(first + i) % cap]);
  }

  /** Appends the cached statistics and their age, for snapshots: a restored history judges with the same ones. */
  saveCacheTo(out: number[]): void {
    out.push(this.sinceRefresh, this.median, this.mad);
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
    const from = Math.max(0, values.length - this.values.length);
    for (let i = from; i < values.length; i++) this.push(values[i]);
    this.refresh();
  }
}

function middle(sorted: Float64Array): number {
  const n = sorted.length;
  const h = n >> 1;
  return n % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}
