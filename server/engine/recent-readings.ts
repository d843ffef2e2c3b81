import type { Reading } from '../ingest/index.ts';

/** Values are kept as integers in thousandths while a device's readings have at most three decimals (21.37, 40.125). */
const SCALE = 1000;
/** The largest int32; its negation is the smallest value kept, and −2^31 marks a missing humidity. */
const INT_MAX = 0x7fffffff;
const NO_HUMIDITY = -0x80000000;

/** `v` in thousandths if that gives `v` back exactly and fits an int32, else NaN (also for −0, which comes back as 0). */
function thousandths(v: number): number {
  if (Object.is(v, -0)) return NaN;
  const n = Math.round(v * SCALE);
  return n >= -INT_MAX && n <= INT_MAX && n / SCALE === v ? n : NaN;
}

/**
 * One device's raw readings, oldest first by arrival, as triples in one typed array (not one object per reading, nor
 * three arrays: each costs its own headers, which at 10,000 devices added up to megabytes). While every reading has
 * an integer ts within 2^31 ms of the ring's `base` and values with at most three decimals, a triple is three int32s
 * (ts − base, temperature and humidity in thousandths, humidity −2^31 when there is none): 12 bytes. The first reading
 * that does not fit makes the ring wide for good, three doubles (humidity NaN when there is none): 24 bytes. Either way
 * a reading comes back exactly as it came.
 */
class Ring {
  points: Int32Array | Float64Array;
  /** Whether `points` holds doubles. */
  wide = false;
  /** The epoch ms a compact ts counts from. */
  base: number;
  head = 0; // index of the oldest
  size = 0;
  /** Every reading of this device with ts >= coveredFrom that the engine saw is here (or was aged out by maxAge). */
  coveredFrom: number;

  constructor(capacity: number, coveredFrom: number, base: number) {
    this.points = new Int32Array(capacity * 3);
    this.coveredFrom = coveredFrom;
    this.base = base;
  }

  get capacity(): number {
    return this.points.length / 3;
  }

  /** Offset in `points` of the k-th oldest reading. */
  at(k: number): number {
    return ((this.head + k) % this.capacity) * 3;
  }

  ts(i: number): number {
    return this.wide ? this.points[i] : this.base + this.points[i];
  }

  temperature(i: number): number {
    return this.wide ? this.points[i + 1] : this.points[i + 1] / SCALE;
  }

  humidity(i: number): number | null {
    const h = this.points[i + 2];
    if (this.wide) return Number.isNaN(h) ? null : h;
    return h === NO_HUMIDITY ? null : h / SCALE;
  }

  /** Drops the oldest reading: raw coverage now starts after it. */
  dropOldest(): void {
    const evicted = this.ts(this.at(0));
    if (evicted >= this.coveredFrom) this.coveredFrom = evicted + 1;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
  }

  /** Appends `r` (there is room). */
  push(r: Reading): void {
    if (!this.wide && !this.putCompact(this.at(this.size), r)) this.resize(this.capacity, true);
    if (this.wide) {
      const p = this.points, at = this.at(this.size);
      p[at] = r.ts;
      p[at + 1] = r.temperature;
      p[at + 2] = r.humidity ?? NaN;
    }
    this.size++;
  }

  /** The same readings, oldest at 0, in an array of `capacity` (`wide`: of doubles). */
  resize(capacity: number, wide = this.wide): void {
    const points = wide ? new Float64Array(capacity * 3) : new Int32Array(capacity * 3);
    for (let k = 0; k < this.size; k++) {
      const from = this.at(k);
      if (wide === this.wide) for (let j = 0; j < 3; j++) points[k * 3 + j] = this.points[from + j];
      else {
        points[k * 3] = this.ts(from);
        points[k * 3 + 1] = this.temperature(from);
        points[k * 3 + 2] = this.humidity(from) ?? NaN;
      }
    }
    this.points = points;
    this.wide = wide;
    this.head = 0;
  }

