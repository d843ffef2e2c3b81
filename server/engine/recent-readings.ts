import type { Reading } from '../ingest/index.ts';
import { defineSlots, PackedPool, packHundredths, scaledExactly, SlotPool, Slots, unpackHumidity, unpackTemperature } from './slot-pool.ts';

/** The largest int32: ts − base is kept as an int32 in every kind but doubles. */
const INT_MAX = 0x7fffffff;

/**
 * The kinds of ring, smallest first: what a reading takes (numbers and bytes), and the scale of its values and the
 * largest one kept (its negation is the smallest; one below marks a missing humidity). Doubles keep values as they are.
 */
const KINDS = [
  { stride: 2, bytes: 8, scale: 100, max: 0x7fff, make: (n: number) => new Int32Array(n) }, // hundredths, in int16s
  { stride: 3, bytes: 12, scale: 1000, max: INT_MAX, make: (n: number) => new Int32Array(n) }, // thousandths
  { stride: 3, bytes: 24, scale: 1, max: Infinity, make: (n: number) => new Float64Array(n) }, // doubles
] as const;
const HUNDREDTHS = 0;
const DOUBLES = 2;

/** Writes a reading at `at` of `p`, a ring of kind `kind` counting ts from `base`, if it fits that kind. */
function write(p: Int32Array | Float64Array, at: number, kind: number, base: number, ts: number, temperature: number, humidity: number | null): boolean {
  if (kind === DOUBLES) {
    p[at] = ts;
    p[at + 1] = temperature;
    p[at + 2] = humidity ?? NaN;
    return true;
  }
  if (!Number.isInteger(ts) || Math.abs(ts - base) > INT_MAX) return false;
  if (kind === HUNDREDTHS) {
    const packed = packHundredths(temperature, humidity);
    if (Number.isNaN(packed)) return false;
    p[at + 1] = packed;
  } else {
    const { scale, max } = KINDS[kind];
    const t = scaledExactly(temperature, scale, max);
    const h = humidity === null ? -max - 1 : scaledExactly(humidity, scale, max);
    if (Number.isNaN(t) || Number.isNaN(h)) return false;
    p[at + 1] = t;
    p[at + 2] = h;
  }
  p[at] = ts - base;
  return true;
}

/**
 * Where the rings live: each device's numbers in a head slot, and its readings in a slot of the pool of its kind and
 * capacity class, packed (PackedPool: a ring that grows moves to the next class, and its old room goes to the ring
 * that was last in that pool). A ring costs its slots and a map entry, not an object, a typed array and its buffer
 * (≈ 250 bytes a device beyond its readings).
 */
class RingPools {
  readonly heads = new SlotPool(HEAD_WIDTH);
  /** By kind, then capacity class. */
  private readonly pools: PackedPool<Int32Array | Float64Array>[][] = KINDS.map(() => []);

  /** The capacities of the classes: 16 (or perDevice, if less), doubled up to perDevice. */
  constructor(readonly capacities: readonly number[]) {}

  /** The pool of class `c` and kind `kind`, made when first needed. */
  of(c: number, kind: number): PackedPool<Int32Array | Float64Array> {
    return (this.pools[kind][c] ??= new PackedPool<Int32Array | Float64Array>(this.capacities[c] * KINDS[kind].stride, KINDS[kind].make));
  }

  /** Readings the rings have room for, all told, and what that room takes. */
  room(): { capacity: number; bytes: number } {
    let capacity = 0;
    let bytes = 0;
    this.capacities.forEach((n, c) =>
      KINDS.forEach((kind, k) => {
        const rings = this.pools[k][c]?.size ?? 0;
        capacity += n * rings;
        bytes += n * rings * kind.bytes;
      }),
    );
    return { capacity, bytes };
  }
}

