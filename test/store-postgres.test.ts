/** The store suite against PostgreSQL (test/postgres.ts says which one runs), plus its schema versioning. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { resolveConfig } from '../server/config.ts';
import { packWindows } from '../server/engine/window-pack.ts';
import { openStore } from '../server/store/index.ts';
import { PG_SCHEMA_VERSION } from '../server/store/postgres/schema.ts';
import { tempDir } from './helpers.ts';
import { startPostgres, type RunningPostgres } from './postgres.ts';
import { batch, storeSuite, type Opener } from './store-suite.ts';

let server: RunningPostgres;
// One server for the file (a database per test): stopped when the file's tests are done.
const cleanups: (() => unknown)[] = [];
before(async () => {
  server = await startPostgres({ after: (fn) => cleanups.push(fn) });
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});
let databases = 0;

function opener(t: TestContext, url: string): Opener {
  const dataDir = tempDir(t);
  return async ({ instanceId = 'main', deps, config = {} } = {}) => {
    const store = await openStore(resolveConfig({ ...config, dataDir, store: { url }, cluster: { instanceId } }), deps);
    t.after(() => store.close());
    return store;
  };
}

/** A new database at today's schema, closed, and a client to set it back to an older version's tables. */
async function databaseToSetBack(t: TestContext): Promise<{ url: string; open: Opener; c: pg.Client }> {
  const url = await server.createDatabase(`t${++databases}`);
  const open = opener(t, url);
  await (await open()).close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  t.after(() => c.end());
  return { url, open, c };
}

async function versions(url: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query('SELECT version FROM schema_version ORDER BY version')).rows.map((r) => r.version);
  } finally {
    await c.end();
  }
}

storeSuite({
  name: 'PostgreSQL',
  fresh: async (t) => opener(t, await server.createDatabase(`t${++databases}`)),
  async migration(t) {
    // An empty database is created at the current schema version, a second start finds it current (and keeps the
    // data), and a newer one is refused. (The upgrade from version 5, where PostgreSQL support starts: below.)
    const url = await server.createDatabase(`t${++databases}`);
    const open = opener(t, url);
    const first = await open();
    await first.commitBatch({
      windows: packWindows([]), anomalies: [], devices: [{ deviceId: 'd', firstSeen: 1, lastSeen: 2, readings: 3, lastTemperature: 20, lastTs: 2 }],
      deadLetters: [], late: [], committedAt: 1, panes: { upserts: [], deletes: [] }, detectors: [],
      checkpoint: { logOffset: 3, job: 'j', batches: 1, watermark: -Infinity, maxEventTime: -Infinity },
      dedupe: { seqs: [], messageIds: [], evictedSeqs: [], evictedMessageIds: [] },
    });
    await first.close();
    const again = await open();
    assert.deepEqual(await versions(url), [PG_SCHEMA_VERSION]);
    assert.equal((await again.recover())!.checkpoint.logOffset, 3);
    assert.equal((await again.devices()).length, 1);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('INSERT INTO schema_version (version) VALUES ($1)', [PG_SCHEMA_VERSION + 1]);
    await c.end();
    const redacted = url.replace(':secret@', ':***@');
    await assert.rejects(openStore(resolveConfig({ dataDir: tempDir(t), store: { url } })), {
      code: 'TS_ERR_SCHEMA_NEWER',
      message: `the PostgreSQL database ${redacted} has schema version ${PG_SCHEMA_VERSION + 1}, newer than this Thermostream's ${PG_SCHEMA_VERSION}: run the newer version, or point store.url at another database`,
    });
  },
});

