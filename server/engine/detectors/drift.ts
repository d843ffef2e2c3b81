/**
 * Drift / level shift: a two-sided CUSUM on the device's smoothed signal against its own slow baseline, in units of
 * its own natural spread. No single reading betrays a slow drift; the sum of the residuals does.
 *
 *   fast  = EWMA of the readings (weight 1/8: smooths noise, follows a drift)
 *   base  = EWMA of the readings with a long memory: max(memoryReadings, memoryMs / interval) readings
 *   s     = EWMA of |fast − base| with the same memory (the natural spread: HVAC cycles, daily swings), ≥ minScale
 *   (once armed, both learn from residuals winsorised at 3 · s, so a drift not caught yet cannot teach them to follow it)
 *   z     = (fast − base) / s;   g⁺ = max(0, g⁺ + z − slack);   g⁻ = max(0, g⁻ − z − slack)
 *
 * g > threshold opens a drift anomaly, dated where g last left zero (the CUSUM change-point estimate). The baseline
 * and spread do not learn while a drift is open, and their memory is long against a drift, so they lag it. It arms
 * once the baseline has learned from max(warmup, memory / 8) readings (its spread must have seen the device's natural
 * swings). The anomaly closes
 * when |z| is back under the slack; a shift that lasts a whole memory span is a new level: the baseline is reset to
 * it and the anomaly closed there.
 */
import { defineSlots, Slots } from '../slot-pool.ts';
import type { StateOut } from './slots.ts';
import type { Anomaly } from './types.ts';

const FAST_ALPHA = 1 / 8;
/** Drift arms once the baseline has learned from memory / ARM_FRACTION readings. */
const ARM_FRACTION = 8;
/** Once armed, the baseline and spread learn from residuals winsorised at this many spreads. */
const CLIP = 3;

/** Readings a device's drift baseline needs before it flags anything: memory / ARM_FRACTION. */
export function driftArmReadings(memory: number): number {
  return Math.ceil(memory / ARM_FRACTION);
}

export class DriftState extends Slots {
  declare fast: number;
  declare base: number;
  declare spread: number;
  /** Readings the baseline has learned from since it (re)started (its EWMA starts as a running mean). */
  declare learned: number;
  /** Readings the spread has learned from (kept across a rebase). */
  declare spreadLearned: number;
  declare gPos: number;
  declare gNeg: number;
  declare gPosFrom: number;
  declare gNegFrom: number;
  /** +1 / −1 while a drift up / down is open, 0 otherwise. */
  declare alarm: number;
  declare alarmTs: number;
  declare alarmReadings: number;
  declare alarmAt: number;
  declare lastTs: number;

  /** A new device's state. */
  reset(): void {
    this.fast = this.base = this.gPosFrom = this.gNegFrom = this.alarmTs = this.alarmAt = this.lastTs = NaN;
    this.spread = this.learned = this.spreadLearned = this.gPos = this.gNeg = this.alarm = this.alarmReadings = 0;
  }

