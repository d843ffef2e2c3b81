import type { Reading } from '../ingest/index.ts';

/**
 * One device's raw readings, oldest first by arrival: (ts, temperature, humidity) triples in one Float64Array, humidity
 * NaN when there is none. One array per device, not one object per reading (nor three arrays: each costs its own
 * headers, which at 10,000 devices added up to megabytes).
 */
class Ring {
  points: Float64Array;
  head = 0; // index of the oldest
  size = 0;
  /** Every reading of this device with ts >= coveredFrom that the engine saw is here (or was aged out by maxAge). */
  coveredFrom: number;

  constructor(capacity: number, coveredFrom: number) {
    this.points = new Float64Array(capacity * 3);
    this.coveredFrom = coveredFrom;
  }

  get capacity(): number {
    return this.points.length / 3;
  }

  /** Offset in `points` of the k-th oldest reading. */
  at(k: number): number {
    return ((this.head + k) % this.capacity) * 3;
  }

  /** Drops the oldest reading: raw coverage now starts after it. */
  dropOldest(): void {
    const evicted = this.points[this.at(0)];
    if (evicted >= this.coveredFrom) this.coveredFrom = evicted + 1;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
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
 * would serve: at 100,000 such devices 154 instead of 288 MB.
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
        ring = new Ring(Math.min(INITIAL_CAPACITY, this.perDevice), this.startedAt);
        this.rings.set(r.deviceId, ring);
      }
      // By the server's clock where the device's runs ahead: the route serves from its now − maxAgeMs.
      const tooOld = Math.min(r.ts, r.arrival) - this.maxAgeMs;
      while (ring.size > 0 && ring.points[ring.at(0)] < tooOld) ring.dropOldest();
      if (ring.size === ring.capacity) {
        if (ring.capacity < this.perDevice) grow(ring, Math.min(ring.capacity * 2, this.perDevice));
        else ring.dropOldest(); // full: the oldest goes
      }
      const at = ring.at(ring.size);
      ring.points[at] = r.ts;
      ring.points[at + 1] = r.temperature;
      ring.points[at + 2] = r.humidity ?? NaN;
      ring.size++;
    }
  }

  /** Readings the devices' arrays have room for, all told (their memory: 24 bytes each). */
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
      const ts = ring.points[i];
      if (ts < lo || ts >= to) continue;
      const h = ring.points[i + 2];
      points.push({ ts, temperature: ring.points[i + 1], humidity: Number.isNaN(h) ? null : h });
    }
    points.sort((a, b) => a.ts - b.ts);
    return { coveredFrom, points };
  }
}

function grow(ring: Ring, capacity: number): void {
  const points = new Float64Array(capacity * 3);
  for (let k = 0; k < ring.size; k++) {
    const from = ring.at(k);
    for (let j = 0; j < 3; j++) points[k * 3 + j] = ring.points[from + j];
  }
  ring.points = points;
  ring.head = 0;
}
