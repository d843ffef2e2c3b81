import type { Config } from '../config.ts';
import { ThermostreamError, type ErrorCode } from '../errors.ts';
import { decodeCutInChunks, type DeadLetter, type RawCut } from '../ingest/index.ts';
import type { RecoveredState, Store } from '../store/index.ts';
import type { Anomaly } from './detectors/index.ts';
import { RecentReadings, type RecentQuery } from './recent-readings.ts';
import { TelemetryJob, type JobBatch, type JobOutput } from './telemetry.ts';
import { windowCount, type PackedWindows } from './window-pack.ts';

/** What the engine learns of a committed batch: its figures, and the results its listeners are sent. */
export interface BatchSummary {
  /** Decoding the batch's readings and running the telemetry job over them (ms), its blocks' share included. */
  jobMs: number;
  /** Blocks of the batch's readings processed before its time (blockIntervalMs). */
  blocks: number;
  /** The store's commit of the outputs and checkpoint (ms; the successful attempt). */
  commitMs: number;
  records: number;
  late: number;
  duplicates: number;
  rejected: number;
  committedAt: number;
  checkpoint: { batches: number; watermark: number; logOffset: number };
  /**
   * The window results this batch wrote (open and newly final ones), packed to cross threads cheaply: its fleet
   * windows, and its device windows only if run() was asked for them (at 10,000 devices they are ≈ 1.3 MB a batch).
   */
  windows: PackedWindows;
  /** Whether `windows` holds the device windows. */
  deviceWindows: boolean;
  /** How many window results this batch wrote, device windows included. */
  windowsUpdated: number;
  /** New anomalies, and interval anomalies this batch closed. */
  anomalies: Anomaly[];
  /** The memory of the thread that ran the batch, at its commit. */
  memory: ThreadMemory;
}

/** One thread's V8 heap and array buffers (process.memoryUsage() is per thread for these; RSS is the process's). */
export interface ThreadMemory {
  heapUsedBytes: number;
  heapTotalBytes: number;
  arrayBuffersBytes: number;
}

function threadMemory(): ThreadMemory {
  const m = process.memoryUsage();
  return { heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, arrayBuffersBytes: m.arrayBuffers };
}

/** Why a commit failed, as plain data (it may cross from the batch thread). */
export interface CommitFailure {
  /** What the store says: 'no-space' and 'unavailable' are waited out (the same batch is committed again); null: fatal. */
  transient: 'no-space' | 'unavailable' | null;
  message: string;
  /** The store's error code (SQLITE_FULL, ENOSPC, …): what StorageHealth reports. */
  errno: string | null;
  /** Our code, for a fatal error that has one (TS_ERR_DB_CORRUPT, …). */
  code: ErrorCode | null;
  /** About how many bytes the batch needs in the database. */
  needed: number;
  /** The batch's number (its checkpoint's count of batches). */
  batch: number;
}

/** Readings decoded and put in their windows at a time. */
const DECODE_CHUNK = 16_384;

export type CommitResult = { ok: true; batch: BatchSummary } | { ok: false; failure: CommitFailure };

/** The batch being built: its blocks are decoded and in their windows, its end not come yet. */
interface OpenBatch {
  batch: JobBatch;
  deadLetters: DeadLetter[];
  blocks: number;
  ms: number;
}

/**
 * The batch side of the engine: decode a cut of the ingest log, run the telemetry job over it, commit its outputs
 * and checkpoint in one transaction, and keep the raw readings of the recent past. It runs in the batch thread
 * (batch-thread.ts) or, with batchThread "main", on the main thread; either way calls come one at a time, a cut only
 * after the previous one is committed.
 *
 * A batch's readings may come in blocks before its end (add(), every blockIntervalMs): they are decoded and put in
 * their windows at once, so that at the batch's time only the last block, the watermark's move and the commit are
 * left. Nothing of a block is committed before its batch ends, so a crash replays it from the log as before.
 */
export class BatchRunner {
  private readonly job: TelemetryJob;
  private readonly recent: RecentReadings;
  /** The output of the last cut while its commit has not succeeded yet (committed again, never recomputed). */
  private pending: JobOutput | null = null;
  private open: OpenBatch | null = null;
  private jobMs = 0;
  private blocks = 0;
  /** Whether the pending batch's summary carries its device windows. */
  private deviceWindows = true;

