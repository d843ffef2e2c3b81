/** Slots per chunk of a pool: 1,024 (160 KB of pane slots, 32 KB of key heads). */
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
  /** Byte views of the chunks, made by the first bytes() of each. */
  private readonly chunkBytes: Uint8Array[] = [];
  private readonly free: number[] = [];
  private made = 0;

  constructor(readonly width: number) {}

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
