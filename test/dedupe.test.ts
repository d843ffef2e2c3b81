import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { resolveConfig } from '../server/config.ts';
import { Dedupe } from '../server/engine/dedupe.ts';
import { mapRows } from '../server/engine/rows.ts';
import { hashMessageId } from '../server/engine/message-ids.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import type { IngestBatch, Reading } from '../server/ingest/index.ts';
import { createStore } from '../server/store/index.ts';
import { SCHEMA_VERSION } from '../server/store/sqlite/schema.ts';
import { tempDir } from './helpers.ts';

test('message ids: a resent id counts once, per device', () => {
  const d = new Dedupe();
  assert.equal(d.firstMessage('a', 'm1', 0), true);
  assert.equal(d.firstMessage('a', 'm2', 0), true);
  assert.equal(d.firstMessage('a', 'm1', 5), false, 'a resend');
  assert.equal(d.firstMessage('b', 'm1', 0), true, 'another device may use the same id');
  assert.equal(d.firstMessage('b', 'm1', 0), false);
});

test('message ids: the last N per device are remembered, in bounded memory', () => {
  const d = new Dedupe({ messageIds: 4 });
  for (const id of ['m1', 'm2', 'm3', 'm4']) assert.equal(d.firstMessage('a', id, 0), true);
  assert.equal(d.firstMessage('a', 'm1', 0), false, 'still among the last 4');
  assert.equal(d.firstMessage('a', 'm5', 0), true, 'pushes m1 out');
  assert.equal(d.firstMessage('a', 'm1', 0), true, 'older than the last 4: counted again');
  assert.equal(d.firstMessage('a', 'm2', 0), true, 'm1 pushed m2 out');
  assert.deepEqual(
    ['m4', 'm5', 'm1', 'm2'].map((id) => d.firstMessage('a', id, 0)),
    [false, false, false, false],
    'the ring holds exactly the last 4',
  );
});

test('message ids: the hash is fixed (it is checkpointed)', () => {
  assert.deepEqual(
    ['', 'a', 'mid-1', '6f1c2a8e-4b7d-4e0a-9c1b-2d3e4f5a6b7c'].map(hashMessageId),
    [88809204915653, 1978514870642988, 1679601466929099, 1325789093080385],
  );
});

test('message ids: state survives a checkpoint round trip, also into a smaller ring (the newest ids stay)', () => {
  const d = new Dedupe({ messageIds: 8 });
  for (let i = 1; i <= 10; i++) d.firstMessage('a', `m${i}`, 100 + i);
  const delta = d.takeDelta();
  assert.deepEqual(
    delta.messageIds.map((r) => [r.deviceId, r.ids.length, r.lastSeen]),
    [['a', 64, 110]],
  );
  assert.deepEqual(d.takeDelta().messageIds, [], 'nothing changed since');
  const same = new Dedupe({ messageIds: 8 });
  same.restore({ seqs: [], messageIds: delta.messageIds }, 0);
  assert.deepEqual(
    ['m3', 'm10', 'm2', 'm11'].map((id) => same.firstMessage('a', id, 200)),
    [false, false, true, true],
    'm3…m10 remembered, m2 had left the ring',
  );
  const smaller = new Dedupe({ messageIds: 2 });
  smaller.restore({ seqs: [], messageIds: delta.messageIds }, 0);
  assert.deepEqual(['m9', 'm10', 'm8'].map((id) => smaller.firstMessage('a', id, 200)), [false, false, true]);
});