  onReading(
    deviceId: string, ts: number, x: number, memory: number, slack: number, threshold: number, minScale: number,
    armed: boolean, out: Anomaly[],
  ): void {
    if (this.base !== this.base) {
      // The first reading, or after a gap or a stuck episode (the level is unknown): start from here, keep the spread.
      this.base = x;
      this.fast = x;
      this.learned = 0;
    }
    this.fast += FAST_ALPHA * (x - this.fast);
    const s = Math.max(this.spread, minScale);
    const z = (this.fast - this.base) / s;
    if (this.alarm !== 0) {
      this.alarmReadings++;
      const back = this.alarm > 0 ? z < slack : z > -slack;
      if (back || this.alarmReadings > memory) {
        out.push(this.anomaly(deviceId, this.alarm, z, s, slack, this.lastTs, ts));
        if (!back) this.base = this.fast; // a new level: learn from it
        this.alarm = 0;
        this.gPos = this.gNeg = 0;
      }
      this.lastTs = ts;
      return;
    }
    this.lastTs = ts;
    if (armed && this.learned >= driftArmReadings(memory)) {
      const gp = this.gPos + z - slack;
      const gn = this.gNeg - z - slack;
      if (gp > 0) {
        if (this.gPos === 0) this.gPosFrom = ts;
        this.gPos = gp;
      } else this.gPos = 0;
      if (gn > 0) {
        if (this.gNeg === 0) this.gNegFrom = ts;
        this.gNeg = gn;
      } else this.gNeg = 0;
      if (this.gPos > threshold || this.gNeg > threshold) {
        this.alarm = this.gPos > threshold ? 1 : -1;
        this.alarmTs = this.alarm > 0 ? this.gPosFrom : this.gNegFrom;
        this.alarmReadings = 0;
        this.alarmAt = ts;
        out.push(this.anomaly(deviceId, this.alarm, z, s, slack, null, ts));
        return;
      }
    }
    this.learned++;
    this.spreadLearned++;
    // Winsorised once the spread is known (as drift arms): a residual counts at most CLIP spreads, so a drift the CUSUM has not
    // caught yet can neither drag the baseline along nor inflate the spread.
    const limit = this.spreadLearned >= driftArmReadings(memory) ? CLIP * s : Infinity;
    const r = x - this.base;
    this.base += Math.max(1 / this.learned, 1 / memory) * (r > limit ? limit : r < -limit ? -limit : r);
    const dev = Math.abs(this.fast - this.base);
    this.spread += Math.max(1 / this.spreadLearned, 1 / memory) * ((dev < limit ? dev : limit) - this.spread);
  }

  private anomaly(deviceId: string, sign: number, z: number, s: number, slack: number, end: number | null, detectedAt: number): Anomaly {
    const g = sign > 0 ? this.gPos : this.gNeg;
    return {
      deviceId, type: 'drift', ts: this.alarmTs, score: end === null ? g : Math.abs(z), value: this.fast, expected: this.base,
      threshold: this.base + sign * slack * s, start: this.alarmTs, end, detectedAt: end === null ? detectedAt : this.alarmAt,
    };
  }

  /**
   * The device was silent (dropout) or stuck: the readings before and after may not be comparable, so the level is
   * learned again from the next reading (the spread is kept). An open drift is closed at its last reading.
   */
  rebase(deviceId: string, detectedAt: number, slack: number, minScale: number, out: Anomaly[]): void {
    if (this.alarm !== 0) {
      // Scored as a drift that closes by itself: |z| of its last reading, threshold baseline ± slack × spread.
      const s = Math.max(this.spread, minScale);
      out.push(this.anomaly(deviceId, this.alarm, (this.fast - this.base) / s, s, slack, this.lastTs, detectedAt));
      this.alarm = 0;
    }
    this.gPos = this.gNeg = 0;
    this.base = NaN;
  }

  save(out: StateOut): void {
    out.copy(this.a, this.o, 12); // fast … alarmReadings: the first twelve slots, in their order
    out.push(this.lastTs);
    out.push(this.alarmAt);
  }

  load(a: Float64Array, i: number): number {
    [this.fast, this.base, this.spread, this.learned, this.spreadLearned, this.gPos, this.gNeg, this.gPosFrom, this.gNegFrom,
      this.alarm, this.alarmTs, this.alarmReadings, this.lastTs, this.alarmAt] = a.subarray(i, i + 14);
    return i + 14;
  }
}

/** Doubles a DriftState takes. */
export const DRIFT_WIDTH = defineSlots(DriftState, [
  'fast', 'base', 'spread', 'learned', 'spreadLearned', 'gPos', 'gNeg', 'gPosFrom', 'gNegFrom', 'alarm', 'alarmTs',
  'alarmReadings', 'alarmAt', 'lastTs',
]);
