import type { Reading } from '../ingest/reading.ts';
import { ANOMALY_TYPES, type AnomalyType } from './detectors/types.ts';

const TYPES = ANOMALY_TYPES.length;

/**
 * Running aggregate of readings: the state of one pane, or a whole window once panes are merged.
 * Mergeable and snapshot-able (plain numbers), so windows are pane merges and checkpoints are bytes.
 */
export class Aggregate {
  count = 0;
  sum = 0;
  sumSq = 0;
  min = Infinity;
  max = -Infinity;
  first = NaN;
  firstTs = Infinity;
  last = NaN;
  lastTs = -Infinity;
  humidityCount = 0;
  humiditySum = 0;
  humiditySumSq = 0;
  humidityMin = Infinity;
  humidityMax = -Infinity;
  humidityFirst = NaN;
  humidityFirstTs = Infinity;
  humidityLast = NaN;
  humidityLastTs = -Infinity;
  anomalies = 0;
  /**
   * Anomalies by type, indexed as ANOMALY_TYPES; null until the first anomaly (most panes never hold one, and a
   * typed array costs ≈ 200 bytes of heap and off-heap bookkeeping per pane).
   */
  byType: Float64Array | null = null;

  add(r: Reading): void {
    this.addValues(r.temperature, r.ts, r.humidity);
  }

  /** add() of a reading's temperature `t`, its ts and its humidity `h`. */
  addValues(t: number, ts: number, h: number | undefined): void {
    this.count++;
    this.sum += t;
    this.sumSq += t * t;
    if (t < this.min) this.min = t;
    if (t > this.max) this.max = t;
    if (ts < this.firstTs) {
      this.firstTs = ts;
      this.first = t;
    }
    if (ts >= this.lastTs) {
      this.lastTs = ts;
      this.last = t;
    }
    if (h !== undefined) {
      this.humidityCount++;
      this.humiditySum += h;
      this.humiditySumSq += h * h;
      if (h < this.humidityMin) this.humidityMin = h;
      if (h > this.humidityMax) this.humidityMax = h;
      if (ts < this.humidityFirstTs) {
        this.humidityFirstTs = ts;
        this.humidityFirst = h;
      }
      if (ts >= this.humidityLastTs) {
        this.humidityLastTs = ts;
        this.humidityLast = h;
      }
    }
  }

  /** Back to the empty aggregate (a scratch aggregate reused for every window result). */
  reset(): void {
    this.count = this.sum = this.sumSq = 0;
    this.min = Infinity;
    this.max = -Infinity;
    this.first = this.last = NaN;
    this.firstTs = Infinity;
    this.lastTs = -Infinity;
    this.humidityCount = this.humiditySum = this.humiditySumSq = 0;
    this.humidityMin = Infinity;
    this.humidityMax = -Infinity;
    this.humidityFirst = this.humidityLast = NaN;
    this.humidityFirstTs = Infinity;
    this.humidityLastTs = -Infinity;
    this.anomalies = 0;
    this.byType?.fill(0);
  }

  addAnomaly(typeIndex: number): void {
    this.anomalies++;
    (this.byType ??= new Float64Array(TYPES))[typeIndex]++;
  }

  /** The exact state as doubles (Infinity and NaN included), for checkpoints. */
  toBytes(): Buffer {
    const a = new Float64Array(19 + TYPES); // written field by field: no intermediate array per pane
    a[0] = this.count;
    a[1] = this.sum;
    a[2] = this.sumSq;
    a[3] = this.min;
    a[4] = this.max;
    a[5] = this.first;
    a[6] = this.firstTs;
    a[7] = this.last;
    a[8] = this.lastTs;
    a[9] = this.humidityCount;
    a[10] = this.humiditySum;
    a[11] = this.humiditySumSq;
    a[12] = this.humidityMin;
    a[13] = this.humidityMax;
    a[14] = this.humidityFirst;
    a[15] = this.humidityFirstTs;
    a[16] = this.humidityLast;
    a[17] = this.humidityLastTs;
    a[18] = this.anomalies;
    if (this.byType !== null) a.set(this.byType, 19);
    return Buffer.from(a.buffer);
  }

