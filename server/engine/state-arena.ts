/** Bytes per chunk (a checkpoint of 10,000 devices fills a few dozen). */
const CHUNK_BYTES = 256 * 1024;

/**
 * Where a batch's checkpoint rows copy their state (panes, detector and dedupe state): views into large chunks
 * instead of one ArrayBuffer per row, which at 10,000 devices meant tens of thousands of backing stores allocated and
 * freed per batch. A chunk is never written again once the next one is started, so a view stays valid for as long
 * as its row is referenced, and the chunk goes with the last of them.
 */
export class StateArena {
  private chunk = new ArrayBuffer(0);
  private doubles = new Float64Array(this.chunk);
  private bytes = new Uint8Array(this.chunk);
  /** Bytes used in the chunk, always a multiple of 8 (doubles stay aligned). */
  private used = 0;

  /** A copy of `n` doubles of `src` from `from`, followed by those of `more` if given. */
  copyDoubles(src: ArrayLike<number>, from: number, n: number, more: ArrayLike<number> | null = null): Buffer {
    const m = more === null ? 0 : more.length;
    const at = this.take((n + m) * 8);
    const d = this.doubles;
    const o = at / 8;
    for (let i = 0; i < n; i++) d[o + i] = src[from + i];
    for (let i = 0; i < m; i++) d[o + n + i] = more![i];
    return Buffer.from(this.chunk, at, (n + m) * 8);
  }

  /** A copy of `src`. */
  copyBytes(src: Uint8Array): Buffer {
    const at = this.take(src.length);
    this.bytes.set(src, at);
    return Buffer.from(this.chunk, at, src.length);
  }

  /** Offset of `size` free bytes in the chunk (a new chunk when they do not fit). */
  private take(size: number): number {
    if (this.used + size > this.chunk.byteLength) {
      this.chunk = new ArrayBuffer(Math.max(CHUNK_BYTES, size));
      this.doubles = new Float64Array(this.chunk, 0, this.chunk.byteLength >> 3);
      this.bytes = new Uint8Array(this.chunk);
      this.used = 0;
    }
    const at = this.used;
    this.used += (size + 7) & ~7;
    return at;
  }
}
