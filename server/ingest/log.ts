import { closeSync, fdatasync, ftruncateSync, mkdirSync, openSync, statSync, unlinkSync, write } from 'node:fs';
import { dirname, join } from 'node:path';
import { BlockWriter, decodeCut, recordsIn, type DeadLetter, type RawCut, type Records } from './log-format.ts';
import { checkLog, fsyncDir, segmentName } from './log-check.ts';
import { LogReplay } from './log-replay.ts';
import type { Reading } from './reading.ts';
import type { SyncRecord } from './sync-record.ts';
import { isNoSpace, retryDelay, type StorageHealth } from '../storage-health.ts';

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
  /** --repair: cut damaged blocks out of the log instead of refusing to start (TS_ERR_LOG_CORRUPT). */
  repair: boolean;
  /** A full disk is reported here and waited out; while it is not ok, every acknowledgement is held. */
  health: StorageHealth;
  /** A write or fsync failed for another reason than a full disk: durability is gone, the server must stop. */
  onFatal: (err: Error) => void;
  /** Fault injection (power-cut tests): told what is synced, so a test can cut the log to what a disk would keep. */
  syncRecord?: SyncRecord;
}

/** Records a recovery batch takes at most from the backlog after the checkpoint: bounds a batch's memory. */
export const REPLAY_CHUNK = 100_000;

/** A durable block not taken by the engine yet: its bytes and the offset of its first record. */
interface DurableBlock {
  block: Buffer;
  firstOffset: number;
}

/** A finished group commit being written, or waiting to be written again after the disk was full. */
interface PendingGroup {
  block: Buffer;
  count: number;
  lastOffset: number;
  acks: (() => void)[];
}

/**
 * The durable ingest log. Every accepted record gets the next offset (from 1) and is encoded into the open group;
 * a group is written and fdatasync'ed as one block — one group commit — as soon as the previous one is done, so
 * many records share one fsync. Acknowledgements wait for the group that holds everything appended before them.
 * Records become visible to take() only once durable, so a batch never contains input that a crash could lose.
 * Between append and take a record exists only as bytes in its block: no object per reading lives that long.
 *
 * A full disk (ENOSPC, EDQUOT, a short write) is not fatal: the segment is cut back to its last good block, the
 * group is kept and written again with backoff, and acknowledgements are held meanwhile (StorageHealth).
 */
export class IngestLog {
  private readonly opts: IngestLogOptions;
  private readonly segments: number[]; // first offsets, ascending; the last one is open for writing
  private fd: number;
  private segmentSize: number;
  private nextOffset: number;
  /** --repair's report: one line per repaired segment. */
  readonly repairs: readonly string[];
  /** The torn end cut off the last segment at start-up (log-check.ts), or null. */
  readonly tornTail: string | null;

  // The open group: records appended since the last flush started.
  private readonly writer = new BlockWriter();
  private groupAcks: (() => void)[] = [];
  private pending: PendingGroup | null = null;
  private flushing = false;
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retries = 0;
  private closed = false;
  private failed: Error | null = null;

  // Durable, not yet taken by the engine: the replay after the checkpoint first, then blocks written since start.
  private replay: LogReplay | null;
  private durable: DurableBlock[] = [];
  private durableCount: number;
  private lastDurableOffset: number;
  /** Arrival of the newest reading appended since the start (inputAt()). */
  private lastArrival = -Infinity;
  private held: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  /**
   * Opens the log for appending after recovery from a checkpoint at log offset `after`: checks the segments that
   * hold records after it (log-check.ts), and makes those records available to take() again, in bounded chunks.
   */
  static open(opts: IngestLogOptions, after: number): IngestLog {
    return new IngestLog(opts, after);
  }

  private constructor(opts: IngestLogOptions, after: number) {
    this.opts = opts;
    if (mkdirSync(opts.dir, { recursive: true }) !== undefined) fsyncDir(dirname(opts.dir));
    const check = checkLog(opts.dir, after, opts.repair);
    this.repairs = check.repairs;
    this.tornTail = check.tornTail;
    this.segments = check.segments;
    if (this.segments.length === 0) {
      this.segments.push(after + 1);
      this.fd = openSync(join(opts.dir, segmentName(after + 1)), 'a');
      fsyncDir(opts.dir);
      this.segmentSize = 0;
      this.nextOffset = after + 1;
    } else {
      const last = this.segments[this.segments.length - 1];
      this.fd = openSync(join(opts.dir, segmentName(last)), 'a');
      this.segmentSize = check.lastBytes;
      this.nextOffset = last + check.lastRecords;
    }
    opts.syncRecord?.reset(opts.dir);
    if (after >= this.nextOffset) {
      // The checkpoint covers records the log no longer has (its directory was removed): number new records after
      // the checkpoint, in a new segment, so that none of them is mistaken for one already processed.
      this.nextOffset = after + 1;
      this.rotate(after + 1);
    }
    this.lastDurableOffset = this.nextOffset - 1;
    this.durableCount = check.replayCount;
    this.replay = check.replayCount > 0 ? new LogReplay(check.replay, after, check.replayCount) : null;
  }

