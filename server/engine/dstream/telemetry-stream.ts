/**
 * `ctx.telemetryStream()`: the server's live telemetry as a DStream of readings, read from the durable ingest log
 * (server/ingest/log-tail.ts) — no broker subscription, no copy kept by the server. Each batch holds the readings
 * that became durable since the previous batch, in log order.
 *
 * In a job started by the server (server/jobs/), the log directory and the starting offset (the end of the log
 * when the job was submitted) are set by the job's worker; elsewhere pass `logDir` (data/log) and optionally
 * `afterOffset` (default: the end of the log at `start()`).
 *
 * Guarantees: within one run, every reading made durable after the start offset is in exactly one batch, in log
 * order (unless retention deleted it first, which is reported). Resent readings — a (deviceId, seq) or
 * (deviceId, messageId) already in the stream — are dropped as the built-in job drops them (server/engine/dedupe.ts,
 * with the server's dedupe settings); the log holds them, since the engine dedupes after it. A job keeps no checkpoint: for at-least-once
 * outputs across failures and restarts, a job stores `offsetAt(batchTime)` with what it wrote and is resubmitted with
 * `afterOffset` set to the last one stored; the batches after it are then computed (and written) again.
 */
import { LogTail } from '../../ingest/log-tail.ts';
import { Dedupe, type DedupeOptions } from '../dedupe.ts';
import type { Reading } from '../../ingest/reading.ts';
import type { StreamingContext } from './context.ts';
import { InputDStream, type InputSource } from './input.ts';

export type { Reading };

export interface TelemetryStreamOptions {
  /** The ingest log directory (`<dataDir>/log`). Default: the server's, in a job. */
  logDir?: string;
  /** Readings with a log offset above this one. Default: the end of the log when the job was submitted (in a job), else at `start()`. */
  afterOffset?: number;
  /** Log bytes read per batch at most (the rest goes into the next batches). Default 16 MiB. */
  maxBytesPerBatch?: number;
}

interface JobDefaults {
  logDir: string;
  afterOffset: number;
  /** The server's `dedupe` settings. */
  dedupe: DedupeOptions;
}

/** On globalThis, as the context observer (context.ts): a CommonJS job's own copy of this module reads them too. */
const JOB_DEFAULTS = Symbol.for('thermostream.dstream.telemetryDefaults');
const shared = globalThis as { [JOB_DEFAULTS]?: JobDefaults };

/** @internal Set by the job worker (server/jobs/worker.ts): the defaults of `telemetryStream()` inside a job. */
export function setTelemetryDefaults(defaults: JobDefaults): void {
  shared[JOB_DEFAULTS] = defaults;
}

/** Batch offsets remembered for `offsetAt` (a window needs those of its batches; a sink, the latest). */
const REMEMBERED_OFFSETS = 10_000;

export class TelemetrySource implements InputSource<Reading> {
  private tail: LogTail | undefined;
  /** batch time → offset of the last log record read for it. */
  readonly offsets = new Map<number, number>();
  private readonly logDir: string;
  private readonly maxBytes: number;
  private readonly dedupe: Dedupe;
  /** Set by a stop: the log's end then, which the last batches read up to. */
  private until: number | undefined;

  constructor(
    private readonly options: TelemetryStreamOptions,
    private readonly log: (message: string) => void,
  ) {
    const logDir = options.logDir ?? shared[JOB_DEFAULTS]?.logDir;
    if (logDir === undefined) {
      throw new TypeError('telemetryStream() needs { logDir } (the server\'s <dataDir>/log) outside a job run by the server');
    }
    this.logDir = logDir;
    this.maxBytes = options.maxBytesPerBatch ?? 16 * 1024 * 1024;
    this.dedupe = new Dedupe(shared[JOB_DEFAULTS]?.dedupe);
  }

  start(): void {
    const after =
      this.options.afterOffset ?? (this.options.logDir === undefined ? shared[JOB_DEFAULTS]?.afterOffset : undefined) ?? LogTail.endOffset(this.logDir);
    if (this.options.afterOffset !== undefined) {
      // A stored offset never passes what the log's files held; one that does would skip readings without a word.
      const end = LogTail.endOffset(this.logDir);
      if (after > end) {
        this.log(
          `telemetryStream: afterOffset ${after} is beyond the end of the ingest log, offset ${end}: the readings up to offset ${after} ` +
            'will be skipped as they come (an offset stored from another data dir, or a log started afresh?)',
        );
      }
    }
    this.tail = new LogTail(this.logDir, after, this.log);
  }

  take(batchTime: number): readonly Reading[] {
    const read: Reading[] = [];
    if (this.tail === undefined) return read;
    this.tail.poll(read, this.maxBytes, this.until);
    this.offsets.set(batchTime, this.tail.position - 1);
    if (this.offsets.size > REMEMBERED_OFFSETS) this.offsets.delete(this.offsets.keys().next().value!);
    const readings = read.filter((r) => this.dedupe.firstReading(r));
    // Only what a checkpoint would write is kept between evictions; nothing is checkpointed here, so it is dropped.
    if (this.dedupe.evictIdle(batchTime) > 0) this.dedupe.takeDelta();
    return readings;
  }

  /**
   * Stops reading at the log's end now: what became durable before the stop (a job's DELETE, the server's shutdown)
   * was received, and a graceful stop processes it, in as many batches as maxBytesPerBatch takes.
   */
  stop(): void {
    if (this.tail !== undefined) this.until = LogTail.endOffset(this.logDir);
  }

  hasPending(): boolean {
    return this.tail !== undefined && this.until !== undefined && this.tail.position <= this.until;
  }

  close(): void {
    this.tail?.close();
    this.tail = undefined;
  }
}

/** The stream `ctx.telemetryStream()` returns: readings, and the log offset each batch has read up to. */
export class TelemetryDStream extends InputDStream<Reading> {
  private readonly telemetry: TelemetrySource;

  constructor(context: StreamingContext, source: TelemetrySource) {
    super(context, 'telemetryStream', source);
    this.telemetry = source;
  }

  /**
   * The ingest log offset that the batch at `batchTime` (and every batch before it) has read up to: resubmitting the
   * job with `afterOffset` set to it resumes right after that batch. Undefined for a batch not cut yet, or one of
   * the more than 10,000 batches ago.
   */
  offsetAt(batchTime: number): number | undefined {
    return this.telemetry.offsets.get(batchTime);
  }
}