test('PostgreSQL: a second process with the same instance id is refused when it opens the store, until the first one closes it', async (t) => {
  const url = await server.createDatabase(`t${++databases}`);
  const open = opener(t, url);
  const first = await open({ instanceId: 'node-1' });
  const out = (batches: number, devices: number) => batch({
    checkpoint: { logOffset: batches * 10, job: 'j', batches, watermark: -Infinity, maxEventTime: -Infinity },
    devices: [{ deviceId: 'd', firstSeen: 1, lastSeen: 2, readings: devices, lastTemperature: 20, lastTs: 2 }],
  });
  await first.commitBatch(out(1, 5));
  await assert.rejects(open({ instanceId: 'node-1' }), {
    code: 'TS_ERR_INSTANCE_IN_USE',
    message: new RegExp(`^instance node-1 is in use on ${url.replace(':secret@', ':***@').replace(/[.*]/g, '\\$&')}: another process holds its lock there \\(connection "${first.instanceLock}" \\(PostgreSQL process \\d+\\) from 127\\.0\\.0\\.1 since `),
  });
  const other = await open({ instanceId: 'node-2' }); // another id is not in use
  await other.close();
  await first.commitBatch(out(2, 7)); // the first one goes on
  await first.close();
  const second = await open({ instanceId: 'node-1' });
  assert.equal((await second.recover())!.checkpoint.batches, 2);
  await second.commitBatch(out(3, 1));
  assert.deepEqual((await second.devices()).map((d) => d.readings), [13]);
});

test('PostgreSQL: an application_name in store.url neither gives two processes one lock token nor lets a refused start end the holder\'s lock', async (t) => {
  const url = `${await server.createDatabase(`t${++databases}`)}?application_name=billing`;
  const open = opener(t, url);
  const first = await open({ instanceId: 'node-1' });
  assert.match(first.instanceLock!, /^thermostream [0-9a-f]{12} pid \d+$/);
  await assert.rejects(open({ instanceId: 'node-1' }), { code: 'TS_ERR_INSTANCE_IN_USE' });
  const at = (batches: number) => batch({ checkpoint: { logOffset: batches, job: 'j', batches, watermark: -Infinity, maxEventTime: -Infinity } });
  await first.commitBatch(at(1)); // still its lock: a refused start took it for its own earlier connection and ended it
});

test('PostgreSQL: a process whose lock connection closed and whose instance another process took meanwhile commits nothing more', async (t) => {
  const url = await server.createDatabase(`t${++databases}`);
  const open = opener(t, url);
  const first = await open({ instanceId: 'node-1' });
  const out = (batches: number, devices: number) => batch({
    checkpoint: { logOffset: batches * 10, job: 'j', batches, watermark: -Infinity, maxEventTime: -Infinity },
    devices: [{ deviceId: 'd', firstSeen: 1, lastSeen: 2, readings: devices, lastTemperature: 20, lastTs: 2 }],
  });
  await first.commitBatch(out(1, 5));
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.after(() => admin.end());
  // The first one's lock connection ended by the server (as a restart or a network failure would end it); the
  // second one opens before the first takes its lock again (it waits a moment first; else end it again).
  let second;
  for (let attempt = 1; ; attempt++) {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [first.instanceLock]);
    try {
      second = await open({ instanceId: 'node-1' });
      break;
    } catch (err) {
      // Bounded: a machine too loaded to open a store within the first one's 250 ms retake fails here, not forever.
      if ((err as { code?: string }).code !== 'TS_ERR_INSTANCE_IN_USE' || attempt === 20) throw err;
    }
  }
  assert.equal((await second.recover())!.checkpoint.batches, 1);
  await assert.rejects(first.commitBatch(out(2, 9)), {
    code: 'TS_ERR_INSTANCE_CONFLICT',
    message: new RegExp(`^another process runs as instance node-1 on postgres://thermostream:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/t\\d+: this process lost its lock \\(its connection closed\\) and connection "${second.instanceLock}" \\(PostgreSQL process \\d+\\) from 127\\.0\\.0\\.1 since [^)]+ holds it now\\. Nothing of this batch was written; this process stops\\.`),
  });
  await second.commitBatch(out(2, 7));
  assert.deepEqual((await second.devices()).map((d) => d.readings), [12], 'the refused batch wrote nothing');
});

