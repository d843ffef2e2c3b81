/**
 * The job runner: user streaming jobs (TypeScript modules in the jobs directories), each in its own worker thread,
 * with Livy's states and a bounded log. The Livy batches protocol (server/api/routes/livy.ts) is a view of it.
 * Jobs are kept in memory: a restart forgets them (as Livy without session recovery does).
 */
import type { Config } from '../config.ts';
import type { Clock } from '../clock.ts';
import { TELEMETRY_JOB_ID, TELEMETRY_JOB_NAME } from './builtin.ts';
import { FINISHED, Job, type JobState } from './job.ts';
import { JobError, parseBatchRequest, type BatchBody } from './request.ts';

export { describeTelemetryJob } from './builtin.ts';
export { badField, BATCH_FIELDS, IGNORED_FIELDS, JobError, notAnObject, unknownField, type BatchBody } from './request.ts';
export { JOB_STATES, type JobState } from './job.ts';
export type { JobContext, JobFunction } from './protocol.ts';

export interface JobInfo {
  id: number;
  name: string | null;
  state: JobState;
  /** As submitted; null for the built-in job. */
  file: string | null;
  className: string | null;
  builtIn: boolean;
  submittedAt: number;
  startedAt: number | null;
  endedAt: number | null;
}

export interface JobRunner {
  /** Starts a job from a Livy batch request (its fields checked by the API's schema); throws JobError (400, 429, 503). */
  submit(body: BatchBody): JobInfo;
  /** Every job, the built-in one first, by id. */
  list(): JobInfo[];
  get(id: number): JobInfo | undefined;
  /**
   * `size` log lines from line `from` (default: the last `size`), lines numbered over the job's life; `first` is the
   * number of the first line still kept. undefined for an unknown id.
   */
  log(id: number, from: number | undefined, size: number): { from: number; first: number; total: number; lines: string[] } | undefined;
  /**
   * A running job is stopped (graceful, then terminated after jobs.stopTimeoutMs) and stays listed as `killed`; a
   * finished one is removed from the list. Throws JobError 404 for an unknown id, 403 for the built-in job.
   */
  delete(id: number): Promise<void>;
  /** Stops every running job (as delete does) and refuses new ones. */
  close(): Promise<void>;
}

export interface JobRunnerDeps {
  clock: Clock;
  /** The ingest log directory, which `ctx.telemetryStream()` reads. */
  logDir: string;
  /** The ingest log's end offset now: a job's telemetry stream starts after it. */
  logEndOffset: () => number;
  /** The built-in telemetry job's log lines (its figures now). */
  telemetryLog: () => string[];
  /** Directory the jobs directories are resolved against. Default: process.cwd(). */
  cwd?: string;
}

export function createJobRunner(config: Config, deps: JobRunnerDeps): JobRunner {
  const settings = config.jobs; // jobs.driverMemory's range is checked with the rest of the config (checkDriverMemory)
  const { clock } = deps;
  const cwd = deps.cwd ?? process.cwd();
  const jobs = new Map<number, Job>();
  const startedAt = clock.now();
  let nextId = TELEMETRY_JOB_ID + 1;
  let closed = false;

  const builtIn = (): JobInfo => ({
    id: TELEMETRY_JOB_ID,
    name: TELEMETRY_JOB_NAME,
    state: 'running',
    file: null,
    className: null,
    builtIn: true,
    submittedAt: startedAt,
    startedAt,
    endedAt: null,
  });

  const info = (job: Job): JobInfo => ({
    id: job.id,
    name: job.request.name,
    state: job.state,
    file: job.request.file,
    className: job.request.className,
    builtIn: false,
    submittedAt: job.submittedAt,
    startedAt: job.startedAt,
    endedAt: job.endedAt,
  });

  /** Forgets the oldest finished jobs beyond jobs.retainFinished. */
  const prune = (): void => {
    const finished = [...jobs.values()].filter((j) => j.finished);
    for (const job of finished.slice(0, Math.max(0, finished.length - settings.retainFinished))) jobs.delete(job.id);
  };

  const find = (id: number): Job => {
    const job = jobs.get(id);
    if (job === undefined) throw new JobError('TS_ERR_JOB_NOT_FOUND', `batch ${id} not found`, 404);
    return job;
  };

  return {
    submit(body) {
      if (closed) throw new JobError('TS_ERR_JOB_CLOSED', 'the server is shutting down: no new jobs', 503);
      const request = parseBatchRequest(body, { dirs: settings.dirs, cwd, defaultDriverMemory: settings.driverMemory });
      const active = [...jobs.values()].filter((j) => !j.finished).length;
      if (active >= settings.maxRunning) {
        const message =
          settings.maxRunning === 0
            ? 'job submission is disabled on this server (jobs.maxRunning = 0)'
            : `${active === 1 ? '1 job is' : `${active} jobs are`} starting or running, the most jobs.maxRunning allows: delete one first`;
        throw new JobError('TS_ERR_JOB_LIMIT', message, 429);
      }
      const id = nextId++;
      const job = new Job(id, request, {
        clock,
        logLines: settings.logLines,
        stopTimeoutMs: settings.stopTimeoutMs,
        logDir: deps.logDir,
        afterOffset: deps.logEndOffset(),
        dedupe: config.dedupe,
      });
      jobs.set(id, job);
      void job.whenExited().then(prune);
      return info(job);
    },

    list: () => [builtIn(), ...[...jobs.values()].map(info)],

    get: (id) => (id === TELEMETRY_JOB_ID ? builtIn() : jobs.has(id) ? info(jobs.get(id)!) : undefined),

    log(id, from, size) {
      if (id === TELEMETRY_JOB_ID) {
        const lines = deps.telemetryLog();
        const start = from ?? Math.max(0, lines.length - size);
        return { from: Math.min(start, lines.length), first: 0, total: lines.length, lines: lines.slice(start, start + size) };
      }
      const job = jobs.get(id);
      if (job === undefined) return undefined;
      const { from: start, first, lines } = job.log.slice(from, size);
      return { from: start, first, total: job.log.total, lines };
    },

    async delete(id) {
      if (id === TELEMETRY_JOB_ID) {
        throw new JobError(
          'TS_ERR_JOB_BUILTIN',
          `batch ${id} is the built-in telemetry job: it runs as long as the server and cannot be deleted`,
          403,
        );
      }
      const job = find(id);
      if (FINISHED.includes(job.state)) jobs.delete(id);
      else await job.stop();
    },

    async close() {
      closed = true;
      await Promise.all([...jobs.values()].map((job) => job.stop()));
    },
  };
}
