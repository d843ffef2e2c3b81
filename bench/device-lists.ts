/**
 * The newest-first lists filtered by device (GET /api/v1/anomalies, /dead-letters, /late-readings with ?deviceId=)
 * on tables of size, for a device that has few rows among many of others:
 *
 *   npm run bench -- device-lists [--rows N] [--runs N]
 *
 * Fills a SQLite store with N anomalies, dead letters and late readings of 1,000 devices plus 5 of device "rare",
 * then times the store's query for "rare" (its newest 100) against the single-statement form it replaced
 * (`(@deviceId IS NULL OR device_id = @deviceId)`, which SQLite plans without the value and so never by the index by
 * device), medians of --runs, in the same process on the same file. Then pages through all the anomalies, 1,000 at a
 * time, with the cursor as a filter (as it was) and with the range of ts starting at it (as it is).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { resolveConfig } from '../server/config.ts';
import { openStore } from '../server/store/index.ts';
import { fmtInt, fmtRatio, machine, median, parseFlags, positiveInt, table } from './harness.ts';

interface Options {
  rows: number;
  runs: number;
}

const USAGE = `npm run bench -- device-lists [options]

  --rows N      rows in each of the three tables (default 500000)
  --runs N      timed runs of each query; medians are reported (default 20)`;

const RARE = 'rare';

function fill(file: string, rows: number): void {
  const db = new Database(file);
  const late = db.prepare('INSERT INTO late_readings (device_id, ts, arrival, temperature, watermark) VALUES (?, ?, ?, 20, 0)');
  const dead = db.prepare(`INSERT INTO dead_letters (received_at, device_id, topic, reason, detail, payload, payload_bytes)
    VALUES (?, ?, 'devices/x/telemetry', 'bad_json', 'not JSON', x'78', 1)`);
  const anomaly = db.prepare("INSERT INTO anomalies (device_id, type, ts, score, detected_at, updated_at) VALUES (?, 'spike', ?, 5, ?, ?)");
  const spread = Math.floor(rows / 5);
  db.transaction(() => {
    for (let i = 0; i < rows; i++) {
      const device = i % spread === 7 ? RARE : `dev-${i % 1000}`;
      late.run(device, i, i);
      dead.run(i, device);
      anomaly.run(device, i, i, i);
    }
  })();
  db.close();
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const o = parseFlags<Options>(args, { rows: 500_000, runs: 20 }, {
    '--rows': (v, o) => (o.rows = positiveInt('--rows', v)),
    '--runs': (v, o) => (o.runs = positiveInt('--runs', v)),
  });
  console.log(`device-lists: ${machine()}; ${fmtInt(o.rows)} rows a table, 5 of them device "${RARE}"'s`);
  const dir = mkdtempSync(join(tmpdir(), 'ts-device-lists-'));
  try {
    const config = resolveConfig({ dataDir: dir });
    await (await openStore(config)).close(); // the schema
    fill(join(dir, 'thermostream.db'), o.rows);
    const store = await openStore(config);
    const old = new Database(join(dir, 'thermostream.db'), { readonly: true });
    const any = '(@deviceId IS NULL OR device_id = @deviceId)';
    const lists = [
      {
        name: 'anomalies',
        now: () => store.anomalies({ deviceId: RARE, from: -8.64e15, to: 8.64e15, limit: 100 }),
        before: old.prepare(`SELECT * FROM anomalies WHERE ${any} AND (@type IS NULL OR type = @type) AND ts >= @from AND ts < @to
          AND (@beforeTs IS NULL OR (ts, device_id, type) < (@beforeTs, @beforeDevice, @beforeType))
          ORDER BY ts DESC, device_id DESC, type DESC LIMIT @limit`),
        params: { type: null, from: -8.64e15, to: 8.64e15, beforeTs: null, beforeDevice: null, beforeType: null },
      },
      {
        name: 'dead letters',
        now: () => store.deadLetters({ deviceId: RARE, limit: 100 }),
        before: old.prepare(`SELECT * FROM dead_letters WHERE ${any} AND (@reason IS NULL OR reason = @reason) AND id < @beforeId
          ORDER BY id DESC LIMIT @limit`),
        params: { reason: null, beforeId: Number.MAX_SAFE_INTEGER },
      },
      {
        name: 'late readings',
        now: () => store.lateReadings({ deviceId: RARE, limit: 100 }),
        before: old.prepare(`SELECT * FROM late_readings WHERE ${any} AND id < @beforeId ORDER BY id DESC LIMIT @limit`),
        params: { beforeId: Number.MAX_SAFE_INTEGER },
      },
    ];
    const rows: string[][] = [];
    for (const l of lists) {
      const before: number[] = [];
      const now: number[] = [];
      let found = 0;
      for (let r = 0; r < o.runs; r++) {
        let t = performance.now();
        const expected = l.before.all({ deviceId: RARE, limit: 100, ...l.params }).length;
        before.push(performance.now() - t);
        t = performance.now();
        found = (await l.now()).length;
        now.push(performance.now() - t);
        if (found !== expected) throw new Error(`${l.name}: the store found ${found} rows, the single statement ${expected}`);
      }
      rows.push([l.name, fmtInt(found), median(before).toFixed(2), median(now).toFixed(3), fmtRatio(median(before) / median(now))]);
    }
    // Paging: every page of 1,000 anomalies of all devices, newest first, each from the previous page's last row.
    type Cursor = { ts: number; deviceId: string; type: string; n: number };
    const pageAll = async (page: (before: Cursor | undefined) => Promise<Cursor[]> | Cursor[]) => {
      const t = performance.now();
      let before: Cursor | undefined;
      let pages = 0;
      for (let rows = 1000; rows === 1000; pages++) {
        const p = await page(before);
        rows = p.length;
        before = p.at(-1);
      }
      return { ms: performance.now() - t, pages };
    };
    const oldPaging = await pageAll((b) => lists[0].before.all({ ...lists[0].params, deviceId: null, limit: 1000,
      beforeTs: b?.ts ?? null, beforeDevice: b?.deviceId ?? null, beforeType: b?.type ?? null }) as Cursor[]);
    // (the one statement is of schema 8, without n: each (ts, device, type) of the rows here is one anomaly)
    const nowPaging = await pageAll((b) => store.anomalies({ from: -8.64e15, to: 8.64e15, limit: 1000, before: b }));
    if (oldPaging.pages !== nowPaging.pages) throw new Error(`paging: ${nowPaging.pages} pages, the old cursor ${oldPaging.pages}`);
    old.close();
    await store.close();
    console.log(`\n${table(['list, ?deviceId=rare', 'rows found', 'one statement: ms (median)', 'per device: ms (median)', 'speed-up'], rows)}`);
    console.log(`\nanomalies of all devices, every page of 1,000 (${fmtInt(nowPaging.pages)} pages): ${fmtInt(oldPaging.ms)} ms with the cursor as a filter, ${fmtInt(nowPaging.ms)} ms with the range starting at it (${fmtRatio(oldPaging.ms / nowPaging.ms)}×)`);
    console.log(`\nreproduce: npm run bench -- device-lists --rows ${o.rows} --runs ${o.runs}`);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
