import type { Reading } from '../ingest/reading.ts';

/**
 * Running aggregate of readings: the state of one pane, or a whole window once panes are merged.
 * Mergeable and snapshot-able (plain numbers), so windows are pane merges and checkpoints are JSON.
 */
export class Aggregate {
  count = 0;
  sum = 0;
  sumSq = 0;
  min = Infinity;
  max = -Infinity;
  last = NaN;
  lastTs = -Infinity;
  humidityCount = 0;
  humiditySum = 0;
  humidityMin = Infinity;
  humidityMax = -Infinity;
  anomalies = 0;

  add(r: Reading, anomalous: boolean): void {
    const t = r.temperature;
    this.count++;
    this.sum += t;
    this.sumSq += t * t;
    if (t < this.min) this.min = t;
    if (t > this.max) this.max = t;
    if (r.ts >= this.lastTs) {
      this.lastTs = r.ts;
      this.last = t;
    }
    const h = r.humidity;
    if (h !== undefined) {
      this.humidityCount++;
      this.humiditySum += h;
      if (h < this.humidityMin) this.humidityMin = h;
      if (h > this.humidityMax) this.humidityMax = h;
    }
    if (anomalous) this.anomalies++;
  }

  /** The exact state as 12 doubles (Infinity and NaN included), for checkpoints. */
  toBytes(): Buffer {
    const a = new Float64Array([
      this.count, this.sum, this.sumSq, this.min, this.max, this.last, this.lastTs,
      this.humidityCount, this.humiditySum, this.humidityMin, this.humidityMax, this.anomalies,
    ]);
    return Buffer.from(a.buffer);
  }

  static fromBytes(bytes: Uint8Array): Aggregate {
    const a = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const g = new Aggregate();
    [g.count, g.sum, g.sumSq, g.min, g.max, g.last, g.lastTs] = a;
    [g.humidityCount, g.humiditySum, g.humidityMin, g.humidityMax, g.anomalies] = a.subarray(7);
    return g;
  }

  merge(o: Aggregate): void {
    this.count += o.count;
    this.sum += o.sum;
    this.sumSq += o.sumSq;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
    if (o.lastTs >= this.lastTs) {
      this.lastTs = o.lastTs;
      this.last = o.last;
    }
    this.humidityCount += o.humidityCount;
    this.humiditySum += o.humiditySum;
    if (o.humidityMin < this.humidityMin) this.humidityMin = o.humidityMin;
    if (o.humidityMax > this.humidityMax) this.humidityMax = o.humidityMax;
    this.anomalies += o.anomalies;
  }
}

/** What a window result says about its readings (null where there was nothing to measure). */
export interface Summary {
  count: number;
  avg: number;
  min: number;
  max: number;
  stddev: number;
  last: number;
  humidityAvg: number | null;
  humidityMin: number | null;
  humidityMax: number | null;
  anomalies: number;
}

export function summarize(a: Aggregate): Summary {
  const avg = a.sum / a.count;
  // Population standard deviation; clamp the tiny negatives that floating-point cancellation can produce.
  const variance = Math.max(0, a.sumSq / a.count - avg * avg);
  const h = a.humidityCount > 0;
  return {
    count: a.count,
    avg,
    min: a.min,
    max: a.max,
    stddev: Math.sqrt(variance),
    last: a.last,
    humidityAvg: h ? a.humiditySum / a.humidityCount : null,
    humidityMin: h ? a.humidityMin : null,
    humidityMax: h ? a.humidityMax : null,
    anomalies: a.anomalies,
  };
}
