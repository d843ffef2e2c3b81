/**
 * Apache Livy's batches REST API over the job runner, as HDInsight exposes it at /livy/batches, so that Livy's
 * clients (curl scripts, sparkmagic, Airflow's LivyOperator, Data Factory) drive streaming jobs unchanged.
 * Reference: https://livy.apache.org/docs/latest/rest-api.html (Batch).
 *
 * Errors answer `{ error, message, msg }` (+ `parameter`/`value`, or `field`): our API's code and message, and
 * Livy's `msg` that its clients print. Livy clients add `doAs` (impersonation) to any request: accepted, ignored.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { JobError, JOB_STATES, type JobInfo, type JobRunner } from '../../jobs/index.ts';
import { intParam, jobIdParam } from '../params.ts';
import { BatchBody } from '../schemas.ts';
import { jsonBodyCompiler } from '../validation.ts';
import { jobErrorHandler, jobErrorResponses } from './job-errors.ts';

export interface LivyDeps {
  jobs: JobRunner;
}

/** Lines of the log in GET /livy/batches/{id} (Livy shows the last few). */
const BATCH_LOG_LINES = 10;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);
const Time = (description: string) => Type.String({ format: 'date-time', description });

const LivyError = Type.Object(
  {
    error: Type.String({ description: 'Error code (docs/ERRORS.md).' }),
    message: Type.String({ description: 'What was wrong, naming the parameter or field and its value.' }),
    msg: Type.String({ description: 'The same message, where Livy\'s clients look for it.' }),
    parameter: Type.Optional(Type.String({ description: 'The offending query or path parameter.' })),
    value: Type.Optional(Nullable(Type.String({ description: 'Its value as sent; null when missing.' }))),
    field: Type.Optional(Type.String({ description: 'The offending field of the batch request.' })),
  },
  { $id: 'LivyError', title: 'LivyError' },
);

const Batch = Type.Object(
  {
    id: Type.Integer({ description: 'The batch id; 0 is the built-in telemetry job.' }),
    name: Nullable(Type.String()),
    state: Type.String({ enum: [...JOB_STATES], description: 'Livy\'s batch state.' }),
    appId: Type.String({ description: 'thermostream-job-<id>, or thermostream-telemetry for batch 0.' }),
    appInfo: Type.Object({
      driverLogUrl: Type.String({ description: 'Where the whole log is.' }),
      sparkUiUrl: Type.Null({ description: 'No Spark UI here.' }),
      file: Nullable(Type.String({ description: 'As submitted; null for batch 0.' })),
      className: Nullable(Type.String()),
      submittedAt: Time('When it was submitted.'),
      startedAt: Nullable(Time('When its thread started.')),
      endedAt: Nullable(Time('When it finished.')),
    }),
    log: Type.Array(Type.String(), { description: `Its last ${BATCH_LOG_LINES} log lines.` }),
  },
  { $id: 'Batch', title: 'Batch' },
);

const Doas = { doAs: Type.Optional(Type.String({ description: 'Livy\'s impersonation: accepted and ignored.' })) };
const NoQuery = Type.Object(Doas, { additionalProperties: false });
const PageQuery = Type.Object(
  {
    from: intParam(0, Number.MAX_SAFE_INTEGER, 'Index of the first batch (default 0).', 0),
    size: intParam(0, 10_000, 'Batches to return (default 100).', 100),
    ...Doas,
  },
  { additionalProperties: false },
);
const LogQuery = Type.Object(
  {
    from: intParam(0, Number.MAX_SAFE_INTEGER, 'Index of the first line (default: the last `size` lines).'),
    size: intParam(0, 100_000, 'Lines to return (default 100).', 100),
    ...Doas,
  },
  { additionalProperties: false },
);
const Params = Type.Object({ id: jobIdParam() }, { additionalProperties: false });

const notFound = (id: number): JobError => new JobError('TS_ERR_JOB_NOT_FOUND', `batch ${id} not found`, 404);
const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** Livy's batch object. */
function batchView(jobs: JobRunner, job: JobInfo): Static<typeof Batch> {
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
      submittedAt: iso(job.submittedAt)!,
      startedAt: iso(job.startedAt),
      endedAt: iso(job.endedAt),
    },
    log: jobs.log(job.id, undefined, BATCH_LOG_LINES)?.lines ?? [],
  };
}

/** Livy's clients print an error's `msg`: every error answer of these routes carries it. */
async function withMsg(_req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  if (reply.statusCode < 400 || typeof payload !== 'object' || payload === null) return payload;
  const p = payload as { message?: unknown; msg?: unknown };
  return typeof p.message === 'string' && p.msg === undefined ? { ...p, msg: p.message } : payload;
}

