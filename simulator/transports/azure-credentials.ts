/**
 * Where the azure transport's devices come from: a connection-strings file (one per line, or JSON), or the server's
 * device registry (`/api/v1/registry/devices`), which creates the devices that are missing and reuses the others.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, SimulatorError, invalidOption } from '../errors.ts';
import { DEVICE_ID_PATTERN } from '../reading.ts';

/** The fields of `HostName=…;DeviceId=…;SharedAccessKey=…`. */
export function parseConnectionString(cs: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const part of cs.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return fields;
}

function deviceOf(cs: string, where: string): string {
  const f = parseConnectionString(cs);
  if (!f.HostName || !f.DeviceId || !f.SharedAccessKey || !DEVICE_ID_PATTERN.test(f.DeviceId)) {
    throw invalidOption('connection-strings', where, 'connection strings like HostName=…;DeviceId=…;SharedAccessKey=…');
  }
  return f.DeviceId;
}

/**
 * Reads a connection-strings file: one per line (blank lines and # comments skipped), or JSON: an array of strings,
 * an array of {connectionString}, or the registry's list `{"items": [...]}`. Returns them by device id, in file order.
 */
export function loadConnectionStrings(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw invalidOption('connection-strings', path, `a readable file (${(error as Error).message})`);
  }
  let list: unknown[];
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (error) {
      throw invalidOption('connection-strings', path, `valid JSON (${(error as Error).message})`);
    }
    list = Array.isArray(json) ? json : Array.isArray((json as { items?: unknown }).items) ? (json as { items: unknown[] }).items : [];
    list = list.map((x) => (typeof x === 'object' && x !== null ? (x as { connectionString?: unknown }).connectionString : x));
  } else {
    list = trimmed.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  }
  const out = new Map<string, string>();
  list.forEach((cs, i) => {
    const where = `${path} entry ${i + 1}`;
    if (typeof cs !== 'string') throw invalidOption('connection-strings', where, 'a connection string');
    const id = deviceOf(cs, where);
    if (out.has(id)) throw invalidOption('connection-strings', where, `one connection string per device (${id} twice)`);
    out.set(id, cs);
  });
  if (out.size === 0) throw invalidOption('connection-strings', path, 'at least one connection string');
  return out;
}

interface RegistryDevice {
  deviceId: string;
  connectionString: string;
}

/** The connection strings of `deviceIds` from the registry at `base` (http://host:port), creating missing devices. */
export async function registryConnectionStrings(base: string, apiToken: string | undefined, deviceIds: readonly string[]): Promise<Map<string, string>> {
  const url = `${base.replace(/\/+$/, '')}/api/v1/registry/devices`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiToken !== undefined) headers.authorization = `Bearer ${apiToken}`;
  const call = async (method: string, target: string, body?: unknown): Promise<{ status: number; body: any }> => {
    let res: Response;
    try {
      res = await fetch(target, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      const cause = (error as { cause?: Error }).cause?.message ?? (error as Error).message;
      throw new SimulatorError(ErrorCodes.SIM_REGISTRY_FAILED, `cannot reach the registry at ${url}: ${cause}`);
    }
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: res.status, body: parsed };
  };
  const fail = (what: string, r: { status: number; body: any }) =>
    new SimulatorError(ErrorCodes.SIM_REGISTRY_FAILED, `${what}: HTTP ${r.status} ${typeof r.body === 'object' ? (r.body?.message ?? JSON.stringify(r.body)) : r.body}`);

  const listed = await call('GET', url);
  if (listed.status !== 200) throw fail(`cannot list the devices at ${url}`, listed);
  const known = new Map<string, string>((listed.body.items as RegistryDevice[]).map((d) => [d.deviceId, d.connectionString]));
  const out = new Map<string, string>();
  const missing = deviceIds.filter((id) => !known.has(id));
  // A few creations at a time: the registry writes each to SQLite.
  for (let i = 0; i < missing.length; i += 16) {
    await Promise.all(
      missing.slice(i, i + 16).map(async (id) => {
        let r = await call('POST', url, { deviceId: id });
        if (r.status === 409) r = await call('GET', `${url}/${encodeURIComponent(id)}`);
        if (r.status !== 201 && r.status !== 200) throw fail(`cannot create device ${id}`, r);
        known.set(id, (r.body as RegistryDevice).connectionString);
      }),
    );
  }
  for (const id of deviceIds) out.set(id, known.get(id) as string);
  return out;
}
