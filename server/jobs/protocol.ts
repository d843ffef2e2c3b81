/** What the job runner (main thread) and a job's worker thread tell each other, and what a job function receives. */

export type ConfValue = string | number | boolean;

/** The worker's `workerData`. */
export interface JobWorkerData {
  id: number;
  name: string | null;
  /** file: URL of the job module (its real path, checked to be inside a jobs directory). */
  url: string;
  /** The exported function to call; null: the default export. */
  className: string | null;
  args: string[];
  conf: Record<string, ConfValue>;
  /** For `ctx.telemetryStream()`: the ingest log directory and the offset the job starts after. */
  logDir: string;
  afterOffset: number;
  /** The server's `dedupe` settings: the telemetry stream drops resent readings as the built-in job does. */
  dedupe: { messageIds: number; idleEvictMs: number };
}

export type FromWorker =
  | { type: 'out'; stream: 'stdout' | 'stderr'; text: string }
  /** The module is loaded and its function called. */
  | { type: 'running' }
  /** The function returned and every streaming context it started has terminated. */
  | { type: 'done' }
  | { type: 'failed'; error: string };

export type ToWorker = { type: 'stop' };

/** The second argument of a job function: `export default async function (args, job) { … }`. */
export interface JobContext {
  readonly id: number;
  readonly name: string | null;
  readonly args: readonly string[];
  /** The ingest log offset the job's `ctx.telemetryStream()` starts after: the log's end when it was submitted. */
  readonly startOffset: number;
  /** Livy's `conf`, as submitted. */
  readonly conf: Readonly<Record<string, ConfValue>>;
  /** Aborted when the job is asked to stop (DELETE, server shutdown); its streaming contexts are stopped gracefully too. */
  readonly signal: AbortSignal;
  /** Writes a line to the job's log. */
  log(message: string): void;
}

export type JobFunction = (args: string[], job: JobContext) => unknown;
