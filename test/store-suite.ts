/**
 * The store test suite: one set of cases every store implementation must pass (as MQTT.js's abstract_store does
 * for its stores). test/store-sqlite.test.ts and test/store-postgres.test.ts run it against SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { resolveConfig, type Config } from '../server/config.ts';
import { Aggregate } from '../server/engine/aggregate.ts';
import { FLEET, type WindowResult } from '../server/engine/event-time.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { anomalyCountsFrom, anomalyCountsJson, packWindows, windowResult } from '../server/engine/window-pack.ts';
import { ANOMALY_TYPES } from '../server/engine/detectors/index.ts';
import type { Reading } from '../server/ingest/reading.ts';
import type { BatchOutput, Store, StoreDeps } from '../server/store/index.ts';

export interface OpenOptions {
  instanceId?: string;
  deps?: StoreDeps;
  /** Config overrides (retention, windows…). */
  config?: Record<string, unknown>;
}

/** Opens a store on the test's database; every call opens another store (another instance) on the same one. */
export type Opener = (options?: OpenOptions) => Promise<Store>;

export interface StoreTarget {
  name: string;
  /** A fresh, empty database for this test. */
  fresh(t: TestContext): Promise<Opener>;
  /** The implementation's own migration case: a database of the previous schema version is brought up. */
  migration(t: TestContext): Promise<void>;
}

const window = (deviceId: string, start: number, final: boolean, temperature = 20): WindowResult => {
  const a = new Aggregate();
  a.add({ deviceId, ts: start, temperature, humidity: undefined, seq: undefined, arrival: start });
  return windowResult(deviceId, 10_000, 2_000, start, start + 10_000, final, a);
};

/** A batch's output; its windows as objects (packed here, as the engine emits them). */
export function batch({ windows = [], ...over }: Partial<Omit<BatchOutput, 'windows'>> & { windows?: WindowResult[] }): BatchOutput {
  return {
    windows: packWindows(windows),
    anomalies: [],
    devices: [],
    deadLetters: [],
    late: [],
    committedAt: 0,
    checkpoint: { logOffset: 1, job: 'job', batches: 1, watermark: -Infinity, maxEventTime: -Infinity },
    panes: { upserts: [], deletes: [] },
    detectors: [],
    dedupe: { seqs: [], messageIds: [], evictedSeqs: [], evictedMessageIds: [] },
    ...over,
  };
}

const ALL = { from: -1e15, to: 1e15 };
const letter = (receivedAt: number, deviceId: string, reason: 'not_json' | 'missing_temperature') =>
  ({ receivedAt, deviceId, topic: `devices/${deviceId}/telemetry`, reason, detail: 'x', payload: Buffer.from('x'), payloadBytes: 1 });

/** Quarter degrees: sums and sums of squares are exact in doubles, so merged and single computations agree bit for bit. */
function fleetReadings(devices: number, perDevice: number, t0: number): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; i < perDevice; i++) {
    for (let d = 0; d < devices; d++) {
      const ts = t0 + i * 1000 + d * 7;
      const temperature = 18 + ((d * 13 + i * 5) % 32) / 4;
      const humidity = d % 3 === 0 ? undefined : 40 + ((d + i) % 8) / 4;
      out.push({ deviceId: `dev-${String(d).padStart(2, '0')}`, ts, temperature, humidity, seq: i + 1, arrival: ts });
    }
  }
  return out;
}

/** Runs the telemetry job over `readings` in batches of one second and commits each batch; ends with an idle batch. */
async function runJob(store: Store, config: Config, readings: readonly Reading[], t0: number): Promise<void> {
  const job = new TelemetryJob(config, t0, null);
  let offset = 0;
  for (let at = t0 + 1000; at <= readings.at(-1)!.ts + 1000; at += 1000) {
    const cut = readings.filter((r) => r.ts >= at - 1000 && r.ts < at);
    offset += cut.length;
    await store.commitBatch(job.process({ readings: cut, deadLetters: [], lastOffset: offset }, at));
  }
  // An hour later, idle: the watermark follows the clock and every window becomes final.
  await store.commitBatch(job.process({ readings: [], deadLetters: [], lastOffset: offset }, t0 + 3_600_000));
}

