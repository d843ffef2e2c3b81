/**
 * Slots per chunk of a pool: 1,024 (24 KB of pane slots, 152 KB of wide panes, 160 KB of key heads with three window
 * shapes, 512 KB of rings of 64 readings in 8 bytes each).
 */
const CHUNK_BITS = 10;
const CHUNK_MASK = (1 << CHUNK_BITS) - 1;

/**
 * Fixed-size slots of doubles shared by every key (device) of a job, in chunks of 1,024, with a list of the free ones:
 * a slot is a number (its chunk, then its place), so that a key holds its state without an array of its own. One typed array a key
 * cost ≈ 250 bytes of objects and allocation beyond its doubles, up to its growth step (4 panes) of free room, and each
 * growth left the old array as garbage: at 10,000 devices with three window shapes, ≈ 17 MB of the peak RSS.
 * Chunks stay once made; freed slots are taken again first.
 */
export class SlotPool {
  private readonly chunks: Float64Array[] = [];
  /** Byte, int16 and int32 views of the chunks, made by the first bytes(), int16s() or int32s() of each. */
  private readonly chunkBytes: Uint8Array[] = [];
  private readonly chunkInt16s: Int16Array[] = [];
  private readonly chunkInt32s: Int32Array[] = [];
  private readonly free: number[] = [];
  private made = 0;

  constructor(readonly width: number) {}

  /** Slots taken and not given back. */
  get size(): number {
    return this.made - this.free.length;
  }

  /** The array slot `s` is in. */
  data(s: number): Float64Array {
    return this.chunks[s >> CHUNK_BITS];
  }

  /** Where slot `s` begins in data(s). */
  offset(s: number): number {
    return (s & CHUNK_MASK) * this.width;
  }

  /** The bytes of data(s) (slot `s` begins at 8 × offset(s)): for state kept as bits. */
  bytes(s: number): Uint8Array {
    const c = s >> CHUNK_BITS;
    return (this.chunkBytes[c] ??= new Uint8Array(this.chunks[c].buffer));
  }

  /** The int16s of data(s) (slot `s` begins at 4 × offset(s)): for state kept in int16s. */
  int16s(s: number): Int16Array {
    const c = s >> CHUNK_BITS;
    return (this.chunkInt16s[c] ??= new Int16Array(this.chunks[c].buffer));
  }

  /** The int32s of data(s) (slot `s` begins at 2 × offset(s)): for state kept in int32s. */
  int32s(s: number): Int32Array {
    const c = s >> CHUNK_BITS;
    return (this.chunkInt32s[c] ??= new Int32Array(this.chunks[c].buffer));
  }

  /** A slot, its doubles as the last holder left them (the caller sets them). */
  take(): number {
    const s = this.free.pop();
    if (s !== undefined) return s;
    if (this.made >> CHUNK_BITS === this.chunks.length) this.chunks.push(new Float64Array((CHUNK_MASK + 1) * this.width));
    return this.made++;
  }

  give(s: number): void {
    this.free.push(s);
  }
}

/**
 * Fixed-size slots of numbers (int32s or doubles) kept packed: the slots in use are 0 … size − 1, and a slot given
 * back is filled with the last one, whose owner is told its new place. Unlike SlotPool's, a pool that empties gives
 * its chunks back (all but its first): RecentReadings' rings move from one capacity's pool to the next as they grow,
 * and with free lists every device's outgrown rings would keep their room in the smaller pools for good (at 100,000
 * devices, 38 MB).
 */
export class PackedPool<A extends Int32Array | Float64Array> {
  private readonly chunks: A[] = [];
  /** Who holds each slot in use (a number of the caller's). */
  private readonly owners: number[] = [];

  constructor(
    readonly width: number,
    private readonly make: (length: number) => A,
  ) {}

  /** Slots in use. */
  get size(): number {
    return this.owners.length;
  }

  data(s: number): A {
    return this.chunks[s >> CHUNK_BITS];
  }

  offset(s: number): number {
    return (s & CHUNK_MASK) * this.width;
  }

