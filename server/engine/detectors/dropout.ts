/**
 * Dropout: a device silent past its expected interval. Raised by time — the watermark — not by a reading, once
 * watermark − last reading > max(factor × interval, minSilenceMs); dated when the device was due (last reading +
 * interval) and closed by its next reading (end = that reading's ts).
 *
 * The interval is learned: the median of the device's last INTERVALS gaps between readings (gaps that are
 * themselves dropouts are left out), so a device reporting every second and one reporting every hour get the same
 * behaviour. RELEARN dropouts in a row, each closed by a reading, are not an outage but a new cadence (a device that
 * flushed a backlog, then reports at its own pace): the interval is learned again from the latest gap.
 */
import { defineSlots, Slots } from '../slot-pool.ts';
import type { StateOut } from './slots.ts';
import type { Anomaly } from './types.ts';

const INTERVALS = 16;
const REFRESH = 16;
const RELEARN = 3;
/** Shared by every device (refresh() is synchronous). */
const scratch = new Float64Array(INTERVALS);

/** The named doubles of a DropoutState; its ring of INTERVALS gaps follows them. */
const NAMES = ['gapCount', 'nextGap', 'sinceRefresh', 'interval', 'lastTs', 'openTs', 'openScore', 'openedAt', 'longGaps'];

export class DropoutState extends Slots {
  declare gapCount: number;
  declare private nextGap: number;
  declare private sinceRefresh: number;
  declare interval: number;
  declare lastTs: number;
  /** When the open dropout was due (NaN: none open). */
  declare openTs: number;
  declare openScore: number;
  declare openedAt: number;
  /** Gaps in a row that were dropouts. */
  declare private longGaps: number;

  /** A new device's state (its slot zeroed first: the gaps are 0). */
  reset(): void {
    this.gapCount = this.nextGap = this.sinceRefresh = this.longGaps = 0;
    this.interval = this.lastTs = this.openTs = this.openScore = this.openedAt = NaN;
  }

  /** Offset of the ring of gaps in the array. */
  private get gaps(): number {
    return this.o + NAMES.length;
  }

  get open(): boolean {
    return this.openTs === this.openTs; // not NaN
  }

  /**
   * A reading at ts (in event-time order) closes an open dropout. A gap the watermark has not reached yet (it trails
   * event time by the allowed lateness, so a short dropout can end before it is due by the watermark) is raised and
   * closed by this reading at once, dated the same way.
   */
  onReading(deviceId: string, ts: number, factor: number, minSilenceMs: number, armed: boolean, out: Anomaly[]): void {
    const gap = ts - this.lastTs;
    if (this.openTs === this.openTs) {
      out.push(this.anomaly(deviceId, factor, minSilenceMs, ts));
      this.openTs = NaN;
    } else if (armed && gap > factor * this.interval && gap > minSilenceMs) {
      this.openTs = this.lastTs + this.interval;
      this.openScore = gap / this.interval;
      this.openedAt = ts;
      out.push({ ...this.anomaly(deviceId, factor, minSilenceMs, ts), raisedClosed: true });
      this.openTs = NaN;
    }
    const long = gap > factor * this.interval;
    if (long) this.longGaps++;
    else if (gap > 0) this.longGaps = 0;
    if (this.longGaps >= RELEARN) {
      this.gapCount = this.nextGap = this.longGaps = 0;
    }
    if (gap > 0 && (!long || this.gapCount === 0)) {
      this.a[this.gaps + this.nextGap] = gap;
      this.nextGap = (this.nextGap + 1) % INTERVALS;
      if (this.gapCount < INTERVALS) this.gapCount++;
      if (++this.sinceRefresh >= REFRESH || this.gapCount < INTERVALS) this.refresh();
    }
    this.lastTs = ts;
  }

  /** The watermark moved: raise a dropout if the device is overdue. */
  tick(deviceId: string, watermark: number, factor: number, minSilenceMs: number, armed: boolean, out: Anomaly[]): void {
    if (!armed || this.openTs === this.openTs || this.interval !== this.interval) return;
    const silent = watermark - this.lastTs;
    if (silent > factor * this.interval && silent > minSilenceMs) {
      this.openTs = this.lastTs + this.interval;
      this.openScore = silent / this.interval;
      this.openedAt = watermark;
      out.push(this.anomaly(deviceId, factor, minSilenceMs, null));
    }
  }

  private refresh(): void {
    this.sinceRefresh = 0;
    const s = scratch.subarray(0, this.gapCount);
    for (let i = 0; i < s.length; i++) s[i] = this.a[this.gaps + i];
    s.sort();
    const h = s.length >> 1;
    this.interval = s.length % 2 === 1 ? s[h] : (s[h - 1] + s[h]) / 2;
  }

  /** `threshold`: the silence it had to exceed, factor × interval or minSilenceMs, whichever is longer. */
  private anomaly(deviceId: string, factor: number, minSilenceMs: number, end: number | null): Anomaly {
    return {
      deviceId, type: 'dropout', ts: this.openTs, score: this.openScore, value: null, expected: this.interval,
      threshold: Math.max(factor * this.interval, minSilenceMs), start: this.openTs, end, detectedAt: this.openedAt,
    };
  }

  save(out: StateOut): void {
    out.copy(this.a, this.o, 8); // gapCount … openedAt: the first eight slots, in their order
    out.copy(this.a, this.gaps, INTERVALS);
    out.push(this.longGaps); // last: a state saved before it existed loads with 0
  }

  load(a: Float64Array, i: number): number {
    [this.gapCount, this.nextGap, this.sinceRefresh, this.interval, this.lastTs, this.openTs, this.openScore, this.openedAt] = a.subarray(i, i + 8);
    this.a.set(a.subarray(i + 8, i + 8 + INTERVALS), this.gaps);
    this.longGaps = a[i + 8 + INTERVALS] ?? 0;
    return i + 9 + INTERVALS;
  }
}

/** Doubles a DropoutState takes: its named ones and its gaps. */
export const DROPOUT_WIDTH = defineSlots(DropoutState, NAMES) + INTERVALS;