export function registerLivyRoutes(app: FastifyInstance, { jobs }: LivyDeps): void {
  app.addSchema(LivyError);
  app.addSchema(Batch);
  const common = { errorHandler: jobErrorHandler, validatorCompiler: jsonBodyCompiler, preSerialization: withMsg };
  const tags = ['livy'];
  const security = [{ apiToken: [] }];

  app.post<{ Body: BatchBody; Querystring: Static<typeof NoQuery> }>(
    '/livy/batches',
    {
      ...common,
      preHandler: app.requireToken,
      schema: {
        summary: 'Submit a batch (start a job)',
        description:
          'Starts a streaming job from a module inside jobs.dirs, in its own worker thread. Livy fields that configure ' +
          'a Spark cluster are accepted and reported in the job\'s log; any other field is refused with a 400 naming it.',
        tags,
        security,
        querystring: NoQuery,
        body: BatchBody,
        response: { 201: Type.Ref(Batch, { description: 'The new batch, `starting`.' }), ...jobErrorResponses(LivyError, { write: true, submit: true }) },
      },
    },
    async (req, reply) => {
      const job = jobs.submit(req.body);
      return reply.code(201).header('location', `/livy/batches/${job.id}`).send(batchView(jobs, job));
    },
  );

  app.get<{ Querystring: Static<typeof PageQuery> }>(
    '/livy/batches',
    {
      ...common,
      schema: {
        summary: 'List batches',
        description: 'Every batch by id, the built-in telemetry job (0) first: `size` of them from index `from`.',
        tags,
        querystring: PageQuery,
        response: {
          200: Type.Object({
            from: Type.Integer(),
            total: Type.Integer({ description: 'Batches in all.' }),
            sessions: Type.Array(Type.Ref(Batch)),
          }),
          ...jobErrorResponses(LivyError, {}),
        },
      },
    },
    async (req) => {
      const { from, size } = req.query as Required<Static<typeof PageQuery>>;
      const all = jobs.list();
      return { from, total: all.length, sessions: all.slice(from, from + size).map((job) => batchView(jobs, job)) };
    },
  );

  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof NoQuery> }>(
    '/livy/batches/:id',
    {
      ...common,
      schema: {
        summary: 'One batch',
        description: 'Its state, appInfo and last log lines.',
        tags,
        params: Params,
        querystring: NoQuery,
        response: { 200: Type.Ref(Batch), ...jobErrorResponses(LivyError, { found: true }) },
      },
    },
    async (req) => {
      const job = jobs.get(req.params.id);
      if (job === undefined) throw notFound(req.params.id);
      return batchView(jobs, job);
    },
  );

  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof NoQuery> }>(
    '/livy/batches/:id/state',
    {
      ...common,
      schema: {
        summary: 'A batch\'s state',
        tags,
        params: Params,
        querystring: NoQuery,
        response: {
          200: Type.Object({ id: Type.Integer(), state: Type.String({ enum: [...JOB_STATES] }) }),
          ...jobErrorResponses(LivyError, { found: true }),
        },
      },
    },
    async (req) => {
      const job = jobs.get(req.params.id);
      if (job === undefined) throw notFound(req.params.id);
      return { id: req.params.id, state: job.state };
    },
  );

  app.get<{ Params: Static<typeof Params>; Querystring: Static<typeof LogQuery> }>(
    '/livy/batches/:id/log',
    {
      ...common,
      schema: {
        summary: 'A batch\'s log',
        description: 'Its print() output, stderr and errors, and the runner\'s notes: `size` lines from line `from`.',
        tags,
        params: Params,
        querystring: LogQuery,
        response: {
          200: Type.Object({
            id: Type.Integer(),
            from: Type.Integer({ description: 'Index of the first line returned, among the lines kept.' }),
            // Livy's documentation names the number of lines `size`; Livy itself also answers `total`.
            size: Type.Integer({ description: 'Lines returned.' }),
            total: Type.Integer({ description: 'Lines kept (the last jobs.logLines), as Livy counts them: from + size ≤ total.' }),
            log: Type.Array(Type.String()),
          }),
          ...jobErrorResponses(LivyError, { found: true }),
        },
      },
    },
    async (req) => {
      // As Livy numbers them: from 0 at the first line kept, total the lines kept. A client that pages `from` up to
      // `total` (Airflow's LivyHook) then reads each kept line once, however many the job wrote before them.
      const { id } = req.params;
      const kept = jobs.log(id, undefined, 0);
      if (kept === undefined) throw notFound(id);
      const from = req.query.from === undefined ? undefined : kept.first + req.query.from;
      const log = jobs.log(id, from, req.query.size!)!;
      return { id, from: log.from - log.first, size: log.lines.length, total: log.total - log.first, log: log.lines };
    },
  );

  app.delete<{ Params: Static<typeof Params>; Querystring: Static<typeof NoQuery> }>(
    '/livy/batches/:id',
    {
      ...common,
      preHandler: app.requireToken,
      schema: {
        summary: 'Delete a batch (stop a job)',
        description:
          'A running batch is stopped (gracefully, then its thread terminated after jobs.stopTimeoutMs) and stays ' +
          'listed as `killed`; a finished one is removed.',
        tags,
        security,
        params: Params,
        querystring: NoQuery,
        response: {
          200: Type.Object({ msg: Type.Literal('deleted') }),
          ...jobErrorResponses(LivyError, { write: true, found: true }),
        },
      },
    },
    async (req) => {
      await jobs.delete(req.params.id);
      return { msg: 'deleted' as const };
    },
  );
}
