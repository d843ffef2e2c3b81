/**
 * `ctx.telemetryStream()`: the server's live telemetry as a DStream of readings, read from the durable ingest log
 * (server/ingest/log-tail.ts) — no broker subscription, no copy kept by the server. Each batch holds the readings
 * that became durable since the previous batch, in log order.
 *
 * In a job started by the server (server/jobs/), the log directory and the starting offset (the end of the log
 * when the job was submitted) are set by the job's worker; elsewhere pass `logDir` (data/log) and optionally
 * `afterOffset` (default: the end of the log at `start()`).
 *
 * Outputs of a job are at least once, not exactly once: a job keeps no checkpoint, so a job submitted again after a
 * restart starts from the end of the log then (readings in between are not seen), and whatever a job writes
 * elsewhere from `foreachBatch` may be written again if the job fails midway and is resubmitted over a range.
 */
import { LogTail } from '../../ingest/log-tail.ts';
import type { Reading } from '../../ingest/reading.ts';
import type { InputSource } from './input.ts';

export type { Reading };

export interface TelemetryStreamOptions {
  /** The ingest log directory (`<dataDir>/log`). Default: the server's, in a job. */
  logDir?: string;
  /** Readings with a log offset above this one. Default: the end of the log when the job was submitted (in a job), else at `start()`. */
  afterOffset?: number;
  /** Log bytes read per batch at most (the rest goes into the next batches). Default 16 MiB. */
  maxBytesPerBatch?: number;
}

let jobDefaults: { logDir: string; afterOffset: number } | undefined;

/** @internal Set by the job worker (server/jobs/worker.ts): the defaults of `telemetryStream()` inside a job. */
export function setTelemetryDefaults(defaults: { logDir: string; afterOffset: number }): void {
  jobDefaults = defaults;
}

export class TelemetrySource implements InputSource<Reading> {
  private tail: LogTail | undefined;
  private readonly logDir: string;
  private readonly maxBytes: number;

  constructor(
    private readonly options: TelemetryStreamOptions,
    private readonly log: (message: string) => void,
  ) {
    const logDir = options.logDir ?? jobDefaults?.logDir;
    if (logDir === undefined) {
      throw new TypeError('telemetryStream() needs { logDir } (the server\'s <dataDir>/log) outside a job run by the server');
    }
    this.logDir = logDir;
    this.maxBytes = options.maxBytesPerBatch ?? 16 * 1024 * 1024;
  }

  start(): void {
    const after =
      this.options.afterOffset ?? (this.options.logDir === undefined ? jobDefaults?.afterOffset : undefined) ?? LogTail.endOffset(this.logDir);
    this.tail = new LogTail(this.logDir, after, this.log);
  }

  take(): readonly Reading[] {
    const readings: Reading[] = [];
    this.tail?.poll(readings, this.maxBytes);
    return readings;
  }

  stop(): void {
    this.tail?.close();
    this.tail = undefined;
  }
}
