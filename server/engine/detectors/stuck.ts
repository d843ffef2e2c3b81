/**
 * Stuck sensor: the device keeps reporting, but the value does not change (within `tolerance`) for longer than is
 * natural for this device. A quantised, slowly changing signal repeats itself now and then, so "longer than
 * natural" is learned: the longest of the device's recent runs of equal readings (a maximum over completed runs that
 * decays by 0.2 % per run), and a run is stuck once it reaches max(minReadings, runFactor × that length). It is raised once, dated at the first
 * reading of the run, and closed by the first reading that differs.
 */
import { defineSlots, Slots } from '../slot-pool.ts';
import type { StateOut } from './slots.ts';
import type { Anomaly } from './types.ts';

/** Per completed run, the learned longest run decays by this factor (so an old outlier is forgotten slowly). */
const LONG_RUN_DECAY = 0.998;
/** Completed runs a device needs before a run can be judged stuck (its longest run must mean something). */
const MIN_RUNS = 10;

export class StuckState extends Slots {
  declare runValue: number;
  declare runStart: number;
  declare runLast: number;
  declare runCount: number;
  /** 1 while the current run is reported as stuck. */
  declare flagged: number;
  /** Learned longest natural run (readings): a decaying maximum over completed runs; NaN before the first. */
  declare longRun: number;
  declare runs: number;
  /** When the current stuck run was detected. */
  declare flaggedAt: number;

  /** A new device's state. */
  reset(): void {
    this.runValue = this.runStart = this.runLast = this.longRun = this.flaggedAt = NaN;
    this.runCount = this.flagged = this.runs = 0;
  }

  need(minReadings: number, runFactor: number): number {
    const learned = this.longRun === this.longRun ? Math.ceil(runFactor * this.longRun) : Infinity;
    return Math.max(minReadings, learned);
  }

  onReading(
    deviceId: string, ts: number, x: number, tolerance: number, minReadings: number, runFactor: number, armed: boolean,
    out: Anomaly[],
  ): void {
    if (Math.abs(x - this.runValue) <= tolerance) {
      this.runCount++;
      this.runLast = ts;
      if (this.flagged === 0 && armed && this.runs >= MIN_RUNS) {
        const need = this.need(minReadings, runFactor);
        if (this.runCount >= need) {
          this.flagged = 1;
          this.flaggedAt = ts;
          out.push(this.anomaly(deviceId, need, null));
        }
      }
      return;
    }
    if (this.flagged === 1) {
      out.push(this.anomaly(deviceId, this.need(minReadings, runFactor), this.runLast));
    } else if (this.runCount > 0) {
      this.runs++;
      const decayed = this.longRun === this.longRun ? this.longRun * LONG_RUN_DECAY : 0;
      this.longRun = this.runCount > decayed ? this.runCount : decayed;
    }
    this.runValue = x;
    this.runStart = ts;
    this.runLast = ts;
    this.runCount = 1;
    this.flagged = 0;
  }

  private anomaly(deviceId: string, need: number, end: number | null): Anomaly {
    return {
      deviceId, type: 'stuck', ts: this.runStart, score: this.runCount / need, value: this.runValue,
      expected: null, threshold: need, start: this.runStart, end, detectedAt: this.flaggedAt,
    };
  }

  save(out: StateOut): void {
    out.copy(this.a, this.o, STUCK_WIDTH); // runValue … flaggedAt: the slots, in their order
  }

  load(a: Float64Array, i: number): number {
    [this.runValue, this.runStart, this.runLast, this.runCount, this.flagged, this.longRun, this.runs, this.flaggedAt] = a.subarray(i, i + 8);
    return i + 8;
  }
}

/** Doubles a StuckState takes. */
export const STUCK_WIDTH = defineSlots(StuckState, ['runValue', 'runStart', 'runLast', 'runCount', 'flagged', 'longRun', 'runs', 'flaggedAt']);
