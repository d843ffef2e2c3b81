/** The store suite against SQLite (the embedded default), plus its migrations from schema versions 4 to 9. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { resolveConfig } from '../server/config.ts';
import { FLEET } from '../server/engine/event-time.ts';
import { openStore } from '../server/store/index.ts';
import { SCHEMA, SCHEMA_VERSION } from '../server/store/sqlite/schema.ts';
import { tempDir } from './helpers.ts';
import { batch, storeSuite, type Opener } from './store-suite.ts';

function opener(t: TestContext, dataDir: string): Opener {
  return async ({ instanceId = 'main', deps, config = {} } = {}) => {
    const store = await openStore(resolveConfig({ ...config, dataDir, cluster: { instanceId } }), deps);
    t.after(() => store.close());
    return store;
  };
}

storeSuite({
  name: 'SQLite',
  fresh: async (t) => opener(t, tempDir(t)),
  async migration(t) {
    const dataDir = tempDir(t);
    const old = new Database(join(dataDir, 'thermostream.db'));
    old.exec(readFileSync(new URL('./fixtures/store-schema-v4.sql', import.meta.url), 'utf8'));
    old.exec(`
      INSERT INTO checkpoint VALUES (1, 42, 'job-4', 1000, 2000, 7, 5000);
      INSERT INTO panes VALUES (10000, 2000, 'd', 0, x'0102');
      INSERT INTO dedupe VALUES ('d', 9, 99, x'00', 3000);
      INSERT INTO dedupe_ids VALUES ('m', x'0102030405060708', 3000);
      INSERT INTO detector_state VALUES ('d', x'0708');
      INSERT INTO batch_log VALUES (7, 5000, 10, 0, 0, 0, 2, 1000, 42);
      INSERT INTO windows VALUES ('d', 10000, 2000, 0, 10000, 2, 20.5, 20, 21, 0.5, 20, 21, 0, NULL, NULL, NULL, NULL, NULL, NULL,
        0, '{}', 1, 5000);
      INSERT INTO windows VALUES ('*', 10000, 2000, 0, 10000, 2, 20.5, 20, 21, 0.5, 20, 21, 2, 40, 39, 41, 1, 39, 41,
        1, '{"spike":1}', 1, 5000);
      PRAGMA user_version = 4;`);
    old.close();
    const open = opener(t, dataDir);
    const store = await open();
    const r = (await store.recover())!;
    assert.deepEqual(r.checkpoint, { logOffset: 42, job: 'job-4', watermark: 1000, maxEventTime: 2000, batches: 7 });
    assert.deepEqual([r.panes.length, r.detectors.length, r.dedupe.seqs.length, r.dedupe.messageIds.length], [1, 1, 1, 1]);
    assert.deepEqual((await store.batchesAfter(0, 10)).map((b) => [b.batch, b.logOffset]), [[7, 42]]);
    const q = { lengthMs: 10_000, slideMs: 2_000, from: -1e15, to: 1e15, limit: 10 };
    assert.deepEqual((await store.windows({ deviceId: 'd', ...q })).map((w) => [w.count, w.avg]), [[2, 20.5]]);
    const [fleet] = await store.windows({ deviceId: FLEET, ...q });
    assert.deepEqual(
      [fleet.count, fleet.avg, fleet.stddev, fleet.min, fleet.max, fleet.first, fleet.last, fleet.humidityAvg, fleet.humidityStddev, fleet.anomalies, fleet.final],
      [2, 20.5, 0.5, 20, 21, 20, 21, 40, 1, 1, true],
      'the fleet window, now a partial of instance main',
    );
    assert.equal(await (await open({ instanceId: 'other' })).recover(), null, 'the old state is instance main\'s');
    const db = new Database(join(dataDir, 'thermostream.db'), { readonly: true });
    t.after(() => db.close());
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(db.prepare("SELECT count(*) FROM windows WHERE device_id = '*'").pluck().get(), 0);
    // Tables recreated on the way keep their indexes (set aside, a table's index keeps its name, so SCHEMA skipped it).
    const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('windows', 'batch_log', 'devices', 'panes', 'dedupe', 'dedupe_ids', 'detector_state') ORDER BY name").pluck().all();
    assert.deepEqual(indexes, ['batch_log_by_time', 'dedupe_by_device', 'dedupe_ids_by_device', 'detector_state_by_device', 'devices_by_id', 'panes_by_key', 'windows_by_update']);
  },
});

test('SQLite: version 5 → 6 rekeys panes by start before key, keeping every row', async (t) => {
  const dataDir = tempDir(t);
  const file = join(dataDir, 'thermostream.db');
  // A version-5 database: today's schema with the panes keyed by key before start.
  const old = new Database(file);
  old.exec(SCHEMA);
  old.exec(`
    DROP TABLE panes;
    CREATE TABLE panes (instance_id TEXT NOT NULL, length_ms INTEGER NOT NULL, slide_ms INTEGER NOT NULL, key TEXT NOT NULL,
      start INTEGER NOT NULL, state BLOB NOT NULL, PRIMARY KEY (instance_id, length_ms, slide_ms, key, start)) WITHOUT ROWID;
    INSERT INTO checkpoint VALUES ('main', 42, 'job-5', 1000, 2000, 7, 5000);
    INSERT INTO panes VALUES ('main', 10000, 2000, 'a', 2000, x'0102'), ('main', 10000, 2000, 'b', 0, x'0304'),
      ('other', 60000, 10000, 'a', 0, x'05');
    PRAGMA user_version = 5;`);
  old.close();
  const store = await opener(t, dataDir)();
  const r = (await store.recover())!;
  assert.deepEqual(
    r.panes.map((p) => [p.lengthMs, p.slideMs, p.key, p.start, [...p.state]]).sort(),
    [[10_000, 2_000, 'a', 2_000, [1, 2]], [10_000, 2_000, 'b', 0, [3, 4]]],
  );
  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const key = db.prepare("SELECT name FROM pragma_index_info('sqlite_autoindex_panes_1') ORDER BY seqno").pluck().all();
  assert.deepEqual(key, ['instance_id', 'length_ms', 'slide_ms', 'start', 'first_batch', 'key']);
  assert.equal(db.prepare("SELECT count(*) FROM panes WHERE instance_id = 'other'").pluck().get(), 1, "another instance's panes stay");
  assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'v5_%'").pluck().get(), 0);
});

test('SQLite: version 10 → 11 keys devices and the state tables by the batch that wrote a row first, keeping every row; a row stays where its first batch put it', async (t) => {
  const dataDir = tempDir(t);
  const file = join(dataDir, 'thermostream.db');
  // A version-10 database: today's schema with the state tables keyed by the device (and start) alone.
  const old = new Database(file);
  old.exec(SCHEMA);
  old.exec(`
    DROP TABLE devices; DROP TABLE panes; DROP TABLE dedupe; DROP TABLE dedupe_ids; DROP TABLE detector_state;
    CREATE TABLE devices (device_id TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
      readings INTEGER NOT NULL, last_temperature REAL NOT NULL, last_ts INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE panes (instance_id TEXT NOT NULL, length_ms INTEGER NOT NULL, slide_ms INTEGER NOT NULL, key TEXT NOT NULL,
      start INTEGER NOT NULL, state BLOB NOT NULL, PRIMARY KEY (instance_id, length_ms, slide_ms, start, key)) WITHOUT ROWID;
    CREATE TABLE dedupe (instance_id TEXT NOT NULL, device_id TEXT NOT NULL, max_seq INTEGER NOT NULL, max_ts REAL,
      seen BLOB NOT NULL, last_seen REAL, PRIMARY KEY (instance_id, device_id)) WITHOUT ROWID;
    CREATE TABLE dedupe_ids (instance_id TEXT NOT NULL, device_id TEXT NOT NULL, ids BLOB NOT NULL, last_seen REAL,
      PRIMARY KEY (instance_id, device_id)) WITHOUT ROWID;
    CREATE TABLE detector_state (instance_id TEXT NOT NULL, device_id TEXT NOT NULL, state BLOB NOT NULL,
      PRIMARY KEY (instance_id, device_id)) WITHOUT ROWID;
    INSERT INTO checkpoint VALUES ('main', 42, 'job', 1000, 2000, 7, 5000);
    INSERT INTO devices VALUES ('b', 1000, 1500, 2, 21.5, 1400), ('a', 1000, 2000, 3, 20.5, 1900);
    INSERT INTO panes VALUES ('main', 10000, 2000, 'a', 2000, x'0102'), ('main', 10000, 2000, 'b', 0, x'0304');
    INSERT INTO dedupe VALUES ('main', 'a', 9, 99, x'00', 3000);
    INSERT INTO dedupe_ids VALUES ('main', 'm', x'0102030405060708', 3000);
    INSERT INTO detector_state VALUES ('main', 'a', x'07'), ('main', 'b', x'08');
    PRAGMA user_version = 10;`);
  old.close();
  const store = await opener(t, dataDir)();
  const r = (await store.recover())!;
  assert.deepEqual(r.panes.map((p) => [p.key, p.start, [...p.state]]).sort(), [['a', 2_000, [1, 2]], ['b', 0, [3, 4]]]);
  assert.deepEqual(r.detectors.map((d) => [d.deviceId, [...d.state]]).sort(), [['a', [7]], ['b', [8]]]);
  assert.deepEqual(r.dedupe.seqs.map((d) => [d.deviceId, d.maxSeq]), [['a', 9]]);
  assert.deepEqual(r.dedupe.messageIds.map((d) => d.deviceId), ['m']);
  assert.deepEqual((await store.devices()).map((d) => [d.deviceId, d.readings]), [['a', 3], ['b', 2]]);
  // Batch 8 updates device a's rows, which stay where the upgrade put them (first_batch 0), and creates device c's
  // (first_batch 8).
  const checkpoint = { logOffset: 50, job: 'job', batches: 8, watermark: 1000, maxEventTime: 2000 };
  const device = (deviceId: string) => ({ deviceId, firstSeen: 4000, lastSeen: 4000, readings: 1, lastTemperature: 22, lastTs: 3900 });
  const dedupeRow = (deviceId: string) => ({ deviceId, maxSeq: 10, maxTs: 100, seen: new Uint8Array([1]), lastSeen: 4000 });
  await store.commitBatch(
    batch({
      checkpoint,
      devices: [device('a'), device('c')],
      panes: {
        upserts: [
          { lengthMs: 10_000, slideMs: 2_000, key: 'a', start: 2_000, state: new Uint8Array([9]) },
          { lengthMs: 10_000, slideMs: 2_000, key: 'c', start: 2_000, state: new Uint8Array([10]) },
        ],
        deletes: [{ lengthMs: 10_000, slideMs: 2_000, key: 'b', start: 0 }],
      },
      detectors: [{ deviceId: 'a', state: new Uint8Array([11]) }, { deviceId: 'c', state: new Uint8Array([12]) }],
      dedupe: { seqs: [dedupeRow('a'), dedupeRow('c')], messageIds: [{ deviceId: 'm', ids: new Uint8Array(8), lastSeen: 4000 }], evictedSeqs: [], evictedMessageIds: [] },
    }),
  );
  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const rows = (sql: string) => (db.prepare(sql).raw().all() as unknown[][]).map((row) => row.map((v) => (v instanceof Uint8Array ? [...v] : v)));
  assert.deepEqual(rows('SELECT first_batch, device_id, readings, last_temperature FROM devices'), [[0, 'a', 4, 22], [0, 'b', 2, 21.5], [8, 'c', 1, 22]]);
  assert.deepEqual((await store.devices({ after: 'a' })).map((d) => d.deviceId), ['b', 'c'], 'listed by id');
  assert.deepEqual(rows('SELECT first_batch, key, state FROM panes'), [[0, 'a', [9]], [8, 'c', [10]]]);
  assert.deepEqual(rows('SELECT first_batch, device_id, state FROM detector_state'), [[0, 'a', [11]], [0, 'b', [8]], [8, 'c', [12]]]);
  assert.deepEqual(rows('SELECT first_batch, device_id, max_seq FROM dedupe'), [[0, 'a', 10], [8, 'c', 10]]);
  assert.deepEqual(rows('SELECT first_batch, device_id, last_seen FROM dedupe_ids'), [[0, 'm', 4000]]);
  // A later batch updates c's where batch 8 put them.
  await store.commitBatch(batch({ checkpoint: { ...checkpoint, batches: 9 }, detectors: [{ deviceId: 'c', state: new Uint8Array([13]) }] }));
  assert.deepEqual(rows("SELECT first_batch, state FROM detector_state WHERE device_id = 'c'"), [[8, [13]]]);
  for (const table of ['devices', 'panes', 'dedupe', 'dedupe_ids', 'detector_state']) {
    const index = db.prepare("SELECT name FROM pragma_index_list(?) WHERE \"unique\" = 1 AND origin = 'c'").pluck().all(table);
    assert.equal(index.length, 1, `${table} has its unique index by device`);
  }
  assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'v10_%'").pluck().get(), 0);
});

test('SQLite: version 6 → 7 rekeys windows by shape and start before device, keeping every row and its indexes', async (t) => {
  const dataDir = tempDir(t);
  const file = join(dataDir, 'thermostream.db');
  // A version-6 database: today's schema with the windows keyed by device first.
  const windowsTable = /CREATE TABLE IF NOT EXISTS windows \([\s\S]*?\) WITHOUT ROWID;/.exec(SCHEMA)![0];
  const old = new Database(file);
  old.exec(SCHEMA);
  old.exec(`DROP TABLE windows; ${windowsTable.replace('PRIMARY KEY (length_ms, slide_ms, start, device_id)', 'PRIMARY KEY (device_id, length_ms, slide_ms, start)')}`);
  old.exec(SCHEMA); // its indexes, on the old table
  const row = (device: string, length: number, slide: number, start: number, avg: number) =>
    `('${device}', ${length}, ${slide}, ${start}, ${start + length}, 1, ${avg}, ${avg}, ${avg}, 0, ${avg}, ${avg}, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, '{}', 1, 5000)`;
  old.exec(`INSERT INTO windows VALUES ${[row('a', 10000, 2000, 0, 20), row('a', 10000, 2000, 2000, 21), row('b', 10000, 2000, 0, 22), row('a', 60000, 10000, 0, 23)].join(', ')};
    PRAGMA user_version = 6;`);
  old.close();
  const store = await opener(t, dataDir)();
  const q = { lengthMs: 10_000, slideMs: 2_000, from: -1e15, to: 1e15, limit: 10 };
  assert.deepEqual((await store.windows({ deviceId: 'a', ...q })).map((w) => [w.start, w.avg]), [[0, 20], [2_000, 21]]);
  assert.deepEqual((await store.windows({ deviceId: 'b', ...q })).map((w) => [w.start, w.avg]), [[0, 22]]);
  assert.deepEqual((await store.windows({ deviceId: 'a', ...q, lengthMs: 60_000, slideMs: 10_000 })).map((w) => [w.start, w.avg]), [[0, 23]]);
  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const key = db.prepare("SELECT name FROM pragma_index_info('sqlite_autoindex_windows_1') ORDER BY seqno").pluck().all();
  assert.deepEqual(key, ['length_ms', 'slide_ms', 'start', 'device_id']);
  const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'windows' AND sql IS NOT NULL ORDER BY name").pluck().all();
  assert.deepEqual(indexes, ['windows_by_update'], 'the new table has the indexes the old one had, but the one by end (version 8)');
  assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'v6_%'").pluck().get(), 0);
});

test('SQLite: version 7 → 8 drops the indexes by end (retention reads updated_at), keeping every window', async (t) => {
  const dataDir = tempDir(t);
  const file = join(dataDir, 'thermostream.db');
  const old = new Database(file);
  old.exec(SCHEMA);
  old.exec(`CREATE INDEX windows_by_end ON windows (end); CREATE INDEX fleet_windows_by_end ON fleet_windows (end);
    INSERT INTO windows VALUES ('a', 10000, 2000, 0, 10000, 1, 20, 20, 20, 0, 20, 20, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, '{}', 1, 5000);
    PRAGMA user_version = 7;`);
  old.close();
  const store = await opener(t, dataDir)();
  const q = { lengthMs: 10_000, slideMs: 2_000, from: -1e15, to: 1e15, limit: 10 };
  assert.deepEqual((await store.windows({ deviceId: 'a', ...q })).map((w) => [w.start, w.avg]), [[0, 20]]);
  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE '%_by_end'").pluck().get(), 0);
});

test('SQLite: version 8 → 9 keys anomalies by (device, type, ts, n), keeping every row as n 0', async (t) => {
  const dataDir = tempDir(t);
  const file = join(dataDir, 'thermostream.db');
  // A version-8 database: today's schema with the anomalies keyed by (device, type, ts), without n.
  const anomaliesTable = /CREATE TABLE IF NOT EXISTS anomalies \([\s\S]*?\) WITHOUT ROWID;/.exec(SCHEMA)![0];
  const old = new Database(file);
  old.exec(SCHEMA);
  old.exec(`DROP TABLE anomalies; ${anomaliesTable.replace(/ {2}n +INTEGER NOT NULL DEFAULT 0,\n/, '').replace('PRIMARY KEY (device_id, type, ts, n)', 'PRIMARY KEY (device_id, type, ts)')}
    CREATE INDEX anomalies_by_ts ON anomalies (ts, device_id, type);
    INSERT INTO anomalies VALUES ('d', 'threshold', 5000, 1, 80, NULL, 40, NULL, NULL, 5000, 1);
    PRAGMA user_version = 8;`);
  old.close();
  const store = await opener(t, dataDir)();
  const high = { deviceId: 'd', type: 'threshold' as const, ts: 5000, score: 1, value: 90, expected: null, threshold: 40, start: null, end: null, detectedAt: 5000 };
  await store.commitBatch(batch({ anomalies: [high] }));
  assert.deepEqual((await store.anomalies({ from: -1e15, to: 1e15, limit: 10 })).map((a) => [a.n, a.value]), [[1, 90], [0, 80]]);
  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const key = db.prepare("SELECT name FROM pragma_index_info('sqlite_autoindex_anomalies_1') ORDER BY seqno").pluck().all();
  assert.deepEqual(key, ['device_id', 'type', 'ts', 'n']);
  const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'anomalies' AND sql IS NOT NULL ORDER BY name").pluck().all();
  assert.deepEqual(indexes, ['anomalies_by_device', 'anomalies_by_ts', 'anomalies_by_update']);
  assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'v8_%'").pluck().get(), 0);
});

test('SQLite: version 9 → 10 keeps dead letters\' payloads as bytes, the text of older rows as its UTF-8, ids and indexes kept', async (t) => {
  const dataDir = tempDir(t);
  const file = join(dataDir, 'thermostream.db');
  // A version-9 database: today's schema with the payload as text.
  const old = new Database(file);
  old.exec(SCHEMA.replace(/payload +BLOB +NOT NULL/, 'payload       TEXT    NOT NULL'));
  old.exec(`INSERT INTO dead_letters VALUES (7, 1000, 'd', 'devices/d/telemetry', 'not_json', 'x', 'caf\u00e9 \uFFFD', 12);
    PRAGMA user_version = 9;`);
  old.close();
  const store = await opener(t, dataDir)();
  const binary = Buffer.from([0xff, 0x00, 0xfe]);
  await store.commitBatch(batch({ deadLetters: [{ receivedAt: 2000, deviceId: 'd', topic: 'devices/d/telemetry', reason: 'not_json', detail: 'y', payload: binary, payloadBytes: 3 }] }));
  const letters = await store.deadLetters({ limit: 10 });
  assert.deepEqual(letters.map((d) => [d.id, d.payload.toString('hex')]), [[8, 'ff00fe'], [7, Buffer.from('caf\u00e9 \uFFFD').toString('hex')]]);
  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.deepEqual(db.prepare('SELECT DISTINCT typeof(payload) FROM dead_letters').pluck().all(), ['blob']);
  const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'dead_letters' AND sql IS NOT NULL ORDER BY name").pluck().all();
  assert.deepEqual(indexes, ['dead_letters_by_device', 'dead_letters_by_time']);
  assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'v9_%'").pluck().get(), 0);
});
