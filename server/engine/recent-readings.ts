import type { Reading } from '../ingest/index.ts';

/** One device's raw readings, oldest first by arrival, as parallel arrays (no object per reading kept). */
class Ring {
  ts: Float64Array;
  temperature: Float64Array;
  humidity: Float64Array; // NaN: none
  head = 0; // index of the oldest
  size = 0;
  /** Every reading of this device with ts >= coveredFrom that the engine saw is here (or was aged out by maxAge). */
  coveredFrom: number;

  constructor(capacity: number, coveredFrom: number) {
    this.ts = new Float64Array(capacity);
    this.temperature = new Float64Array(capacity);
    this.humidity = new Float64Array(capacity);
    this.coveredFrom = coveredFrom;
  }

  get capacity(): number {
    return this.ts.length;
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
 * readings start again from the engine's start (older times are served as window aggregates).
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
      if (ring.size === ring.capacity) {
        if (ring.capacity < this.perDevice) grow(ring, Math.min(ring.capacity * 2, this.perDevice));
        else {
          // Full: the oldest goes, and raw coverage now starts after it.
          const evicted = ring.ts[ring.head];
          if (evicted >= ring.coveredFrom) ring.coveredFrom = evicted + 1;
          ring.head = (ring.head + 1) % ring.capacity;
          ring.size--;
        }
      }
      const at = (ring.head + ring.size) % ring.capacity;
      ring.ts[at] = r.ts;
      ring.temperature[at] = r.temperature;
      ring.humidity[at] = r.humidity ?? NaN;
      ring.size++;
    }
  }

  query(deviceId: string, from: number, to: number, now: number): RecentQuery {
    const ring = this.rings.get(deviceId);
    const coveredFrom = Math.max(ring?.coveredFrom ?? this.startedAt, now - this.maxAgeMs);
    if (ring === undefined || this.perDevice === 0) return { coveredFrom: this.perDevice === 0 ? Infinity : coveredFrom, points: [] };
    const lo = Math.max(from, coveredFrom);
    const points: RawPoint[] = [];
    for (let k = 0; k < ring.size; k++) {
      const i = (ring.head + k) % ring.capacity;
      const ts = ring.ts[i];
      if (ts < lo || ts >= to) continue;
      const h = ring.humidity[i];
      points.push({ ts, temperature: ring.temperature[i], humidity: Number.isNaN(h) ? null : h });
    }
    points.sort((a, b) => a.ts - b.ts);
    return { coveredFrom, points };
  }
}

function grow(ring: Ring, capacity: number): void {
  const old = ring.capacity;
  const copy = (src: Float64Array): Float64Array => {
    const dst = new Float64Array(capacity);
    for (let k = 0; k < ring.size; k++) dst[k] = src[(ring.head + k) % old];
    return dst;
  };
  ring.ts = copy(ring.ts);
  ring.temperature = copy(ring.temperature);
  ring.humidity = copy(ring.humidity);
  ring.head = 0;
}