test('eviction: devices idle longer than idleEvictMs (by the job clock) are forgotten, and deleted from the checkpoint', () => {
  //   a: seq 1 @0 ─────────────── seq 2 @1500 (within 2000: still known)
  //   b: seq 1 @0 ──── (silent) ──────────────── evicted at 2001
  //   m: mid x @0, mid y @1800
  const d = new Dedupe({ idleEvictMs: 2000 });
  d.firstTime('a', 1, 0, true, 0);
  d.firstTime('b', 1, 0, true, 0);
  d.firstMessage('m', 'x', 0);
  d.firstMessage('n', 'x', 0);
  d.takeDelta();
  assert.equal(d.evictIdle(2000), 0, 'idle for exactly idleEvictMs: kept');
  assert.equal(d.firstTime('a', 2, 1500, true, 1500), true);
  assert.equal(d.firstMessage('m', 'y', 1800), true);
  assert.equal(d.evictIdle(2001), 2, 'b (seq state) and n (message ids)');
  assert.equal(d.size, 2);
  const delta = d.takeDelta();
  assert.deepEqual(
    [mapRows(delta.seqs, (r) => r.deviceId), delta.messageIds.map((r) => r.deviceId), delta.evictedSeqs, delta.evictedMessageIds],
    [['a'], ['m'], ['b'], ['n']],
  );
  assert.equal(d.firstTime('a', 1, 0, true, 2100), false, 'a returning device within the time: still deduplicated');
  assert.equal(d.firstMessage('m', 'x', 2100), false);
  assert.equal(d.firstTime('b', 1, 0, true, 2100), true, 'an evicted device starts afresh');
  assert.equal(d.firstTime('b', 1, 0, true, 2100), false);
  assert.deepEqual(d.takeDelta().evictedSeqs, []);
  const never = new Dedupe({ idleEvictMs: 0 });
  never.firstTime('a', 1, 0, true, 0);
  assert.equal(never.evictIdle(1e15), 0, 'idleEvictMs 0: never');
});

test('eviction: a device with both seq and message-id state loses only the idle one', () => {
  const d = new Dedupe({ idleEvictMs: 1000 });
  d.firstTime('a', 1, 0, true, 0);
  d.firstMessage('a', 'x', 900);
  d.takeDelta();
  d.evictIdle(1500);
  const delta = d.takeDelta();
  assert.deepEqual([delta.evictedSeqs, delta.evictedMessageIds], [['a'], []]);
  assert.equal(d.firstMessage('a', 'x', 1600), false);
});

const T0 = Date.UTC(2026, 10, 24, 10);

function reading(deviceId: string, at: number, extra: Partial<Reading>): Reading {
  return { deviceId, ts: at, temperature: 20, humidity: undefined, seq: undefined, arrival: at, ...extra };
}

let offset = 0;
function cut(readings: Reading[]): IngestBatch {
  offset += readings.length;
  return { readings, deadLetters: [], lastOffset: offset };
}

async function fleetCount(app: { windows: (q: any) => Promise<{ count: number }[]> }, from: number): Promise<number> {
  return (await app.windows({ deviceId: '*', lengthMs: 10_000, slideMs: 10_000, from, to: from + 10_000, limit: 1 }))[0]?.count ?? 0;
}

