import type { Config } from '../config.ts';
import { ThermostreamError } from '../errors.ts';
import { recordsIn, type Ingest, type RawCut } from '../ingest/index.ts';
import type { RecoveredState, Store } from '../store/index.ts';
import type { Clock } from '../clock.ts';
import type { Anomaly } from './detectors/index.ts';
import { retryDelay, type StorageHealth } from '../storage-health.ts';
import { InputDStream, StreamingContext, type BatchInfo as ContextBatchInfo } from './dstream/index.ts';
import { jobDefinition } from './telemetry.ts';
import type { PackedWindows } from './window-pack.ts';
import type { RecentQuery } from './recent-readings.ts';
import { failureError, type BatchSummary, type CommitResult, type ThreadMemory } from './batch-runner.ts';
import { mainThreadBatches, workerBatches, type BatchSide } from './batch-thread.ts';
import { PaceWatch } from './pace.ts';

export { FLEET, type WindowResult } from './event-time.ts';
export { unpackDeviceWindows, type PackedWindows } from './window-pack.ts';
export { jobDefinition } from './telemetry.ts';

/** Figures of one micro-batch, as Spark Streaming's BatchInfo reports them, plus the telemetry job's. */
export interface BatchInfo {
  /** The batch's number: the checkpoint's count of committed batches, which continues across restarts. */
  batch: number;
  /** The batch's scheduled time (a multiple of the batch interval after the start). */
  batchTime: number;
  records: number;
  late: number;
  duplicates: number;
  rejected: number;
  windowsUpdated: number;
  /** How long after its scheduled time the batch started. */
  schedulingDelayMs: number;
  processingMs: number;
  /** Decoding the batch's readings and running the telemetry job over them, its blocks' share included (most of it before the batch's time, see blockIntervalMs). */
  jobMs: number;
  /** Blocks of the batch's readings processed before its time (blockIntervalMs). */
  blocks: number;
  /** Of processingMs: the store's commit of outputs and checkpoint. */
  commitMs: number;
  totalDelayMs: number;
  watermark: number;
  logOffset: number;
  /** The heap and array buffers of the thread that ran the batch (config.batchThread), at its commit. */
  memory: ThreadMemory & { thread: 'worker' | 'main' };
}

export interface EngineStats {
  batchIntervalMs: number;
  batches: number;
  records: number;
  late: number;
  duplicates: number;
  /** Records replayed from the log at start-up (recovery). */
  replayed: number;
  /** Records per second over the recent batches. */
  inputRate: number;
  watermark: number | null;
  lastBatch: BatchInfo | null;
}

/** A batch whose outputs and checkpoint are committed, as listeners of onBatch see it. */
export interface CommittedBatch {
  info: BatchInfo;
  committedAt: number;
  /**
   * The window results this batch wrote (open and newly final ones): unpackDeviceWindows() makes them objects. Its
   * device windows are there only if a listener asked for them when the batch ran (onBatch's `deviceWindows`); else
   * only its fleet windows, and `deviceWindows` is false.
   */
  windows: PackedWindows;
  deviceWindows: boolean;
  /** The anomalies this batch wrote: new ones, and interval anomalies it closed (the same identity, now with an end). */
  anomalies: readonly Anomaly[];
}

export interface EngineStatus {
  /** The streaming context runs (not stopped, not failed). */
  running: boolean;
  /** When the last batch completed (or the engine started). */
  lastBatchAt: number;
  failure: string | null;
}

export interface Engine {
  stats(): EngineStats;
  status(): EngineStatus;
  /**
   * Calls `listener` once per committed batch, after its transaction (never per reading). A listener that throws
   * is logged and does not affect the batch. Returns a function that removes the listener.
   *
   * A batch's device windows cross from the batch thread only while some listener's `deviceWindows()` says it reads
   * them (asked as the batch starts): at 10,000 devices they are ≈ 1.3 MB a batch that the main thread, the broker's,
   * would otherwise receive and collect for nothing.
   */
  onBatch(listener: (batch: CommittedBatch) => void, options?: { deviceWindows?: () => boolean }): () => void;
  /** A device's raw readings of the recent past (config.recentReadings), for GET /api/v1/readings. */
  recentReadings(deviceId: string, from: number, to: number): Promise<RecentQuery>;
  /** Stops gracefully: everything durable in the log is processed and committed first. */
  close(): Promise<void>;
}

