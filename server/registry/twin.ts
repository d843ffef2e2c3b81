/** Twin property documents: JSON objects changed by JSON merge patches (RFC 7396), as IoT Hub twins are. */
export type Properties = Record<string, unknown>;

/**
 * How deep objects may nest below properties.desired / .reported: IoT Hub's limit, 10, as its own example of a valid
 * twin counts it (`{"one": {"two": … {"ten": {"property": "value"}}}}`: ten objects, the tenth holding a value).
 */
export const MAX_TWIN_DEPTH = 10;
/** IoT Hub's limit for each of desired and reported: 32 KB. */
export const MAX_TWIN_BYTES = 32 * 1024;

/**
 * What IoT Hub refuses in a twin's property names (besides a leading `$`): `.`, `$`, a space and the control characters
 * of Unicode's C0 and C1 blocks; a device or app tried against this server then works against IoT Hub too.
 */
const BAD_KEY_CHAR = /[.$ \u0000-\u001f\u007f-\u009f]/;
/** IoT Hub's limit for a twin property name, in UTF-8. */
const MAX_KEY_BYTES = 1024;

/** Applies `patch` to `doc` (both plain objects): null deletes a key, objects merge, anything else replaces. */
export function mergePatch(doc: Properties, patch: Properties): Properties {
  const out: Properties = { ...doc };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isObject(value) && isObject(out[key])) out[key] = mergePatch(out[key] as Properties, value);
    else if (isObject(value)) out[key] = mergePatch({}, value);
    else out[key] = value;
  }
  return out;
}

/** Why a patch is not acceptable, or null. Keys starting with `$` are the service's own (`$version`, `$metadata`). */
export function patchProblem(patch: unknown): string | null {
  if (!isObject(patch)) return 'a twin patch must be a JSON object';
  const problem = walk(patch, 0, ''); // the patch itself is properties.desired or .reported, no level of its own
  if (problem !== null) return problem;
  return null;
}

/** What IoT Hub refuses in a property name (besides a leading "$"), or null. */
function keyProblem(key: string): string | null {
  const bad = BAD_KEY_CHAR.exec(key);
  if (bad !== null) {
    const c = bad[0];
    const what = c === ' ' ? 'a space' : c === '.' || c === '$' ? `"${c}"` : `the control character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    return `contains ${what}: IoT Hub's twin property names exclude ".", "$", spaces and control characters`;
  }
  return Buffer.byteLength(key) > MAX_KEY_BYTES ? `is longer than ${MAX_KEY_BYTES} bytes` : null;
}

function walk(node: Properties, depth: number, path: string): string | null {
  if (depth > MAX_TWIN_DEPTH) return `twin properties nest deeper than ${MAX_TWIN_DEPTH} levels at ${JSON.stringify(path.slice(0, -1))}`;
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('$')) return `property name ${JSON.stringify(path + key)} starts with "$", which is reserved`;
    // null deletes: a name stored before these names were refused can still be removed.
    const problem = value === null ? null : keyProblem(key);
    // Named apart from its parents: joined with ".", a name holding a "." would read as a path.
    if (problem !== null) {
      const name = JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
      return `property name ${name}${path === '' ? '' : ` under ${JSON.stringify(path.slice(0, -1))}`} ${problem}`;
    }
    if (isObject(value)) {
      const p = walk(value, depth + 1, `${path}${key}.`);
      if (p !== null) return p;
    }
  }
  return null;
}

export function isObject(v: unknown): v is Properties {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