  /** Writes `r` at `at` as int32s if it fits (a ts that does not fit from `base` moves it, if the others allow). */
  private putCompact(at: number, r: Reading): boolean {
    const t = thousandths(r.temperature);
    const h = r.humidity === undefined ? NO_HUMIDITY : thousandths(r.humidity);
    if (!Number.isInteger(r.ts) || Number.isNaN(t) || Number.isNaN(h)) return false;
    if (Math.abs(r.ts - this.base) > INT_MAX && !this.rebase(r.ts)) return false;
    const p = this.points;
    p[at] = r.ts - this.base;
    p[at + 1] = t;
    p[at + 2] = h;
    return true;
  }

  /** Counts compact ts from `base` if every reading held is within 2^31 ms of it (once in 24 days of a device's time). */
  private rebase(base: number): boolean {
    for (let k = 0; k < this.size; k++) if (Math.abs(this.ts(this.at(k)) - base) > INT_MAX) return false;
    for (let k = 0; k < this.size; k++) this.points[this.at(k)] += this.base - base;
    this.base = base;
    return true;
  }
}

export interface RawPoint {
  ts: number;
  temperature: number;
  humidity: number | null;
}

export interface RecentQuery {
  /** Since when the raw readings are complete: earlier times must come from window aggregates. */
  coveredFrom: number;
  /** Raw readings with ts in [max(from, coveredFrom), to), ascending by ts. */
  points: RawPoint[];
}

const INITIAL_CAPACITY = 16;

/**
 * The newest raw readings of each device, bounded by count (`perDevice`) and age (`maxAgeMs`, by ts), filled once per
 * committed batch (off the ingest hot path) for the chart route. Nothing of it is durable: after a restart, raw
 * readings start again from the engine's start (older times are served as window aggregates). A reading more than
 * `maxAgeMs` older than a newer one of its device goes when that one comes: a device that reports every 10 s holds
 * the 61 readings of 10 minutes (in an array of 64), not `perDevice` (120) of 20 minutes, none of which the route
 * would serve: at 100,000 such devices 77 MB (12 bytes a reading), not 288 (120 of 24).
 */
export class RecentReadings {
  private readonly rings = new Map<string, Ring>();

  constructor(
    private readonly perDevice: number,
    private readonly maxAgeMs: number,
    /** Readings with a ts before this may have been processed by an earlier run: not complete here. */
    private readonly startedAt: number,
  ) {}

  add(readings: readonly Reading[]): void {
    if (this.perDevice === 0) return;
    for (const r of readings) {
      let ring = this.rings.get(r.deviceId);
      if (ring === undefined) {
        ring = new Ring(Math.min(INITIAL_CAPACITY, this.perDevice), this.startedAt, Math.floor(r.ts));
        this.rings.set(r.deviceId, ring);
      }
      // By the server's clock where the device's runs ahead: the route serves from its now − maxAgeMs.
      const tooOld = Math.min(r.ts, r.arrival) - this.maxAgeMs;
      while (ring.size > 0 && ring.ts(ring.at(0)) < tooOld) ring.dropOldest();
      if (ring.size === ring.capacity) {
        if (ring.capacity < this.perDevice) ring.resize(Math.min(ring.capacity * 2, this.perDevice));
        else ring.dropOldest(); // full: the oldest goes
      }
      ring.push(r);
    }
  }

  /** What the devices' arrays take, all told. */
  get bytes(): number {
    let n = 0;
    for (const ring of this.rings.values()) n += ring.points.byteLength;
    return n;
  }

  /** Readings the devices' arrays have room for, all told (12 bytes each, 24 in a wide array). */
  get capacity(): number {
    let n = 0;
    for (const ring of this.rings.values()) n += ring.capacity;
    return n;
  }

  query(deviceId: string, from: number, to: number, now: number): RecentQuery {
    const ring = this.rings.get(deviceId);
    const coveredFrom = Math.max(ring?.coveredFrom ?? this.startedAt, now - this.maxAgeMs);
    if (ring === undefined || this.perDevice === 0) return { coveredFrom: this.perDevice === 0 ? Infinity : coveredFrom, points: [] };
    const lo = Math.max(from, coveredFrom);
    const points: RawPoint[] = [];
    for (let k = 0; k < ring.size; k++) {
      const i = ring.at(k);
      const ts = ring.ts(i);
      if (ts < lo || ts >= to) continue;
      points.push({ ts, temperature: ring.temperature(i), humidity: ring.humidity(i) });
    }
    points.sort((a, b) => a.ts - b.ts);
    return { coveredFrom, points };
  }
}
