import { closeSync, fdatasync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, write } from 'node:fs';
import { join } from 'node:path';
import { BLOCK_HEADER, BlockWriter, decodeBlock, scanSegment, type DeadLetter, type Records } from './log-format.ts';
import { ThermostreamError } from '../errors.ts';
import type { Reading } from './reading.ts';

export interface IngestLogOptions {
  dir: string;
  /** A segment is closed and a new one started once it passes this size. */
  segmentBytes: number;
  /** How long a segment is kept after it was closed, even once a checkpoint covers it: raw readings stay replayable. */
  retainMs: number;
  /** Durable records not yet taken by the engine beyond which acknowledgements are held (backpressure). */
  maxBacklog: number;
  /** fdatasync every group commit (false: written to the OS only, which survives a process crash, not a power cut). */
  fsync: boolean;
  /** A write or fsync failed: durability is gone, the server must stop. */
  onFatal: (err: Error) => void;
}

/** A segment file is named by the offset of its first record (shared with log-tail.ts, the jobs' reader). */
export const SEGMENT = /^(\d{20})\.seg$/;
export const segmentName = (firstOffset: number): string => `${String(firstOffset).padStart(20, '0')}.seg`;

/** A durable block not taken by the engine yet: its bytes and the offset of its first record. */
interface DurableBlock {
  block: Buffer;
  firstOffset: number;
}

/**
 * The durable ingest log. Every accepted record gets the next offset (from 1) and is encoded into the open group;
 * a group is written and fdatasync'ed as one block — one group commit — as soon as the previous one is done, so
 * many records share one fsync. Acknowledgements wait for the group that holds everything appended before them.
 * Records become visible to take() only once durable, so a batch never contains input that a crash could lose.
 * Between append and take a record exists only as bytes in its block: no object per reading lives that long.
 */
export class IngestLog {
  private readonly opts: IngestLogOptions;
  private readonly segments: number[] = []; // first offsets, ascending; the last one is open for writing
  private fd: number;
  private segmentSize: number;
  private nextOffset: number;

  // The open group: records appended since the last flush started.
  private readonly writer = new BlockWriter();
  private groupAcks: (() => void)[] = [];
  private flushing = false;
  private flushScheduled = false;
  private closed = false;
  private failed: Error | null = null;

  // Durable, not yet taken by the engine.
  private durable: DurableBlock[] = [];
  private replayed: Records = { readings: [], deadLetters: [] };
  private durableCount = 0;
  private lastDurableOffset: number;
  private held: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  private constructor(opts: IngestLogOptions) {
    this.opts = opts;
    mkdirSync(opts.dir, { recursive: true });
    for (const name of readdirSync(opts.dir)) {
      const m = SEGMENT.exec(name);
      if (m) this.segments.push(Number(m[1]));
    }
    this.segments.sort((a, b) => a - b);
    if (this.segments.length === 0) {
      this.segments.push(1);
      this.fd = openSync(join(opts.dir, segmentName(1)), 'a');
      fsyncDir(opts.dir);
      this.segmentSize = 0;
      this.nextOffset = 1;
    } else {
      // Only the last segment can have a torn tail: cut it off, then append after it.
      const first = this.segments[this.segments.length - 1];
      const path = join(opts.dir, segmentName(first));
      const bytes = readFileSync(path);
      const { records, validBytes } = scanSegment(bytes, first, Infinity, null);
      this.fd = openSync(path, 'r+');
      if (validBytes < bytes.length) {
        ftruncateSync(this.fd, validBytes);
        fsyncSync(this.fd);
      }
      closeSync(this.fd);
      this.fd = openSync(path, 'a');
      this.segmentSize = validBytes;
      this.nextOffset = first + records;
    }
    this.lastDurableOffset = this.nextOffset - 1;
  }

  static open(opts: IngestLogOptions): IngestLog {
    return new IngestLog(opts);
  }

  /** Offset of the last record written (durable or about to be). */
  get endOffset(): number {
    return this.nextOffset - 1;
  }

  /** Durable records the engine has not taken yet. */
  get backlog(): number {
    return this.durableCount;
  }

  get heldAcks(): number {
    return this.held.length;
  }

  /**
   * Makes every durable record after `offset` (the checkpoint's) available to take() again: recovery replays
   * them. Called once at start-up, before any append.
   */
  replayAfter(offset: number): number {
    if (this.segments[0] > offset + 1) {
      throw new ThermostreamError(
        'TS_ERR_LOG_GAP',
        `the ingest log in ${this.opts.dir} starts at offset ${this.segments[0]}, but the checkpoint has consumed only ` +
          `up to ${offset}: records ${offset + 1}…${this.segments[0] - 1} are gone (the database is older than the log, ` +
          'e.g. restored from another backup). Restore the data directory as a whole from one backup.',
      );
    }
    for (let i = 0; i < this.segments.length; i++) {
      const first = this.segments[i];
      const next = this.segments[i + 1] ?? Infinity;
      if (next - 1 <= offset) continue;
      const bytes = readFileSync(join(this.opts.dir, segmentName(first)));
      scanSegment(bytes, first, offset, this.replayed);
    }
    this.durableCount = this.replayed.readings.length + this.replayed.deadLetters.length;
    if (offset > this.endOffset) {
      // The checkpoint covers records the log no longer has (its directory was removed): number new records after
      // the checkpoint, in a new segment, so that none of them is mistaken for one already processed.
      this.nextOffset = offset + 1;
      this.lastDurableOffset = offset;
      this.rotate(offset + 1);
    }
    return this.durableCount;
  }