export function storeSuite(target: StoreTarget): void {
  const name = target.name;

  test(`${name}: a window's anomaly counts come back with every type, 0 where none, as stored sparsely (the types with a count)`, async (t) => {
    const store = await (await target.fresh(t))();
    const plain = window('d', 0, true);
    const spiky = { ...window('d', 2_000, true), anomalies: 3, anomaliesByType: { ...plain.anomaliesByType, spike: 2, dropout: 1 } };
    const sums = { sum: 20, sumSq: 400, firstTs: 0, lastTs: 0, humiditySum: 0, humiditySumSq: 0, humidityFirstTs: Infinity, humidityLastTs: -Infinity };
    const fleet = { ...window(FLEET, 0, true), anomalies: 1, anomaliesByType: { ...plain.anomaliesByType, stuck: 1 }, sums };
    assert.deepEqual(Object.values(plain.anomaliesByType), ANOMALY_TYPES.map(() => 0));
    assert.equal(anomalyCountsJson(plain.anomaliesByType), '{}');
    assert.equal(anomalyCountsJson(spiky.anomaliesByType), '{"spike":2,"dropout":1}');
    await store.commitBatch(batch({ windows: [plain, spiky, fleet] }));
    const q = { lengthMs: 10_000, slideMs: 2_000, ...ALL, limit: 10 };
    const byStart = (ws: WindowResult[]) => ws.map((w) => [w.start, w.anomaliesByType]);
    assert.deepEqual(byStart(await store.windows({ deviceId: 'd', ...q })), [[0, plain.anomaliesByType], [2_000, spiky.anomaliesByType]]);
    const { sums: _, ...fleetResult } = fleet;
    assert.deepEqual(await store.windows({ deviceId: FLEET, ...q }), [fleetResult]);
    // Rows of older versions list every type.
    assert.deepEqual(anomalyCountsFrom(JSON.stringify(spiky.anomaliesByType)), spiky.anomaliesByType);
  });

  test(`${name}: a checkpoint comes back exactly: offset, watermark, panes and dedupe state`, async (t) => {
    const store = await (await target.fresh(t))();
    assert.equal(await store.recover(), null, 'a fresh database has no checkpoint');
    const pane = new Aggregate();
    pane.add({ deviceId: 'd', ts: 5, temperature: 21.5, humidity: 40, seq: 1, arrival: 5 });
    pane.addAnomaly(1);
    const seen = new Uint8Array(128);
    seen[7] = 0b101;
    await store.commitBatch(
      batch({
        checkpoint: { logOffset: 42, job: 'job-a', batches: 3, watermark: 1234, maxEventTime: 5678 },
        panes: { upserts: [{ lengthMs: 10_000, slideMs: 2_000, key: 'd', start: 0, state: pane.toBytes() }], deletes: [] },
        detectors: [{ deviceId: 'd', state: new Uint8Array([1, 2, 3]) }],
        dedupe: {
          seqs: [{ deviceId: 'd', maxSeq: 7, maxTs: 99, seen, lastSeen: 1000 }],
          messageIds: [{ deviceId: 'm', ids: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), lastSeen: 2000 }],
          evictedSeqs: [],
          evictedMessageIds: [],
        },
      }),
    );
    const r = (await store.recover())!;
    assert.deepEqual(r.checkpoint, { logOffset: 42, job: 'job-a', batches: 3, watermark: 1234, maxEventTime: 5678 });
    assert.deepEqual(Aggregate.fromBytes(r.panes[0].state), pane);
    assert.deepEqual(r.detectors.map((d) => [d.deviceId, [...d.state]]), [['d', [1, 2, 3]]]);
    const [s] = r.dedupe.seqs;
    assert.deepEqual([s.deviceId, s.maxSeq, s.maxTs, Uint8Array.from(s.seen), s.lastSeen], ['d', 7, 99, seen, 1000]);
    const [m] = r.dedupe.messageIds;
    assert.deepEqual([m.deviceId, Uint8Array.from(m.ids), m.lastSeen], ['m', Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2000]);
    // The next batch deletes the pane and evicts the dedupe state; -Infinity (nothing yet) comes back as such.
    await store.commitBatch(
      batch({
        checkpoint: { logOffset: 50, job: 'job-a', batches: 4, watermark: -Infinity, maxEventTime: -Infinity },
        panes: { upserts: [], deletes: [{ lengthMs: 10_000, slideMs: 2_000, key: 'd', start: 0 }] },
        dedupe: { seqs: [], messageIds: [], evictedSeqs: ['d'], evictedMessageIds: ['m'] },
      }),
    );
    const r2 = (await store.recover())!;
    assert.deepEqual(r2.checkpoint, { logOffset: 50, job: 'job-a', batches: 4, watermark: -Infinity, maxEventTime: -Infinity });
    assert.deepEqual([r2.panes, r2.dedupe.seqs, r2.dedupe.messageIds], [[], [], []]);
  });

  test(`${name}: a failure between the outputs and the checkpoint leaves neither (one transaction)`, async (t) => {
    let fail = true;
    const open = await target.fresh(t);
    const store = await open({ deps: { beforeCheckpoint: () => { if (fail) throw new Error('injected'); } } });
    const out = batch({
      windows: [window('d', 0, false)],
      devices: [{ deviceId: 'd', firstSeen: 1, lastSeen: 2, readings: 3, lastTemperature: 20, lastTs: 2 }],
      deadLetters: [letter(1, 'd', 'not_json')],
      checkpoint: { logOffset: 3, job: 'job', batches: 1, watermark: -Infinity, maxEventTime: -Infinity },
      committedAt: 1000,
    });
    await assert.rejects(store.commitBatch(out), /injected/);
    assert.equal(await store.recover(), null);
    assert.deepEqual(await store.windows({ deviceId: 'd', lengthMs: 10_000, slideMs: 2_000, ...ALL, limit: 10 }), []);
    assert.deepEqual([await store.devices(), await store.deadLetters({ limit: 10 }), await store.rejectionsByDevice({ limit: 1000 })], [[], [], []]);
    assert.deepEqual(await store.batchesAfter(0, 10), []);
    fail = false;
    await store.commitBatch(out); // the same batch again, as the engine retries it: applied exactly once
    assert.equal((await store.recover())!.checkpoint.logOffset, 3);
    assert.deepEqual((await store.devices()).map((d) => d.readings), [3]);
    assert.deepEqual(await store.rejectionsByDevice({ limit: 1000 }), [{ deviceId: 'd', reason: 'not_json', count: 1 }]);
    assert.deepEqual(await store.rejectionCounts('d'), [{ deviceId: 'd', reason: 'not_json', count: 1 }]);
    assert.deepEqual(await store.rejectionCounts('e'), []);
  });

  test(`${name}: a device's windows among other devices' and shapes', with gaps, bounds and limits`, async (t) => {
    const store = await (await target.fresh(t))();
    const shape = (w: WindowResult, lengthMs: number, slideMs: number): WindowResult => ({ ...w, lengthMs, slideMs, end: w.start + lengthMs });
    await store.commitBatch(
      batch({
        windows: [
          ...[0, 2_000, 10_000, 40_000].map((s) => window('a', s, true, s / 1000)),
          ...[-4_000, 4_000, 6_000, 50_000].map((s) => window('b', s, true)),
          shape(window('a', 0, true, 7), 60_000, 10_000),
        ],
      }),
    );
    const starts = async (deviceId: string, from: number, to: number, limit = 10, lengthMs = 10_000, slideMs = 2_000) =>
      (await store.windows({ deviceId, lengthMs, slideMs, from, to, limit })).map((w) => w.start);
    assert.deepEqual(await starts('a', ALL.from, ALL.to), [0, 2_000, 10_000, 40_000]);
    assert.deepEqual(await starts('a', ALL.from, ALL.to, 2), [10_000, 40_000], 'the newest `limit`, oldest first');
    assert.deepEqual(await starts('a', -8.64e15, 8.64e15, 1), [40_000], 'the latest window, whatever the range');
    assert.deepEqual(await starts('a', 2_000, 40_000), [2_000, 10_000], 'from inclusive, to exclusive');
    assert.deepEqual(await starts('a', 1, 40_001), [2_000, 10_000, 40_000], 'bounds between starts');
    assert.deepEqual(await starts('a', 10_001, 39_999), [], 'a gap');
    assert.deepEqual(await starts('b', ALL.from, ALL.to), [-4_000, 4_000, 6_000, 50_000], 'starts before the epoch too');
    assert.deepEqual(await starts('b', ALL.from, 0), [-4_000]);
    assert.deepEqual(await starts('a', ALL.from, ALL.to, 10, 60_000, 10_000), [0], 'another shape');
    assert.deepEqual((await store.windows({ deviceId: 'a', lengthMs: 60_000, slideMs: 10_000, ...ALL, limit: 10 }))[0].avg, 7);
    assert.deepEqual(await starts('c', ALL.from, ALL.to), [], 'a device without windows');
    assert.deepEqual(await starts('a', ALL.from, ALL.to, 10, 30_000, 5_000), [], 'a shape without windows');
    // Far apart (SQLite looks up the newest 4,096 starts one by one, then skips to the starts the shape has): b's
    // windows of a year later do not hide a's, on either side of that step, nor does a stretch of a's own.
    const YEAR = 365 * 86_400_000;
    await store.commitBatch(batch({
      windows: [window('b', YEAR, true), window('a', YEAR - 2_000 * 4_000, true), window('a', YEAR - 2_000 * 5_000, true)],
      checkpoint: { logOffset: 12, job: 'job', batches: 2, watermark: 6, maxEventTime: 16 },
    }));
    assert.deepEqual(await starts('a', ALL.from, ALL.to, 3), [40_000, YEAR - 10_000_000, YEAR - 8_000_000]);
    assert.deepEqual(await starts('a', ALL.from, ALL.to, 6), [0, 2_000, 10_000, 40_000, YEAR - 10_000_000, YEAR - 8_000_000]);
    assert.deepEqual(await starts('a', ALL.from, YEAR - 8_000_000, 2), [40_000, YEAR - 10_000_000]);
    assert.deepEqual(await starts('c', ALL.from, ALL.to), [], 'still none');
  });

  test(`${name}: every query the API makes, with paging`, async (t) => {
    const store = await (await target.fresh(t))();
    assert.equal(await store.lateCount(), 0);
    const devices = ['a', 'B', 'b-1', 'b.2', 'c'].map((deviceId, i) => ({ deviceId, firstSeen: i, lastSeen: 10 + i, readings: 1, lastTemperature: 20 + i, lastTs: i }));
    const spike = (deviceId: string, ts: number) =>
      ({ deviceId, type: 'spike' as const, ts, score: 2.5, value: 30, expected: 20, threshold: 26, start: null, end: null, detectedAt: ts + 1 });
    const stuck = { deviceId: 'a', type: 'stuck' as const, ts: 500, score: 1, value: 20.5, expected: null, threshold: 10, start: 500, end: null, detectedAt: 900 };
    await store.commitBatch(
      batch({
        windows: [0, 2000, 4000, 6000].map((s) => window('a', s, s < 4000, 20 + s / 1000)),
        devices,
        anomalies: [spike('a', 100), spike('B', 100), spike('a', 200), stuck],
        deadLetters: [letter(1, 'a', 'not_json'), letter(2, 'a', 'missing_temperature'), letter(3, 'B', 'not_json'), letter(4, 'a', 'not_json')],
        late: [
          { deviceId: 'a', ts: 1, temperature: 19, humidity: undefined, seq: 4, arrival: 9 },
          { deviceId: 'B', ts: 2, temperature: 18.5, humidity: 41, seq: undefined, arrival: 10 },
        ],
        committedAt: 1000,
        checkpoint: { logOffset: 10, job: 'job', batches: 1, watermark: 5, maxEventTime: 15 },
        records: 10,
        duplicates: 1,
      }),
    );
    await store.commitBatch(batch({ committedAt: 2000, checkpoint: { logOffset: 12, job: 'job', batches: 2, watermark: 6, maxEventTime: 16 }, windows: [window('a', 8000, false)] }));

    // Windows: the newest `limit` in [from, to), oldest first.
    const q = { deviceId: 'a', lengthMs: 10_000, slideMs: 2_000, ...ALL };
    const w = await store.windows({ ...q, limit: 2 });
    assert.deepEqual(w.map((x) => [x.start, x.avg, x.final]), [[6000, 26, false], [8000, 20, false]]);
    assert.deepEqual((await store.windows({ ...q, to: 6000, limit: 2 })).map((x) => x.start), [2000, 4000]);
    assert.deepEqual(w[0], window('a', 6000, false, 26), 'a window comes back as written');
    // Devices: by id in byte order, paged by the last id.
    assert.deepEqual((await store.devices({ limit: 2 })).map((d) => d.deviceId), ['B', 'a']);
    assert.deepEqual((await store.devices({ after: 'a', limit: 2 })).map((d) => d.deviceId), ['b-1', 'b.2']);
    assert.deepEqual((await store.devices()).length, 5);
    assert.deepEqual(await store.device('c'), { deviceId: 'c', firstSeen: 4, lastSeen: 14, readings: 1, lastTemperature: 24 });
    assert.equal(await store.device('nope'), null);
    // Anomalies: newest first, by (ts, deviceId, type) descending; filters; the cursor.
    const all = await store.anomalies({ ...ALL, limit: 10 });
    assert.deepEqual(all.map((a) => [a.ts, a.deviceId, a.type]), [[500, 'a', 'stuck'], [200, 'a', 'spike'], [100, 'a', 'spike'], [100, 'B', 'spike']]);
    assert.deepEqual(all[1], { ...spike('a', 200), n: 0 });
    const page = await store.anomalies({ ...ALL, limit: 2, before: { ts: 200, deviceId: 'a', type: 'spike', n: 0 } });
    assert.deepEqual(page.map((a) => [a.ts, a.deviceId]), [[100, 'a'], [100, 'B']]);
    assert.deepEqual((await store.anomalies({ deviceId: 'a', type: 'spike', from: 150, to: 1e15, limit: 10 })).map((a) => a.ts), [200]);
    assert.deepEqual(await store.openAnomalies('a', 10), [{ ...stuck, n: 0 }]);
    // Dead letters: newest first, paged by id; rejection counts per device and reason.
    const letters = await store.deadLetters({ deviceId: 'a', limit: 2 });
    assert.deepEqual(letters.map((d) => d.receivedAt), [4, 2]);
    assert.deepEqual((await store.deadLetters({ deviceId: 'a', beforeId: letters[1].id, limit: 2 })).map((d) => d.receivedAt), [1]);
    assert.deepEqual((await store.deadLetters({ reason: 'not_json', limit: 10 })).map((d) => d.receivedAt), [4, 3, 1]);
    assert.deepEqual(await store.rejectionsByDevice({ limit: 1000 }), [
      { deviceId: 'B', reason: 'not_json', count: 1 },
      { deviceId: 'a', reason: 'missing_temperature', count: 1 },
      { deviceId: 'a', reason: 'not_json', count: 2 },
    ]);
    assert.deepEqual((await store.rejectionCounts('a')).map((r) => [r.reason, r.count]), [['missing_temperature', 1], ['not_json', 2]]);
    // By device, paged by device id: a page holds every reason of its devices.
    assert.deepEqual(await store.rejectionsByDevice({ limit: 1 }), [{ deviceId: 'B', reason: 'not_json', count: 1 }]);
    assert.deepEqual(await store.rejectionsByDevice({ after: 'B', limit: 1 }), [
      { deviceId: 'a', reason: 'missing_temperature', count: 1 },
      { deviceId: 'a', reason: 'not_json', count: 2 },
    ]);
    assert.deepEqual(await store.rejectionsByDevice({ after: 'a', limit: 5 }), []);
    assert.equal(await store.lateCount(), 2);
    // Late readings: newest first, paged by id, by device.
    const lateAll = await store.lateReadings({ limit: 10 });
    assert.deepEqual(lateAll.map(({ id: _, ...r }) => r), [
      { deviceId: 'B', ts: 2, arrival: 10, temperature: 18.5, humidity: 41, seq: null, watermark: 5 },
      { deviceId: 'a', ts: 1, arrival: 9, temperature: 19, humidity: null, seq: 4, watermark: 5 },
    ]);
    assert.deepEqual((await store.lateReadings({ beforeId: lateAll[0].id, limit: 10 })).map((r) => r.deviceId), ['a']);
    assert.deepEqual((await store.lateReadings({ deviceId: 'B', limit: 10 })).map((r) => r.ts), [2]);
    // batch_log and the SSE replay's reads.
    assert.deepEqual(await store.batchesAfter(0, 10), [
      { batch: 1, committedAt: 1000, records: 10, late: 2, duplicates: 1, rejected: 4, windowsUpdated: 4, watermark: 5, logOffset: 10 },
      { batch: 2, committedAt: 2000, records: 0, late: 0, duplicates: 0, rejected: 0, windowsUpdated: 1, watermark: 6, logOffset: 12 },
    ]);
    assert.deepEqual((await store.batchesAfter(1, 10)).map((b) => b.batch), [2]);
    assert.equal(await store.batchCommittedAt(2), 2000);
    assert.equal(await store.batchCommittedAt(3), null);
    const updated = await store.windowsUpdatedSince(1001, 10);
    assert.deepEqual(updated?.map((x) => [x.start, x.updatedAt]), [[8000, 2000]]);
    const since0 = await store.windowsUpdatedSince(0, 10);
    assert.deepEqual(since0?.map((x) => x.start), [0, 2000, 4000, 6000, 8000]);
    // More than the limit: none is read.
    assert.equal(await store.windowsUpdatedSince(0, since0!.length - 1), null);
    assert.equal((await store.windowsUpdatedSince(0, since0!.length))?.length, since0!.length);
    // Of some devices (a stream filtered by device): theirs only, and only theirs count against the limit.
    assert.deepEqual((await store.windowsUpdatedSince(0, since0!.length, ['a', 'B']))?.map((x) => x.start), [0, 2000, 4000, 6000, 8000]);
    assert.deepEqual(await store.windowsUpdatedSince(0, 0, ['B', '*']), []);
    assert.equal(await store.windowsUpdatedSince(0, 4, ['a']), null);
    assert.deepEqual((await store.anomaliesUpdatedSince(0, 10, ['B'])).map((a) => [a.deviceId, a.ts]), [['B', 100]]);
    assert.deepEqual((await store.anomaliesUpdatedSince(0, 10)).map((a) => [a.deviceId, a.ts, a.updatedAt]), [
      ['B', 100, 1000], ['a', 100, 1000], ['a', 200, 1000], ['a', 500, 1000],
    ]);
    await store.probeWrite(3000);
  });

  test(`${name}: a dead letter's payload comes back byte for byte: quotes, backslashes, NUL, non-ASCII, bytes that are not UTF-8`, async (t) => {
    const store = await (await target.fresh(t))();
    const text = Buffer.from('{"temperature": "21,5"} \\ \\" {NULL} \'quoted\' ° ✓ \u0000 end');
    // Not UTF-8: a lone continuation byte, an overlong NUL, a surrogate, bytes that start no sequence, a cut one.
    const binary = Buffer.from([0x80, 0x00, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xff, 0xfe, 0x7b, 0xe2, 0x82]);
    await store.commitBatch(batch({
      deadLetters: [
        { ...letter(1, 'd', 'not_json'), payload: text, payloadBytes: text.length, detail: 'Unexpected token \'"\' at 3 \u0000' },
        { ...letter(2, 'd', 'not_json'), payload: binary, payloadBytes: 4096 },
      ],
    }));
    const [gotBinary, gotText] = await store.deadLetters({ limit: 2 });
    assert.ok(Buffer.isBuffer(gotText.payload) && Buffer.isBuffer(gotBinary.payload));
    assert.deepEqual([gotText.payload.toString('hex'), gotBinary.payload.toString('hex')], [text.toString('hex'), binary.toString('hex')]);
    assert.deepEqual([gotText.payloadBytes, gotBinary.payloadBytes], [text.length, 4096]);
    // NUL is the one character PostgreSQL text cannot hold: in the detail it comes back as U+FFFD there.
    assert.ok(['Unexpected token \'"\' at 3 \u0000', 'Unexpected token \'"\' at 3 \uFFFD'].includes(gotText.detail), JSON.stringify(gotText.detail));
  });

  test(`${name}: retention prunes final windows, anomalies, dead letters and late readings computed or received longer ago than configured; open windows stay`, async (t) => {
    const store = await (await target.fresh(t))({ config: { retention: { windowsMs: 1000, deadLettersMs: 1000, lateReadingsMs: 1000, anomaliesMs: 1000 } } });
    const late = { deviceId: 'd', ts: 0, temperature: 20, humidity: undefined, seq: undefined, arrival: 0 };
    const spike = (ts: number) => ({ deviceId: 'd', type: 'spike' as const, ts, score: 9, value: 30, expected: 20, threshold: 26, start: null, end: null, detectedAt: ts });
    await store.commitBatch(batch({ windows: [window('d', 0, true), window('d', 2000, false)], anomalies: [spike(5)], deadLetters: [letter(0, 'd', 'not_json')], late: [late] }));
    // A recording replayed at 58.5 s: windows and an anomaly of event time long past, computed just now.
    await store.commitBatch(batch({ committedAt: 58_500, windows: [window('d', 20_000, true)], anomalies: [spike(25_000)], checkpoint: { logOffset: 2, job: 'job', batches: 2, watermark: -Infinity, maxEventTime: -Infinity } }));
    // Computed (committed) before 59 s − 1 s: the final window [0, 10 s) and the first spike go, the open window
    // [2 s, 12 s) stays; the replayed window and spike, computed at 58.5 s, stay though their times are older.
    assert.equal(await store.prune(59_000), 4, 'one window, one anomaly, one dead letter, one late reading');
    const starts = (await store.windows({ deviceId: 'd', lengthMs: 10_000, slideMs: 2_000, ...ALL, limit: 100 })).map((w) => w.start);
    assert.deepEqual(starts, [2000, 20_000]);
    assert.deepEqual((await store.anomalies({ ...ALL, limit: 10 })).map((a) => a.ts), [25_000]);
    assert.equal((await store.deadLetters({ limit: 10 })).length, 0);
    assert.deepEqual(await store.rejectionsByDevice({ limit: 1000 }), [{ deviceId: 'd', reason: 'not_json', count: 1 }], 'counts are kept');
    assert.equal(await store.lateCount(), 0);
  });

  test(`${name}: anomalies and detector state commit with the batch; an interval anomaly is one row; --fresh forgets the state, keeps the anomalies`, async (t) => {
    const store = await (await target.fresh(t))();
    const open = { deviceId: 'd', type: 'stuck' as const, ts: 1000, score: 1, value: 20.5, expected: null, threshold: 10, start: 1000, end: null, detectedAt: 10_000 };
    const spike = { deviceId: 'd', type: 'spike' as const, ts: 2000, score: 9.5, value: 30, expected: 20, threshold: 26, start: null, end: null, detectedAt: 3000 };
    await store.commitBatch(batch({ anomalies: [open, spike], windows: [window('d', 0, false)], detectors: [{ deviceId: 'd', state: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) }] }));
    await store.commitBatch(batch({ anomalies: [{ ...open, score: 3, end: 29_000 }], checkpoint: { logOffset: 1, job: 'job', batches: 2, watermark: -Infinity, maxEventTime: -Infinity } }));
    assert.deepEqual(await store.anomalies({ ...ALL, limit: 10 }), [{ ...spike, n: 0 }, { ...open, score: 3, end: 29_000, n: 0 }]);
    assert.deepEqual((await store.recover())!.detectors.map((r) => [r.deviceId, [...r.state]]), [['d', [1, 2, 3, 4, 5, 6, 7, 8]]]);
    await store.resetJob();
    const r = (await store.recover())!;
    assert.deepEqual([r.detectors, r.checkpoint.job, r.checkpoint.logOffset], [[], null, 1], 'the log offset is kept');
    assert.deepEqual(await store.windows({ deviceId: 'd', lengthMs: 10_000, slideMs: 2_000, ...ALL, limit: 10 }), []);
    assert.equal((await store.anomalies({ ...ALL, limit: 10 })).length, 2);
  });

  test(`${name}: --fresh closes the open interval anomalies of the devices whose detector state it forgets, at their last reading`, async (t) => {
    // Nothing would close them afterwards (the detectors that opened them are gone): they stayed open for good,
    // listed as ongoing and kept from retention.
    const store = await (await target.fresh(t))();
    const stuck = { deviceId: 'd', type: 'stuck' as const, ts: 1000, score: 1, value: 20.5, expected: null, threshold: 10, start: 1000, end: null, detectedAt: 10_000 };
    const dropout = { deviceId: 'd', type: 'dropout' as const, ts: 41_000, score: 4, value: null, expected: 1000, threshold: 3000, start: 41_000, end: null, detectedAt: 54_000 };
    const elsewhere = { ...stuck, deviceId: 'e' }; // a device whose state this instance does not hold
    const device = { deviceId: 'd', firstSeen: 0, lastSeen: 40_000, readings: 41, lastTemperature: 20.5, lastTs: 40_000 };
    await store.commitBatch(batch({ anomalies: [stuck, dropout, elsewhere], devices: [device], detectors: [{ deviceId: 'd', state: new Uint8Array(8) }] }));
    await store.resetJob();
    const ends = (await store.anomalies({ ...ALL, limit: 10 })).map((a) => [a.deviceId, a.type, a.end]);
    assert.deepEqual(ends, [['d', 'dropout', 41_000], ['e', 'stuck', null], ['d', 'stuck', 40_000]], 'at its last reading, or its start if that is later');
    assert.deepEqual(await store.openAnomalies('d', 10), []);
  });

  test(`${name}: --rebalance forgets the detector state of the devices that moved away and closes their open interval anomalies at their last reading, as --fresh does`, async (t) => {
    // The old owner gets no reading of a moved device any more: its detectors would never close the interval.
    const store = await (await target.fresh(t))();
    const stuck = (deviceId: string) => ({ deviceId, type: 'stuck' as const, ts: 1000, score: 1, value: 20.5, expected: null, threshold: 10, start: 1000, end: null, detectedAt: 10_000 });
    const dropout = { deviceId: 'gone', type: 'dropout' as const, ts: 41_000, score: 4, value: null, expected: 1000, threshold: 3000, start: 41_000, end: null, detectedAt: 54_000 };
    const device = (deviceId: string) => ({ deviceId, firstSeen: 0, lastSeen: 40_000, readings: 41, lastTemperature: 20.5, lastTs: 40_000 });
    const state = (deviceId: string) => ({ deviceId, state: new Uint8Array(8) });
    await store.commitBatch(batch({
      anomalies: [stuck('gone'), dropout, stuck('kept'), stuck('other')], // 'other': a device whose state this instance does not hold
      devices: [device('gone'), device('kept'), device('other')],
      detectors: [state('gone'), state('kept')],
    }));
    assert.deepEqual(await store.releaseDevices((id) => id !== 'gone'), ['gone']);
    const ends = (await store.anomalies({ ...ALL, limit: 10 })).map((a) => [a.deviceId, a.type, a.end]);
    assert.deepEqual(ends.sort(), [['gone', 'dropout', 41_000], ['gone', 'stuck', 40_000], ['kept', 'stuck', null], ['other', 'stuck', null]]);
    assert.deepEqual((await store.recover())!.detectors.map((d) => d.deviceId), ['kept']);
    assert.deepEqual(await store.releaseDevices((id) => id !== 'gone'), [], 'nothing more to release');
  });

  test(`${name}: --rebalance closes only the moved device's intervals this instance wrote, at a reading it saw: not one its new owner opened since`, async (t) => {
    const open = await target.fresh(t);
    const a = await open({ instanceId: 'node-a' });
    const b = await open({ instanceId: 'node-b' });
    const stuck = (start: number, detectedAt: number) => ({ deviceId: 'moved', type: 'stuck' as const, ts: start, score: 1, value: 20.5, expected: null, threshold: 10, start, end: null, detectedAt });
    const device = (lastTs: number) => ({ deviceId: 'moved', firstSeen: 0, lastSeen: lastTs, readings: 1, lastTemperature: 20.5, lastTs });
    const at = (batches: number, maxEventTime: number) => ({ logOffset: batches, job: 'job', batches, watermark: maxEventTime - 10_000, maxEventTime });
    // a held the device (its last reading at 40 s) and stopped; b, its new owner, started first and opened its own.
    await a.commitBatch(batch({ anomalies: [stuck(1000, 10_000)], devices: [device(40_000)], detectors: [{ deviceId: 'moved', state: new Uint8Array(8) }], checkpoint: at(1, 40_000), committedAt: 1000 }));
    await b.commitBatch(batch({ anomalies: [stuck(50_000, 60_000)], devices: [device(70_000)], detectors: [{ deviceId: 'moved', state: new Uint8Array(8) }], checkpoint: at(1, 70_000), committedAt: 2000 }));
    assert.deepEqual(await a.releaseDevices(() => false), ['moved']);
    const ends = (await a.anomalies({ ...ALL, limit: 10 })).map((x) => [x.start, x.end]);
    assert.deepEqual(ends, [[50_000, null], [1000, 40_000]], "a's closed at its own last reading of it; b's still open");
  });

  test(`${name}: point anomalies at the same ts are each kept (readings of one message without ts share it), numbered n in the order found, paged one by one`, async (t) => {
    const store = await (await target.fresh(t))();
    const high = (value: number, detectedAt = 5000) =>
      ({ deviceId: 'd', type: 'threshold' as const, ts: 5000, score: 1, value, expected: null, threshold: 40, start: null, end: null, detectedAt });
    const stuck = { deviceId: 'd', type: 'stuck' as const, ts: 5000, score: 1, value: 20, expected: null, threshold: 10, start: 5000, end: null, detectedAt: 9000 };
    const at = (batches: number) => ({ logOffset: batches, job: 'job', batches, watermark: -Infinity, maxEventTime: -Infinity });
    await store.commitBatch(batch({ anomalies: [high(80), high(90), stuck], checkpoint: at(1), committedAt: 1 }));
    // A later batch: another reading at the same ts is numbered after them; the interval closes in its own row.
    await store.commitBatch(batch({ anomalies: [high(95, 6000), { ...stuck, end: 12_000 }], checkpoint: at(2), committedAt: 2 }));
    const all = await store.anomalies({ ...ALL, limit: 10 });
    assert.deepEqual(all.map((a) => [a.type, a.n, a.value, a.end]), [['threshold', 2, 95, null], ['threshold', 1, 90, null], ['threshold', 0, 80, null], ['stuck', 0, 20, 12_000]]);
    const paged: number[] = [];
    let before: { ts: number; deviceId: string; type: string; n: number } | undefined;
    for (;;) {
      const page = await store.anomalies({ ...ALL, type: 'threshold', limit: 1, before });
      if (page.length === 0) break;
      paged.push(page[0].value!);
      before = page[0];
    }
    assert.deepEqual(paged, [95, 90, 80]);
    assert.deepEqual((await store.anomalies({ deviceId: 'd', ...ALL, limit: 10 })).length, 4, 'the same by device');
    assert.deepEqual((await store.anomaliesUpdatedSince(0, 10)).map((a) => [a.type, a.value]), [['threshold', 80], ['threshold', 90], ['stuck', 20], ['threshold', 95]]);
  });

  test(`${name}: migrations from the previous schema version`, async (t) => {
    await target.migration(t);
  });

  test(`${name}: two instances in one database keep their own checkpoint, panes, detector, dedupe state and batch log`, async (t) => {
    const open = await target.fresh(t);
    const a = await open({ instanceId: 'node-a' });
    const b = await open({ instanceId: 'node-b' });
    const state = (id: string, offset: number, batches: number): Parameters<typeof batch>[0] => ({
      checkpoint: { logOffset: offset, job: 'job', batches, watermark: offset, maxEventTime: offset },
      panes: { upserts: [{ lengthMs: 10_000, slideMs: 2_000, key: FLEET, start: 0, state: Uint8Array.of(offset) }], deletes: [] },
      detectors: [{ deviceId: `${id}-dev`, state: Uint8Array.of(offset) }],
      dedupe: { seqs: [{ deviceId: `${id}-dev`, maxSeq: offset, maxTs: 1, seen: new Uint8Array(8), lastSeen: 1 }], messageIds: [], evictedSeqs: [], evictedMessageIds: [] },
      committedAt: offset * 1000,
    });
    await a.commitBatch(batch(state('a', 10, 1)));
    await b.commitBatch(batch(state('b', 70, 1)));
    await a.commitBatch(batch(state('a', 20, 2)));
    const ra = (await a.recover())!;
    const rb = (await b.recover())!;
    assert.deepEqual([ra.checkpoint.logOffset, ra.checkpoint.batches, rb.checkpoint.logOffset, rb.checkpoint.batches], [20, 2, 70, 1]);
    assert.deepEqual([ra.panes.map((p) => [...p.state]), rb.panes.map((p) => [...p.state])], [[[20]], [[70]]], 'the same pane key, one row per instance');
    assert.deepEqual([ra.detectors.map((d) => d.deviceId), rb.detectors.map((d) => d.deviceId)], [['a-dev'], ['b-dev']]);
    assert.deepEqual([ra.dedupe.seqs.map((d) => d.maxSeq), rb.dedupe.seqs.map((d) => d.maxSeq)], [[20], [70]]);
    assert.deepEqual([(await a.batchesAfter(0, 10)).map((x) => x.logOffset), (await b.batchesAfter(0, 10)).map((x) => x.logOffset)], [[10, 20], [70]]);
    // A third instance has nothing yet; --fresh on one leaves the other's state alone.
    assert.equal(await (await open({ instanceId: 'node-c' })).recover(), null);
    await a.resetJob();
    assert.deepEqual([(await a.recover())!.panes.length, (await b.recover())!.panes.length], [0, 1]);
    // A replacement of node-b (another process, same id, once node-b's is gone) resumes node-b's checkpoint.
    await b.close();
    assert.equal((await (await open({ instanceId: 'node-b' })).recover())!.checkpoint.logOffset, 70);
  });

  test(`${name}: fleet windows of two instances merge exactly into the single-instance computation of the same readings`, async (t) => {
    const t0 = Date.UTC(2026, 0, 1);
    const readings = fleetReadings(12, 40, t0);
    const windows = [{ lengthMs: 10_000, slideMs: 2_000 }, { lengthMs: 60_000, slideMs: 10_000 }];
    const config = resolveConfig({ dataDir: '/nonexistent', windows });
    const shared = await target.fresh(t);
    const a = await shared({ instanceId: 'a', config: { windows } });
    const b = await shared({ instanceId: 'b', config: { windows } });
    // Each instance owns half the devices (as partitioning assigns them): its job sees only its devices' readings.
    await runJob(a, config, readings.filter((r) => Number(r.deviceId.slice(4)) % 2 === 0), t0);
    await runJob(b, config, readings.filter((r) => Number(r.deviceId.slice(4)) % 2 === 1), t0);
    const single = await (await target.fresh(t))({ config: { windows } });
    await runJob(single, config, readings, t0);
    for (const w of windows) {
      // Up to the readings' end: an hour later, the dropout detector adds windows of its own (open ones).
      const q = { deviceId: FLEET, ...w, from: -1e15, to: t0 + 60_000, limit: 1000 };
      const merged = await a.windows(q);
      const expected = await single.windows(q);
      assert.ok(expected.length > 5 && expected.every((x) => x.final), 'the single run has final fleet windows');
      assert.deepEqual(merged, expected, `fleet windows ${w.lengthMs}/${w.slideMs}: instance a answers for the whole fleet`);
      assert.deepEqual(await b.windows(q), expected, 'instance b too');
      // Paging: the newest 3.
      assert.deepEqual(await a.windows({ ...q, limit: 3 }), expected.slice(-3));
      // The SSE stream's reads merge too.
      const keys = expected.slice(0, 4).map(({ lengthMs, slideMs, start }) => ({ lengthMs, slideMs, start }));
      assert.deepEqual(await b.fleetWindows(keys), expected.slice(0, 4));
    }
    // Device windows are the device's owner's, identical to the single run.
    const dq = { deviceId: 'dev-03', lengthMs: 10_000, slideMs: 2_000, from: -1e15, to: t0 + 60_000, limit: 1000 };
    assert.deepEqual(await a.windows(dq), await single.windows(dq));
    const replay = (await a.windowsUpdatedSince(0, 100_000))!.filter((x) => x.deviceId === FLEET && x.lengthMs === 10_000 && x.start < t0 + 60_000);
    assert.deepEqual(replay.map(({ updatedAt: _, ...x }) => x).sort((x, y) => x.start - y.start), await single.windows({ ...dq, deviceId: FLEET }));
  });
}
