/**
 * Rate of change: the temperature moved faster than a physical limit (°C per minute) between two accepted readings
 * (spike candidates are skipped: a spike is reported as such, not twice). The device's own noise is allowed for:
 * a change counts only beyond sensitivity × its noise scale, so a fast-reporting noisy sensor is not flagged for
 * jitter between consecutive readings.
 */
import { defineSlots, Slots } from '../slot-pool.ts';
import type { StateOut } from './slots.ts';
import type { Anomaly } from './types.ts';

export class RateState extends Slots {
  declare refTs: number;
  declare refValue: number;

  /** A new device's state. */
  reset(): void {
    this.refTs = this.refValue = NaN;
  }

  check(deviceId: string, ts: number, x: number, allowance: number, maxPerMinute: number, armed: boolean, detectedAt: number, out: Anomaly[]): void {
    const dt = ts - this.refTs;
    if (armed && dt > 0) {
      const minutes = dt / 60_000;
      const perMinute = (Math.abs(x - this.refValue) - allowance) / minutes;
      if (perMinute > maxPerMinute) {
        const up = x > this.refValue;
        out.push({
          deviceId, type: 'rate', ts, score: perMinute / maxPerMinute, value: x, expected: this.refValue,
          threshold: this.refValue + (up ? 1 : -1) * (maxPerMinute * minutes + allowance), start: null, end: null, detectedAt,
        });
      }
    }
    this.refTs = ts;
    this.refValue = x;
  }

  save(out: StateOut): void {
    out.copy(this.a, this.o, RATE_WIDTH); // refTs, refValue: the slots, in their order
  }

  load(a: Float64Array, i: number): number {
    [this.refTs, this.refValue] = a.subarray(i, i + 2);
    return i + 2;
  }
}

/** Doubles a RateState takes. */
export const RATE_WIDTH = defineSlots(RateState, ['refTs', 'refValue']);
