import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ThermostreamError, type ErrorCode } from '../errors.ts';

const WHERE = {
  querystring: ['query parameter', 'TS_ERR_QUERY_PARAM'],
  params: ['path parameter', 'TS_ERR_QUERY_PARAM'],
  body: ['body field', 'TS_ERR_BAD_REQUEST'],
  headers: ['header', 'TS_ERR_BAD_REQUEST'],
} as const satisfies Record<string, readonly [string, ErrorCode]>;

export type RequestPart = keyof typeof WHERE;

/** The `parameter` of a 400 about a JSON body as a whole (not an object, say). */
export const BODY = 'body';

/** A bad request part, answered as 400 (or `status`) `{ error, message, parameter, value }`. */
export class ParamError extends ThermostreamError {
  /** The message without its leading "invalid ": `request body = "…": not valid JSON (…)`. */
  readonly detail: string;
  constructor(
    readonly parameter: string,
    readonly value: string | null,
    reason: string,
    part: RequestPart = 'querystring',
    /** 400, or a more precise 4xx (415 for an unsupported Content-Type, 413 for a body over the limit). */
    readonly status = 400,
    /** The value as the message shows it: quoted, or a body field's JSON as sent (see bodyFieldError). */
    shown = JSON.stringify(value),
  ) {
    const [what, code] = WHERE[part];
    const subject = part === 'body' && parameter === BODY ? 'request body' : `${what} "${parameter}"`;
    // A body refused unread (over the size limit) has no value to show.
    const detail = `${subject}${value === null && subject === 'request body' ? '' : ` = ${shown}`}: ${reason}`;
    super(code, `invalid ${detail}`);
    this.detail = detail;
  }
}

/** A value in a 400, at most 64 characters of it (twin patches and messages can be 64 KB). */
export const preview = (text: string): string => (text.length > 64 ? `${text.slice(0, 64)}…` : text);

/**
 * A bad field of a JSON body: `value` is the field's text (a string as it is, anything else as JSON), and the message
 * shows it as sent, so that `5` does not read as the string `"5"`.
 */
export function bodyFieldError(parameter: string, data: unknown, reason: string): ParamError {
  if (data === undefined) return new ParamError(parameter, null, reason, 'body');
  const text = preview(typeof data === 'string' ? data : JSON.stringify(data));
  return new ParamError(parameter, text, reason, 'body', 400, typeof data === 'string' ? JSON.stringify(text) : text);
}

/** A request body that could not be read, before any route's own checks (job routes answer it as a batch request error). */
export class BodyParseError extends ParamError {}

/** fastify's own refusals of a request body, as the API's 4xx naming what was wrong; undefined for any other error. */
export function bodyParseError(err: FastifyError, req: FastifyRequest): BodyParseError | undefined {
  if (err instanceof BodyParseError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = req.headers['content-type'] ?? null;
      const why = type === null ? 'required with a request body, expected application/json' : 'expected application/json';
      return new BodyParseError('content-type', type, why, 'headers', 415);
    }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BodyParseError(BODY, null, `larger than the limit of ${req.routeOptions.bodyLimit} bytes`, 'body', 413);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new BodyParseError('content-length', req.headers['content-length'] ?? null, 'does not match the length of the body', 'headers');
    default:
      return undefined;
  }
}

/**
 * An unknown resource, answered as 404 `{ error, message, parameter, value }`; `as` gives a resource's own code and
 * message (the registry's TS_ERR_DEVICE_NOT_FOUND, shared with its CLI).
 */
export class NotFoundError extends ThermostreamError {
  constructor(
    readonly parameter: string,
    readonly value: string,
    what: string,
    as?: { code: ErrorCode; message: string },
  ) {
    super(as?.code ?? 'TS_ERR_NOT_FOUND', as?.message ?? `no ${what} "${value}"`);
  }
}

export interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  data?: unknown;
  parentSchema?: Record<string, unknown>;
}

/**
 * For a `required` error: a key the object has that its schema does not know (additionalProperties false), if any.
 * ajv checks `required` before unknown fields, so `{"tags": …}` for `{"properties": …}` is reported as properties
 * missing; the key sent, most likely the missing one misspelt, is what to name.
 */
export function unknownBesideRequired(e: AjvError): string | undefined {
  if (e.parentSchema?.additionalProperties !== false || typeof e.data !== 'object' || e.data === null || Array.isArray(e.data)) return undefined;
  const known = (e.parentSchema.properties as object | undefined) ?? {};
  return Object.keys(e.data).find((k) => !Object.hasOwn(known, k));
}

