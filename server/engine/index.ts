import type { Config } from '../config.ts';
import { ThermostreamError } from '../errors.ts';
import type { Ingest, IngestBatch } from '../ingest/index.ts';
import type { RecoveredState, Store } from '../store/index.ts';
import type { Clock } from '../clock.ts';
import { InputDStream, StreamingContext, type BatchInfo as ContextBatchInfo } from './dstream/index.ts';
import { jobDefinition, TelemetryJob, type JobOutput } from './telemetry.ts';

export { FLEET, type WindowResult } from './event-time.ts';
export { jobDefinition } from './telemetry.ts';

/** Figures of one micro-batch, as Spark Streaming's BatchInfo reports them, plus the telemetry job's. */
export interface BatchInfo {
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
  totalDelayMs: number;
  watermark: number;
  logOffset: number;
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

export interface Engine {
  stats(): EngineStats;
  /** Stops gracefully: everything durable in the log is processed and committed first. */
  close(): Promise<void>;
}

export interface EngineDeps {
  clock: Clock;
  ingest: Ingest;
  store: Store;
  recovered: RecoveredState | null;
  /** A batch failed (the store cannot commit): results would stall, the server must stop. */
  onFatal: (err: Error) => void;
  /** Test hook: an extra asynchronous delay per batch, to model a slow sink (backpressure tests). */
  slowBatchMs?: number;
}

const RECENT = 10;
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
 *   ingest log ──cut per batch──▶ TelemetryJob (dedupe → event-time windows) ──▶ store: outputs + checkpoint, one transaction
 *
 * A cut is taken only when the previous one is committed, so cuts never queue in memory: while the engine is behind,
 * input waits in the durable log, whose backlog bound holds acknowledgements back (backpressure).
 */
export async function createEngine(config: Config, deps: EngineDeps): Promise<Engine> {
  const { clock, ingest, store } = deps;
  const ctx = new StreamingContext(config.batchIntervalMs, {
    clock,
    retainedBatches: RECENT,
    log: (message) => console.error(`thermostream engine: ${message}`),
  });
  const job = new TelemetryJob(config, clock.now(), deps.recovered);
  const replayed = ingest.stats().backlog;
  const recent: BatchInfo[] = [];
  const committed = new Map<number, JobOutput>(); // batch time → output, until its BatchInfo is known
  const totals = { batches: deps.recovered?.checkpoint.batches ?? 0, records: 0, late: 0, duplicates: 0 };
  let cutInFlight = false;
  let lastPrune = -Infinity;

  const cuts = new InputDStream<IngestBatch>(ctx, 'ingest-log', {
    take: () => {
      if (cutInFlight) return [];
      const cut = ingest.takeBatch();
      cutInFlight = true;
      return [cut];
    },
    hasPending: () => ingest.stats().backlog > 0,
  });
  cuts
    .map((cut) => job.process(cut, clock.now()))
    .foreachBatch(async (outputs, batchTime) => {
      if (outputs.length === 0) return; // no cut in this batch
      if (deps.slowBatchMs) await new Promise((r) => setTimeout(r, deps.slowBatchMs));
      const out = outputs[0];
      store.commitBatch(out);
      committed.set(batchTime, out);
      cutInFlight = false;
      // Retention is housekeeping: the batch is committed whatever happens here; what is left goes later.
      try {
        ingest.checkpointed(out.checkpoint.logOffset);
        if (out.committedAt - lastPrune >= PRUNE_EVERY_MS) {
          lastPrune = out.committedAt;
          store.prune(out.committedAt);
        }
      } catch (err) {
        console.error(`thermostream engine: retention failed: ${(err as Error).message}`);
      }
    });

  ctx.onBatchCompleted((b: ContextBatchInfo) => {
    const out = committed.get(b.batchTime);
    committed.delete(b.batchTime);
    if (out === undefined) return; // no cut this time: the previous one was still being committed
    const info: BatchInfo = {
      batchTime: b.batchTime,
      records: out.records,
      late: out.late.length,
      duplicates: out.duplicates,
      rejected: out.deadLetters.length,
      windowsUpdated: out.windows.length,
      schedulingDelayMs: b.schedulingDelayMs,
      processingMs: b.processingTimeMs,
      totalDelayMs: b.totalDelayMs,
      watermark: out.checkpoint.watermark,
      logOffset: out.checkpoint.logOffset,
    };
    totals.batches = out.checkpoint.batches;
    totals.records += info.records;
    totals.late += info.late;
    totals.duplicates += info.duplicates;
    recent.push(info);
    if (recent.length > RECENT) recent.shift();
  });
  ctx.start();
  ctx.awaitTermination().catch((err: Error) => deps.onFatal(err));

  return {
    stats() {
      const span = recent.length * config.batchIntervalMs;
      return {
        batchIntervalMs: config.batchIntervalMs,
        ...totals,
        replayed,
        inputRate: span > 0 ? (recent.reduce((n, b) => n + b.records, 0) * 1000) / span : 0,
        watermark: Number.isFinite(job.watermark) ? job.watermark : null,
        lastBatch: recent.at(-1) ?? null,
      };
    },
    async close() {
      await ingest.drain();
      await ctx.stop({ graceful: true });
    },
  };
}
