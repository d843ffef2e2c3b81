/**
 * The SQLite windows table at size: how long the upgrade from schema version 6 (windows keyed by device first) to 7
 * (keyed by shape and start first) takes, and what a device's window queries cost afterwards, when the table is
 * read by aligned starts (server/store/sqlite/queries.ts).
 *
 *   npm run bench -- windows-table [--rows N] [--devices N] [--runs N]
 *
 * Builds a version-6 database of N window rows (10 s windows sliding by 2 s, the devices' rows interleaved by start as
 * a fleet writes them), opens it with the store (the upgrade runs, timed), then times GET /api/v1/windows's store
 * query for one device: its newest 100 windows, its last hour, and its latest window over all time (GET
 * /api/v1/devices/{id}), medians of --runs, against version 6's query on the same rows before the upgrade.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { resolveConfig } from '../server/config.ts';
import { openStore } from '../server/store/index.ts';
import { SCHEMA } from '../server/store/sqlite/schema.ts';
import { WINDOW_COLUMNS, windowFromRow, type WindowRow } from '../server/store/sqlite/queries.ts';
import { fmtInt, fmtRatio, machine, median, parseFlags, positiveInt, table } from './harness.ts';

interface Options {
  rows: number;
  devices: number;
  runs: number;
}

const USAGE = `npm run bench -- windows-table [options]

  --rows N      window rows in the version-6 database (default 1000000)
  --devices N   devices they belong to (default 1000)
  --runs N      timed runs of each query; medians are reported (default 20)`;

const SLIDE = 2_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');

/** A version-6 database: today's schema with the windows table keyed by device first. */
function buildV6(file: string, o: Options): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  const windowsTable = /CREATE TABLE IF NOT EXISTS windows \([\s\S]*?\) WITHOUT ROWID;/.exec(SCHEMA)![0];
  db.exec(SCHEMA);
  db.exec(`DROP TABLE windows; ${windowsTable.replace('PRIMARY KEY (length_ms, slide_ms, start, device_id)', 'PRIMARY KEY (device_id, length_ms, slide_ms, start)')}`);
  db.exec(SCHEMA);
  const insert = db.prepare(`INSERT INTO windows VALUES (?, 10000, ${SLIDE}, ?, ?, 10, 21.3, 20, 22, 0.5, 21, 21.5, 10, 40, 39, 41, 0.3, 40, 40.5, 0, '{}', 1, ?)`);
  db.transaction(() => {
    for (let i = 0; i < o.rows; i++) {
      const start = T0 + Math.floor(i / o.devices) * SLIDE;
      insert.run(`dev-${String(i % o.devices).padStart(5, '0')}`, start, start + 10_000, start);
    }
  })();
  db.pragma('user_version = 6');
  db.close();
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const o = parseFlags<Options>(args, { rows: 1_000_000, devices: 1_000, runs: 20 }, {
    '--rows': (v, o) => (o.rows = positiveInt('--rows', v)),
    '--devices': (v, o) => (o.devices = positiveInt('--devices', v)),
    '--runs': (v, o) => (o.runs = positiveInt('--runs', v)),
  });
  const spanS = (Math.ceil(o.rows / o.devices) * SLIDE) / 1000;
  console.log(`windows-table: ${machine()}; ${fmtInt(o.rows)} rows of ${fmtInt(o.devices)} devices (10 s / 2 s windows over ${fmtInt(spanS / 60)} min)`);
  const dir = mkdtempSync(join(tmpdir(), 'ts-windows-table-'));
  try {
    buildV6(join(dir, 'thermostream.db'), o);
    const end = T0 + spanS * 1000;
    const queries = [
      { name: 'newest 100 windows', q: { from: T0, to: end, limit: 100 } },
      { name: `the last hour (${fmtInt(Math.min(1800, spanS / 2))} starts)`, q: { from: end - 3_600_000, to: end, limit: 10_000 } },
      { name: 'latest window, all time', q: { from: -8.64e15, to: 8.64e15, limit: 1 } },
      { name: 'a device with no windows, all time', q: { from: -8.64e15, to: 8.64e15, limit: 1 }, deviceId: 'none' },
    ];
    const deviceOf = (r: number, deviceId?: string) => deviceId ?? `dev-${String((r * 7919) % o.devices).padStart(5, '0')}`;
    // Before: version 6's query (schema 6 and earlier), a range of the device's rows, on the same rows.
    const v6 = new Database(join(dir, 'thermostream.db'), { readonly: true });
    const before = v6.prepare(`SELECT * FROM (SELECT ${WINDOW_COLUMNS} FROM windows WHERE device_id = @deviceId AND length_ms = 10000
      AND slide_ms = ${SLIDE} AND start >= @from AND start < @to ORDER BY start DESC LIMIT @limit) ORDER BY start ASC`);
    const beforeMs = queries.map(({ q, deviceId }) => {
      const ms: number[] = [];
      for (let r = 0; r < o.runs; r++) {
        const a = performance.now();
        (before.all({ deviceId: deviceOf(r, deviceId), ...q }) as WindowRow[]).map(windowFromRow);
        ms.push(performance.now() - a);
      }
      return median(ms);
    });
    v6.close();
    const t = performance.now();
    const store = await openStore(resolveConfig({ dataDir: dir }));
    const upgradeMs = performance.now() - t;
    console.log(`upgrade 6 → 7 (open the store): ${fmtInt(upgradeMs)} ms, ${(upgradeMs / (o.rows / 1e6)).toFixed(0)} ms per million rows`);
    const rows: string[][] = [];
    for (const [i, { name, q, deviceId }] of queries.entries()) {
      const ms: number[] = [];
      let found = 0;
      for (let r = 0; r < o.runs; r++) {
        const a = performance.now();
        found = (await store.windows({ deviceId: deviceOf(r, deviceId), lengthMs: 10_000, slideMs: SLIDE, ...q })).length;
        ms.push(performance.now() - a);
      }
      rows.push([name, fmtInt(found), beforeMs[i].toFixed(2), median(ms).toFixed(2), fmtRatio(median(ms) / beforeMs[i])]);
    }
    await store.close();
    console.log(`\n${table(['query, one device', 'windows found', 'version 6: ms (median)', 'version 7: ms (median)', '7 / 6'], rows)}`);
    console.log(`\nreproduce: npm run bench -- windows-table --rows ${o.rows} --devices ${o.devices} --runs ${o.runs}`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