test('job + store: message-id resends count once in the windows, also after a recovery; idle devices leave the checkpoint (acceptance 7)', async (t) => {
  const dataDir = tempDir(t);
  const config = resolveConfig({
    dataDir,
    windows: [{ lengthMs: 10_000, slideMs: 10_000 }],
    dedupe: { idleEvictMs: 60_000, messageIds: 16 },
  });
  const store = await createStore(config);
  t.after(() => store.close());
  const rows = (table: string): number => {
    const db = new Database(store.file, { readonly: true });
    try {
      return db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    } finally {
      db.close();
    }
  };

  // 50 devices send one reading each: 25 with seq, 25 with a message id; each message twice (a resend).
  let job = new TelemetryJob(config, T0, null);
  const first: Reading[] = [];
  for (let i = 0; i < 50; i++) {
    const extra = i % 2 === 0 ? { seq: 1 } : { messageId: `mid-${i}` };
    first.push(reading(`d${i}`, T0 + i, extra), reading(`d${i}`, T0 + i, extra));
  }
  let out = job.process(cut(first), T0 + 100);
  assert.deepEqual([out.records, out.duplicates, out.dedupeDevices], [50, 50, 50]);
  await store.commitBatch(out);
  assert.deepEqual([rows('dedupe'), rows('dedupe_ids')], [25, 25]);

  // A restart: the job comes back from the checkpoint and still knows every message.
  job = new TelemetryJob(config, T0 + 1000, (await store.recover()));
  out = job.process(cut([reading('d1', T0 + 1, { messageId: 'mid-1' }), reading('d0', T0, { seq: 1 })]), T0 + 1000);
  assert.deepEqual([out.records, out.duplicates], [0, 2], 'resends after a restart are still duplicates');
  await store.commitBatch(out);

  // 30 s later only d0…d9 are active; at 70 s the other 40 have been idle for longer than 60 s.
  const active = (at: number): Reading[] =>
    Array.from({ length: 10 }, (_, i) => reading(`d${i}`, at, i % 2 === 0 ? { seq: (at - T0) / 1000 } : { messageId: `mid-${i}-${at}` }));
  await store.commitBatch(job.process(cut(active(T0 + 30_000)), T0 + 30_000));
  out = job.process(cut(active(T0 + 70_000)), T0 + 70_000);
  assert.deepEqual([out.dedupe.evictedSeqs.length, out.dedupe.evictedMessageIds.length, out.dedupeDevices], [20, 20, 10]);
  await store.commitBatch(out);
  assert.deepEqual([rows('dedupe'), rows('dedupe_ids')], [5, 5], 'the checkpoint shrank to the active devices');

  // Still within the time, an active device's resend is a duplicate; an evicted device returning is counted afresh.
  job = new TelemetryJob(config, T0 + 71_000, (await store.recover()));
  out = job.process(
    cut([
      reading('d1', T0 + 30_000, { messageId: 'mid-1-' + (T0 + 30_000), arrival: T0 + 71_000 }),
      reading('d0', T0 + 30_000, { seq: 30, arrival: T0 + 71_000 }),
      reading('d20', T0 + 71_000, { seq: 1 }),
      reading('d21', T0 + 71_000, { messageId: 'mid-21' }),
      reading('d21', T0 + 71_000, { messageId: 'mid-21' }),
    ]),
    T0 + 71_000,
  );
  assert.deepEqual([out.records, out.duplicates], [2, 3]);
  await store.commitBatch(out);
  assert.deepEqual([rows('dedupe'), rows('dedupe_ids')], [6, 6]);
  assert.deepEqual(
    await Promise.all([T0, T0 + 30_000, T0 + 70_000].map((from) => fleetCount(store, from))),
    [50, 10, 12],
    'fleet-wide windows count every reading once',
  );
});

test('store: a version 2 database is migrated (dedupe rows kept, their last activity unknown)', async (t) => {
  const dataDir = tempDir(t);
  const old = new Database(`${dataDir}/thermostream.db`);
  old.exec(`CREATE TABLE dedupe (device_id TEXT PRIMARY KEY, max_seq INTEGER NOT NULL, max_ts REAL, seen BLOB NOT NULL) WITHOUT ROWID;
    CREATE TABLE checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), log_offset INTEGER NOT NULL, job TEXT, watermark REAL,
      max_event_time REAL, batches INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    INSERT INTO checkpoint VALUES (1, 10, NULL, NULL, NULL, 1, 0);
    PRAGMA user_version = 2;`);
  old.prepare('INSERT INTO dedupe VALUES (?, ?, ?, ?)').run('d', 7, 99, Buffer.alloc(128));
  old.close();
  const store = await createStore(resolveConfig({ dataDir }));
  t.after(() => store.close());
  const r = (await store.recover())!;
  assert.deepEqual(
    r.dedupe.seqs.map((s) => [s.deviceId, s.maxSeq, s.maxTs, s.lastSeen]),
    [['d', 7, 99, -Infinity]],
  );
  assert.deepEqual(r.dedupe.messageIds, []);
  const db = new Database(store.file, { readonly: true });
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
});

test('store: a database from a newer Thermostream is refused, naming both versions', async (t) => {
  const dataDir = tempDir(t);
  const db = new Database(`${dataDir}/thermostream.db`);
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  await assert.rejects(createStore(resolveConfig({ dataDir })), {
    code: 'TS_ERR_SCHEMA_NEWER',
    message: `${dataDir}/thermostream.db has schema version ${SCHEMA_VERSION + 1}, newer than this Thermostream's ${SCHEMA_VERSION}: run the newer version, or start with another --data-dir`,
  });
});
