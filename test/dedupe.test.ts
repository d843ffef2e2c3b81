import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { resolveConfig } from '../server/config.ts';
import { Dedupe, DEDUPE_WINDOW, type DedupeRow } from '../server/engine/dedupe.ts';
import { mapRows, type Rows } from '../server/engine/rows.ts';
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

/**
 * The seq state as it was kept before devices were kept compact (seq-window.ts): a bitmap of the window for every
 * device, with the same rules for a restarted counter, eviction, deltas and restore. Dedupe must answer as it does.
 */
class BitmapDedupe {
  private readonly devices = new Map<string, { max: number; maxTs: number; lastSeen: number; bits: Uint8Array }>();
  private readonly touched = new Set<string>();
  private evicted: string[] = [];

  constructor(private readonly idleEvictMs: number) {}

  firstTime(deviceId: string, seq: number, ts: number, tsFromDevice: boolean, arrival: number): boolean {
    let d = this.devices.get(deviceId);
    if (d === undefined) {
      d = { max: -1, maxTs: -Infinity, lastSeen: -Infinity, bits: new Uint8Array(DEDUPE_WINDOW / 8) };
      this.devices.set(deviceId, d);
    }
    if (arrival > d.lastSeen) {
      d.lastSeen = arrival;
      this.touched.add(deviceId);
    }
    if (seq < d.max && (seq <= d.max - DEDUPE_WINDOW || (tsFromDevice && ts > d.maxTs))) {
      d.bits.fill(0);
      d.max = -1;
    }
    if (seq > d.max) {
      for (let s = Math.max(d.max + 1, seq - DEDUPE_WINDOW + 1); s < seq; s++) setBit(d.bits, s, false);
      setBit(d.bits, seq, true);
      d.max = seq;
      d.maxTs = ts;
      this.touched.add(deviceId);
      return true;
    }
    if (hasBit(d.bits, seq)) return false;
    setBit(d.bits, seq, true);
    this.touched.add(deviceId);
    return true;
  }

  evictIdle(now: number): number {
    if (this.idleEvictMs <= 0) return 0;
    const n = this.evicted.length;
    for (const [id, d] of this.devices) {
      if (d.lastSeen < now - this.idleEvictMs) {
        this.devices.delete(id);
        this.touched.delete(id);
        this.evicted.push(id);
      }
    }
    return this.evicted.length - n;
  }

  takeDelta(): { seqs: DedupeRow[]; evictedSeqs: string[] } {
    const seqs = [...this.touched].flatMap((id) => {
      const d = this.devices.get(id);
      return d === undefined ? [] : [{ deviceId: id, maxSeq: d.max, maxTs: d.maxTs, seen: d.bits.slice(), lastSeen: d.lastSeen }];
    });
    const evictedSeqs = this.evicted.filter((id) => !this.touched.has(id));
    this.touched.clear();
    this.evicted = [];
    return { seqs, evictedSeqs };
  }

  restore(rows: readonly DedupeRow[], now: number): void {
    for (const r of rows) {
      const bits = new Uint8Array(DEDUPE_WINDOW / 8);
      bits.set(r.seen.subarray(0, bits.length));
      this.devices.set(r.deviceId, { max: r.maxSeq, maxTs: r.maxTs, lastSeen: Number.isFinite(r.lastSeen) ? r.lastSeen : now, bits });
    }
  }
}

function hasBit(bits: Uint8Array, seq: number): boolean {
  const slot = seq % DEDUPE_WINDOW;
  return (bits[slot >> 3] & (1 << (slot & 7))) !== 0;
}

function setBit(bits: Uint8Array, seq: number, on: boolean): void {
  const slot = seq % DEDUPE_WINDOW;
  if (on) bits[slot >> 3] |= 1 << (slot & 7);
  else bits[slot >> 3] &= ~(1 << (slot & 7));
}

/** Seeded uniform numbers in [0, 1) (mulberry32). */
function randomFrom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** The bits of a window holding the `n` seqs up to `max`, each at its place in the window (seq modulo its size). */
function runUpTo(max: number, n: number): Uint8Array {
  const bits = new Uint8Array(DEDUPE_WINDOW / 8);
  for (let seq = max - n + 1; seq <= max; seq++) {
    const at = ((seq % DEDUPE_WINDOW) + DEDUPE_WINDOW) % DEDUPE_WINDOW;
    bits[at >> 3] |= 1 << (at & 7);
  }
  return bits;
}