  /** The state of toBytes(), of a pane (PANE_WIDTH doubles, then its counts by type if any), or of a one-reading pane. */
  static fromBytes(bytes: Uint8Array): Aggregate {
    const a = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const g = new Aggregate();
    if (a.length === ONE_READING) {
      g.addValues(a[0], a[1], Number.isNaN(a[2]) ? undefined : a[2]);
      return g;
    }
    [g.count, g.sum, g.sumSq, g.min, g.max, g.first, g.firstTs, g.last, g.lastTs] = a;
    [g.humidityCount, g.humiditySum, g.humiditySumSq, g.humidityMin, g.humidityMax] = a.subarray(9);
    [g.humidityFirst, g.humidityFirstTs, g.humidityLast, g.humidityLastTs, g.anomalies] = a.subarray(14);
    const byType = a.subarray(19, 19 + TYPES);
    if (byType.some((n) => n !== 0)) g.byType = new Float64Array(byType);
    return g;
  }

  merge(o: Aggregate): void {
    this.count += o.count;
    this.sum += o.sum;
    this.sumSq += o.sumSq;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
    // Ties (devices reporting at one instant) go to the lowest value: the result must not depend on the merge order.
    if (o.firstTs < this.firstTs || (o.firstTs === this.firstTs && o.first < this.first)) {
      this.firstTs = o.firstTs;
      this.first = o.first;
    }
    if (o.lastTs > this.lastTs || (o.lastTs === this.lastTs && o.last < this.last)) {
      this.lastTs = o.lastTs;
      this.last = o.last;
    }
    this.humidityCount += o.humidityCount;
    this.humiditySum += o.humiditySum;
    this.humiditySumSq += o.humiditySumSq;
    if (o.humidityMin < this.humidityMin) this.humidityMin = o.humidityMin;
    if (o.humidityMax > this.humidityMax) this.humidityMax = o.humidityMax;
    if (o.humidityFirstTs < this.humidityFirstTs || (o.humidityFirstTs === this.humidityFirstTs && o.humidityFirst < this.humidityFirst)) {
      this.humidityFirstTs = o.humidityFirstTs;
      this.humidityFirst = o.humidityFirst;
    }
    if (o.humidityLastTs > this.humidityLastTs || (o.humidityLastTs === this.humidityLastTs && o.humidityLast < this.humidityLast)) {
      this.humidityLastTs = o.humidityLastTs;
      this.humidityLast = o.humidityLast;
    }
    this.anomalies += o.anomalies;
    const ob = o.byType;
    if (ob !== null) {
      const b = (this.byType ??= new Float64Array(TYPES));
      for (let i = 0; i < TYPES; i++) b[i] += ob[i];
    }
  }
}

/** What a window result says about its readings (null where there was nothing to measure). */
export interface Summary {
  count: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  stddev: number | null;
  first: number | null;
  last: number | null;
  humidityCount: number;
  humidityAvg: number | null;
  humidityMin: number | null;
  humidityMax: number | null;
  humidityStddev: number | null;
  humidityFirst: number | null;
  humidityLast: number | null;
  anomalies: number;
  /** Every anomaly type, with 0 where none. */
  anomaliesByType: Record<AnomalyType, number>;
}

/** sum / count kept within [min, max]: the sum's rounding can carry the mean of equal readings past them (50 × 999.9 averages 999.9000000000009). */
export function meanWithin(sum: number, count: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, sum / count));
}

/** Population standard deviation (exported for the window results built in place); clamps the tiny negatives that floating-point cancellation can produce. */
export function stddev(n: number, sum: number, sumSq: number): number {
  const mean = sum / n;
  return Math.sqrt(Math.max(0, sumSq / n - mean * mean));
}

/** Shared by every summary without anomalies (read-only: nothing writes into a result's counts). */
const NO_ANOMALIES: Readonly<Record<AnomalyType, number>> = Object.freeze(
  Object.fromEntries(ANOMALY_TYPES.map((t) => [t, 0])) as Record<AnomalyType, number>,
);

/** Whether the counts by anomaly type at `from` in `byType` (null: none) hold any anomaly. */
export function anyCounted(byType: ArrayLike<number> | null, from = 0): byType is ArrayLike<number> {
  for (let i = 0; byType !== null && i < TYPES; i++) if (byType[from + i] !== 0) return true;
  return false;
}

