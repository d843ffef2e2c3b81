import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { Aggregate, summarize } from '../server/engine/aggregate.ts';
import type { WindowResult } from '../server/engine/event-time.ts';
import { createStore, type BatchOutput } from '../server/store/index.ts';
import { tempDir } from './helpers.ts';

const window = (start: number, final: boolean): WindowResult => {
  const a = new Aggregate();
  a.add({ deviceId: 'd', ts: start, temperature: 20, humidity: undefined, seq: undefined, arrival: start });
  return { deviceId: 'd', lengthMs: 10_000, slideMs: 2_000, start, end: start + 10_000, final, ...summarize(a) };
};

function batch(over: Partial<BatchOutput>): BatchOutput {
  return {
    windows: [],
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

test('a checkpoint comes back exactly: offset, watermark, panes and dedupe state', async (t) => {
  const config = resolveConfig({ dataDir: tempDir(t) });
  const store = await createStore(config);
  t.after(() => store.close());
  assert.equal(store.recover(), null, 'a fresh data dir has no checkpoint');
  const pane = new Aggregate();
  pane.add({ deviceId: 'd', ts: 5, temperature: 21.5, humidity: 40, seq: 1, arrival: 5 });
  pane.addAnomaly(1);
  const seen = new Uint8Array(128);
  seen[7] = 0b101;
  store.commitBatch(
    batch({
      checkpoint: { logOffset: 42, job: 'job-a', batches: 3, watermark: 1234, maxEventTime: 5678 },
      panes: { upserts: [{ lengthMs: 10_000, slideMs: 2_000, key: 'd', start: 0, state: pane.toBytes() }], deletes: [] },
      dedupe: {
        seqs: [{ deviceId: 'd', maxSeq: 7, maxTs: 99, seen, lastSeen: 1000 }],
        messageIds: [{ deviceId: 'm', ids: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), lastSeen: 2000 }],
        evictedSeqs: [],
        evictedMessageIds: [],
      },
    }),
  );
  const r = store.recover()!;
  assert.deepEqual(r.checkpoint, { logOffset: 42, job: 'job-a', batches: 3, watermark: 1234, maxEventTime: 5678 });
  assert.deepEqual(Aggregate.fromBytes(r.panes[0].state), pane);
  const [s] = r.dedupe.seqs;
  assert.deepEqual([s.deviceId, s.maxSeq, s.maxTs, Uint8Array.from(s.seen), s.lastSeen], ['d', 7, 99, seen, 1000]);
  const [m] = r.dedupe.messageIds;
  assert.deepEqual([m.deviceId, Uint8Array.from(m.ids), m.lastSeen], ['m', Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 2000]);
});

test('retention prunes final windows, dead letters and late readings older than configured; open windows stay', async (t) => {
  const config = resolveConfig({ dataDir: tempDir(t), retention: { windowsMs: 1000, deadLettersMs: 1000, lateReadingsMs: 1000 } });
  const store = await createStore(config);
  t.after(() => store.close());
  const letter = { receivedAt: 0, deviceId: 'd', topic: 'devices/d/telemetry', reason: 'not_json' as const, detail: 'x', payload: 'x', payloadBytes: 1 };
  const late = { deviceId: 'd', ts: 0, temperature: 20, humidity: undefined, seq: undefined, arrival: 0 };
  store.commitBatch(batch({ windows: [window(0, true), window(2000, false), window(50_000, true)], deadLetters: [letter], late: [late] }));
  // Windows [0, 10 s) (final) and [2 s, 12 s) (open) ended before 59 s − 1 s; [50 s, 60 s) did not.
  assert.equal(store.prune(59_000), 3, 'one window, one dead letter, one late reading');
  const starts = store.windows({ deviceId: 'd', lengthMs: 10_000, slideMs: 2_000, from: -1e15, to: 1e15, limit: 100 }).map((w) => w.start);
  assert.deepEqual(starts, [2000, 50_000]);
  assert.equal(store.deadLetters({ limit: 10 }).length, 0);
  assert.deepEqual(store.rejectionCounts(), [{ deviceId: 'd', reason: 'not_json', count: 1 }], 'counts are kept');
  assert.equal(store.lateCount(), 0);
});

test('anomalies and detector state commit with the batch; an interval anomaly is one row; --fresh forgets the state, keeps the anomalies', async (t) => {
  const config = resolveConfig({ dataDir: tempDir(t) });
  const store = await createStore(config);
  t.after(() => store.close());
  const open = { deviceId: 'd', type: 'stuck' as const, ts: 1000, score: 1, value: 20.5, expected: null, threshold: 10, start: 1000, end: null, detectedAt: 10_000 };
  const spike = { deviceId: 'd', type: 'spike' as const, ts: 2000, score: 9.5, value: 30, expected: 20, threshold: 26, start: null, end: null, detectedAt: 3000 };
  store.commitBatch(batch({ anomalies: [open, spike], detectors: [{ deviceId: 'd', state: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) }] }));
  store.commitBatch(batch({ anomalies: [{ ...open, score: 3, end: 29_000 }] }));
  assert.deepEqual(store.anomalies({ from: -1e15, to: 1e15, limit: 10 }), [spike, { ...open, score: 3, end: 29_000 }]);
  assert.deepEqual(store.anomalies({ deviceId: 'd', type: 'stuck', from: 0, to: 1500, limit: 10 }).length, 1);
  assert.deepEqual(store.anomalies({ from: -1e15, to: 1e15, limit: 10, before: { ts: 2000, deviceId: 'd', type: 'spike' } }).map((a) => a.type), ['stuck']);
  assert.deepEqual(store.recover()!.detectors.map((r) => [r.deviceId, [...r.state]]), [['d', [1, 2, 3, 4, 5, 6, 7, 8]]]);
  store.resetJob();
  assert.deepEqual(store.recover()!.detectors, []);
  assert.equal(store.anomalies({ from: -1e15, to: 1e15, limit: 10 }).length, 2);
});