  /** Offset of the last record written (durable or about to be). */
  get endOffset(): number {
    return this.nextOffset - 1;
  }

  /** Durable records the engine has not taken yet (the rest of the recovery replay included). */
  get backlog(): number {
    return this.durableCount;
  }

  /** Whether the records after the checkpoint, written before this start, are still being replayed (recovery). */
  get replaying(): boolean {
    return this.replay !== null;
  }

  /** Acknowledgements held back: past maxBacklog, or waiting for a write the full disk keeps failing. */
  get heldAcks(): number {
    const unwritable = this.retryTimer !== null || !this.opts.health.ok;
    return this.held.length + (unwritable ? (this.pending?.acks.length ?? 0) + this.groupAcks.length : 0);
  }

  appendReading(r: Reading): void {
    if (r.arrival > this.lastArrival) this.lastArrival = r.arrival;
    this.writer.reading(r);
    this.nextOffset++;
    this.scheduleFlush();
  }

  appendDeadLetter(d: DeadLetter): void {
    this.writer.deadLetter(d);
    this.nextOffset++;
    this.scheduleFlush();
  }

  /**
   * When input last arrived, as the engine's idleness sees it (EventTimeWindows.noteInput): `now` while records
   * wait that no cut has taken yet (being written, or durable: the engine is behind, the stream is not idle), else
   * the arrival of the newest reading appended since the start (-Infinity: none).
   */
  inputAt(now: number): number {
    return this.durableCount > 0 || !this.writer.empty || this.pending !== null ? now : this.lastArrival;
  }

  /** Calls `ack` once everything appended so far is durable (and the backlog allows): QoS 1. */
  whenDurable(ack: () => void): void {
    if (this.writer.empty && !this.flushing && this.pending === null) this.ack(ack);
    else this.groupAcks.push(ack);
  }

  /** Calls `done` now, or once the backlog allows: QoS 0, which waits for no fsync but still for the engine. */
  whenAccepted(done: () => void): void {
    this.ack(done);
  }

  /**
   * Takes the durable records not taken yet, as bytes, with the offset of the last one: during recovery the next
   * chunk (at most about REPLAY_CHUNK records) of the replay, then everything written since.
   */
  takeRaw(): RawCut {
    let cut: RawCut;
    if (this.replay !== null) {
      cut = this.replay.take(REPLAY_CHUNK);
      if (this.replay.remaining === 0) this.replay = null;
      this.durableCount -= recordsIn(cut);
    } else {
      const firstOffset = this.durable.length > 0 ? this.durable[0].firstOffset : this.lastDurableOffset + 1;
      cut = { buffers: this.durable.map((d) => d.block), firstOffset, after: firstOffset - 1, lastOffset: this.lastDurableOffset };
      this.durable = [];
      this.durableCount = 0;
    }
    this.releaseHeld();
    return cut;
  }

  /** takeRaw(), decoded. */
  take(): Records & { lastOffset: number } {
    return decodeCut(this.takeRaw());
  }

  /**
   * Retention: deletes the closed segments whose records are all at or below `offset` (covered by a checkpoint) and
   * that were closed more than retainMs before `now`.
   */
  truncateThrough(offset: number, now: number): void {
    let removed = false;
    while (this.segments.length > 1 && this.segments[1] - 1 <= offset) {
      const name = segmentName(this.segments[0]);
      const path = join(this.opts.dir, name);
      if (this.opts.retainMs > 0 && statSync(path).mtimeMs > now - this.opts.retainMs) break;
      unlinkSync(path);
      this.segments.shift();
      this.opts.syncRecord?.removed(name);
      removed = true;
    }
    if (removed) fsyncDir(this.opts.dir);
  }

  /** Backpressure: while the engine is behind or the disk is full, acknowledgements wait, so clients stop sending. */
  private ack(ack: () => void): void {
    if (!this.opts.health.ok || this.untaken > this.opts.maxBacklog) this.held.push(ack);
    else ack();
  }

  /**
   * Records the engine has not taken: durable, being written, or waiting to be. The group being written counts too:
   * QoS 0 reads on without waiting for it, and a connection read many times during one fsync would pass the bound.
   */
  private get untaken(): number {
    return this.durableCount + (this.pending?.count ?? 0) + this.writer.count;
  }

