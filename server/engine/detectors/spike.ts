/**
 * Spike and dip: a reading far from the rolling median of the device's recent history, in units of its robust noise
 * scale (a robust z-score, as Azure Stream Analytics' AnomalyDetection_SpikeAndDip scores against its history).
 *
 *   z = (x − median(history)) / scale,   scale = max(1.4826 · MAD(history), 1.253 · mean |x − median|, minScale)
 *
 * |z| > sensitivity makes the reading a candidate. A spike is a reading that comes back: the candidate is confirmed
 * by the device's next reading when that one is not a candidate itself; if it stays away, the series has moved to
 * a new level (a step, judged by the rate-of-change and drift detectors) and no spike is reported. So a flag costs
 * one reading of delay and a step change does not raise a train of spikes while the median catches up.
 */
import { defineSlots, Slots } from '../slot-pool.ts';
import type { StateOut } from './slots.ts';
import type { Anomaly } from './types.ts';

export class SpikeState extends Slots {
  /** The pending candidate (NaN ts: none). */
  declare ts: number;
  declare value: number;
  declare median: number;
  declare scale: number;
  declare z: number;

  /** A new device's state. */
  reset(): void {
    this.ts = this.value = this.median = this.scale = this.z = NaN;
  }

  get pending(): boolean {
    return this.ts === this.ts; // not NaN
  }

  hold(ts: number, value: number, median: number, scale: number, z: number): void {
    this.ts = ts;
    this.value = value;
    this.median = median;
    this.scale = scale;
    this.z = z;
  }

  /** The candidate came back: report it, dated at its own reading. */
  confirm(deviceId: string, sensitivity: number, detectedAt: number, out: Anomaly[]): void {
    const up = this.value > this.median;
    out.push({
      deviceId, type: up ? 'spike' : 'dip', ts: this.ts, score: Math.abs(this.z), value: this.value, expected: this.median,
      threshold: this.median + (up ? 1 : -1) * sensitivity * this.scale, start: null, end: null, detectedAt,
    });
    this.clear();
  }

  clear(): void {
    this.ts = NaN;
  }

  save(out: StateOut): void {
    out.copy(this.a, this.o, SPIKE_WIDTH); // ts, value, median, scale, z: the slots, in their order
  }

  load(a: Float64Array, i: number): number {
    [this.ts, this.value, this.median, this.scale, this.z] = a.subarray(i, i + 5);
    return i + 5;
  }
}

/** Doubles a SpikeState takes. */
export const SPIKE_WIDTH = defineSlots(SpikeState, ['ts', 'value', 'median', 'scale', 'z']);
