/**
 * Dropout: a device silent past its expected interval. Raised by time — the watermark — not by a reading, once
 * watermark − last reading > max(factor × interval, minSilenceMs); dated when the device was due (last reading +
 * interval) and closed by its next reading (end = that reading's ts).
 *
 * The interval is learned: the median of the device's last INTERVALS gaps between readings (gaps that are
 * themselves dropouts are left out), so a device reporting every second and one reporting every hour get the same
 * behaviour. RELEARN dropouts in a row, each closed by a reading, are not an outage but a new cadence (a device that
 * flushed a backlog, then reports at its own pace): the interval is learned again from the latest gap.
 *
 * The gaps are kept as int32s in the device's own slot while each is a whole number of ms below 2^31 (24 days): half
 * the room of doubles. The first gap that is not moves the ring, for good, to a slot of doubles in a pool of its own
 * (`wide`), as the spike history does (history.ts). Either way a gap comes back exactly as it came.
 */
import { defineSlots, SlotPool, Slots } from '../slot-pool.ts';
import type { StateOut } from './slots.ts';
import type { Anomaly } from './types.ts';

const INTERVALS = 16;
/** Gaps a device's ring holds (the doubles of a slot of the pool of wide rings). */
export const DROPOUT_GAPS = INTERVALS;
const REFRESH = 16;
const RELEARN = 3;
/** Shared by every device (refresh() is synchronous). */
const scratch = new Float64Array(INTERVALS);

/** The named doubles of a DropoutState; its ring of INTERVALS gaps, as int32s, follows them. */
const NAMES = ['gapCount', 'nextGap', 'sinceRefresh', 'interval', 'lastTs', 'openTs', 'openScore', 'openedAt', 'longGaps', 'wideSlot'];

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
  /** The ring's slot in `wide` once a gap did not fit in an int32; -1 before. */
  declare private wideSlot: number;
  /** The pool slot's chunk seen as int32s (DeviceDetectors.point sets it with the view). */
  compact: Int32Array = new Int32Array(0);

  /** `wide`: a pool of INTERVALS doubles a slot, for the rings of gaps that do not fit in int32s. */
  constructor(private readonly wide: SlotPool) {
    super();
  }

  /** A new device's state (its slot zeroed first: the gaps are 0). */
  reset(): void {
    this.gapCount = this.nextGap = this.sinceRefresh = this.longGaps = 0;
    this.wideSlot = -1;
    this.interval = this.lastTs = this.openTs = this.openScore = this.openedAt = NaN;
  }

  /** Where the ring of gaps begins in `compact`. */
  private get from(): number {
    return (this.o + NAMES.length) * 2;
  }

  /** The i-th gap of the ring (by place, not age). */
  private gap(i: number): number {
    const w = this.wideSlot;
    return w < 0 ? this.compact[this.from + i] : this.wide.data(w)[this.wide.offset(w) + i];
  }

  private setGap(i: number, gap: number): void {
    if (this.wideSlot < 0) {
      if ((gap | 0) === gap) {
        this.compact[this.from + i] = gap;
        return;
      }
      this.widen();
    }
    const w = this.wideSlot;
    this.wide.data(w)[this.wide.offset(w) + i] = gap;
  }

  /** Moves the ring's gaps to a slot of doubles. */
  private widen(): void {
    const w = this.wide.take();
    const a = this.wide.data(w);
    const o = this.wide.offset(w);
    for (let i = 0; i < INTERVALS; i++) a[o + i] = this.compact[this.from + i];
    this.wideSlot = w;
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
      this.setGap(this.nextGap, gap);
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
    for (let i = 0; i < s.length; i++) s[i] = this.gap(i);
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
    for (let i = 0; i < INTERVALS; i++) out.push(this.gap(i));
    out.push(this.longGaps); // last: a state saved before it existed loads with 0
  }

  load(a: Float64Array, i: number): number {
    [this.gapCount, this.nextGap, this.sinceRefresh, this.interval, this.lastTs, this.openTs, this.openScore, this.openedAt] = a.subarray(i, i + 8);
    for (let g = 0; g < INTERVALS; g++) this.setGap(g, a[i + 8 + g]);
    this.longGaps = a[i + 8 + INTERVALS] ?? 0;
    return i + 9 + INTERVALS;
  }
}

/** Doubles a DropoutState takes: its named ones and its gaps in int32s. */
export const DROPOUT_WIDTH = defineSlots(DropoutState, NAMES) + INTERVALS / 2;