export interface EngineDeps {
  clock: Clock;
  ingest: Ingest;
  store: Store;
  recovered: RecoveredState | null;
  /** A batch failed (the store cannot commit, for another reason than a full disk): the server must stop. */
  onFatal: (err: Error) => void;
  /** A full disk under the database is reported here and waited out (the batch is committed again). */
  health: StorageHealth;
  /** Test hook: an extra asynchronous delay per batch, to model a slow sink (backpressure tests). */
  slowBatchMs?: number;
  /** THERMOSTREAM_FAULT, passed on to the batch thread (whose store runs the fault hooks). */
  faults?: string;
}

const RECENT = 10;
/**
 * Readings a batch of the recovery replay takes in blocks at most; the rest waits for its time. The replay's whole
 * backlog is there at once, so this bounds how much one recovery batch commits (as the replay's chunks do). A live
 * batch's blocks are bounded by what arrives in its interval: a cap there only moved the readings past it to the
 * batch's time (at 393,000/s, 140,000 readings and ≈ 100 ms of work after the batch closed).
 */
const REPLAY_BLOCKS_MAX_RECORDS = 250_000;
/** How often SQLite retention runs (config.retention). */
const PRUNE_EVERY_MS = 60_000;

/** Refuses a checkpoint written by a different job definition, saying what changed and how to proceed. */
export function checkJob(recovered: RecoveredState | null, config: Config, dbFile: string): void {
  const was = recovered?.checkpoint.job;
  const now = jobDefinition(config);
  if (was == null || was === now) return;
  throw new ThermostreamError(
    'TS_ERR_CHECKPOINT_MISMATCH',
    `the checkpoint in ${dbFile} belongs to another job definition: it was ${was}, the configuration now gives ${now}. ` +
      'Its window and detector state cannot serve the new job. Restore the previous configuration, or start with --fresh ' +
      'to discard the computed windows, window and detector state (accepted readings not yet processed are kept and processed).',
  );
}

/**
 * The telemetry pipeline as a DStream job on a StreamingContext:
 *
 *   ingest log ──blocks, then the cut at the batch's time (bytes)──▶ batch side: decode → TelemetryJob (dedupe →
 *                                          event-time windows) ──▶ store: outputs + checkpoint, one transaction
 *
 * Every blockIntervalMs, what became durable since goes to the batch side as a block of the open batch, which
 * decodes it and puts it in its windows at once; the batch's time then only takes the last block, moves the
 * watermark and commits. The batch is the same as if all of it were cut at its time: only the work moves earlier.
 *
 * The batch side runs in a worker thread by default (config.batchThread), so batches run on a second core while
 * the main thread goes on with the broker and ingest. A cut is taken only when the previous one is committed, so
 * cuts never queue in memory: while the engine is behind, input waits in the durable log, whose backlog bound holds
 * acknowledgements back (backpressure).
 */
