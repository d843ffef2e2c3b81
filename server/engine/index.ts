import type { Config } from '../config.ts';
import type { Ingest, IngestBatch, Reading } from '../ingest/index.ts';
import type { DeviceDelta, Store } from '../store/index.ts';
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
}

export interface EngineStats {
  batchIntervalMs: number;
  batches: number;
  records: number;
  late: number;
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
}

const RECENT = 10;

/**
 * The micro-batch loop: every batch interval, cut the batch from ingest, run the telemetry job (event-time
 * windows per device and fleet-wide), and commit all its outputs in one store transaction. Batches run one at a
 * time: one that overruns the interval delays the next, never overlaps it.
 */
export async function createEngine(config: Config, deps: EngineDeps): Promise<Engine> {
  const { clock, ingest, store } = deps;
  const interval = config.batchIntervalMs;
  const windows = new EventTimeWindows({
    windows: config.windows,
    allowedLatenessMs: config.allowedLatenessMs,
    timeMode: config.timeMode,
    startedAt: clock.now(),
  });
  const listeners: ((info: BatchInfo) => void)[] = [];
  const recent: BatchInfo[] = [];
  let batches = 0;
  let records = 0;
  let late = 0;
  let closed = false;
  let nextBatchTime = Math.ceil((clock.now() + 1) / interval) * interval;
  let timer: unknown = clock.setTimeout(tick, nextBatchTime - clock.now());

  function tick(): void {
    runBatch(nextBatchTime);
    nextBatchTime += interval;
    if (!closed) timer = clock.setTimeout(tick, Math.max(0, nextBatchTime - clock.now()));
  }

  function runBatch(batchTime: number): BatchInfo {
    const started = clock.now();
    const input = ingest.takeBatch();
    const lateReadings: Reading[] = [];
    for (const r of input.readings) if (!windows.add(r)) lateReadings.push(r);
    const results = windows.advance(started);
    store.commitBatch({
      windows: results,
      devices: deviceDeltas(input),
      deadLetters: input.deadLetters,
      late: lateReadings,
      watermark: windows.watermark,
      committedAt: started,
    });
    const done = clock.now();
    const info: BatchInfo = {
      batchTime,
      records: input.readings.length,
      late: lateReadings.length,
      duplicates: input.duplicates,
      rejected: input.deadLetters.length,
      windowsUpdated: results.length,
      schedulingDelayMs: Math.max(0, started - batchTime),
      processingMs: done - started,
      totalDelayMs: Math.max(0, done - batchTime),
      watermark: windows.watermark,
    };
    batches++;
    records += info.records;
    late += info.late;
    recent.push(info);
    if (recent.length > RECENT) recent.shift();
    for (const l of listeners) l(info);
    return info;
  }

  return {
    stats() {
      const span = recent.length * interval;
      return {
        batchIntervalMs: interval,
        batches,
        records,
        late,
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
      runBatch(nextBatchTime); // graceful: whatever was received is processed and committed
    },
  };
}

function deviceDeltas(input: IngestBatch): DeviceDelta[] {
  const byDevice = new Map<string, DeviceDelta>();
  for (const r of input.readings) {
    const d = byDevice.get(r.deviceId);
    if (d === undefined) {
      byDevice.set(r.deviceId, {
        deviceId: r.deviceId,
        firstSeen: r.arrival,
        lastSeen: r.arrival,
        readings: 1,
        lastTemperature: r.temperature,
        lastTs: r.ts,
      });
      continue;
    }
    d.readings++;
    if (r.arrival < d.firstSeen) d.firstSeen = r.arrival;
    if (r.arrival > d.lastSeen) d.lastSeen = r.arrival;
    if (r.ts >= d.lastTs) {
      d.lastTs = r.ts;
      d.lastTemperature = r.temperature;
    }
  }
  return [...byDevice.values()];
}
