import type { Reading } from '../ingest/index.ts';
import { defineSlots, PackedPool, SlotPool, Slots } from './slot-pool.ts';

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
 * Where the rings live: each device's numbers in a head slot, and its readings in a slot of the pool of its capacity
 * class and kind (int32s or doubles), packed (PackedPool: a ring that grows moves to the next class, and its old room
 * goes to the ring that was last in that pool). A ring costs its slots and a map entry, not an object, a typed array
 * and its buffer (≈ 250 bytes a device beyond its readings).
 */
class RingPools {
  readonly heads = new SlotPool(HEAD_WIDTH);
  private readonly narrow: PackedPool<Int32Array>[] = [];
  private readonly wide: PackedPool<Float64Array>[] = [];

  /** The capacities of the classes: 16 (or perDevice, if less), doubled up to perDevice. */
  constructor(readonly capacities: readonly number[]) {}

  /** The pool of class `c`, made when first needed. */
  of(c: number, wide: boolean): PackedPool<Int32Array> | PackedPool<Float64Array> {
    const width = this.capacities[c] * 3;
    return wide ? (this.wide[c] ??= new PackedPool(width, (n) => new Float64Array(n))) : (this.narrow[c] ??= new PackedPool(width, (n) => new Int32Array(n)));
  }

  /** Readings the rings have room for, all told, and what that room takes. */
  room(): { capacity: number; bytes: number } {
    let capacity = 0;
    let bytes = 0;
    this.capacities.forEach((n, c) => {
      const narrow = this.narrow[c]?.size ?? 0;
      const wide = this.wide[c]?.size ?? 0;
      capacity += n * (narrow + wide);
      bytes += n * (narrow * 12 + wide * 24);
    });
    return { capacity, bytes };
  }
}

/**
 * One device's raw readings, oldest first by arrival, as triples in a slot of numbers (not one object per reading, nor
 * three arrays: each costs its own headers, which at 10,000 devices added up to megabytes). While every reading has
 * an integer ts within 2^31 ms of the ring's `base` and values with at most three decimals, a triple is three int32s
 * (ts − base, temperature and humidity in thousandths, humidity −2^31 when there is none): 12 bytes. The first reading
 * that does not fit makes the ring wide for good, three doubles (humidity NaN when there is none): 24 bytes. Either way
 * a reading comes back exactly as it came.
 *
 * A Ring is a view: RecentReadings holds one and points it at the device in hand (point()).
 */
class Ring extends Slots {
  /** The epoch ms a compact ts counts from. */
  declare base: number;
  /** Every reading of this device with ts >= coveredFrom that the engine saw is here (or was aged out by maxAge). */
  declare coveredFrom: number;
  /** Index of the oldest. */
  declare head: number;
  declare size: number;
  /** The device's head slot. */
  private slot = -1;
  /** Of the head, as point() found it: the class, the kind, the readings' array and where the ring begins in it. */
  private cls = 0;
  capacity = 0;
  wide = false;
  private points: Int32Array | Float64Array = new Int32Array(0);
  private from = 0;

  constructor(private readonly pools: RingPools) {
    super();
  }

  /** Points the view at the ring whose head is slot `head`. */
  point(head: number): this {
    this.slot = head;
    this.view(this.pools.heads.data(head), this.pools.heads.offset(head));
    this.cls = this.a[this.o + CLASS];
    this.capacity = this.pools.capacities[this.cls];
    this.wide = this.a[this.o + WIDE] === 1;
    const pool = this.pools.of(this.cls, this.wide);
    const s = this.a[this.o + SLOT];
    this.points = pool.data(s);
    this.from = pool.offset(s);
    return this;
  }

  /** Makes `head` a new device's ring, empty, of the smallest class, and points the view at it. */
  init(head: number, coveredFrom: number, base: number): this {
    this.view(this.pools.heads.data(head), this.pools.heads.offset(head));
    this.base = base;
    this.coveredFrom = coveredFrom;
    this.head = this.size = this.a[this.o + CLASS] = this.a[this.o + WIDE] = 0;
    this.a[this.o + SLOT] = this.pools.of(0, false).take(head);
    return this.point(head);
  }

  /** Offset in the readings' array of the k-th oldest reading. */
  at(k: number): number {
    return this.from + ((this.head + k) % this.capacity) * 3;
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
    if (!this.wide && !this.putCompact(this.at(this.size), r)) this.move(this.cls, true);
    if (this.wide) {
      const p = this.points, at = this.at(this.size);
      p[at] = r.ts;
      p[at + 1] = r.temperature;
      p[at + 2] = r.humidity ?? NaN;
    }
    this.size++;
  }

