/**
 * `/api/v1/jobs`: the jobs of the Livy batches API (routes/livy.ts) under this API's own conventions — `{ items }`
 * lists with `limit` and a `next` cursor, ISO 8601 times, `{ error, message }` errors — for the dashboard and
 * scripts that do not speak Livy. The same job runner serves both: a job submitted here is batch N there.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { JobError, JOB_STATES, type JobInfo, type JobRunner } from '../../jobs/index.ts';
import { intParam, jobIdParam, limitParam } from '../params.ts';
import { BatchBody, ErrorBody, Next } from '../schemas.ts';
import { jsonBodyCompiler } from '../validation.ts';
import { jobErrorHandler, jobErrorResponses } from './job-errors.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Time = (description: string) => Type.String({ format: 'date-time', description });

const JobItem = Type.Object(
  {
    id: Type.Integer({ description: 'The job id (its Livy batch id); 0 is the built-in telemetry job.' }),
    name: Nullable(Type.String()),
    state: Type.String({ enum: [...JOB_STATES] }),
    builtIn: Type.Boolean({ description: 'The built-in telemetry job, which cannot be deleted.' }),
    file: Nullable(Type.String({ description: 'As submitted; null for the built-in job.' })),
    className: Nullable(Type.String({ description: 'The exported function run; null for the default export.' })),
    submittedAt: Time('When it was submitted.'),
    startedAt: Nullable(Time('When its thread started.')),
    endedAt: Nullable(Time('When it finished.')),
  },
  { $id: 'Job', title: 'Job' },
);

const NoQuery = Type.Object({}, { additionalProperties: false });
const ListQuery = Type.Object(
  {
    limit: limitParam(100),
    cursor: Type.Optional(
      Type.Integer({ minimum: 0, description: 'The `next` value of the previous page.', 'x-expected': 'the `next` value of a previous page' }),
    ),
  },
  { additionalProperties: false },
);
const LogQuery = Type.Object(
  {
    from: intParam(0, Number.MAX_SAFE_INTEGER, 'Index of the first line (default: the last `limit` lines).'),
    limit: intParam(1, 100_000, 'Lines to return (default 100).', 100),
  },
  { additionalProperties: false },
);
const Params = Type.Object({ id: jobIdParam() }, { additionalProperties: false });

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

function jobView(job: JobInfo): Static<typeof JobItem> {
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    builtIn: job.builtIn,
    file: job.file,
    className: job.className,
    submittedAt: iso(job.submittedAt)!,
    startedAt: iso(job.startedAt),
    endedAt: iso(job.endedAt),
  };
}

const notFound = (id: number): JobError => new JobError('TS_ERR_JOB_NOT_FOUND', `job ${id} not found`, 404);

export function registerJobRoutes(app: FastifyInstance, { jobs }: { jobs: JobRunner }): void {
  app.addSchema(JobItem);
  const common = { errorHandler: jobErrorHandler, validatorCompiler: jsonBodyCompiler };
  const tags = ['jobs'];
  const security = [{ apiToken: [] }];

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api/v1/jobs',
    {
      ...common,
      schema: {
        summary: 'Jobs',
        description: 'Every job by id, the built-in telemetry job (0) first; `next` pages on.',
        tags,
        querystring: ListQuery,
        response: { 200: Type.Object({ items: Type.Array(Type.Ref(JobItem)), next: Next }), ...jobErrorResponses(ErrorBody, {}) },
      },
    },
    async (req) => {
      const { limit, cursor } = req.query;
      const all = jobs.list().filter((j) => cursor === undefined || j.id >= cursor);
      const page = all.slice(0, limit);
      return { items: page.map(jobView), next: all.length > limit! ? String(all[limit!].id) : null };
    },
  );

  app.post<{ Body: BatchBody; Querystring: Static<typeof NoQuery> }>(
    '/api/v1/jobs',
    {
      ...common,
      preHandler: app.requireToken,
      schema: {
        summary: 'Start a job',
        description: 'The body is a Livy batch request, as for POST /livy/batches.',
        tags,
        security,
        querystring: NoQuery,
        body: BatchBody,
        response: { 201: Type.Ref(JobItem, { description: 'The new job, `starting`.' }), ...jobErrorResponses(ErrorBody, { write: true, submit: true }) },
      },
    },
    async (req, reply) => {
      const job = jobs.submit(req.body);
      return reply.code(201).header('location', `/api/v1/jobs/${job.id}`).send(jobView(job));
    },
  );

  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof NoQuery> }>(
    '/api/v1/jobs/:id',
    {
      ...common,
      schema: {
        summary: 'One job',
        tags,
        params: Params,
        querystring: NoQuery,
        response: { 200: Type.Ref(JobItem), ...jobErrorResponses(ErrorBody, { found: true }) },
      },
    },
    async (req) => {
      const job = jobs.get(req.params.id);
      if (job === undefined) throw notFound(req.params.id);
      return jobView(job);
    },
  );

  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof LogQuery> }>(
    '/api/v1/jobs/:id/log',
    {
      ...common,
      schema: {
        summary: 'A job\'s log',
        description: 'Its print() output, stderr and errors, and the runner\'s notes: `limit` lines from line `from`.',
        tags,
        params: Params,
        querystring: LogQuery,
        response: {
          200: Type.Object({
            id: Type.Integer(),
            from: Type.Integer({ description: 'Index of the first line returned.' }),
            total: Type.Integer({ description: 'Lines the job\'s log has had, kept or not (the last jobs.logLines are kept): the next line\'s number.' }),
            lines: Type.Array(Type.String()),
          }),
          ...jobErrorResponses(ErrorBody, { found: true }),
        },
      },
    },
    async (req) => {
      const { id } = req.params;
      const log = jobs.log(id, req.query.from, req.query.limit!);
      if (log === undefined) throw notFound(id);
      return { id, from: log.from, total: log.total, lines: log.lines };
    },
  );

  app.delete<{ Params: Static<typeof Params>; Querystring: Static<typeof NoQuery> }>(
    '/api/v1/jobs/:id',
    {
      ...common,
      preHandler: app.requireToken,
      schema: {
        summary: 'Stop or remove a job',
        description: 'A running job is stopped and stays listed as `killed`; a finished one is removed.',
        tags,
        security,
        params: Params,
        querystring: NoQuery,
        response: { 204: Type.Null({ description: 'Stopped or removed.' }), ...jobErrorResponses(ErrorBody, { write: true, found: true }) },
      },
    },
    async (req, reply) => {
      if (jobs.get(req.params.id) === undefined) throw notFound(req.params.id);
      await jobs.delete(req.params.id);
      return reply.code(204).send();
    },
  );
}
