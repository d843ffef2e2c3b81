/**
 * Stuck sensor: the device keeps reporting, but the value does not change (within `tolerance`) for longer than is
 * natural for this device. A quantised, slowly changing signal repeats itself now and then, so "longer than
 * natural" is learned: the mean length of the device's runs of equal readings (an EWMA over completed runs), and a
 * run is stuck once it reaches max(minReadings, runFactor × that mean). It is raised once, dated at the first
 * reading of the run, and closed by the first reading that differs.
 */
import type { Anomaly } from './types.ts';

/** EWMA weight of one completed run in the learned mean run length. */
const RUN_ALPHA = 1 / 32;

export class StuckState {
  runValue = NaN;
  runStart = NaN;
  runLast = NaN;
  runCount = 0;
  /** 1 while the current run is reported as stuck. */
  flagged = 0;
  /** Learned mean run length (readings); NaN before the first completed run. */
  meanRun = NaN;
  runs = 0;

  need(minReadings: number, runFactor: number): number {
    const learned = this.meanRun === this.meanRun ? Math.ceil(runFactor * this.meanRun) : Infinity;
    return Math.max(minReadings, learned);
  }

  onReading(
    deviceId: string, ts: number, x: number, tolerance: number, minReadings: number, runFactor: number, armed: boolean,
    out: Anomaly[],
  ): void {
    if (Math.abs(x - this.runValue) <= tolerance) {
      this.runCount++;
      this.runLast = ts;
      if (this.flagged === 0 && armed) {
        const need = this.need(minReadings, runFactor);
        if (this.runCount >= need) {
          this.flagged = 1;
          out.push(this.anomaly(deviceId, need, null, ts));
        }
      }
      return;
    }
    if (this.flagged === 1) {
      out.push(this.anomaly(deviceId, this.need(minReadings, runFactor), this.runLast, ts));
    } else if (this.runCount > 0) {
      this.runs++;
      this.meanRun = this.meanRun === this.meanRun ? this.meanRun + RUN_ALPHA * (this.runCount - this.meanRun) : this.runCount;
    }
    this.runValue = x;
    this.runStart = ts;
    this.runLast = ts;
    this.runCount = 1;
    this.flagged = 0;
  }

  private anomaly(deviceId: string, need: number, end: number | null, detectedAt: number): Anomaly {
    return {
      deviceId, type: 'stuck', ts: this.runStart, score: this.runCount / need, value: this.runValue,
      expected: null, threshold: need, start: this.runStart, end, detectedAt,
    };
  }

  save(out: number[]): void {
    out.push(this.runValue, this.runStart, this.runLast, this.runCount, this.flagged, this.meanRun, this.runs);
  }

  load(a: Float64Array, i: number): number {
    [this.runValue, this.runStart, this.runLast, this.runCount, this.flagged, this.meanRun, this.runs] = a.subarray(i, i + 7);
    return i + 7;
  }
}
