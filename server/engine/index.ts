import type { Config } from '../config.ts';
import { ThermostreamError } from '../errors.ts';
import { Dedupe } from '../ingest/dedupe.ts';
import type { Ingest, Reading } from '../ingest/index.ts';
import type { DeviceDelta, RecoveredState, Store } from '../store/index.ts';
import type { Clock } from './clock.ts';
import { EventTimeWindows } from './event-time.ts';

export { FLEET, type WindowResult } from './event-time.ts';

/** Figures of one micro-batch, as Spark Streaming's BatchInfo reports them. */
export interface BatchInfo {
  /** The batch's scheduled time (a multiple of the batch interval). */
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
  /** Readings replayed from the log at start-up (recovery). */
  replayed: number;
  /** Records per second over the recent batches. */
  inputRate: number;
  watermark: number | null;
  lastBatch: BatchInfo | null;
}

export interface Engine {
  stats(): EngineStats;
  onBatch(listener: (info: BatchInfo) => void): void;
  /** Stops the loop after processing everything received so far. */
  close(): Promise<void>;
}

export interface EngineDeps {
  clock: Clock;
  ingest: Ingest;
  store: Store;
  recovered: RecoveredState | null;
  /** Test hook: an extra asynchronous delay per batch, to model a slow sink (backpressure tests). */
  slowBatchMs?: number;
}

const RECENT = 10;

/** The part of the job definition a checkpoint depends on: state from another definition cannot be reused. */
export function jobDefinition(config: Pick<Config, 'windows' | 'timeMode'>): string {
  return JSON.stringify({ windows: config.windows.map((w) => [w.lengthMs, w.slideMs]), timeMode: config.timeMode });
}

/** Refuses a checkpoint written by a different job definition, saying what changed and how to proceed. */
export function checkJob(recovered: RecoveredState | null, config: Config, dbFile: string): void {
  const was = recovered?.checkpoint.job;
  const now = jobDefinition(config);
  if (was == null || was === now) return;
  throw new ThermostreamError(
    'TS_ERR_CHECKPOINT_MISMATCH',
    `the checkpoint in ${dbFile} belongs to another job definition: it was ${was}, the configuration now gives ${now}. ` +
      'Its window state cannot serve the new windows. Restore the previous configuration, or start with --fresh ' +
      'to discard the computed windows and window state (accepted readings not yet processed are kept and processed).',
  );
}

/**
 * The micro-batch loop: every batch interval, cut the batch from the durable log, run the telemetry job (dedupe,
 * then event-time windows per device and fleet-wide), and commit the outputs and the checkpoint that covers them
 * in one store transaction. Batches run one at a time: one that overruns the interval delays the next.
 */
export async function createEngine(config: Config, deps: EngineDeps): Promise<Engine> {
  const { clock, ingest, store, recovered } = deps;
  const interval = config.batchIntervalMs;
  const job = jobDefinition(config);
  const windows = new EventTimeWindows({
    windows: config.windows,
    allowedLatenessMs: config.allowedLatenessMs,
    timeMode: config.timeMode,
    startedAt: clock.now(), // a restart is not idle time
  });
  const dedupe = new Dedupe();
  if (recovered !== null) {
    if (recovered.checkpoint.job !== null) windows.restore(recovered.checkpoint, recovered.panes);
    dedupe.restore(recovered.dedupe);
  }
  const replayed = ingest.stats().backlog;
  const listeners: ((info: BatchInfo) => void)[] = [];
  const recent: BatchInfo[] = [];
  let batches = recovered?.checkpoint.batches ?? 0;
  let records = 0;
  let late = 0;
  let duplicates = 0;
  let closed = false;
  let running: Promise<void> = Promise.resolve();
  let nextBatchTime = Math.ceil((clock.now() + 1) / interval) * interval;
  let timer: unknown = clock.setTimeout(tick, nextBatchTime - clock.now());

  function tick(): void {
    running = runBatch(nextBatchTime).then(() => {
      nextBatchTime += interval;
      if (!closed) timer = clock.setTimeout(tick, Math.max(0, nextBatchTime - clock.now()));
    });
  }

  async function runBatch(batchTime: number): Promise<void> {
    const started = clock.now();
    if (deps.slowBatchMs) await new Promise((r) => setTimeout(r, deps.slowBatchMs));
    const input = ingest.takeBatch();
    const lateReadings: Reading[] = [];
    const devices = new Map<string, DeviceDelta>();
    let batchDuplicates = 0;
    for (const r of input.readings) {
      if (r.seq !== undefined && !dedupe.firstTime(r.deviceId, r.seq)) {
        batchDuplicates++;
        continue;
      }
      if (!windows.add(r)) lateReadings.push(r);
      countDevice(devices, r);
    }
    const results = windows.advance(clock.now());
    store.commitBatch({
      windows: results,
      devices: [...devices.values()],
      deadLetters: input.deadLetters,
      late: lateReadings,
      committedAt: started,
      checkpoint: { logOffset: input.lastOffset, job, batches: batches + 1, ...windows.clockState() },
      panes: windows.takeDelta(),
      dedupe: dedupe.takeDelta(),
    });
    ingest.checkpointed(input.lastOffset);
    const done = clock.now();
    const info: BatchInfo = {
      batchTime,
      records: input.readings.length - batchDuplicates,
      late: lateReadings.length,
      duplicates: batchDuplicates,
      rejected: input.deadLetters.length,
      windowsUpdated: results.length,
      schedulingDelayMs: Math.max(0, started - batchTime),
      processingMs: done - started,
      totalDelayMs: Math.max(0, done - batchTime),
      watermark: windows.watermark,
      logOffset: input.lastOffset,
    };
    batches++;
    records += info.records;
    late += info.late;
    duplicates += batchDuplicates;
    recent.push(info);
    if (recent.length > RECENT) recent.shift();
    for (const l of listeners) l(info);
  }

  return {
    stats() {
      const span = recent.length * interval;
      return {
        batchIntervalMs: interval,
        batches,
        records,
        late,
        duplicates,
        replayed,
        inputRate: span > 0 ? (recent.reduce((n, b) => n + b.records, 0) * 1000) / span : 0,
        watermark: Number.isFinite(windows.watermark) ? windows.watermark : null,
        lastBatch: recent.at(-1) ?? null,
      };
    },
    onBatch(listener) {
      listeners.push(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      clock.clearTimeout(timer);
      await running;
      await runBatch(nextBatchTime); // graceful: whatever is durable is processed and committed
    },
  };
}

function countDevice(devices: Map<string, DeviceDelta>, r: Reading): void {
  const d = devices.get(r.deviceId);
  if (d === undefined) {
    devices.set(r.deviceId, {
      deviceId: r.deviceId,
      firstSeen: r.arrival,
      lastSeen: r.arrival,
      readings: 1,
      lastTemperature: r.temperature,
      lastTs: r.ts,
    });
    return;
  }
  d.readings++;
  if (r.arrival < d.firstSeen) d.firstSeen = r.arrival;
  if (r.arrival > d.lastSeen) d.lastSeen = r.arrival;
  if (r.ts >= d.lastTs) {
    d.lastTs = r.ts;
    d.lastTemperature = r.temperature;
  }
}