  private releaseHeld(): void {
    if (this.held.length === 0 || !this.opts.health.ok) return;
    if (this.untaken > this.opts.maxBacklog) return;
    const held = this.held;
    this.held = [];
    for (const ack of held) ack();
  }

  /** Nothing being written, and nothing waiting to be — or the disk is full and the write waits for a retry. */
  private get idle(): boolean {
    if (this.flushing) return false;
    return (this.writer.empty && this.pending === null) || this.retryTimer !== null || this.failed !== null;
  }

  /** Resolves once nothing appended is waiting to be written (or the disk is full: it will not be soon). */
  async drain(): Promise<void> {
    if (this.idle) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Closes the file. A group the full disk kept from being written was never acknowledged: its senders resend it. */
  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    closeSync(this.fd);
  }

  private scheduleFlush(): void {
    if (this.flushing || this.flushScheduled || this.retryTimer !== null) return;
    this.flushScheduled = true;
    // Let the rest of this I/O tick append too: the whole tick shares one fsync.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.flushing || this.closed || this.failed || this.retryTimer !== null) return;
    if (this.pending === null) {
      if (this.writer.empty) return;
      const count = this.writer.count;
      this.pending = { block: this.writer.finish(), count, lastOffset: this.nextOffset - 1, acks: this.groupAcks };
      this.groupAcks = [];
    }
    this.flushing = true;
    const { block } = this.pending;
    write(this.fd, block, 0, block.length, null, (err, written) => {
      if (err) return this.writeFailed(err);
      // A short write is a full disk: the torn block is cut off below and written again, never acknowledged torn.
      if (written !== block.length) return this.writeFailed(noSpace(`short write: ${written} of ${block.length} bytes`));
      if (!this.opts.fsync) return this.written();
      fdatasync(this.fd, (err2) => (err2 ? this.writeFailed(err2) : this.written()));
    });
  }

  private written(): void {
    const p = this.pending!;
    this.pending = null;
    this.flushing = false;
    this.retries = 0;
    this.segmentSize += p.block.length;
    this.opts.syncRecord?.synced(segmentName(this.segments[this.segments.length - 1]), this.segmentSize);
    if (!this.opts.health.ok) this.opts.health.recovered('log');
    this.durable.push({ block: p.block, firstOffset: p.lastOffset - p.count + 1 });
    this.durableCount += p.count;
    this.lastDurableOffset = p.lastOffset;
    if (this.segmentSize >= this.opts.segmentBytes) {
      try {
        this.rotate(p.lastOffset + 1);
      } catch (err) {
        // No room for a new file (or its directory entry): keep appending to this one, try again after the next group.
        if (!isNoSpace(err)) return this.fail(err as Error);
      }
    }
    for (const ack of p.acks) this.ack(ack);
    if (!this.writer.empty) return this.flush();
    // Acks that arrived during the flush with nothing new appended depended on this group only.
    for (const ack of this.groupAcks.splice(0)) this.ack(ack);
    this.releaseHeld();
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** The write or its fsync failed: a full disk is waited out, anything else is fatal. */
  private writeFailed(err: Error): void {
    this.flushing = false;
    if (!isNoSpace(err)) return this.fail(err);
    const p = this.pending!;
    const path = join(this.opts.dir, segmentName(this.segments[this.segments.length - 1]));
    try {
      // Back to the last good block: no half-written block stays behind, and the retry appends the whole one again.
      // (After a failed fsync the page cache cannot be trusted either: the bytes are written again.)
      ftruncateSync(this.fd, this.segmentSize);
    } catch (err2) {
      return this.fail(err2 as Error);
    }
    this.opts.health.failed('log', dirname(this.opts.dir), path, err, p.block.length, this.opts.segmentBytes);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, retryDelay(this.retries++));
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private rotate(firstOffset: number): void {
    const name = segmentName(firstOffset);
    const path = join(this.opts.dir, name);
    this.opts.syncRecord?.created(name);
    const fd = openSync(path, 'a');
    try {
      fsyncDir(this.opts.dir);
    } catch (err) {
      closeSync(fd);
      unlinkSync(path); // an empty segment left behind would claim offsets the previous one holds
      throw err;
    }
    this.opts.syncRecord?.dirSynced(name);
    closeSync(this.fd);
    this.fd = fd;
    this.segments.push(firstOffset);
    this.segmentSize = 0;
  }

  private fail(err: Error): void {
    this.failed = err;
    const code = (err as NodeJS.ErrnoException).code;
    this.opts.onFatal(new Error(`ingest log ${this.opts.dir}: ${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}`));
  }
}

function noSpace(message: string): Error {
  return Object.assign(new Error(`no space left on device (${message})`), { code: 'ENOSPC' });
}

export type { DeadLetter, RawCut, Records };