/**
 * One device's raw readings, oldest first by arrival, in a slot of numbers (not one object per reading, nor three
 * arrays: each costs its own headers, which at 10,000 devices added up to megabytes), in the smallest kind (KINDS) that
 * gives every one back exactly as it came. While every reading has an integer ts within 2^31 ms of the ring's `base`,
 * a reading is ts − base and its values as integers: with at most two decimals and within ±327.67, temperature and
 * humidity in hundredths as int16s packed in one int32 (temperature in the high half, humidity −2^15 when there is
 * none): 8 bytes; with at most three, three int32s (humidity in thousandths −2^31 when there is none): 12 bytes. Else
 * three doubles (humidity NaN when there is none): 24 bytes. The first reading that does not fit moves the ring to
 * the smallest kind that holds it, for good.
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
  private kind = HUNDREDTHS;
  private stride = 2;
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
    this.kind = this.a[this.o + KIND];
    this.stride = KINDS[this.kind].stride;
    const pool = this.pools.of(this.cls, this.kind);
    const s = this.a[this.o + SLOT];
    this.points = pool.data(s);
    this.from = pool.offset(s);
    return this;
  }

  /** Makes `head` a new device's ring, empty, of the smallest class and kind, and points the view at it. */
  init(head: number, coveredFrom: number, base: number): this {
    this.view(this.pools.heads.data(head), this.pools.heads.offset(head));
    this.base = base;
    this.coveredFrom = coveredFrom;
    this.head = this.size = this.a[this.o + CLASS] = this.a[this.o + KIND] = 0;
    this.a[this.o + SLOT] = this.pools.of(0, HUNDREDTHS).take(head);
    return this.point(head);
  }

  /** Offset in the readings' array of the k-th oldest reading. */
  at(k: number): number {
    return this.from + ((this.head + k) % this.capacity) * this.stride;
  }

  ts(i: number): number {
    return this.kind === DOUBLES ? this.points[i] : this.base + this.points[i];
  }

  temperature(i: number): number {
    const t = this.points[i + 1];
    if (this.kind === DOUBLES) return t;
    return this.kind === HUNDREDTHS ? unpackTemperature(t) : t / KINDS[this.kind].scale;
  }

  humidity(i: number): number | null {
    if (this.kind === DOUBLES) return Number.isNaN(this.points[i + 2]) ? null : this.points[i + 2];
    if (this.kind === HUNDREDTHS) return unpackHumidity(this.points[i + 1]);
    const h = this.points[i + 2];
    const { scale, max } = KINDS[this.kind];
    return h === -max - 1 ? null : h / scale;
  }

  /** Drops the oldest reading: raw coverage now starts after it. */
  dropOldest(): void {
    const evicted = this.ts(this.at(0));
    if (evicted >= this.coveredFrom) this.coveredFrom = evicted + 1;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
  }

  /** Appends `r` (there is room), moving the ring to a larger kind until one holds it. */
  push(r: Reading): void {
    // A ts more than 2^31 ms from base may fit from a new one.
    if (this.kind !== DOUBLES && Number.isInteger(r.ts) && Math.abs(r.ts - this.base) > INT_MAX) this.rebase(r.ts);
    while (!write(this.points, this.at(this.size), this.kind, this.base, r.ts, r.temperature, r.humidity ?? null)) this.move(this.cls, this.kind + 1);
    this.size++;
  }

  /** The same readings in a ring of the next class (twice the capacity, at most perDevice). */
  grow(): void {
    this.move(this.cls + 1);
  }

  /**
   * The same readings, oldest first, in a slot of class `c` and kind `kind` (the same or larger, which holds whatever
   * the smaller did). The old slot goes back to its pool, and the ring that moves into it is told.
   */
  move(c: number, kind = this.kind): void {
    const pool = this.pools.of(c, kind);
    const s = pool.take(this.slot);
    const points = pool.data(s);
    const to = pool.offset(s);
    const stride = KINDS[kind].stride;
    for (let k = 0; k < this.size; k++) {
      const from = this.at(k);
      const at = to + k * stride;
      if (kind === this.kind) for (let j = 0; j < stride; j++) points[at + j] = this.points[from + j];
      else write(points, at, kind, this.base, this.ts(from), this.temperature(from), this.humidity(from));
    }
    const old = this.a[this.o + SLOT];
    const moved = this.pools.of(this.cls, this.kind).give(old);
    if (moved >= 0) this.pools.heads.data(moved)[this.pools.heads.offset(moved) + SLOT] = old;
    this.a[this.o + CLASS] = c;
    this.a[this.o + KIND] = kind;
    this.a[this.o + SLOT] = s;
    this.head = 0;
    this.point(this.slot);
  }

  /**
   * Counts compact ts from `base` if every reading held is within 2^31 ms of it (once in 24 days of a device's time);
   * else the ts that needed it moves the ring to doubles.
   */
  private rebase(base: number): void {
    for (let k = 0; k < this.size; k++) if (Math.abs(this.ts(this.at(k)) - base) > INT_MAX) return;
    for (let k = 0; k < this.size; k++) this.points[this.at(k)] += this.base - base;
    this.base = base;
  }
}

/**
 * A ring's numbers in its device's head slot (RingPools.heads): base, coveredFrom, head and size, then its capacity
 * class (RingPools.capacities), its kind (KINDS) and its slot in the pool of that class and kind.
 */
const CLASS = defineSlots(Ring, ['base', 'coveredFrom', 'head', 'size']);
const KIND = CLASS + 1;
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
 * would serve: at 100,000 such devices 51 MB (8 bytes a reading while they have at most two decimals), not 288 (120 of 24).
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

  /** Readings the devices' rings have room for, all told (8, 12 or 24 bytes each by the ring's kind). */
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
