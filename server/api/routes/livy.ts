/**
 * Apache Livy's batches REST API over the job runner, as HDInsight exposes it at /livy/batches, so that Livy's
 * clients (curl scripts, sparkmagic, Airflow's LivyOperator, Data Factory) drive streaming jobs unchanged.
 * Reference: https://livy.apache.org/docs/latest/rest-api.html (Batch).
 *
 * Errors answer `{ error, message, msg }`: our API's code and message, and Livy's `msg` that its clients print.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { JobError, type JobInfo, type JobRunner } from '../../jobs/index.ts';

export interface LivyDeps {
  jobs: JobRunner;
}

/** Lines of the log in GET /livy/batches/{id} (Livy shows the last few). */
const BATCH_LOG_LINES = 10;
const DEFAULT_LOG_SIZE = 100;
const DEFAULT_PAGE_SIZE = 100;

export type Query = Record<string, string | string[] | undefined>;

/** A bad query parameter or id (400), shared with routes/jobs.ts. */
export class LivyParamError extends Error {
  constructor(
    readonly parameter: string,
    readonly value: string,
    reason: string,
  ) {
    super(`invalid ${parameter === 'id' ? 'id' : `query parameter "${parameter}"`} = ${JSON.stringify(value)}: ${reason}`);
  }
}

export function intParam(query: Query, name: string, min: number, max: number): number | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  if (Array.isArray(v)) throw new LivyParamError(name, v.join(','), 'given more than once');
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new LivyParamError(name, v, `expected an integer from ${min} to ${max}`);
  return n;
}

/** Livy clients add `doAs` (impersonation) to any request: accepted and ignored, like the body's proxyUser. */
export function checkKnown(query: Query, known: readonly string[]): void {
  for (const key of Object.keys(query)) {
    if (!known.includes(key) && key !== 'doAs') {
      throw new LivyParamError(key, String(query[key]), `unknown parameter (known: ${known.join(', ') || 'none'})`);
    }
  }
}

export function batchId(params: unknown): number {
  const raw = (params as { id: string }).id;
  if (!/^\d{1,15}$/.test(raw)) throw new LivyParamError('id', raw, 'an id is a non-negative integer');
  return Number(raw);
}

function fail(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof LivyParamError) {
    return reply.code(400).send({ error: 'TS_ERR_QUERY_PARAM', message: err.message, msg: err.message, parameter: err.parameter, value: err.value });
  }
  if (err instanceof JobError) {
    const body: Record<string, unknown> = { error: err.code, message: err.message, msg: err.message };
    if (err.field !== undefined) body.field = err.field;
    return reply.code(err.status).send(body);
  }
  throw err;
}

const notFound = (id: number): JobError => new JobError('TS_ERR_JOB_NOT_FOUND', `batch ${id} not found`, 404);
const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** Livy's batch object. */
function batchView(jobs: JobRunner, job: JobInfo): Record<string, unknown> {
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    appId: job.builtIn ? 'thermostream-telemetry' : `thermostream-job-${job.id}`,
    appInfo: {
      driverLogUrl: `/livy/batches/${job.id}/log`,
      sparkUiUrl: null,
      file: job.file,
      className: job.className,
      submittedAt: iso(job.submittedAt),
      startedAt: iso(job.startedAt),
      endedAt: iso(job.endedAt),
    },
    log: jobs.log(job.id, undefined, BATCH_LOG_LINES)?.lines ?? [],
  };
}

export function registerLivyRoutes(app: FastifyInstance, { jobs }: LivyDeps): void {
  app.post('/livy/batches', { preHandler: app.requireToken }, async (req, reply) => {
    try {
      checkKnown(req.query as Query, []);
      const job = jobs.submit(req.body);
      return reply.code(201).header('location', `/livy/batches/${job.id}`).send(batchView(jobs, job));
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/livy/batches', async (req, reply) => {
    try {
      const q = req.query as Query;
      checkKnown(q, ['from', 'size']);
      const from = intParam(q, 'from', 0, Number.MAX_SAFE_INTEGER) ?? 0;
      const size = intParam(q, 'size', 0, 10_000) ?? DEFAULT_PAGE_SIZE;
      const all = jobs.list();
      return { from, total: all.length, sessions: all.slice(from, from + size).map((job) => batchView(jobs, job)) };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/livy/batches/:id', async (req, reply) => {
    try {
      checkKnown(req.query as Query, []);
      const id = batchId(req.params);
      const job = jobs.get(id);
      if (job === undefined) throw notFound(id);
      return batchView(jobs, job);
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/livy/batches/:id/state', async (req, reply) => {
    try {
      checkKnown(req.query as Query, []);
      const id = batchId(req.params);
      const job = jobs.get(id);
      if (job === undefined) throw notFound(id);
      return { id, state: job.state };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/livy/batches/:id/log', async (req, reply) => {
    try {
      const q = req.query as Query;
      checkKnown(q, ['from', 'size']);
      const id = batchId(req.params);
      const from = intParam(q, 'from', 0, Number.MAX_SAFE_INTEGER);
      const size = intParam(q, 'size', 0, 100_000) ?? DEFAULT_LOG_SIZE;
      const log = jobs.log(id, from, size);
      if (log === undefined) throw notFound(id);
      // Livy's documentation names the number of lines `size`; Livy itself also answers `total`.
      return { id, from: log.from, size: log.lines.length, total: log.total, log: log.lines };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.delete('/livy/batches/:id', { preHandler: app.requireToken }, async (req, reply) => {
    try {
      checkKnown(req.query as Query, []);
      const id = batchId(req.params);
      await jobs.delete(id);
      return { msg: 'deleted' };
    } catch (err) {
      return fail(reply, err);
    }
  });
}
