/**
 * A read-only follower of the durable ingest log, for jobs (`ctx.telemetryStream()`): it reads the segment files
 * that the server writes (format in log-format.ts) and hands over the readings with offsets above a starting one.
 * It never writes, locks or deletes anything, so the server's own reader, group commit and retention go on as if
 * it were not there.
 *
 * - Only whole blocks are read: a block whose bytes are not all there yet, or whose CRC does not match (a write in
 *   progress), is read again at the next poll.
 * - The segment being read stays open: if retention deletes it meanwhile, the open file is still readable (POSIX
 *   unlink semantics), so the one segment in use is never lost; its disk space is freed when the tail moves on.
 * - A segment is done once a newer one exists and no whole block is left in it (the server creates the next
 *   segment only after its last block is written).
 * - Falling behind retention: if the next segment is already gone, the records in between are skipped and `report`
 *   says which offsets were lost; the tail continues with the oldest segment still there.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { BLOCK_HEADER, BLOCK_MAGIC, checkSegment, decodeBlock, type Records } from './log-format.ts';
import { SEGMENT, segmentName } from './log-check.ts';
import type { Reading } from './reading.ts';

export class LogTail {
  private fd: number | undefined;
  private segmentFirst = 0;
  /** Byte position of the next block in the open segment, and the offset of its first record. */
  private pos = 0;
  private nextOffset: number;
  /** Readings and dead letters are decoded together; dead letters are dropped here. */
  private readonly scratch: Records = { readings: [], deadLetters: [] };

  /**
   * @param dir      the log directory (data/log)
   * @param after    readings with an offset above this one are handed over
   * @param report   diagnostics (records lost to retention)
   */
  constructor(
    private readonly dir: string,
    after: number,
    private readonly report: (message: string) => void,
  ) {
    this.nextOffset = after + 1;
  }

  /** The offset of the last whole record in `dir` now (0 for an empty or missing log). */
  static endOffset(dir: string): number {
    const segments = listSegments(dir);
    const last = segments[segments.length - 1];
    if (last === undefined) return 0;
    const fd = openSync(join(dir, segmentName(last)), 'r');
    try {
      const bytes = Buffer.alloc(fstatSync(fd).size);
      readSync(fd, bytes, 0, bytes.length, 0);
      return last + checkSegment(bytes).records - 1;
    } finally {
      closeSync(fd);
    }
  }

  /** Offset of the next record to read. */
  get position(): number {
    return this.nextOffset;
  }

  /**
   * Appends to `into` the readings written since the last poll (offset above `after`), reading at most about
   * `maxBytes` of log (the rest comes at the next poll), and no block after the one that holds offset `until`.
   * Returns the number of readings appended.
   */
  poll(into: Reading[], maxBytes = 16 * 1024 * 1024, until = Infinity): number {
    const before = into.length;
    let budget = maxBytes;
    for (;;) {
      if (this.nextOffset > until) break;
      if (this.fd === undefined && !this.openNext()) break;
      // The listing comes before the reads: a segment seen here was created after our segment's last write.
      const newer = listSegments(this.dir).some((first) => first > this.segmentFirst);
      const read = this.readBlocks(into, budget, until);
      budget -= read;
      if (budget <= 0 || !newer) break;
      if (read > 0) continue; // read the closed segment to its end before moving on
      closeSync(this.fd!);
      this.fd = undefined;
    }
    return into.length - before;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /**
   * Opens the next segment to read: at first the one that holds `nextOffset`, afterwards the one after the segment
   * just finished. A gap before it (deleted by retention) is reported and skipped.
   */
  private openNext(): boolean {
    const segments = listSegments(this.dir);
    let first: number | undefined;
    if (this.segmentFirst === 0) {
      for (const s of segments) if (s <= this.nextOffset) first = s;
      first ??= segments[0];
    } else {
      first = segments.find((s) => s > this.segmentFirst);
    }
    if (first === undefined) return false;
    try {
      this.fd = openSync(join(this.dir, segmentName(first)), 'r');
    } catch {
      return false; // deleted since the listing: the next poll lists again
    }
    this.segmentFirst = first;
    this.blockFirst = first;
    this.pos = 0;
    if (first > this.nextOffset) {
      this.report(
        `telemetryStream fell behind the ingest log's retention: records ${this.nextOffset}…${first - 1} were deleted ` +
          `before this job read them; continuing at ${first} (ingest.retainMs keeps segments longer)`,
      );
      this.nextOffset = first;
    }
    return true;
  }

  /** Offset of the first record of the block at `pos` in the open segment. */
  private blockFirst = 0;

  /** Reads the whole blocks available in the open segment, up to `budget` bytes and offset `until`; returns the bytes read. */
  private readBlocks(into: Reading[], budget: number, until: number): number {
    const fd = this.fd!;
    const size = fstatSync(fd).size;
    const header = Buffer.allocUnsafe(BLOCK_HEADER);
    let read = 0;
    while (read < budget && this.blockFirst <= until && this.pos + BLOCK_HEADER <= size) {
      readSync(fd, header, 0, BLOCK_HEADER, this.pos);
      if (header.readUInt32LE(0) !== BLOCK_MAGIC) break;
      const len = header.readUInt32LE(4);
      const count = header.readUInt32LE(8);
      if (this.pos + BLOCK_HEADER + len > size) break;
      const payload = Buffer.allocUnsafe(len);
      readSync(fd, payload, 0, len, this.pos + BLOCK_HEADER);
      if (crc32(payload) !== header.readUInt32LE(12)) break;
      const last = this.blockFirst + count - 1;
      if (last >= this.nextOffset) {
        decodeBlock(payload, this.blockFirst, this.nextOffset - 1, this.scratch);
        for (const r of this.scratch.readings) into.push(r);
        this.scratch.readings.length = 0;
        this.scratch.deadLetters.length = 0;
        this.nextOffset = last + 1;
      }
      this.blockFirst = last + 1;
      this.pos += BLOCK_HEADER + len;
      read += BLOCK_HEADER + len;
    }
    return read;
  }
}

function listSegments(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const firsts: number[] = [];
  for (const name of names) {
    const m = SEGMENT.exec(name);
    if (m) firsts.push(Number(m[1]));
  }
  return firsts.sort((a, b) => a - b);
}
