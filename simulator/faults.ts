/**
 * Delivery faults, applied between the model and the transport:
 * - late: the reading keeps its ts but is released up to maxDelay later (so it also arrives out of order);
 * - duplicate: the same reading (same seq) is sent again shortly after;
 * - bad: an extra malformed message follows the reading, cycling through BAD_KINDS (the reading itself still goes).
 * Decisions come from a seeded PRNG; delays are measured on the run's schedule clock (wall ms when paced).
 */
import { createRandom, deriveSeed } from './random.ts';
import { encodeReading, wireObject, type Reading } from './reading.ts';

/** Malformed inputs the server must reject (DESIGN.md "Bad input"), in the order they are cycled. */
export const BAD_KINDS = [
  'not-json',
  'missing-temperature',
  'nan-temperature',
  'null-temperature',
  'string-temperature',
  'string-humidity',
  'future-ts',
  'oversized',
  'bad-topic',
  'wrong-device',
] as const;
export type BadKind = (typeof BAD_KINDS)[number];

/** A message ready for a transport: `reading` for valid ones, `body` (+ optional `topic`) for malformed ones. */
export interface Outgoing {
  deviceId: string;
  kind: 'reading' | 'late' | 'duplicate' | 'bad';
  reading?: Reading;
  bad?: BadKind;
  body?: string;
  /** Overrides the transport's topic (bad-topic only). */
  topic?: string;
}

export interface FaultOptions {
  seed: number;
  deviceIds: readonly string[];
  lateFraction: number;
  maxDelayMs: number;
  duplicateFraction: number;
  badFraction: number;
}

export interface FaultCounts {
  late: number;
  duplicate: number;
  bad: Record<BadKind, number>;
}

export interface FaultInjector {
  /** Passes one reading, generated at schedule time atMs (wall-clock now = wallMs), through the faults. */
  process(reading: Reading, atMs: number, wallMs: number, emit: (o: Outgoing) => void): void;
  /** Emits delayed messages due by atMs, in release order. */
  release(atMs: number, emit: (o: Outgoing) => void): void;
  releaseAll(emit: (o: Outgoing) => void): void;
  /** Messages waiting for their release time. */
  readonly delayed: number;
  readonly counts: FaultCounts;
}

const DUPLICATE_MAX_DELAY_MS = 1000;
/** Past the server's default ingest.maxPayloadBytes (256 KiB, IoT Hub's limit). */
const OVERSIZE_BYTES = 300 * 1024;

export function createFaultInjector(o: FaultOptions): FaultInjector {
  const rng = createRandom(deriveSeed(o.seed, 'faults'));
  const heap = new DelayHeap();
  const counts: FaultCounts = {
    late: 0,
    duplicate: 0,
    bad: Object.fromEntries(BAD_KINDS.map((k) => [k, 0])) as Record<BadKind, number>,
  };
  let badIndex = 0;
  const otherDevice = new Map<string, string>();
  o.deviceIds.forEach((id, i) => otherDevice.set(id, o.deviceIds[(i + 1) % o.deviceIds.length] as string));

  return {
    process(reading, atMs, wallMs, emit) {
      let releaseAt = atMs;
      if (o.lateFraction > 0 && rng.chance(o.lateFraction)) {
        counts.late++;
        releaseAt = atMs + rng.range(0.1, 1) * o.maxDelayMs;
        heap.push(releaseAt, { deviceId: reading.deviceId, kind: 'late', reading });
      } else {
        emit({ deviceId: reading.deviceId, kind: 'reading', reading });
      }
      if (o.duplicateFraction > 0 && rng.chance(o.duplicateFraction)) {
        counts.duplicate++;
        heap.push(releaseAt + rng.range(0, DUPLICATE_MAX_DELAY_MS), { deviceId: reading.deviceId, kind: 'duplicate', reading });
      }
      if (o.badFraction > 0 && rng.chance(o.badFraction)) {
        const kind = BAD_KINDS[badIndex++ % BAD_KINDS.length] as BadKind;
        counts.bad[kind]++;
        const other = otherDevice.get(reading.deviceId) ?? reading.deviceId;
        emit(badMessage(kind, reading, other === reading.deviceId ? `${other}-other` : other, wallMs));
      }
    },
    release(atMs, emit) {
      while (heap.size > 0 && heap.peekTime() <= atMs) emit(heap.pop());
    },
    releaseAll(emit) {
      while (heap.size > 0) emit(heap.pop());
    },
    get delayed() {
      return heap.size;
    },
    counts,
  };
}

/** Builds a malformed message around a valid reading (it keeps the reading's seq, and is sent after it). */
export function badMessage(kind: BadKind, r: Reading, otherDeviceId: string, wallMs: number): Outgoing {
  const base = wireObject(r);
  const msg = (body: string, topic?: string): Outgoing => ({ deviceId: r.deviceId, kind: 'bad', bad: kind, body, topic });
  switch (kind) {
    case 'not-json':
      return msg(`{"ts":"${base.ts}","temperature":${r.temperature},`);
    case 'missing-temperature':
      return msg(JSON.stringify({ ts: base.ts, humidity: base.humidity, seq: base.seq }));
    case 'nan-temperature':
      return msg(JSON.stringify({ ...base, temperature: 'NaN' }));
    case 'null-temperature':
      return msg(JSON.stringify({ ...base, temperature: null }));
    case 'string-temperature':
      return msg(JSON.stringify({ ...base, temperature: String(r.temperature) }));
    case 'string-humidity':
      return msg(JSON.stringify({ ...base, humidity: String(r.humidity) }));
    case 'future-ts':
      return msg(JSON.stringify({ ...base, ts: new Date(Math.max(r.ts, wallMs) + 3_600_000).toISOString() }));
    case 'oversized':
      return msg(JSON.stringify({ ...base, note: 'x'.repeat(OVERSIZE_BYTES) }));
    case 'bad-topic':
      return msg(encodeReading(r), `thermostats/${r.deviceId}/telemetry`);
    case 'wrong-device':
      return msg(JSON.stringify({ deviceId: otherDeviceId, ...base }));
  }
}

/** Binary min-heap on (time, insertion order), so equal release times keep their order. */
class DelayHeap {
  private times: number[] = [];
  private orders: number[] = [];
  private items: Outgoing[] = [];
  private counter = 0;

  get size(): number {
    return this.items.length;
  }

  peekTime(): number {
    return this.times[0] as number;
  }

  push(time: number, item: Outgoing): void {
    this.times.push(time);
    this.orders.push(this.counter++);
    this.items.push(item);
    let i = this.items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): Outgoing {
    const top = this.items[0] as Outgoing;
    const last = this.items.length - 1;
    this.swap(0, last);
    this.times.pop();
    this.orders.pop();
    this.items.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.items.length && this.less(l, m)) m = l;
      if (r < this.items.length && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    const ta = this.times[a] as number;
    const tb = this.times[b] as number;
    return ta < tb || (ta === tb && (this.orders[a] as number) < (this.orders[b] as number));
  }

  private swap(a: number, b: number): void {
    [this.times[a], this.times[b]] = [this.times[b] as number, this.times[a] as number];
    [this.orders[a], this.orders[b]] = [this.orders[b] as number, this.orders[a] as number];
    [this.items[a], this.items[b]] = [this.items[b] as Outgoing, this.items[a] as Outgoing];
  }
}
