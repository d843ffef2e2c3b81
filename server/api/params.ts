import { ThermostreamError } from '../errors.ts';

/** Query-string parsing with errors that name the parameter and the value (answered as 400). */
export class ParamError extends ThermostreamError {
  constructor(
    readonly parameter: string,
    readonly value: string,
    reason: string,
  ) {
    super('TS_ERR_QUERY_PARAM', `invalid query parameter "${parameter}" = ${JSON.stringify(value)}: ${reason}`);
  }
}

export type Query = Record<string, string | string[] | undefined>;

/** Rejects parameters a route does not know, so a typo is not silently ignored. */
export function checkKnown(query: Query, known: readonly string[]): void {
  for (const key of Object.keys(query)) {
    if (!known.includes(key)) {
      throw new ParamError(key, String(query[key]), `unknown parameter (known: ${known.join(', ')})`);
    }
  }
}

function single(query: Query, name: string): string | undefined {
  const v = query[name];
  if (Array.isArray(v)) throw new ParamError(name, v.join(','), 'given more than once');
  return v === '' ? undefined : v;
}

/** ISO 8601 (with a zone) or epoch milliseconds. */
export function timeParam(query: Query, name: string, fallback: number): number {
  const v = single(query, name);
  if (v === undefined) return fallback;
  if (/^-?\d+$/.test(v)) return Number(v);
  if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2}))?$/i.test(v)) {
    const t = Date.parse(v);
    if (!Number.isNaN(t)) return t;
  }
  throw new ParamError(name, v, 'expected ISO 8601 with a zone (2026-11-24T10:00:00Z) or epoch milliseconds');
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** A duration: milliseconds, or a number with a unit (500ms, 10s, 1m, 1h). */
export function durationParam(query: Query, name: string): number | undefined {
  const v = single(query, name);
  if (v === undefined) return undefined;
  const m = /^(\d+)(ms|s|m|min|h)?$/.exec(v.trim());
  if (m === null || Number(m[1]) === 0) throw new ParamError(name, v, 'expected a positive duration such as 10000, 10s, 1m or 1h');
  return Number(m[1]) * UNITS[m[2] ?? 'ms'];
}

export function intParam(query: Query, name: string, fallback: number, min: number, max: number): number {
  const v = single(query, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new ParamError(name, v, `expected an integer from ${min} to ${max}`);
  return n;
}

export function stringParam(query: Query, name: string, pattern?: RegExp): string | undefined {
  const v = single(query, name);
  if (v !== undefined && pattern !== undefined && !pattern.test(v)) {
    throw new ParamError(name, v, `does not match ${pattern.source}`);
  }
  return v;
}

export const iso = (t: number): string => new Date(t).toISOString();
