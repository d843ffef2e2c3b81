import type { ErrorObject } from 'ajv';
import schema from '../config/schema.json' with { type: 'json' };
import { ThermostreamError } from './errors.ts';
import { redactUrl } from './url.ts';

// How an invalid configuration is told: each key by its path, its value (secrets never shown), where it came from
// and what it must be, in the schema's words (x-expected) rather than ajv's.

/** Where a key's value came from: a flag, an environment variable, the --config file; undefined for a default. */
export type Source = (path: readonly string[]) => string | undefined;

/**
 * Keys whose values are secrets: a configuration error names them without their value. A string where a user is
 * expected ("bob:password") is one too, and so is a secret inside an object or array that is shown.
 */
const SECRET_KEY = /^(http\.apiToken|broker\.password|auth\.users(\[\d+\](\.password)?)?)$/;
/** Fields whose value is a secret wherever they are (looseSecrets reads a config file with it too). */
export const SECRET_FIELDS = new Set(['apiToken', 'password']);

/** A value as a configuration error shows it: secrets by their length only, URLs without their password. */
function shownValue(key: string, raw: unknown): string {
  const secret = (v: string): string => `a secret of ${v.length} characters (not shown)`;
  if (SECRET_KEY.test(key) && typeof raw === 'string') return secret(raw);
  if (SECRET_KEY.test(key) && (raw === null || typeof raw !== 'object')) return 'a secret (not shown)';
  return JSON.stringify(raw, (k, v: unknown) => (typeof v !== 'string' ? v : SECRET_FIELDS.has(k) ? `(${secret(v)})` : v.includes('://') ? redactUrl(v) : v));
}

export function configError(errors: ErrorObject[], config: unknown, from: Source, fileName: string | undefined): ThermostreamError {
  // A key of a map (detectors.threshold.devices) that its propertyNames refuse: ajv says it twice, the second time
  // without the reason ("property name must be valid").
  const lines = errors.filter((e) => e.keyword !== 'propertyNames').map((e) => {
    const path = e.instancePath.split('/').slice(1);
    if (e.propertyName !== undefined) {
      return `${formatKey(path)} has the key ${JSON.stringify(e.propertyName)}: ${expected(schemaAt(path)?.propertyNames) ?? e.message}`;
    }
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const key = formatKey([...path, extra]);
      return `unknown key "${key}"${fileName === undefined ? '' : ` in ${fileName}`} (allowed: ${Object.keys(schemaAt(path)?.properties ?? {}).join(', ')})`;
    }
    const key = formatKey(path) || '(root)';
    // A token or password too short is most likely the real one mistyped: its length says enough, and logs keep it.
    const shown = shownValue(key, valueAt(config, path));
    const source = from(path);
    // ajv's enum message leaves the values out: "must be equal to one of the allowed values".
    const message =
      e.keyword === 'enum' ? `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
      : e.keyword === 'type' ? typeMessage(e)
      : e.keyword === 'pattern' ? (expected(schemaAt(path)) ?? e.message)
      : e.message;
    return `${key} = ${shown}${source ? ` (from ${source})` : ''}: ${message}`;
  });
  return new ThermostreamError('TS_ERR_CONFIG_INVALID', `invalid configuration: ${lines.join('; ')}`);
}

/** "must be …" in the words of a schema node's x-expected, for a value its pattern refuses; undefined without them. */
function expected(node: { 'x-expected'?: string } | undefined): string | undefined {
  const words = node?.['x-expected'];
  return words === undefined ? undefined : `must be ${words}`;
}

/** ajv's type message lists several types as "must be boolean,null": say them in words, booleans as their values. */
function typeMessage(e: ErrorObject): string | undefined {
  const types = ([] as string[]).concat((e.params as { type: string | string[] }).type);
  if (types.length === 1) return e.message;
  const words = types.flatMap((t) => (t === 'boolean' ? ['true', 'false'] : [t]));
  return `must be ${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

function formatKey(path: string[]): string {
  return path.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export function schemaAt(path: string[]): any {
  let node: any = schema;
  for (const key of path) {
    // A map's entries (detectors.threshold.devices.<id>) are described by its additionalProperties.
    const mapped = typeof node?.additionalProperties === 'object' ? node.additionalProperties : undefined;
    node = /^\d+$/.test(key) ? node?.items : (node?.properties?.[key] ?? mapped);
  }
  return node;
}

export function valueAt(value: unknown, path: readonly string[]): unknown {
  let node: any = value;
  for (const key of path) node = node?.[key];
  return node;
}
