import { readFileSync } from 'node:fs';
import { BLOCK_HEADER, type RawCut } from './log-format.ts';

/** A segment to replay: its file and the offset of its first record. */
export interface ReplaySegment {
  path: string;
  firstOffset: number;
  /** Bytes to read: the length checked at start-up (the last segment grows with new records after that). */
  bytes: number;
}

/**
 * Recovery's cursor over the durable records after the checkpoint, taken in bounded chunks: a backlog of millions
 * of readings is replayed one chunk per batch, holding one segment's bytes and one chunk of decoded readings at a
 * time, never the whole backlog. The segments were checked (CRC) when the log was opened.
 */
export class LogReplay {
  private segment = -1;
  private bytes: Buffer | null = null;
  private pos = 0;
  private offset = 0; // offset of the block at pos

  constructor(
    private readonly segments: readonly ReplaySegment[],
    /** Records at or below this offset (the checkpoint's) are skipped. */
    private readonly after: number,
    /** Records still to replay. */
    public remaining: number,
  ) {}

  /**
   * Takes whole blocks until at least `max` records after the checkpoint are in the cut or nothing is left; a cut
   * with lastOffset = `this.after` holds nothing. The blocks are copied out of the segment's bytes, so that those can
   * go before the next segment is read.
   */
  take(max: number): RawCut {
    const blocks: Buffer[] = [];
    let firstOffset = -1;
    let last = this.after;
    let added = 0;
    while (added < max && this.remaining > 0) {
      if (this.bytes === null || this.pos >= this.bytes.length) {
        if (++this.segment >= this.segments.length) {
          this.remaining = 0;
          break;
        }
        const s = this.segments[this.segment];
        this.bytes = readFileSync(s.path).subarray(0, s.bytes);
        this.pos = 0;
        this.offset = this.segments[this.segment].firstOffset;
        continue;
      }
      const b = this.bytes;
      const count = b.readUInt32LE(this.pos + 8);
      const end = this.pos + BLOCK_HEADER + b.readUInt32LE(this.pos + 4);
      const blockLast = this.offset + count - 1;
      if (blockLast > this.after) {
        const skip = Math.max(0, this.after - this.offset + 1);
        if (firstOffset < 0) firstOffset = this.offset;
        blocks.push(b.subarray(this.pos, end));
        added += count - skip;
        this.remaining -= count - skip;
        last = blockLast;
      }
      this.offset += count;
      this.pos = end;
      if (this.pos >= b.length) this.bytes = null; // let the segment's bytes go before the next is read
    }
    return { buffers: [Buffer.concat(blocks)], firstOffset: firstOffset < 0 ? last + 1 : firstOffset, after: this.after, lastOffset: last };
  }
}
