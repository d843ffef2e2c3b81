import { Type, type TString } from '@sinclair/typebox';
import { DEVICE_ID } from '../ingest/decode.ts';
import { looksLikeEpochSeconds, parseIsoDate } from '../ingest/reading-rules.ts';
import { ParamError } from './request-errors.ts';

/**
 * Query parameters as JSON Schemas (TypeBox): fastify validates them (a 400 names the parameter, the value and
 * the `x-expected` text) and @fastify/swagger documents them. What a schema cannot say (a date that matches the
 * pattern but does not exist, a cursor's content) is checked here, with the same kind of error.
 */

// A space where an offset's sign goes is a + that a URL carried unencoded (form encoding reads + as a space). An
// offset is ±hh:mm, ±hhmm or ±hh, as ISO 8601 allows.
const TIME_PATTERN = '^(-?\\d{1,16}|\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?([Zz]|[+ -]\\d{2}(:?\\d{2})?))?)$';
const TIME_EXPECTED = 'ISO 8601 with a zone (2026-11-24T10:00:00Z) or epoch milliseconds';

export const timeParam = (description: string): TString =>
  Type.String({ pattern: TIME_PATTERN, description: `${description}: ${TIME_EXPECTED}`, 'x-expected': TIME_EXPECTED });

export const durationParam = (description: string): TString =>
  Type.String({
    pattern: '^[1-9]\\d{0,9}(ms|s|m|min|h)?$',
    description: `${description}: milliseconds, or a number with a unit (500ms, 10s, 1m, 1h)`,
    'x-expected': 'a positive duration such as 10000, 10s, 1m or 1h',
  });

/** Optional in the document; validation fills in the default, so handlers always see a number. */
export const limitParam = (fallback: number, max = 10_000) =>
  Type.Optional(Type.Integer({
    minimum: 1,
    maximum: max,
    default: fallback,
    description: `Page size (default ${fallback}, at most ${max}).`,
    'x-expected': `an integer from 1 to ${max}`,
  }));

export const cursorParam = () =>
  Type.String({
    pattern: '^[A-Za-z0-9_-]{1,400}$',
    description: 'The `next` value of the previous page.',
    'x-expected': 'the `next` value of a previous page',
  });

const DEVICE_ID_EXPECTED = 'a device id matching [A-Za-z0-9._:-]{1,128}';
export const deviceIdParam = (description: string) =>
  Type.String({ pattern: DEVICE_ID.source, description, 'x-expected': DEVICE_ID_EXPECTED });

/** A list's device filter: one device, or `*` (as windows take it) for every device, as when it is left out. */
export const deviceFilterParam = (description: string) =>
  Type.String({ pattern: `${DEVICE_ID.source}|^\\*$`, description: `${description} * or none: every device.`, 'x-expected': `${DEVICE_ID_EXPECTED}, or * for every device` });

/** The device a list is filtered by: undefined for every device (`*` or none). */
export const deviceFilter = (value: string | undefined): string | undefined => (value === '*' ? undefined : value);

export const deviceOrFleetParam = (description: string) =>
  Type.String({ pattern: `${DEVICE_ID.source}|^\\*$`, description, 'x-expected': `${DEVICE_ID_EXPECTED}, or * for the fleet` });

/** An offset's `+` typed into a URL as is arrives as a space: ` 01:00` (or ` 0100`, ` 01`) is `+01:00`. */
const withPlusOffset = (value: string): string => value.replace(/(T[\d:.]+) (\d\d(:?\d\d)?)$/, '$1+$2');

/** A time parameter's value in epoch ms (the schema has checked the form; a day that does not exist is refused here). */
function parseTime(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const epoch = /^-?\d+$/.test(value);
  const t = epoch ? Number(value) : parseIsoDate(withPlusOffset(value));
  if (!Number.isSafeInteger(t) || Math.abs(t) > 8.64e15) {
    // The form is right (the schema checked it): say what is wrong with this value rather than only the form again.
    const why = epoch ? 'epoch milliseconds go from -8640000000000000 to 8640000000000000' : 'no such day, time of day or zone offset';
    throw new ParamError(name, value, `expected ${TIME_EXPECTED}; ${why}`);
  }
  if (looksLikeEpochSeconds(t)) throw new ParamError(name, value, `expected ${TIME_EXPECTED}; this looks like epoch seconds (${t * 1000} in ms)`);
  return t;
}

/**
 * `from` and `to` as the half-open range [from, to) that every route with them reads; `to` defaults to `toFallback`,
 * `from` to `fromFallback(to)`. From must come before to: a reversed range is a mistake, not an empty answer.
 */
export function parseTimeRange(q: { from?: string; to?: string }, fromFallback: (to: number) => number, toFallback: number): { from: number; to: number } {
  const to = parseTime('to', q.to, toFallback);
  const from = parseTime('from', q.from, fromFallback(to));
  if (from >= to) throw new ParamError('from', q.from ?? iso(from), `expected a time before to (${iso(to)})`);
  return { from, to };
}

/** The whole time line, for routes whose from and to default to no bound. */
export const NO_BOUND = 8.64e15;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

export function parseDuration(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)(ms|s|m|min|h)?$/.exec(value)!;
  return Number(m[1]) * UNITS[m[2] ?? 'ms'];
}

/** Cursors are opaque to clients: the key of the last item of a page, base64url-encoded JSON. */
/**
 * A page of a list read with `limit + 1` rows: the first `limit` of them, and the cursor of the next page (the last
 * row's key) when the extra row says there is one.
 */
export function pageOf<T>(rows: T[], limit: number, key: (last: T) => unknown): { page: T[]; next: string | null } {
  if (rows.length <= limit) return { page: rows, next: null };
  const page = rows.slice(0, limit);
  return { page, next: encodeCursor(key(page[limit - 1])) };
}

export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<T>(value: string | undefined, check: (key: unknown) => key is T): T | undefined {
  if (value === undefined) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  if (!check(key)) throw new ParamError('cursor', value, 'expected the `next` value of a previous page of this route');
  return key;
}

export const isNumber = (k: unknown): k is number => typeof k === 'number' && Number.isSafeInteger(k);
export const isString = (k: unknown): k is string => typeof k === 'string';

export const iso = (t: number): string => new Date(t).toISOString();
export const isoOrNull = (t: number | null): string | null => (t === null || !Number.isFinite(t) ? null : iso(t));

/** A job's (Livy batch's) id: 0 is the built-in telemetry job. */
export const jobIdParam = () =>
  Type.Integer({
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'The batch (job) id; 0 is the built-in telemetry job.',
    'x-expected': 'a batch id (a non-negative integer)',
  });

/** An integer query parameter from min to max, optional (with a default when given one). */
export const intParam = (min: number, max: number, description: string, fallback?: number) =>
  Type.Optional(
    Type.Integer({
      minimum: min,
      maximum: max,
      ...(fallback === undefined ? {} : { default: fallback }),
      description,
      'x-expected': `an integer from ${min} to ${max}`,
    }),
  );
