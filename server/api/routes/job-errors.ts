/**
 * Errors of the job routes (routes/livy.ts, routes/jobs.ts): a refused batch request answers as the job runner's
 * own checks always did, `{ error, message, field }` naming the field, whether the schema or the runner refused it;
 * query and path parameters answer as everywhere in the API, `{ error, message, parameter, value }`.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { badField, JobError, notAnObject, unknownField } from '../../jobs/index.ts';
import { bodyParseError, errorHandler, unknownBesideRequired, type AjvError } from '../request-errors.ts';

/** ajv's first error in a batch request body, as the JobError that names the top-level field. */
export function batchBodyError(err: FastifyError, req: FastifyRequest): JobError {
  const e = (err.validation as unknown as AjvError[])[0];
  const body = req.body as Record<string, unknown>;
  const properties = ((req.routeOptions.schema?.body as { properties?: Record<string, { 'x-expected'?: string }> } | undefined)?.properties) ?? {};
  if (e.instancePath === '' && e.keyword === 'additionalProperties') return unknownField(e.params.additionalProperty as string);
  if (e.instancePath === '' && e.keyword === 'required') {
    const sent = unknownBesideRequired(e); // `{"File": …}`: the field sent, not only the "file" it leaves missing
    if (sent !== undefined) return unknownField(sent);
    const field = e.params.missingProperty as string;
    const expected = properties[field]?.['x-expected'];
    return badField(field, undefined, expected === undefined ? 'required' : `required: ${expected}`);
  }
  if (e.instancePath === '') return notAnObject(req.body);
  const field = e.instancePath.split('/')[1].replace(/~1/g, '/').replace(/~0/g, '~');
  return badField(field, body[field], properties[field]?.['x-expected'] ?? 'invalid');
}

/** A batch request body that could not be read (not JSON, wrong Content-Type) as TS_ERR_JOB_REQUEST; other routes' as the API's. */
function unreadableBatch(err: FastifyError, req: FastifyRequest): JobError | undefined {
  const e = req.routeOptions.schema?.body === undefined ? undefined : bodyParseError(err, req);
  return e === undefined ? undefined : new JobError('TS_ERR_JOB_REQUEST', `invalid batch request: ${e.detail}`, e.status);
}

/** The job routes' errorHandler. */
export function jobErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e: Error = err.validation && err.validationContext === 'body' ? batchBodyError(err, req) : unreadableBatch(err, req) ?? err;
  if (e instanceof JobError) {
    return reply.code(e.status).send({ error: e.code, message: e.message, ...(e.field === undefined ? {} : { field: e.field }) });
  }
  return errorHandler(err, req, reply);
}

/** Error answers of a job route, in `body`'s shape; write routes also answer 401 (token), 403, 413, 415, 429 and 503. */
export function jobErrorResponses(body: TSchema, what: { write?: boolean; found?: boolean; submit?: boolean }) {
  const ref = (description: string) => Type.Ref(body.$id!, { description });
  return {
    400: ref('A parameter, id or body field is invalid: the answer names it, its value and what was expected.'),
    ...(what.write ? { 401: ref('Without "Authorization: Bearer <http.apiToken>" (when a token is configured).') } : {}),
    ...(what.found ? { 404: ref('No job with that id.') } : {}),
    ...(what.write && what.found ? { 403: ref('The built-in telemetry job (id 0) cannot be deleted.') } : {}),
    ...(what.submit
      ? {
          413: ref('The request body is larger than 1 MiB.'),
          415: ref('The request body is not sent as Content-Type: application/json.'),
          429: ref('jobs.maxRunning jobs are already starting or running.'),
          503: ref('The server is shutting down.'),
        }
      : {}),
  };
}