/** A delta's seq rows as plain values (their bytes copied: a row's may be a buffer the next row reuses). */
function seqRows(delta: { seqs: Rows<DedupeRow> }): DedupeRow[] {
  return mapRows(delta.seqs, (r) => ({ ...r, seen: Uint8Array.from(r.seen) }));
}

test('seqs, randomized: compact and wide devices answer, evict, checkpoint and restore as the plain bitmap does', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const random = randomFrom(seed);
    const int = (n: number) => Math.floor(random() * n);
    const idleEvictMs = seed % 3 === 0 ? 0 : 1500;
    let d = new Dedupe({ idleEvictMs });
    let ref = new BitmapDedupe(idleEvictMs);
    const checkpoint = new Map<string, DedupeRow>();
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const next = new Map(ids.map((id) => [id, int(3) === 0 ? 0 : int(1e6)]));
    const clock = new Map(ids.map((id) => [id, T0]));
    const sent = new Map<string, { seq: number; ts: number; stamped: boolean }[]>(ids.map((id) => [id, []]));
    let now = T0;
    let calls = 0;
    const send = (id: string, seq: number, ts: number, stamped: boolean) => {
      const where = `seed ${seed}, call ${calls++}: ${id} seq ${seq}`;
      assert.equal(d.firstTime(id, seq, ts, stamped, now), ref.firstTime(id, seq, ts, stamped, now), where);
      const history = sent.get(id)!;
      history.push({ seq, ts, stamped });
      if (history.length > 3000) history.splice(0, 1000);
    };
    const compareDeltas = () => {
      const got = d.takeDelta();
      const want = ref.takeDelta();
      assert.deepEqual([seqRows(got), got.evictedSeqs], [want.seqs, want.evictedSeqs], `seed ${seed}, delta after call ${calls}`);
      for (const r of want.seqs) checkpoint.set(r.deviceId, r);
      for (const id of want.evictedSeqs) checkpoint.delete(id);
    };
    for (let step = 0; step < 1500; step++) {
      now += int(100);
      // a, b busy; d, e seldom heard from, so that eviction takes them now and then.
      const pick = random();
      const id = ids[pick < 0.4 ? 0 : pick < 0.7 ? 1 : pick < 0.9 ? 2 : pick < 0.98 ? 3 : 4];
      // The device stamps its readings in the order it makes them; those it does not stamp get their arrival.
      const stamped = random() < 0.85;
      const stamp = () => {
        clock.set(id, Math.max(clock.get(id)! + 1, now));
        return stamped ? clock.get(id)! : now;
      };
      let n = next.get(id)!;
      const op = random();
      if (op < 0.45) {
        for (let k = 1 + int(40); k > 0; k--) send(id, n++, stamp(), stamped); // in order
      } else if (op < 0.6) {
        // Resends, mostly of recent readings.
        const history = sent.get(id)!;
        for (let k = 1 + int(10); k > 0 && history.length > 0; k--) {
          const old = history[history.length - 1 - int(Math.min(history.length, random() < 0.7 ? 20 : 1200))];
          send(id, old.seq, old.ts, old.stamped);
        }
      } else if (op < 0.65) {
        n += 2 + int(random() < 0.5 ? 40 : 1100); // a gap
        send(id, n++, stamp(), stamped);
      } else if (op < 0.68) {
        n += [1022, 1023, 1024, 1024 + int(5000)][int(4)]; // a jump, just short of the window or past it
        send(id, n++, stamp(), stamped);
      } else if (op < 0.76) {
        const readings = Array.from({ length: 2 + int(30) }, () => ({ seq: n++, ts: stamp() }));
        readings.sort(() => random() - 0.5); // out of order
        for (const r of readings) send(id, r.seq, r.ts, stamped);
      } else if (op < 0.81) {
        send(id, Math.max(0, n - 1 - int(1200)), stamped ? T0 : now, stamped); // a late first arrival, or a resend
      } else if (op < 0.84) {
        n = int(20); // a restarted counter: stamped later than the highest seq, or far behind
        send(id, n++, stamp(), stamped);
      } else if (op < 0.9) {
        assert.equal(d.evictIdle(now), ref.evictIdle(now), `seed ${seed}, evictIdle after call ${calls}`);
      } else if (op < 0.97) {
        compareDeltas();
      } else {
        // A restart from the checkpoint, some of its rows changed as only a checkpoint of any state could hold them.
        compareDeltas();
        const rows = [...checkpoint.values()].map((r) => {
          const seen = [
            r.seen,
            r.seen,
            r.seen,
            runUpTo(r.maxSeq, int(DEDUPE_WINDOW + 1)), // down past seq 0 if maxSeq is small
            new Uint8Array(128).fill(0xff),
            new Uint8Array(128),
            Uint8Array.of(int(256)),
            Uint8Array.from({ length: 128 }, () => int(256)),
          ][int(8)];
          return { ...r, seen, lastSeen: random() < 0.1 ? -Infinity : r.lastSeen };
        });
        d = new Dedupe({ idleEvictMs });
        ref = new BitmapDedupe(idleEvictMs);
        d.restore({ seqs: rows, messageIds: [] }, now);
        ref.restore(rows, now);
      }
      next.set(id, n);
    }
    compareDeltas();
  }
});

