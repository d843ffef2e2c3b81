/**
 * `/api/v1/jobs`: the jobs of the Livy batches API (routes/livy.ts) under this API's own conventions — `{ items }`
 * lists with `limit` and a `next` cursor, ISO 8601 times, `{ error, message }` errors — for the dashboard and
 * scripts that do not speak Livy. The same job runner serves both: a job submitted here is batch N there.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { JobError, type JobInfo, type JobRunner } from '../../jobs/index.ts';
import { batchId, checkKnown, intParam, LivyParamError, type Query } from './livy.ts';

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

function jobView(job: JobInfo): Record<string, unknown> {
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    builtIn: job.builtIn,
    file: job.file,
    className: job.className,
    submittedAt: iso(job.submittedAt),
    startedAt: iso(job.startedAt),
    endedAt: iso(job.endedAt),
  };
}

function fail(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof LivyParamError) {
    return reply.code(400).send({ error: 'TS_ERR_QUERY_PARAM', message: err.message, parameter: err.parameter, value: err.value });
  }
  if (err instanceof JobError) {
    return reply.code(err.status).send({ error: err.code, message: err.message, ...(err.field === undefined ? {} : { field: err.field }) });
  }
  throw err;
}

const notFound = (id: number): JobError => new JobError('TS_ERR_JOB_NOT_FOUND', `job ${id} not found`, 404);

export function registerJobRoutes(app: FastifyInstance, { jobs }: { jobs: JobRunner }): void {
  app.get('/api/v1/jobs', async (req, reply) => {
    try {
      const q = req.query as Query;
      checkKnown(q, ['limit', 'cursor']);
      const limit = intParam(q, 'limit', 1, 10_000) ?? 100;
      const after = intParam(q, 'cursor', 0, Number.MAX_SAFE_INTEGER);
      const all = jobs.list().filter((j) => after === undefined || j.id >= after);
      const page = all.slice(0, limit);
      return { items: page.map(jobView), next: all.length > limit ? String(all[limit].id) : null };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.post('/api/v1/jobs', { preHandler: app.requireToken }, async (req, reply) => {
    try {
      checkKnown(req.query as Query, []);
      const job = jobs.submit(req.body);
      return reply.code(201).header('location', `/api/v1/jobs/${job.id}`).send(jobView(job));
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/api/v1/jobs/:id', async (req, reply) => {
    try {
      checkKnown(req.query as Query, []);
      const id = batchId(req.params);
      const job = jobs.get(id);
      if (job === undefined) throw notFound(id);
      return jobView(job);
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.get('/api/v1/jobs/:id/log', async (req, reply) => {
    try {
      const q = req.query as Query;
      checkKnown(q, ['from', 'limit']);
      const id = batchId(req.params);
      const log = jobs.log(id, intParam(q, 'from', 0, Number.MAX_SAFE_INTEGER), intParam(q, 'limit', 1, 100_000) ?? 100);
      if (log === undefined) throw notFound(id);
      return { id, from: log.from, total: log.total, lines: log.lines };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.delete('/api/v1/jobs/:id', { preHandler: app.requireToken }, async (req, reply) => {
    try {
      checkKnown(req.query as Query, []);
      const id = batchId(req.params);
      if (jobs.get(id) === undefined) throw notFound(id);
      await jobs.delete(id);
      return reply.code(204).send();
    } catch (err) {
      return fail(reply, err);
    }
  });
}
