import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { waitFor } from './helpers.ts';
import { buildServer } from '../server/build.ts';

const ROOT = new URL('..', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The server as `npm start` runs it, built (server/build.ts) once per test process into a directory of its own beside
 * server/dist/ (test files run in parallel: none reads a bundle another is writing), removed when the process exits.
 * Built, a start takes about half the time of tsx loading the source in the main and the batch thread (≈ 1.4 s
 * against ≈ 2.9 s on a loaded 2-core machine), and the fault tests start servers dozens of times. The in-process
 * tests run the TypeScript; test/cli.test.ts runs the CLI both ways.
 */
let built: Promise<string> | null = null;
let builtStart: string | null = null;
function buildOnce(): Promise<string> {
  built ??= (async () => {
    const dist = fileURLToPath(new URL(`../server/dist-test-${process.pid}-process/`, import.meta.url));
    process.once('exit', () => rmSync(dist, { recursive: true, force: true }));
    await buildServer(dist);
    return (builtStart = join(dist, 'start.mjs'));
  })();
  return built;
}

/**
 * The real server as a child process on fixed ports and one data dir, so it can be killed (SIGKILL) and started
 * again on the same state, as an operator's process supervisor would.
 */
export class ServerProcess {
  child: ChildProcess | null = null;
  output = '';
  readonly httpUrl: string;
  readonly mqttUrl: string;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    readonly dataDir: string,
    readonly httpPort: number,
    readonly mqttPort: number,
    readonly config: Record<string, unknown>,
    readonly env: Record<string, string> = {},
  ) {
    this.httpUrl = `http://127.0.0.1:${httpPort}`;
    this.mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
  }

  static async create(dataDir: string, config: Record<string, unknown>, env: Record<string, string> = {}): Promise<ServerProcess> {
    await buildOnce();
    return new ServerProcess(dataDir, await freePort(), await freePort(), config, env);
  }

  /** Starts the server and resolves once it prints its endpoints. */
  start(env: Record<string, string> = this.env): Promise<void> {
    return this.startWith([], env);
  }

  async startWith(extraArgs: string[], env: Record<string, string> = this.env): Promise<void> {
    await buildOnce();
    let printed = '';
    const child = this.launch(extraArgs, env);
    child.stdout!.on('data', (d) => (printed += d));
    await waitFor('the server to start', () => printed.includes('thermostream: data') || child.exitCode !== null, 45_000); // on a loaded machine
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${this.output}`);
  }

  /** Spawns the server without waiting for it: `waitExit` and `output` say how it went. */
  launch(extraArgs: string[] = [], env: Record<string, string> = this.env): ChildProcess {
    const configFile = join(this.dataDir, 'test-config.json');
    writeFileSync(configFile, JSON.stringify(this.config));
    if (builtStart === null) throw new Error('ServerProcess.launch before the server was built: create() or start() first');
    const args = [builtStart, '--config', configFile, '--data-dir', this.dataDir, ...extraArgs];
    args.push('--http-port', String(this.httpPort), '--mqtt-port', String(this.mqttPort), '--mqtts-port', '-1');
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d) => (this.output += d));
    child.stderr!.on('data', (d) => (this.output += d));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    return child;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    this.child?.kill(signal);
    const code = await this.exited;
    this.child = null;
    return code;
  }

  /** Resolves with the exit code when the process ends by itself. */
  waitExit(): Promise<number | null> {
    return this.exited;
  }

  db(): Database.Database {
    return new Database(join(this.dataDir, 'thermostream.db'), { readonly: true });
  }
}

export interface WindowRow {
  deviceId: string;
  start: number;
  count: number;
  avg: number;
  min: number;
  max: number;
}

/** The oracle: windows [k·slide, k·slide + length) computed directly from the readings, per device and fleet ('*'). */
export function oracleWindows(
  readings: readonly { deviceId: string; ts: number; temperature: number }[],
  lengthMs: number,
  slideMs: number,
): Map<string, WindowRow> {
  const acc = new Map<string, { deviceId: string; start: number; count: number; sum: number; min: number; max: number }>();
  for (const r of readings) {
    for (let k = Math.floor(r.ts / slideMs); k * slideMs + lengthMs > r.ts; k--) {
      const start = k * slideMs;
      if (start > r.ts) continue;
      for (const deviceId of [r.deviceId, '*']) {
        const key = `${deviceId}@${start}`;
        const a = acc.get(key) ?? { deviceId, start, count: 0, sum: 0, min: Infinity, max: -Infinity };
        a.count++;
        a.sum += r.temperature;
        a.min = Math.min(a.min, r.temperature);
        a.max = Math.max(a.max, r.temperature);
        acc.set(key, a);
      }
    }
  }
  const out = new Map<string, WindowRow>();
  for (const [key, a] of acc) out.set(key, { deviceId: a.deviceId, start: a.start, count: a.count, avg: a.sum / a.count, min: a.min, max: a.max });
  return out;
}

/** Device windows, and fleet windows ('*') merged from their partials per instance (sum / count), as stored. */
export function storedWindows(db: Database.Database, lengthMs: number, slideMs: number): Map<string, WindowRow> {
  const rows = db
    .prepare(`SELECT device_id AS deviceId, start, count, avg, min, max FROM windows WHERE length_ms = ? AND slide_ms = ?
      UNION ALL
      SELECT '*', start, sum(count), sum(sum) / sum(count), min(min), max(max) FROM fleet_windows
      WHERE length_ms = ? AND slide_ms = ? GROUP BY start`)
    .all(lengthMs, slideMs, lengthMs, slideMs) as WindowRow[];
  return new Map(rows.map((r) => [`${r.deviceId}@${r.start}`, r]));
}

/** Compares stored windows with the oracle: same keys, exact counts/min/max, averages within 1e-9 relative. */
export function diffWindows(stored: Map<string, WindowRow>, oracle: Map<string, WindowRow>): string[] {
  const problems: string[] = [];
  for (const [key, o] of oracle) {
    const s = stored.get(key);
    if (s === undefined) problems.push(`missing window ${key} (count ${o.count})`);
    else if (s.count !== o.count || s.min !== o.min || s.max !== o.max || Math.abs(s.avg - o.avg) > 1e-9 * Math.abs(o.avg)) {
      problems.push(`window ${key}: stored ${JSON.stringify(s)} expected ${JSON.stringify(o)}`);
    }
  }
  for (const key of stored.keys()) if (!oracle.has(key)) problems.push(`unexpected window ${key}`);
  return problems;
}

/** Publishes one QoS 1 reading until the broker acknowledges it, retrying across disconnects as a real device does. */
export async function publishUntilAcked(client: MqttClient, topic: string, payload: string, deadline: number, ackTimeoutMs = 2000): Promise<void> {
  for (;;) {
    if (Date.now() > deadline) throw new Error(`gave up on ${payload}`);
    if (client.connected) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          client.publishAsync(topic, payload, { qos: 1 }),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('ack timeout')), ackTimeoutMs))),
        ]);
        return;
      } catch {
        // not acknowledged: send it again
      } finally {
        clearTimeout(timer); // else it keeps the test file's process alive for ackTimeoutMs after its tests
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Readings counted so far (the devices table counts each accepted reading once), over HTTP. */
export async function counted(server: ServerProcess): Promise<number> {
  const res = await fetch(`${server.httpUrl}/api/v1/devices`);
  const { items } = (await res.json()) as { items: { readings: number }[] };
  return items.reduce((n, d) => n + d.readings, 0);
}

/**
 * The stopped server's SQLite file holds exactly the oracle's windows of `sent` (10 s / 2 s style, given), and every
 * one of `devices` devices counted each of its `perDevice` readings exactly once.
 */
export function assertExactlyOnce(
  t: { after(fn: () => unknown): void },
  server: ServerProcess,
  sent: readonly { deviceId: string; ts: number; temperature: number }[],
  window: { lengthMs: number; slideMs: number },
  devices: number,
  perDevice: number,
): void {
  const db = server.db();
  t.after(() => db.close());
  const problems = diffWindows(storedWindows(db, window.lengthMs, window.slideMs), oracleWindows(sent, window.lengthMs, window.slideMs));
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} windows differ`);
  const rows = db.prepare('SELECT device_id AS d, readings AS n FROM devices ORDER BY device_id').all() as { d: string; n: number }[];
  assert.deepEqual(rows.filter((r) => r.n !== perDevice), [], 'every device counted each of its readings exactly once');
  assert.equal(rows.length, devices);
}