/** Counts by anomaly type, those at `from` in `byType` (null: none), as a record of every type. */
export function byTypeRecord(byType: ArrayLike<number> | null, from = 0): Record<AnomalyType, number> {
  if (!anyCounted(byType, from)) return NO_ANOMALIES as Record<AnomalyType, number>;
  const out = {} as Record<AnomalyType, number>;
  for (let i = 0; i < TYPES; i++) out[ANOMALY_TYPES[i]] = byType[from + i];
  return out;
}

/**
 * Panes kept in place in a Float64Array (a chunk of pane slots, key-panes.ts) in the layout of Aggregate.toBytes()
 * without the counts by anomaly type: no object and no boxed double per pane. Most panes never hold an anomaly, so
 * their counts by type live beside the panes, in KeyPanes, for the few that do. A pane's state in a checkpoint is its
 * slice of the chunk, followed by its counts by type when it has any, or, for a pane of one reading and no anomaly,
 * that reading: ONE_READING doubles (Aggregate.fromBytes reads the three lengths).
 */
export const PANE_WIDTH = 19;

/** A one-reading pane's state in a checkpoint: its temperature, ts and humidity (NaN: none). */
export const ONE_READING = 3;

/** Writes the empty aggregate at offset `o`. */
export function clearPane(a: Float64Array, o: number): void {
  a.fill(0, o, o + PANE_WIDTH);
  a[o + 3] = a[o + 6] = a[o + 12] = a[o + 15] = Infinity; // min, firstTs
  a[o + 4] = a[o + 8] = a[o + 13] = a[o + 17] = -Infinity; // max, lastTs
  a[o + 5] = a[o + 7] = a[o + 14] = a[o + 16] = NaN; // first, last
}

/** Aggregate.add() on the pane at offset `o`: its temperature's measure, then its humidity's (at o + 9). */
export function addToPane(a: Float64Array, o: number, r: Reading): void {
  addValuesToPane(a, o, r.temperature, r.ts, r.humidity);
}

/** addToPane() of a reading's temperature `t`, its ts and its humidity `h`. */
export function addValuesToPane(a: Float64Array, o: number, t: number, ts: number, h: number | undefined): void {
  addValue(a, o, t, ts);
  if (h !== undefined) addValue(a, o + 9, h, ts);
}

/**
 * Adds `x` at `ts` to the measure at offset `o` (count, sum, sum of squares, min, max, first, its ts, last, its ts):
 * of a device's readings at one ts, its first is the first to arrive, its last the last.
 */
function addValue(a: Float64Array, o: number, x: number, ts: number): void {
  addSums(a, o, x);
  if (ts < a[o + 6]) {
    a[o + 6] = ts;
    a[o + 5] = x;
  }
  if (ts >= a[o + 8]) {
    a[o + 8] = ts;
    a[o + 7] = x;
  }
}

/** Adds `x` to the count, sums and extremes of the measure at offset `o`. */
function addSums(a: Float64Array, o: number, x: number): void {
  a[o]++;
  a[o + 1] += x;
  a[o + 2] += x * x;
  if (x < a[o + 3]) a[o + 3] = x;
  if (x > a[o + 4]) a[o + 4] = x;
}

/**
 * Whether reading `r`, about to be added to its device's pane at offset `o` of `a`, raises that pane's last where the
 * fleet pane at `fo` of `f` may hold the old one as its own: a reading at its pane's last ts replaces the pane's last
 * (the last of them to arrive), and the fleet's last, of the devices' lasts at its last ts, is the lowest: when the old
 * one was it, only a merge anew of the device panes can tell the new lowest. Of the temperature, or of the humidity.
 */
export function raisesFleetLast(a: Float64Array, o: number, f: Float64Array, fo: number, r: Reading): boolean {
  const ts = r.ts;
  if (ts === a[o + 8] && ts === f[fo + 8] && r.temperature > a[o + 7] && a[o + 7] === f[fo + 7]) return true;
  const h = r.humidity;
  return h !== undefined && ts === a[o + 17] && ts === f[fo + 17] && h > a[o + 16] && a[o + 16] === f[fo + 16];
}

/**
 * Adds reading `r`, just added to its device's pane at offset `o` of `a`, to the fleet pane at `fo` of `f`: count, sums
 * and extremes from the reading; first and last from the device's pane, taken as mergePane takes them (ties between
 * devices go to the lowest value), so that the fleet pane stays the merge of its devices' panes; unless the reading
 * raised its device's last where the fleet's was the old one (raisesFleetLast): the fleet pane is then merged anew.
 */