test('seqs: devices sending in order stay compact, also across a restore; one that leaves a gap is widened', () => {
  const d = new Dedupe({ idleEvictMs: 1000 });
  for (let i = 0; i < 100; i++) {
    const from = i * 1000;
    const to = from + 50 + i * 30;
    for (let seq = from; seq < to; seq++) d.firstTime(`d${i}`, seq, seq, true, 0);
    assert.equal(d.firstTime(`d${i}`, to - 10, to - 10, true, 0), false, 'a resend');
    if (to - from < DEDUPE_WINDOW) assert.equal(d.firstTime(`d${i}`, from, from, true, 0), false, 'a resend of the first');
  }
  d.firstTime('d0', 10_000, 10_000, true, 0); // a jump past the whole window
  d.firstTime('d1', 1, 50_000, true, 0); // a restarted counter
  assert.equal(d.wideDevices, 0);
  const rows = seqRows(d.takeDelta());
  const seen = new Map(rows.map((r) => [r.deviceId, r.seen]));
  assert.deepEqual(
    [seen.get('d2'), seen.get('d99')],
    [Uint8Array.of(...Array(7).fill(0xff), 0x3f, ...Array(114).fill(0), ...Array(6).fill(0xff)), new Uint8Array(128).fill(0xff)],
    'd2 sent 110 seqs from 2000 (bits 976 … 1023, then 0 … 61 of the 1,024); d99 more than the window',
  );

  const restored = new Dedupe();
  restored.restore({ seqs: rows, messageIds: [] }, 0);
  assert.equal(restored.wideDevices, 0, 'a restart does not widen them');
  assert.deepEqual(seqRows(restored.takeDelta()), []);
  assert.equal(restored.firstTime('d2', 2100, 0, true, 0), false);
  assert.equal(restored.firstTime('d2', 1999, 0, true, 0), true, 'below the run');
  assert.equal(restored.wideDevices, 1);
  // A checkpoint's run down past seq 0 (no device sends one, but a checkpoint's bits may say so) is kept compact too.
  const wrapped = new Dedupe();
  wrapped.restore({ seqs: [{ deviceId: 'w', maxSeq: 5, maxTs: 0, seen: runUpTo(5, 10), lastSeen: 0 }], messageIds: [] }, 0);
  wrapped.firstTime('w', 6, 0, true, 0);
  assert.deepEqual([wrapped.wideDevices, seqRows(wrapped.takeDelta())[0].seen], [0, runUpTo(6, 11)]);

  d.firstTime('d3', 3200, 0, true, 0); // d3 sent 3000 … 3139: a gap
  d.firstTime('d4', 4000 + 100, 0, false, 0);
  assert.equal(d.wideDevices, 1, 'd4 only resent one');
  d.firstTime('d4', 3999, 0, true, 0); // below its first seq, within the window: a late first arrival
  assert.equal(d.wideDevices, 2);
  d.firstTime('d3', 1, 1e9, true, 0); // d3's counter restarted
  assert.equal(d.wideDevices, 1, 'compact again once its window is forgotten');
  d.firstTime('d4', 100_000, 0, true, 500);
  assert.equal(d.wideDevices, 0, 'and after a jump past the whole window');
  d.firstTime('d5', 6000, 0, true, 0);
  d.firstTime('d5', 5050, 0, true, 0);
  assert.equal(d.wideDevices, 1);
  d.evictIdle(1200); // all but d4, which last sent at 500
  assert.deepEqual([d.wideDevices, d.size], [0, 1], 'the evicted give their slots back');
});

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
