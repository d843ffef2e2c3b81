/**
 * One submitted job: its worker thread, its Livy state and its log. The thread has its own heap (limited by
 * `driverMemory`) and event loop, so a job that throws, loops or runs out of memory ends as `dead` (or `killed`)
 * without touching the server's thread.
 *
 *   starting ──module loaded, function called──▶ running ──returned──▶ success
 *       │                                           │ threw / batch failed / out of memory ──▶ dead
 *       └──────────── stop (DELETE, shutdown) ──────┴──▶ killed
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Clock } from '../clock.ts';
import { JobLog } from './job-log.ts';
import type { FromWorker, JobWorkerData, ToWorker } from './protocol.ts';
import { IGNORED_FIELDS, type BatchRequest } from './request.ts';

export const JOB_STATES = ['starting', 'running', 'success', 'dead', 'killed'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const FINISHED: readonly JobState[] = ['success', 'dead', 'killed'];

/** Jobs run TypeScript (the user's), so their threads go through tsx; built (server/dist/), this code is a directory over. */
const BOOT = new URL('../thread-boot.mjs', import.meta.url);
const JOB_WORKER = new URL(import.meta.url.endsWith('.mjs') ? '../jobs/worker.ts' : './worker.ts', import.meta.url);

export interface JobOptions {
  clock: Clock;
  logLines: number;
  stopTimeoutMs: number;
  logDir: string;
  afterOffset: number;
  dedupe: JobWorkerData['dedupe'];
}

export class Job {
  state: JobState = 'starting';
  readonly log: JobLog;
  readonly submittedAt: number;
  startedAt: number | null = null;
  endedAt: number | null = null;
  private readonly worker: Worker;
  private outcome: { ok: true } | { ok: false; error: string } | undefined;
  private stopRequested = false;
  private readonly exited: Promise<void>;

  constructor(
    readonly id: number,
    readonly request: BatchRequest,
    private readonly options: JobOptions,
  ) {
    this.submittedAt = options.clock.now();
    this.log = new JobLog(options.logLines);
    const r = request;
    this.note(`submitted ${r.file} (${r.className === null ? 'default export' : `export ${r.className}`}) with args ${JSON.stringify(r.args)}, heap limit ${r.heapMb} MiB (driverMemory ${r.driverMemory})`);
    if (Object.keys(r.conf).length > 0) this.note(`conf: ${JSON.stringify(r.conf)}`);
    const ignored = IGNORED_FIELDS.filter((f) => r.ignored[f] !== undefined);
    if (ignored.length > 0) {
      this.note(`ignored Livy fields (they configure a Spark cluster, which this server is not): ${ignored.map((f) => `${f}=${JSON.stringify(r.ignored[f])}`).join(', ')}`);
    }
    const data: JobWorkerData = {
      id,
      name: r.name,
      url: pathToFileURL(r.path).href,
      className: r.className,
      args: r.args,
      conf: r.conf,
      logDir: options.logDir,
      afterOffset: options.afterOffset,
      dedupe: options.dedupe,
    };
    this.worker = new Worker(BOOT, {
      argv: [JOB_WORKER.href],
      workerData: data,
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: r.heapMb },
      // Captured so nothing a job writes reaches the server's own output; worker.ts sends it as messages instead.
      stdout: true,
      stderr: true,
      name: `job-${id}`,
    });
    this.worker.stdout.on('data', (chunk: Buffer) => this.log.write('stdout', chunk.toString('utf8')));
    this.worker.stderr.on('data', (chunk: Buffer) => this.log.write('stderr', chunk.toString('utf8')));
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err: Error & { code?: string }) => {
      const error =
        err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `out of memory: the job's heap passed its limit of ${r.heapMb} MiB (raise driverMemory)`
          : `uncaught ${err.stack ?? err.message}`;
      this.outcome ??= { ok: false, error };
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', (code) => resolve(this.onExit(code))));
  }

  get finished(): boolean {
    return FINISHED.includes(this.state);
  }

  /**
   * Asks the job to stop (its contexts stop gracefully, `job.signal` aborts), terminates its thread if it has not
   * exited after `stopTimeoutMs`, and resolves once it has exited (state `killed`).
   */
  async stop(): Promise<void> {
    if (this.finished) return;
    if (!this.stopRequested) {
      this.stopRequested = true;
      this.note('stop requested: stopping gracefully');
      this.worker.postMessage({ type: 'stop' } satisfies ToWorker);
      const { clock, stopTimeoutMs } = this.options;
      const timer = clock.setTimeout(() => {
        this.note(`did not stop within ${stopTimeoutMs} ms (jobs.stopTimeoutMs): terminating its thread`);
        void this.worker.terminate();
      }, stopTimeoutMs);
      void this.exited.then(() => clock.clearTimeout(timer));
    }
    await this.exited;
  }

  /** Resolves once the thread has exited. */
  whenExited(): Promise<void> {
    return this.exited;
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'out') this.log.write(m.stream, m.text);
    else if (m.type === 'running') {
      if (this.state === 'starting') {
        this.state = 'running';
        this.startedAt = this.options.clock.now();
      }
    } else if (m.type === 'done') this.outcome ??= { ok: true };
    else if (m.type === 'failed') this.outcome ??= { ok: false, error: m.error };
  }

  private onExit(code: number): void {
    this.log.flush();
    this.endedAt = this.options.clock.now();
    const outcome = this.outcome;
    if (outcome !== undefined && !outcome.ok) {
      for (const line of outcome.error.split('\n')) this.log.add(line);
    }
    if (this.stopRequested) {
      this.state = 'killed';
      this.note('killed');
    } else if (outcome?.ok || (outcome === undefined && code === 0)) {
      // Without a result, exit code 0 is the job's own process.exit(0).
      this.state = 'success';
      this.note(outcome ? 'finished' : 'finished (it called process.exit(0))');
    } else {
      this.state = 'dead';
      this.note(outcome ? 'failed' : `its thread exited with code ${code}`);
    }
  }

  /** A line of the runner's own, marked so it is not mistaken for the job's output. */
  private note(message: string): void {
    this.log.add(`[thermostream] ${new Date(this.options.clock.now()).toISOString()} job ${this.id}: ${message}`);
  }
}