export function addToFleetPane(f: Float64Array, fo: number, r: Reading, a: Float64Array, o: number): void {
  addSums(f, fo, r.temperature);
  mergeEnds(f, fo + 5, a, o + 5);
  if (r.humidity === undefined) return;
  addSums(f, fo + 9, r.humidity);
  mergeEnds(f, fo + 14, a, o + 14);
}

/** Merges the first and last (value, ts, value, ts from offset `o`) of `a` into those of `f` at `fo`, as mergePane does. */
function mergeEnds(f: Float64Array, fo: number, a: Float64Array, o: number): void {
  if (a[o + 1] < f[fo + 1] || (a[o + 1] === f[fo + 1] && a[o] < f[fo])) {
    f[fo + 1] = a[o + 1];
    f[fo] = a[o];
  }
  if (a[o + 3] > f[fo + 3] || (a[o + 3] === f[fo + 3] && a[o + 2] < f[fo + 2])) {
    f[fo + 3] = a[o + 3];
    f[fo + 2] = a[o + 2];
  }
}

/** Counts one anomaly in the pane at offset `o` (its type is counted by the caller: KeyPanes.addAnomaly). */
export function addAnomalyToPane(a: Float64Array, o: number): void {
  a[o + 18]++;
}

/** Aggregate.merge() of the pane at offset `o` into `g`, with its counts by anomaly type (null: none). */
export function mergePane(g: Aggregate, a: Float64Array, o: number, byType: Float64Array | null): void {
  g.count += a[o];
  g.sum += a[o + 1];
  g.sumSq += a[o + 2];
  if (a[o + 3] < g.min) g.min = a[o + 3];
  if (a[o + 4] > g.max) g.max = a[o + 4];
  // Ties (devices reporting at one instant) go to the lowest value, as in Aggregate.merge: independent of the order.
  if (a[o + 6] < g.firstTs || (a[o + 6] === g.firstTs && a[o + 5] < g.first)) {
    g.firstTs = a[o + 6];
    g.first = a[o + 5];
  }
  if (a[o + 8] > g.lastTs || (a[o + 8] === g.lastTs && a[o + 7] < g.last)) {
    g.lastTs = a[o + 8];
    g.last = a[o + 7];
  }
  g.humidityCount += a[o + 9];
  g.humiditySum += a[o + 10];
  g.humiditySumSq += a[o + 11];
  if (a[o + 12] < g.humidityMin) g.humidityMin = a[o + 12];
  if (a[o + 13] > g.humidityMax) g.humidityMax = a[o + 13];
  if (a[o + 15] < g.humidityFirstTs || (a[o + 15] === g.humidityFirstTs && a[o + 14] < g.humidityFirst)) {
    g.humidityFirstTs = a[o + 15];
    g.humidityFirst = a[o + 14];
  }
  if (a[o + 17] > g.humidityLastTs || (a[o + 17] === g.humidityLastTs && a[o + 16] < g.humidityLast)) {
    g.humidityLastTs = a[o + 17];
    g.humidityLast = a[o + 16];
  }
  g.anomalies += a[o + 18];
  if (byType !== null) {
    const b = (g.byType ??= new Float64Array(TYPES));
    for (let i = 0; i < TYPES; i++) b[i] += byType[i];
  }
}

/** Writes `g` as the pane at offset `o` (the layout of toBytes() without the counts by type, which the caller keeps). */
export function writePane(g: Aggregate, a: Float64Array, o: number): void {
  a[o] = g.count;
  a[o + 1] = g.sum;
  a[o + 2] = g.sumSq;
  a[o + 3] = g.min;
  a[o + 4] = g.max;
  a[o + 5] = g.first;
  a[o + 6] = g.firstTs;
  a[o + 7] = g.last;
  a[o + 8] = g.lastTs;
  a[o + 9] = g.humidityCount;
  a[o + 10] = g.humiditySum;
  a[o + 11] = g.humiditySumSq;
  a[o + 12] = g.humidityMin;
  a[o + 13] = g.humidityMax;
  a[o + 14] = g.humidityFirst;
  a[o + 15] = g.humidityFirstTs;
  a[o + 16] = g.humidityLast;
  a[o + 17] = g.humidityLastTs;
  a[o + 18] = g.anomalies;
}