  appendReading(r: Reading): void {
    this.writer.reading(r);
    this.nextOffset++;
    this.scheduleFlush();
  }

  appendDeadLetter(d: DeadLetter): void {
    this.writer.deadLetter(d);
    this.nextOffset++;
    this.scheduleFlush();
  }

  /** Calls `ack` once everything appended so far is durable (and the backlog allows): QoS 1. */
  whenDurable(ack: () => void): void {
    if (this.writer.empty && !this.flushing) this.ack(ack);
    else this.groupAcks.push(ack);
  }

  /** Calls `done` now, or once the backlog allows: QoS 0, which waits for no fsync but still for the engine. */
  whenAccepted(done: () => void): void {
    this.ack(done);
  }

  /** Takes every durable record not taken yet, decoded, with the offset of the last one. */
  take(): Records & { lastOffset: number } {
    const taken = { ...this.replayed, lastOffset: this.lastDurableOffset };
    for (const { block, firstOffset } of this.durable) {
      decodeBlock(block.subarray(BLOCK_HEADER), firstOffset, firstOffset - 1, taken);
    }
    this.replayed = { readings: [], deadLetters: [] };
    this.durable = [];
    this.durableCount = 0;
    const held = this.held;
    this.held = [];
    for (const ack of held) ack();
    return taken;
  }

  /**
   * Retention: deletes the closed segments whose records are all at or below `offset` (covered by a checkpoint) and
   * that were closed more than retainMs before `now`.
   */
  truncateThrough(offset: number, now: number): void {
    while (this.segments.length > 1 && this.segments[1] - 1 <= offset) {
      const path = join(this.opts.dir, segmentName(this.segments[0]));
      if (this.opts.retainMs > 0 && statSync(path).mtimeMs > now - this.opts.retainMs) return;
      unlinkSync(path);
      this.segments.shift();
    }
  }

  /** Backpressure: while the engine is behind, acknowledgements wait for take(), so clients stop sending. */
  private ack(ack: () => void): void {
    if (this.durableCount + this.writer.count > this.opts.maxBacklog) this.held.push(ack);
    else ack();
  }

  /** Resolves once nothing appended is waiting to be written. */
  async drain(): Promise<void> {
    if (this.writer.empty && !this.flushing) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    closeSync(this.fd);
  }

  private scheduleFlush(): void {
    if (this.flushing || this.flushScheduled) return;
    this.flushScheduled = true;
    // Let the rest of this I/O tick append too: the whole tick shares one fsync.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.flushing || this.writer.empty || this.closed || this.failed) return;
    this.flushing = true;
    const acks = this.groupAcks;
    const count = this.writer.count;
    const lastOffset = this.nextOffset - 1;
    this.groupAcks = [];
    const block = this.writer.finish();
    write(this.fd, block, 0, block.length, null, (err, written) => {
      if (err) return this.fail(err);
      // A short write (a full disk) must not be acknowledged: the torn block would be cut off at recovery.
      if (written !== block.length) return this.fail(new Error(`short write: ${written} of ${block.length} bytes`));
      const sync = this.opts.fsync ? fdatasync : (_fd: number, cb: (err: Error | null) => void) => cb(null);
      sync(this.fd, (err2) => {
        if (err2) return this.fail(err2);
        this.segmentSize += block.length;
        this.durable.push({ block, firstOffset: lastOffset - count + 1 });
        this.durableCount += count;
        this.lastDurableOffset = lastOffset;
        if (this.segmentSize >= this.opts.segmentBytes) {
          try {
            this.rotate(lastOffset + 1);
          } catch (err3) {
            return this.fail(err3 as Error);
          }
        }
        this.flushing = false;
        for (const ack of acks) this.ack(ack);
        if (!this.writer.empty) return this.flush();
        // Acks that arrived during the flush with nothing new appended depended on this group only.
        for (const ack of this.groupAcks.splice(0)) this.ack(ack);
        for (const w of this.idleWaiters.splice(0)) w();
      });
    });
  }

  private rotate(firstOffset: number): void {
    closeSync(this.fd);
    this.segments.push(firstOffset);
    this.fd = openSync(join(this.opts.dir, segmentName(firstOffset)), 'a');
    fsyncDir(this.opts.dir);
    this.segmentSize = 0;
  }

  private fail(err: Error): void {
    this.failed = err;
    this.opts.onFatal(new Error(`ingest log ${this.opts.dir}: ${err.message}`));
  }
}

/** Makes a new or removed segment file itself durable (its directory entry). */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export type { DeadLetter, Records };