  constructor(
    config: Config,
    private readonly store: Store,
    recovered: RecoveredState | null,
    startedAt: number,
  ) {
    this.job = new TelemetryJob(config, startedAt, recovered);
    this.recent = new RecentReadings(config.recentReadings.perDevice, config.recentReadings.maxAgeMs, startedAt);
  }

  /** Decodes a block of the open batch's readings (the log's bytes) and puts them in their windows now. */
  add(block: RawCut): void {
    if (this.pending !== null) throw new Error(`batch ${this.pending.checkpoint.batches} is not committed yet`);
    const started = performance.now();
    const open = (this.open ??= { batch: this.job.begin(), deadLetters: [], blocks: 0, ms: 0 });
    // In chunks: a block of hundreds of thousands of readings never lives as one object per reading all at once.
    const letters = decodeCutInChunks(block, DECODE_CHUNK, (readings) => this.recent.add(this.job.add(open.batch, readings)));
    for (const letter of letters) open.deadLetters.push(letter);
    open.blocks++;
    open.ms += performance.now() - started;
  }

  /**
   * Ends the open batch with its last block, the cut (up to the log offset it covers), and commits the result.
   * `inputAt`: when input last arrived, as the log sees it at `now` (IngestLog.inputAt). `deviceWindows`: whether
   * the summary carries the batch's device windows (the store gets them either way).
   */
  async run(cut: RawCut, now: number, inputAt: number, deviceWindows = true): Promise<CommitResult> {
    this.add(cut);
    this.job.noteInput(inputAt);
    const open = this.open!;
    this.open = null;
    const started = performance.now();
    this.pending = this.job.finish(open.batch, open.deadLetters, cut.lastOffset, now);
    this.jobMs = open.ms + performance.now() - started;
    this.blocks = open.blocks - 1; // the cut itself is not one of them
    this.deviceWindows = deviceWindows;
    return this.commitAgain();
  }

  /** Commits the pending batch (again, after a failure reported by run()). */
  async commitAgain(): Promise<CommitResult> {
    const out = this.pending;
    if (out === null) throw new Error('no batch to commit');
    const started = performance.now();
    try {
      await this.store.commitBatch(out);
    } catch (err) {
      return { ok: false, failure: this.failure(err, out) };
    }
    this.pending = null;
    // Windows that stay in this thread are read by nobody once committed.
    if (!this.deviceWindows) this.job.recycleWindows(out.windows);
    return {
      ok: true,
      batch: {
        jobMs: Math.round(this.jobMs),
        blocks: this.blocks,
        commitMs: Math.round(performance.now() - started),
        records: out.records,
        late: out.late.length,
        duplicates: out.duplicates,
        rejected: out.deadLetters.length,
        committedAt: out.committedAt,
        checkpoint: { batches: out.checkpoint.batches, watermark: out.checkpoint.watermark, logOffset: out.checkpoint.logOffset },
        windows: this.deviceWindows ? out.windows : { deviceIds: [], chunks: [], types: [], fleet: out.windows.fleet },
        deviceWindows: this.deviceWindows,
        windowsUpdated: windowCount(out.windows),
        anomalies: out.anomalies as Anomaly[],
        memory: threadMemory(),
      },
    };
  }

  /** A graceful stop: the batches from now on show every open window's latest partial result. */
  flushOpenWindows(): void {
    this.job.flushOpenWindows();
  }

  prune(now: number): Promise<number> {
    return this.store.prune(now);
  }

  recentReadings(deviceId: string, from: number, to: number, now: number): RecentQuery {
    return this.recent.query(deviceId, from, to, now);
  }

  private failure(err: unknown, out: JobOutput): CommitFailure {
    const transient = this.store.transient(err);
    const fatal = transient === null ? this.store.fatal(err) : (err as Error);
    const rows = windowCount(out.windows) + out.devices.length + out.deadLetters.length + out.late.length;
    return {
      transient,
      message: fatal.message,
      errno: typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : null,
      code: fatal instanceof ThermostreamError ? fatal.code : null,
      needed: (rows + out.panes.upserts.length + out.dedupe.seqs.length + out.dedupe.messageIds.length) * 256 + 65_536,
      batch: out.checkpoint.batches,
    };
  }
}

/** A CommitFailure as the Error the engine stops with or reports (its code, or the store's errno, kept). */
export function failureError(f: CommitFailure): Error {
  if (f.code !== null) return new ThermostreamError(f.code, f.message);
  return Object.assign(new Error(f.message), f.errno === null ? {} : { code: f.errno });
}