test('PostgreSQL: version 5 → 6 rekeys panes by start before key, keeping every row', async (t) => {
  const url = await server.createDatabase(`t${++databases}`);
  const open = opener(t, url);
  const first = await open();
  const pane = (key: string, start: number, state: number[]) => ({ lengthMs: 10_000, slideMs: 2_000, key, start, state: Uint8Array.from(state) });
  await first.commitBatch(batch({ panes: { upserts: [pane('a', 2_000, [1, 2]), pane('b', 0, [3, 4])], deletes: [] } }));
  await first.close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  t.after(() => c.end());
  const key = async () =>
    (await c.query(`SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, n), pg_attribute a
      WHERE i.indrelid = 'panes'::regclass AND i.indisprimary AND a.attrelid = i.indrelid AND a.attnum = k.attnum
      ORDER BY k.n`)).rows.map((r) => r.attname);
  // What a version-5 database holds: the panes keyed by key before start.
  await c.query(`ALTER TABLE panes DROP CONSTRAINT panes_pkey, ADD PRIMARY KEY (instance_id, length_ms, slide_ms, key, start);
    DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (5);`);
  assert.deepEqual(await key(), ['instance_id', 'length_ms', 'slide_ms', 'key', 'start']);
  const again = await open();
  assert.deepEqual(await versions(url), [5, PG_SCHEMA_VERSION]);
  assert.deepEqual(await key(), ['instance_id', 'length_ms', 'slide_ms', 'start', 'key']);
  const r = (await again.recover())!;
  assert.deepEqual(
    r.panes.map((p) => [p.key, p.start, [...p.state]]).sort(),
    [['a', 2_000, [1, 2]], ['b', 0, [3, 4]]],
  );
  const second = { logOffset: 2, job: 'job', batches: 2, watermark: -Infinity, maxEventTime: -Infinity };
  await again.commitBatch(batch({ checkpoint: second, panes: { upserts: [pane('a', 2_000, [9])], deletes: [{ lengthMs: 10_000, slideMs: 2_000, key: 'b', start: 0 }] } }));
  assert.deepEqual((await again.recover())!.panes.map((p) => [p.key, [...p.state]]), [['a', [9]]], 'upserts and deletes work on the new key');
});

test('PostgreSQL: version 8 → 9 keys anomalies by (device, type, ts, n), keeping every row as n 0', async (t) => {
  const { url, open, c } = await databaseToSetBack(t);
  // What a version-8 database holds: anomalies keyed by (device, type, ts), without n.
  await c.query(`DROP INDEX anomalies_by_ts; ALTER TABLE anomalies DROP CONSTRAINT anomalies_pkey, DROP COLUMN n, ADD PRIMARY KEY (device_id, type, ts);
    CREATE INDEX anomalies_by_ts ON anomalies (ts, device_id, type);
    INSERT INTO anomalies VALUES ('d', 'threshold', 5000, 1, 80, NULL, 40, NULL, NULL, 5000, 1);
    DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (8);`);
  const store = await open();
  assert.deepEqual(await versions(url), [8, PG_SCHEMA_VERSION]);
  const high = { deviceId: 'd', type: 'threshold' as const, ts: 5000, score: 1, value: 90, expected: null, threshold: 40, start: null, end: null, detectedAt: 5000 };
  await store.commitBatch(batch({ anomalies: [high] }));
  const all = await store.anomalies({ from: -1e15, to: 1e15, limit: 10 });
  assert.deepEqual(all.map((a) => [a.n, a.value]), [[1, 90], [0, 80]]);
});

test('PostgreSQL: version 9 → 10 keeps dead letters\' payloads as bytes, the text of older rows as its UTF-8', async (t) => {
  const { url, open, c } = await databaseToSetBack(t);
  // What a version-9 database holds: the payload as text.
  await c.query(`ALTER TABLE dead_letters ALTER COLUMN payload TYPE TEXT USING '';
    INSERT INTO dead_letters (received_at, device_id, topic, reason, detail, payload, payload_bytes)
      VALUES (1000, 'd', 'devices/d/telemetry', 'not_json', 'x', 'caf\u00e9 \uFFFD', 12);
    DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (9);`);
  const store = await open();
  assert.deepEqual(await versions(url), [9, PG_SCHEMA_VERSION]);
  const binary = Buffer.from([0xff, 0x00, 0xfe]);
  await store.commitBatch(batch({ deadLetters: [{ receivedAt: 2000, deviceId: 'd', topic: 'devices/d/telemetry', reason: 'not_json', detail: 'y', payload: binary, payloadBytes: 3 }] }));
  const letters = await store.deadLetters({ limit: 10 });
  assert.deepEqual(letters.map((d) => d.payload.toString('hex')), ['ff00fe', Buffer.from('caf\u00e9 \uFFFD').toString('hex')]);
});
