/** What the jobs tests share: Livy requests over real HTTP, waiting for a batch's state, a TCP line source. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import type { Thermostream } from '../server/main.ts';
import { getJson, waitFor } from './helpers.ts';

export const ROOT = resolve(import.meta.dirname, '..');
export const FIXTURES = join(ROOT, 'test/fixtures/jobs');
export const EXAMPLES = join(ROOT, 'examples');
export const JOBS = { dirs: [FIXTURES, EXAMPLES], stopTimeoutMs: 1000 };

export async function livy(app: Thermostream, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${app.httpUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

export function waitForState(app: Thermostream, id: number, state: string): Promise<unknown> {
  return waitFor(`batch ${id} to be ${state}`, async () => {
    const { body } = await getJson(`${app.httpUrl}/livy/batches/${id}/state`);
    return body.state === state ? body : null;
  }, 20_000);
}

export async function fullLog(app: Thermostream, id: number): Promise<string[]> {
  const { status, body } = await getJson(`${app.httpUrl}/livy/batches/${id}/log?from=0&size=10000`);
  assert.equal(status, 200);
  return body.log;
}

/** Sums the `(key,n)` lines that print() wrote over every batch. */
export function sumPairs(lines: string[]): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const line of lines) {
    const m = /^\(([^,()]+),(-?[\d.]+)\)$/.exec(line);
    if (m) sums[m[1]] = (sums[m[1]] ?? 0) + Number(m[2]);
  }
  return sums;
}

export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A line source like `nc -lk`: every connection gets what `send` writes. */
export async function lineServer(t: TestContext): Promise<{ port: number; connected: Promise<net.Socket> }> {
  const server = net.createServer();
  const connected = new Promise<net.Socket>((resolveSocket) => server.once('connection', resolveSocket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((done) => server.close(() => done())));
  void connected.then((socket) => t.after(() => socket.destroy()));
  return { port: (server.address() as net.AddressInfo).port, connected };
}