  /** A slot for `owner`, its numbers as the last holder left them. */
  take(owner: number): number {
    const s = this.owners.length;
    if (s >> CHUNK_BITS === this.chunks.length) this.chunks.push(this.make((CHUNK_MASK + 1) * this.width));
    this.owners.push(owner);
    return s;
  }

  /**
   * Gives slot `s` back. The last slot's numbers move into it: returns their owner, whose slot `s` now is (-1: `s` was
   * the last). The last chunk goes once half a chunk below it is free too, so that a size going to and fro across a
   * chunk's end does not make and drop a chunk each time.
   */
  give(s: number): number {
    const last = this.owners.length - 1;
    const owner = this.owners.pop()!;
    if (s !== last) {
      const from = this.data(last);
      const to = this.data(s);
      const f = this.offset(last);
      const t = this.offset(s);
      for (let i = 0; i < this.width; i++) to[t + i] = from[f + i];
      this.owners[s] = owner;
    }
    if (this.chunks.length > 1 && last <= (this.chunks.length - 1.5) * (CHUNK_MASK + 1)) this.chunks.pop();
    return s === last ? -1 : owner;
  }
}

/**
 * `v` × `scale` as an integer, if that gives `v` back exactly and lies within ±`max`; else NaN (also for −0, which
 * comes back as 0). How state of device values (21.37, 40.2) is kept in int16s or int32s instead of doubles.
 */
export function scaledExactly(v: number, scale: number, max: number): number {
  if (Object.is(v, -0)) return NaN;
  const n = Math.round(v * scale);
  return n >= -max && n <= max && n / scale === v ? n : NaN;
}

/** A packed reading's humidity when it has none. */
const NO_HUMIDITY = -0x8000;

/**
 * Temperature `t` and humidity `h` (null or undefined: none) in hundredths as two int16s in one int32 — temperature in
 * the high half, humidity in the low (−2^15: none) — if each has at most two decimals within ±327.67 (scaledExactly);
 * else NaN. unpackTemperature() and unpackHumidity() give them back exactly.
 */
export function packHundredths(t: number, h: number | null | undefined): number {
  const a = scaledExactly(t, 100, 0x7fff);
  const b = h === null || h === undefined ? NO_HUMIDITY : scaledExactly(h, 100, 0x7fff);
  return Number.isNaN(a) || Number.isNaN(b) ? NaN : (a << 16) | (b & 0xffff);
}

export function unpackTemperature(packed: number): number {
  return (packed >> 16) / 100;
}

/** The humidity of a packHundredths() int32; null: none. */
export function unpackHumidity(packed: number): number | null {
  const h = (packed << 16) >> 16; // the low half, its sign restored
  return h === NO_HUMIDITY ? null : h / 100;
}

/**
 * A view of state kept as named doubles in a slot of a pool (defineSlots), instead of fields: a device's detector
 * state, its dedupe seqs, its ring of raw readings. V8 keeps a double-valued field in a heap number of its own: as
 * fields, the seven detector state objects of a device held ≈ 40 of them and two typed arrays, about 4 million objects
 * at 100,000 devices for every full garbage collection to visit. A view is not a device's: its owner holds one and
 * points it (view()) at the device in hand, so a device costs its doubles and an entry in a map. The names read and
 * write as fields do.
 */
export class Slots {
  a: Float64Array = NOWHERE;
  o = 0;

  /** Points the view at the state that begins at `o` in `a`. */
  view(a: Float64Array, o: number): void {
    this.a = a;
    this.o = o;
  }
}

const NOWHERE = new Float64Array(0);

/**
 * Defines each of `names` on the class as the double at `o` + its index (the class declares them: `declare x:
 * number`, so that no field hides the accessor). Returns how many doubles they take.
 */
export function defineSlots(cls: abstract new (...args: never[]) => Slots, names: readonly string[]): number {
  names.forEach((name, i) =>
    Object.defineProperty(cls.prototype, name, {
      get(this: Slots): number {
        return this.a[this.o + i];
      },
      set(this: Slots, v: number) {
        this.a[this.o + i] = v;
      },
    }),
  );
  return names.length;
}
