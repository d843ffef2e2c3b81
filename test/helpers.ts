import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { buildDashboard } from '../dashboard/build.ts';
import { buildServer } from '../server/build.ts';
import { dashboardMissing } from '../server/api/index.ts';
import { resolveConfig } from '../server/config.ts';
import { startThermostream, type Thermostream } from '../server/main.ts';

export function tempDir(t: TestContext, prefix = 'thermostream-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The server built as `npm start` builds it (server/build.ts), into a directory of this test's own beside
 * server/dist/ (the bundle finds its neighbours by relative URLs), removed when the test ends: test files run in
 * parallel, and none may read a bundle another is writing. Returns the path of its start.mjs, what `npm start` runs.
 */
export async function builtServer(t: TestContext): Promise<string> {
  const dist = fileURLToPath(new URL(`../server/dist-test-${process.pid}-${++builds}/`, import.meta.url));
  t.after(() => rmSync(dist, { recursive: true, force: true }));
  await buildServer(dist);
  return join(dist, 'start.mjs');
}
let builds = 0;

/** A whole server on ephemeral loopback ports with a fresh data dir, closed when the test ends. */
export async function startServer(t: TestContext, overrides: Record<string, unknown> = {}): Promise<Thermostream> {
  const config = resolveConfig({
    host: '127.0.0.1',
    http: { port: 0 },
    dataDir: tempDir(t),
    batchIntervalMs: 100,
    ...overrides,
    // TLS off unless a test asks for it (generating its certificate takes a second).
    mqtt: { port: 0, tlsPort: -1, ...(overrides.mqtt as object | undefined) },
  });
  const app = await startThermostream(config);
  t.after(() => app.close());
  return app;
}

export async function connect(t: TestContext, url: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 });
  t.after(() => client.endAsync());
  return client;
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

/** Polls until `check` returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until the engine has processed `n` readings (they are then committed and queryable), and two batches more:
 * the first batch that brings a device nothing refreshes its open windows (openWindowRefresh "slide"), so every
 * window then shows every reading.
 */
export async function waitForRecords(app: Thermostream, n: number): Promise<unknown> {
  const stats = async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  const done = await waitFor(`${n} processed readings`, async () => {
    const body = await stats();
    return body.records >= n ? body : null;
  });
  return waitFor('two more batches (open windows refreshed)', async () => {
    const body = await stats();
    return body.batches >= done.batches + 2 ? body : null;
  });
}

export const close = (a: number, b: number, eps = 1e-9): boolean => Math.abs(a - b) <= eps;

let built: Promise<unknown> | null = null;

/** `npm install` and `npm run test:browser` build the dashboard; a test file run alone builds it when it is missing. */
export function ensureDashboardBuilt(): Promise<unknown> {
  built ??= dashboardMissing() === null ? Promise.resolve() : buildDashboard();
  return built;
}

/** Count-weighted average temperature of a device's points in [from, to), from GET /api/v1/readings. */
export async function averageTemperature(base: string, deviceId: string, from: number, to: number): Promise<{ avg: number; n: number }> {
  const q = `deviceId=${deviceId}&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&maxPoints=10000`;
  const items: { temperature: number; count: number }[] = (await getJson(`${base}/api/v1/readings?${q}`)).body.items;
  let sum = 0;
  let n = 0;
  for (const p of items) {
    sum += p.temperature * p.count;
    n += p.count;
  }
  return { avg: sum / n, n };
}
