/**
 * A Livy batch request (POST /livy/batches), checked: https://livy.apache.org/docs/latest/rest-api.html#batch.
 * The HTTP API's schema checks the fields (a typo is refused, never ignored); this adds what a schema cannot say.
 * Livy fields that mean nothing here are accepted and reported in the job's log.
 */
import { realpathSync, statSync } from 'node:fs';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ThermostreamError, type ErrorCode } from '../errors.ts';
import type { ConfValue } from './protocol.ts';

/** A refused job request, answered with `status`. */
export class JobError extends ThermostreamError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
    readonly field?: string,
  ) {
    super(code, message);
  }
}

/** Livy fields for a Spark cluster (executors, jars, queues, impersonation): accepted, reported, not used. */
export const IGNORED_FIELDS = [
  'proxyUser',
  'jars',
  'pyFiles',
  'files',
  'driverCores',
  'executorMemory',
  'executorCores',
  'numExecutors',
  'archives',
  'queue',
] as const;
/** Livy's batch fields this server uses, in Livy's order. */
const USED_FIELDS = ['file', 'className', 'args', 'name', 'conf', 'driverMemory'] as const;
export const BATCH_FIELDS: readonly string[] = [...USED_FIELDS, ...IGNORED_FIELDS];

export const JOB_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];
const MIN_HEAP_MB = 32;
const MAX_HEAP_MB = 65_536;

/**
 * A Livy batch request as the HTTP API's schema (server/api/schemas.ts, BatchBody) has checked it: known fields,
 * their types and forms. Optional fields may be null (Livy clients send nulls for what they leave out).
 */
export interface BatchBody {
  file: string;
  className?: string | null;
  args?: string[] | null;
  name?: string | null;
  conf?: Record<string, ConfValue> | null;
  driverMemory?: string | null;
  [ignored: string]: unknown;
}

export interface BatchRequest {
  /** As submitted, for messages and the batch's appInfo. */
  file: string;
  /** The module's real path, inside a jobs directory. */
  path: string;
  className: string | null;
  args: string[];
  name: string | null;
  conf: Record<string, ConfValue>;
  driverMemory: string;
  heapMb: number;
  /** Livy fields given that mean nothing here. */
  ignored: Record<string, unknown>;
}

export interface RequestLimits {
  /** Jobs directories, resolved against `cwd`. */
  dirs: readonly string[];
  cwd: string;
  defaultDriverMemory: string;
}

/** A refused field: the message names it, its value and what it takes. */
export const badField = (field: string, value: unknown, expected: string): JobError =>
  new JobError('TS_ERR_JOB_REQUEST', `invalid batch request: "${field}" = ${show(value)}: ${expected}`, 400, field);

export const unknownField = (field: string): JobError =>
  new JobError('TS_ERR_JOB_REQUEST', `invalid batch request: unknown field "${field}" (Livy's batch fields: ${BATCH_FIELDS.join(', ')})`, 400, field);

export const notAnObject = (body: unknown): JobError =>
  new JobError('TS_ERR_JOB_REQUEST', `invalid batch request: the body must be a JSON object, got ${show(body)}`, 400);

/** What the schema cannot say: the file's place on disk and driverMemory's range (its form is checked). */
export function parseBatchRequest(b: BatchBody, limits: RequestLimits): BatchRequest {
  const driverMemory = b.driverMemory ?? limits.defaultDriverMemory;
  const heapMb = parseMemory('driverMemory', driverMemory);
  const ignored: Record<string, unknown> = {};
  for (const key of IGNORED_FIELDS) if (b[key] !== undefined && b[key] !== null) ignored[key] = b[key];
  return {
    file: b.file,
    path: resolveJobFile(b.file, limits),
    className: b.className ?? null,
    args: b.args ?? [],
    name: b.name ?? null,
    conf: b.conf ?? {},
    driverMemory,
    heapMb,
    ignored,
  };
}

/** A JVM-style memory size ("512m", "1g", "1536M", "2gb"; a bare number is bytes), in whole MiB. */
export function parseMemory(field: string, text: string): number {
  const mb = memoryMb(text);
  if (mb === undefined) throw badField(field, text, 'a size such as "512m" or "1g"');
  const problem = heapLimitProblem(mb);
  if (problem !== undefined) throw badField(field, text, problem);
  return mb;
}

/** A memory size in whole MiB, or undefined when it is not one (config/schema.json checks the same form). */
function memoryMb(text: string): number | undefined {
  const m = /^\s*(\d+)\s*([kmgt])?b?\s*$/i.exec(text);
  if (m === null) return undefined;
  const scale: Record<string, number> = { k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 };
  return Math.floor(Number(m[1]) * (m[2] ? scale[m[2].toLowerCase()] : 1 / (1024 * 1024)));
}

const heapLimitProblem = (mb: number): string | undefined =>
  mb < MIN_HEAP_MB || mb > MAX_HEAP_MB ? `the job's heap limit must be from ${MIN_HEAP_MB}m to ${MAX_HEAP_MB / 1024}g` : undefined;

/** What is wrong with jobs.driverMemory beyond its form (which the config schema checks): its range, as a request's. */
export function driverMemoryProblem(text: string): string | undefined {
  const mb = memoryMb(text);
  return mb === undefined ? undefined : heapLimitProblem(mb);
}

/**
 * The real path of a job file, which must be a module inside one of the jobs directories once every symlink and
 * `..` is resolved. Livy's `local:` and `file:` forms of a local path are accepted; other schemes (hdfs:, wasbs:,
 * abfs:, http:) are not files of this server.
 */
export function resolveJobFile(file: string, limits: RequestLimits): string {
  const dirs = limits.dirs.join(', ');
  const refuse = (why: string): JobError =>
    new JobError('TS_ERR_JOB_FILE', `file ${JSON.stringify(file)} ${why} (jobs.dirs: ${dirs})`, 400, 'file');
  let path = file;
  if (path.startsWith('file:')) {
    try {
      path = fileURLToPath(path);
    } catch {
      throw refuse('is not a valid file: URL');
    }
  } else if (path.startsWith('local:')) {
    path = path.slice('local:'.length);
  } else if (/^[a-z][a-z0-9+.-]+:/i.test(path)) {
    throw refuse('is not a local path: only files of this server inside the jobs directories can be started');
  }
  let real: string;
  try {
    real = realpathSync(resolve(limits.cwd, path));
  } catch {
    throw refuse('does not exist');
  }
  const inside = limits.dirs.some((dir) => {
    let realDir: string;
    try {
      realDir = realpathSync(resolve(limits.cwd, dir));
    } catch {
      return false;
    }
    // The directory itself counts as inside: it is then refused as not a file, which is what is wrong with it.
    return real === realDir || real.startsWith(realDir.endsWith(sep) ? realDir : realDir + sep);
  });
  if (!inside) throw refuse('is outside the jobs directories');
  if (!statSync(real).isFile()) throw refuse('is not a file');
  if (!JOB_EXTENSIONS.includes(extname(real))) throw refuse(`is not a job module (${JOB_EXTENSIONS.join(', ')})`);
  return real;
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