export async function createEngine(config: Config, deps: EngineDeps): Promise<Engine> {
  const { clock, ingest, store } = deps;
  const batches: BatchSide =
    config.batchThread === 'worker'
      ? await workerBatches({ config, startedAt: clock.now(), faults: deps.faults, instanceLock: store.instanceLock }, deps.onFatal)
      : mainThreadBatches(config, store, deps.recovered, clock.now());
  const ctx = new StreamingContext(config.batchIntervalMs, {
    clock,
    retainedBatches: RECENT,
    log: (message) => console.error(`thermostream engine: ${message}`),
    // By number, as the engine's other lines name batches: the one in progress is the one after the last committed.
    batchName: (time) => `batch ${totals.batches + 1} (${new Date(time).toISOString()})`,
  });
  const replayed = ingest.stats().backlog;
  const recent: BatchInfo[] = [];
  const committed = new Map<number, BatchSummary>(); // batch time → committed batch, until its BatchInfo is known
  const totals = { batches: deps.recovered?.checkpoint.batches ?? 0, records: 0, late: 0, duplicates: 0 };
  let watermark = deps.recovered?.checkpoint.job != null ? deps.recovered.checkpoint.watermark : -Infinity;
  let cutInFlight = false;
  let blockInFlight = false;
  let blockRecords = 0; // readings handed to the open batch in blocks
  let blockTimer: unknown = null;
  let lastPrune = -Infinity;
  /** Each listener, with whether it reads device windows now. */
  const listeners = new Map<(batch: CommittedBatch) => void, () => boolean>();
  const deviceWindowsWanted = (): boolean => {
    for (const wants of listeners.values()) if (wants()) return true;
    return false;
  };
  const pace = new PaceWatch(config.batchIntervalMs);
  let lastBatchAt = clock.now();
  let failure: string | null = null;
  let closing = false;
  let fatalCause: Error | undefined; // the store's own error, with its code, rather than the context's wrapper

  /**
   * Processes a cut and commits it, waiting out a full disk: the failed transaction rolled back, so committing the
   * same output again (the same cut, the same state delta) applies it exactly once, and the job's state, already
   * advanced by this cut, stays in step with what is committed. No other cut is taken meanwhile (cutInFlight). A
   * lost connection to PostgreSQL is waited out the same way.
   */
  async function processAndCommit(cut: RawCut): Promise<BatchSummary> {
    const now = clock.now();
    let result: CommitResult = await batches.run(cut, now, ingest.inputAt(now), deviceWindowsWanted());
    for (let retries = 0; !result.ok; retries++) {
      const f = result.failure;
      const err = failureError(f);
      if (f.transient === null) throw (fatalCause = err);
      if (closing) {
        throw (fatalCause = new Error(
          `stopped while ${f.transient === 'no-space' ? `the disk under ${store.file} is full` : `the store ${store.file} is unreachable`}: ` +
            'the batch in progress was not committed (it is replayed from the ingest log at the next start)',
        ));
      }
      if (f.transient === 'unavailable') {
        deps.health.unavailable('database', `store unavailable: cannot commit batch ${f.batch} to ${store.file} (${f.message})`);
      } else {
        deps.health.failed('database', config.dataDir, store.file, err, f.needed, 64 * 1024 * 1024);
      }
      await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), retryDelay(retries)));
      result = await batches.commitAgain();
    }
    if (!deps.health.ok) deps.health.recovered('database');
    return result.batch;
  }

  /** Hands what became durable to the open batch, unless a cut is being committed (its batch is not open yet). */
  function handOverBlock(): void {
    blockTimer = null;
    if (closing || failure !== null) return;
    const full = blockRecords >= REPLAY_BLOCKS_MAX_RECORDS && ingest.replaying();
    if (!cutInFlight && !blockInFlight && !full && ingest.stats().backlog > 0) {
      const block = ingest.takeBatch();
      blockRecords += recordsIn(block);
      blockInFlight = true;
      batches.add(block).then(
        () => (blockInFlight = false),
        (err: Error) => {
          failure ??= err.message;
          deps.onFatal(err);
        },
      );
    }
    blockTimer = clock.setTimeout(handOverBlock, config.blockIntervalMs);
  }

  const cuts = new InputDStream<RawCut>(ctx, 'ingest-log', {
    take: () => {
      if (cutInFlight) return [];
      const cut = ingest.takeBatch();
      cutInFlight = true;
      blockRecords = 0;
      return [cut];
    },
    hasPending: () => ingest.stats().backlog > 0 || blockRecords > 0,
  });
  cuts.foreachBatch(async (taken, batchTime) => {
    if (taken.length === 0) return; // no cut in this batch
    if (deps.slowBatchMs) await new Promise((r) => setTimeout(r, deps.slowBatchMs));
    const out = await processAndCommit(taken[0]);
    committed.set(batchTime, out);
    cutInFlight = false;
    // Retention is housekeeping: the batch is committed whatever happens here; what is left goes later.
    try {
      ingest.checkpointed(out.checkpoint.logOffset);
      if (out.committedAt - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = out.committedAt;
        await batches.prune(out.committedAt);
      }
    } catch (err) {
      console.error(`thermostream engine: retention failed: ${(err as Error).message}`);
    }
  });

  ctx.onBatchCompleted((b: ContextBatchInfo) => {
    const out = committed.get(b.batchTime);
    committed.delete(b.batchTime);
    if (out === undefined) return; // no cut this time: the previous one was still being committed
    lastBatchAt = clock.now();
    const info: BatchInfo = {
      batch: out.checkpoint.batches,
      batchTime: b.batchTime,
      records: out.records,
      late: out.late,
      duplicates: out.duplicates,
      rejected: out.rejected,
      windowsUpdated: out.windowsUpdated,
      schedulingDelayMs: b.schedulingDelayMs,
      processingMs: b.processingTimeMs,
      jobMs: out.jobMs,
      blocks: out.blocks,
      commitMs: out.commitMs,
      totalDelayMs: b.totalDelayMs,
      watermark: out.checkpoint.watermark,
      logOffset: out.checkpoint.logOffset,
      memory: { thread: config.batchThread, ...out.memory },
    };
    totals.batches = out.checkpoint.batches;
    totals.records += info.records;
    totals.late += info.late;
    totals.duplicates += info.duplicates;
    watermark = out.checkpoint.watermark;
    recent.push(info);
    if (recent.length > RECENT) recent.shift();
    const line = pace.batch({ ...info, waiting: ingest.stats().backlog }, lastBatchAt);
    if (line !== null) console.error(`thermostream engine: ${line}`);
    if (listeners.size === 0) return;
    const committedBatch: CommittedBatch = { info, committedAt: out.committedAt, windows: out.windows, deviceWindows: out.deviceWindows, anomalies: out.anomalies };
    for (const listener of listeners.keys()) {
      try {
        listener(committedBatch);
      } catch (err) {
        console.error(`thermostream engine: a batch listener failed: ${(err as Error).message}`);
      }
    }
  });
  ctx.start();
  if (config.blockIntervalMs > 0) blockTimer = clock.setTimeout(handOverBlock, config.blockIntervalMs);
  ctx.awaitTermination().catch((err: Error) => {
    failure = (fatalCause ?? err).message;
    deps.onFatal(fatalCause ?? err);
  });

  return {
    stats() {
      const span = recent.length * config.batchIntervalMs;
      return {
        batchIntervalMs: config.batchIntervalMs,
        ...totals,
        replayed,
        inputRate: span > 0 ? (recent.reduce((n, b) => n + b.records, 0) * 1000) / span : 0,
        watermark: Number.isFinite(watermark) ? watermark : null,
        lastBatch: recent.at(-1) ?? null,
      };
    },
    status: () => ({ running: ctx.state === 'active' && failure === null, lastBatchAt, failure }),
    recentReadings: (deviceId, from, to) => batches.recentReadings(deviceId, from, to, clock.now()),
    onBatch(listener, { deviceWindows = () => false } = {}) {
      listeners.set(listener, deviceWindows);
      return () => listeners.delete(listener);
    },
    async close() {
      closing = true;
      if (blockTimer !== null) clock.clearTimeout(blockTimer);
      await batches.flushOpenWindows(); // the remaining batches leave no open window's partial result behind
      await ingest.drain();
      // At once, not at the next batch's time: with a long batchIntervalMs a SIGTERM waited up to that long, silently.
      await ctx.stop({ graceful: true, promptly: true });
      await batches.close();
    },
  };
}