/** The value as the client sent it: query strings and path parameters are coerced in place by validation, so read the raw URL. */
function rawValue(req: FastifyRequest, part: RequestPart, name: string, data: unknown): string | null {
  if (part === 'querystring') {
    const q = req.raw.url?.indexOf('?') ?? -1;
    const values = new URLSearchParams(q < 0 ? '' : req.raw.url!.slice(q + 1)).getAll(name);
    if (values.length > 0) return values.join(',');
  }
  if (part === 'params') {
    // Path parameters are coerced in place too: take the segment from the URL, where the route has `:name`.
    const at = (req.routeOptions.url ?? '').split('/').indexOf(`:${name}`);
    const segment = at < 0 ? undefined : req.raw.url?.split('?')[0].split('/')[at];
    if (segment !== undefined) {
      try {
        return decodeURIComponent(segment);
      } catch {
        return segment;
      }
    }
  }
  if (data === undefined || data === null) return null;
  return typeof data === 'string' ? data : JSON.stringify(data);
}

/** Maps ajv's first error (fastify stops at the first) to the parameter, its value and what was expected. */
export function validationError(err: FastifyError, req: FastifyRequest): ParamError {
  const part = (err.validationContext ?? 'querystring') as RequestPart;
  const e = (err.validation as unknown as AjvError[])[0];
  const path = e.instancePath.split('/').slice(1).join('.');
  if (e.keyword === 'additionalProperties') {
    const field = e.params.additionalProperty as string;
    const name = [path, field].filter(Boolean).join('.');
    const known = Object.keys((e.parentSchema?.properties as object | undefined) ?? {});
    const why = `unknown ${WHERE[part][0]} (known: ${known.join(', ') || 'none'})`;
    // A body's unknown field: its value, from the object that holds it.
    if (part === 'body' && typeof e.data === 'object' && e.data !== null) return bodyFieldError(name, (e.data as Record<string, unknown>)[field], why);
    return new ParamError(name, rawValue(req, part, name, undefined), why, part);
  }
  if (e.keyword === 'required') {
    const missing = e.params.missingProperty as string;
    const unknown = unknownBesideRequired(e);
    if (unknown !== undefined) {
      const name = [path, unknown].filter(Boolean).join('.');
      const known = Object.keys((e.parentSchema?.properties as object | undefined) ?? {});
      const why = `unknown ${WHERE[part][0]} (known: ${known.join(', ')}; ${missing} is required)`;
      const sent = (e.data as Record<string, unknown>)[unknown];
      return part === 'body' ? bodyFieldError(name, sent, why) : new ParamError(name, rawValue(req, part, name, undefined), why, part);
    }
    return new ParamError([path, missing].filter(Boolean).join('.'), null, 'required', part);
  }
  const expected = e.parentSchema?.['x-expected'];
  const why = typeof expected === 'string' ? `expected ${expected}` : (e.message ?? e.keyword);
  if (part === 'body' && path === '') {
    // The body's JSON as sent, unquoted: a body 5 is not the string "5".
    const json = e.data === undefined ? null : preview(JSON.stringify(e.data));
    return new ParamError(BODY, json, why, part, 400, json ?? undefined);
  }
  if (part === 'body') return bodyFieldError(path, e.data, why);
  const value = rawValue(req, part, path, e.data);
  if (part === 'querystring' && value !== null && new URLSearchParams(req.raw.url!.split('?')[1] ?? '').getAll(path).length > 1) {
    return new ParamError(path, value, 'given more than once', part);
  }
  return new ParamError(path, value, why, part);
}

/** The API's error handler: every error answers `{ error, message }`, plus `parameter` and `value` for a 400/404. */
export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e: Error = err.validation ? validationError(err, req) : (bodyParseError(err, req) ?? err);
  if (e instanceof ParamError) return reply.code(e.status).send({ error: e.code, message: e.message, parameter: e.parameter, value: e.value });
  if (e instanceof NotFoundError) return reply.code(404).send({ error: e.code, message: e.message, parameter: e.parameter, value: e.value });
  const status = err.statusCode ?? 500;
  if (status >= 500) req.log.error(err);
  return reply.code(status).send({ error: err.code ?? ('TS_ERR_INTERNAL' satisfies ErrorCode), message: err.message });
}