  /** The same readings in a ring of the next class (twice the capacity, at most perDevice). */
  grow(): void {
    this.move(this.cls + 1);
  }

  /**
   * The same readings, oldest first, in a slot of class `c` (`wide`: of doubles). The old slot goes back to its pool,
   * and the ring that moves into it is told.
   */
  move(c: number, wide = this.wide): void {
    const pool = this.pools.of(c, wide);
    const s = pool.take(this.slot);
    const points = pool.data(s);
    const to = pool.offset(s);
    for (let k = 0; k < this.size; k++) {
      const from = this.at(k);
      const at = to + k * 3;
      if (wide === this.wide) for (let j = 0; j < 3; j++) points[at + j] = this.points[from + j];
      else {
        points[at] = this.ts(from);
        points[at + 1] = this.temperature(from);
        points[at + 2] = this.humidity(from) ?? NaN;
      }
    }
    const old = this.a[this.o + SLOT];
    const moved = this.pools.of(this.cls, this.wide).give(old);
    if (moved >= 0) this.pools.heads.data(moved)[this.pools.heads.offset(moved) + SLOT] = old;
    this.a[this.o + CLASS] = c;
    this.a[this.o + WIDE] = wide ? 1 : 0;
    this.a[this.o + SLOT] = s;
    this.head = 0;
    this.point(this.slot);
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

/**
 * A ring's numbers in its device's head slot (RingPools.heads): base, coveredFrom, head and size, then its capacity
 * class (RingPools.capacities), whether it holds doubles (1) or int32s (0), and its slot in that class's pool.
 */
const CLASS = defineSlots(Ring, ['base', 'coveredFrom', 'head', 'size']);
const WIDE = CLASS + 1;
const SLOT = CLASS + 2;
const HEAD_WIDTH = CLASS + 3;

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
 * the 61 readings of 10 minutes (in a ring of 64), not `perDevice` (120) of 20 minutes, none of which the route
 * would serve: at 100,000 such devices 77 MB (12 bytes a reading), not 288 (120 of 24).
 */
export class RecentReadings {
  /** Each device's ring: its head slot, seen through `ring`. */
  private readonly heads = new Map<string, number>();
  private readonly pools: RingPools;
  private readonly ring: Ring;

  constructor(
    private readonly perDevice: number,
    private readonly maxAgeMs: number,
    /** Readings with a ts before this may have been processed by an earlier run: not complete here. */
    private readonly startedAt: number,
  ) {
    const capacities = perDevice > 0 ? [Math.min(INITIAL_CAPACITY, perDevice)] : [];
    while (capacities.length > 0 && capacities[capacities.length - 1] < perDevice) capacities.push(Math.min(capacities[capacities.length - 1] * 2, perDevice));
    this.pools = new RingPools(capacities);
    this.ring = new Ring(this.pools);
  }

  add(readings: readonly Reading[]): void {
    if (this.perDevice === 0) return;
    for (const r of readings) {
      const head = this.heads.get(r.deviceId);
      let ring: Ring;
      if (head !== undefined) ring = this.ring.point(head);
      else {
        const slot = this.pools.heads.take();
        this.heads.set(r.deviceId, slot);
        ring = this.ring.init(slot, this.startedAt, Math.floor(r.ts));
      }
      // By the server's clock where the device's runs ahead: the route serves from its now − maxAgeMs.
      const tooOld = Math.min(r.ts, r.arrival) - this.maxAgeMs;
      while (ring.size > 0 && ring.ts(ring.at(0)) < tooOld) ring.dropOldest();
      if (ring.size === ring.capacity) {
        if (ring.capacity < this.perDevice) ring.grow();
        else ring.dropOldest(); // full: the oldest goes
      }
      ring.push(r);
    }
  }

  /** What the devices' rings take, all told. */
  get bytes(): number {
    return this.pools.room().bytes;
  }

  /** Readings the devices' rings have room for, all told (12 bytes each, 24 in a wide ring). */
  get capacity(): number {
    return this.pools.room().capacity;
  }

  query(deviceId: string, from: number, to: number, now: number): RecentQuery {
    const head = this.heads.get(deviceId);
    const ring = head === undefined ? undefined : this.ring.point(head);
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
