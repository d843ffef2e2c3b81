import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { startThermostream, type Thermostream } from '../server/main.ts';
import { connect, startServer, tempDir, waitFor } from './helpers.ts';
import { SseClient, type SseEvent } from './sse-client.ts';

async function stream(t: TestContext, url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = new SseClient(url, headers);
  await client.open();
  t.after(() => client.close());
  assert.equal(client.status, 200);
  return client;
}

const batchesNow = async (app: Thermostream): Promise<number> =>
  (await app.http.inject({ method: 'GET', url: '/api/v1/stats' })).json().batches;

/** The events of batches in (after, upTo]. */
const between = (events: readonly SseEvent[], after: number, upTo: number): SseEvent[] =>
  events.filter((e) => e.data.batch > after && e.data.batch <= upTo);

const lastBatch = (c: SseClient): number => Number(c.lastId ?? -1);

// Readings an hour apart with a day of allowed lateness: each window is written by exactly one batch, so what a
// client missed is the same whether it is replayed from memory or from the store.
const HOUR = 3_600_000;
const H0 = Math.floor((Date.now() - 5 * HOUR) / HOUR) * HOUR;
// Every open window a batch changes is an event of that batch (the counts below rely on it; the default refreshes
// an open window once per slide, test/event-time.test.ts).
const CONFIG = { allowedLatenessMs: 86_400_000, windows: [{ lengthMs: 10_000, slideMs: 2000 }], openWindowRefresh: 'batch' as const };
const reading = (i: number) => JSON.stringify({ ts: H0 + i * HOUR, temperature: 20 + i, seq: i });

test('a reading published over MQTT is an SSE window event within two batches; filters by device and kind', async (t) => {
  const app = await startServer(t, { ...CONFIG, http: { port: 0, sseHeartbeatMs: 100 } });
  const mqtt = await connect(t, app.mqttUrl);
  const all = await stream(t, `${app.httpUrl}/api/v1/stream`);
  const d1 = await stream(t, `${app.httpUrl}/api/v1/stream?deviceId=d1&kind=window`);
  const batches = await stream(t, `${app.httpUrl}/api/v1/stream?kind=batch`);

  const sent = Date.now();
  await mqtt.publishAsync('devices/d1/telemetry', reading(1), { qos: 1 }); // acknowledged = durable
  const before = await batchesNow(app);
  await mqtt.publishAsync('devices/d2/telemetry', reading(1), { qos: 1 });
  await waitFor('d1\'s window events', () => d1.events.length >= 5);
  t.diagnostic(`first window event ${Date.now() - sent} ms after the publish (batch interval 100 ms)`);
  const first = d1.events[0];
  // Not a timing assertion: counted in batches. The batch after the one in progress takes every durable reading.
  assert.ok(first.data.batch <= before + 2, `event in batch ${first.data.batch}, ${before} were committed at the PUBACK`);

  // d1's filtered stream: exactly its 5 windows of 10 s sliding by 2 s holding H0 + 1 h, in one batch, the id on the last.
  const start = H0 + HOUR;
  const windows = [-8, -6, -4, -2, 0].map((s) => start + s * 1000);
  assert.deepEqual(
    d1.events.slice(0, 5).map((e) => [e.event, e.data.deviceId, Date.parse(e.data.start), e.data.count, e.data.avg, e.data.final, e.data.batch]),
    windows.map((w) => ['window', 'd1', w, 1, 21, false, first.data.batch]),
  );
  assert.deepEqual(d1.events.slice(0, 5).map((e) => e.id), [null, null, null, null, String(first.data.batch)]);
  assert.deepEqual(d1.events[4].data, {
    batch: first.data.batch,
    deviceId: 'd1',
    start: new Date(start).toISOString(),
    end: new Date(start + 10_000).toISOString(),
    lengthMs: 10_000,
    slideMs: 2000,
    count: 1,
    avg: 21,
    min: 21,
    max: 21,
    stddev: 0,
    first: 21,
    last: 21,
    humidityAvg: null,
    humidityMin: null,
    humidityMax: null,
    humidityStddev: null,
    humidityFirst: null,
    humidityLast: null,
    anomalies: 0,
    anomaliesByType: { threshold: 0, spike: 0, dip: 0, stuck: 0, drift: 0, rate: 0, dropout: 0 },
    final: false,
  });

  await waitFor('d2 on the unfiltered stream', () => all.events.some((e) => e.event === 'window' && e.data.deviceId === 'd2'));
  assert.ok(all.events.some((e) => e.event === 'window' && e.data.deviceId === '*'));
  assert.ok(all.events.some((e) => e.event === 'batch'));
  assert.ok(!d1.events.some((e) => e.data.deviceId !== 'd1' || e.event !== 'window'));
  await waitFor('batch events', () => batches.events.length >= 3);
  assert.ok(batches.events.every((e) => e.event === 'batch' && e.id === String(e.data.batch)));
  const b = batches.events.find((e) => e.data.records > 0)!;
  assert.deepEqual(Object.keys(b.data), ['batch', 'committedAt', 'records', 'late', 'duplicates', 'rejected', 'windowsUpdated', 'watermark', 'logOffset']);
  await waitFor('heartbeats', () => batches.heartbeats >= 2);
  assert.equal((await app.http.inject({ method: 'GET', url: '/api/v1/stats' })).json().sseClients, 3);
});

test('an anomaly event is the item of GET /api/v1/anomalies plus its batch, as /docs says', async (t) => {
  const app = await startServer(t, CONFIG);
  const mqtt = await connect(t, app.mqttUrl);
  const anomalies = await stream(t, `${app.httpUrl}/api/v1/stream?kind=anomaly`);
  await mqtt.publishAsync('devices/hot/telemetry', JSON.stringify({ ts: H0, temperature: 50.3, seq: 1 }), { qos: 1 }); // over threshold.max 50
  await waitFor('the anomaly event', () => anomalies.events.length >= 1);
  const { items } = (await app.http.inject({ method: 'GET', url: '/api/v1/anomalies' })).json();
  assert.equal(items.length, 1);
  assert.deepEqual(anomalies.events[0].data, { batch: anomalies.events[0].data.batch, ...items[0] });
  assert.deepEqual([items[0].type, items[0].value, items[0].threshold], ['threshold', 50.3, 50]);
  const doc = (await app.http.inject({ method: 'GET', url: '/docs/json' })).json();
  assert.match(doc.paths['/api/v1/stream'].get.description, /`event: anomaly` — an anomaly the batch wrote, .*\(the fields of GET \/api\/v1\/anomalies, plus `batch`\)/);
});

test('a client that reconnects with Last-Event-ID gets exactly what it missed, from memory', async (t) => {
  const app = await startServer(t, CONFIG);
  const mqtt = await connect(t, app.mqttUrl);
  const witness = await stream(t, `${app.httpUrl}/api/v1/stream`); // stays connected throughout
  const client = await stream(t, `${app.httpUrl}/api/v1/stream`);
  await mqtt.publishAsync('devices/d1/telemetry', reading(1), { qos: 1 });
  await waitFor('the first window', () => client.events.some((e) => e.event === 'window'));
  client.close();
  const missedAfter = lastBatch(client);

  await mqtt.publishAsync('devices/d1/telemetry', reading(2), { qos: 1 });
  await waitFor('the second reading', () => witness.events.some((e) => e.event === 'window' && e.data.avg === 22));
  await mqtt.publishAsync('devices/d2/telemetry', reading(3), { qos: 1 });
  await waitFor('the third reading', () => witness.events.some((e) => e.event === 'window' && e.data.avg === 23));
  // Only a batch's last event carries its id: wait for it, so that upTo is the third reading's batch.
  const third = witness.events.find((e) => e.event === 'window' && e.data.avg === 23)!.data.batch as number;
  await waitFor('the third reading\'s batch whole', () => lastBatch(witness) >= third);

  const back = await stream(t, `${app.httpUrl}/api/v1/stream`, { 'last-event-id': String(missedAfter) });
  const upTo = lastBatch(witness);
  await waitFor('the replay', () => lastBatch(back) >= upTo);
  const missed = between(witness.events, missedAfter, upTo);
  assert.ok(missed.filter((e) => e.event === 'window').length === 20, 'two readings: 10 windows each (device and fleet)');
  assert.deepEqual(between(back.events, missedAfter, upTo), missed);
  assert.ok(back.events.every((e) => e.data.batch > missedAfter), 'nothing it had already');

  // The same with the query parameter (for EventSource's first connection) and a filter.
  const filtered = await stream(t, `${app.httpUrl}/api/v1/stream?lastEventId=${missedAfter}&deviceId=d2&kind=window`);
  await waitFor('the filtered replay', () => filtered.events.length >= 5);
  assert.deepEqual(
    between(filtered.events, missedAfter, upTo).map((e) => e.data),
    missed.filter((e) => e.event === 'window' && e.data.deviceId === 'd2').map((e) => e.data),
  );
});

test('from memory, a client gets every missed batch however many windows they hold: the 20,000 cap (event: reset) is the store\'s', { timeout: 60_000 }, async (t) => {
  const app = await startServer(t, CONFIG);
  const mqtt = await connect(t, app.mqttUrl);
  const witness = await stream(t, `${app.httpUrl}/api/v1/stream?kind=window,batch`); // keeps the batches in memory
  await mqtt.publishAsync('devices/d0/telemetry', reading(0), { qos: 1 });
  await waitFor('a first batch', () => witness.lastId !== null);
  const missedAfter = lastBatch(witness);
  // One reading each from 4,200 devices: 21,000 device windows of 10 s / 2 s (and the fleet's 5).
  const T = H0 + 2 * HOUR;
  await Promise.all(Array.from({ length: 4200 }, (_, i) => mqtt.publishAsync(`devices/m-${i}/telemetry`, JSON.stringify({ ts: T, temperature: 20 }), { qos: 1 })));
  await waitFor('the last device\'s windows', () => witness.events.some((e) => e.event === 'window' && e.data.deviceId === 'm-4199'), 30_000);
  // Its batch whole: a batch's events come in device order (m-4199 before m-42…), and only its last one carries the id.
  const itsBatch = witness.events.find((e) => e.event === 'window' && e.data.deviceId === 'm-4199')!.data.batch as number;
  await waitFor('that batch\'s last event', () => lastBatch(witness) >= itsBatch, 30_000);
  const upTo = lastBatch(witness);
  const missed = between(witness.events, missedAfter, upTo);
  assert.ok(missed.filter((e) => e.event === 'window').length > 21_000, `${missed.length} events`); // more than the 20,000 of a replay from the store

  const back = await stream(t, `${app.httpUrl}/api/v1/stream?kind=window,batch`, { 'last-event-id': String(missedAfter) });
  await waitFor('the replay', () => lastBatch(back) >= upTo, 30_000);
  assert.deepEqual(back.events.filter((e) => e.event === 'reset'), []);
  assert.deepEqual(between(back.events, missedAfter, upTo), missed);
  const doc = (await app.http.inject({ method: 'GET', url: '/docs/json' })).json();
  assert.match(doc.paths['/api/v1/stream'].get.description, /`event: reset` — after a Last-Event-ID that memory no longer holds, when a replay from the store would take more than 20,000 windows/);
});

test('after a server restart, Last-Event-ID replays from the store exactly what was missed, then goes on live', async (t) => {
  const dataDir = tempDir(t);
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir, batchIntervalMs: 100, ...CONFIG });
  const first = await startThermostream(config);
  let firstOpen = true;
  t.after(() => (firstOpen ? first.close() : undefined));
  const mqtt1 = await connect(t, first.mqttUrl);
  const witness = await stream(t, `${first.httpUrl}/api/v1/stream`);
  const client = await stream(t, `${first.httpUrl}/api/v1/stream`);
  await mqtt1.publishAsync('devices/d1/telemetry', reading(1), { qos: 1 });
  await waitFor('the first window', () => client.events.some((e) => e.event === 'window'));
  client.close();
  const missedAfter = lastBatch(client);
  await mqtt1.publishAsync('devices/d1/telemetry', reading(2), { qos: 1 });
  await mqtt1.publishAsync('devices/d2/telemetry', reading(3), { qos: 1 });
  await waitFor('both readings', () => witness.events.filter((e) => e.event === 'window' && e.data.avg >= 22).length === 20);
  await mqtt1.endAsync();
  await first.close();
  firstOpen = false;
  assert.equal(witness.ended, true, 'the stream ends at shutdown');
  const upTo = lastBatch(witness);

  const second = await startThermostream(config); // the same data directory: a restart
  t.after(() => second.close());
  const back = await stream(t, `${second.httpUrl}/api/v1/stream`, { 'last-event-id': String(missedAfter) });
  await waitFor('the replay', () => lastBatch(back) >= upTo);
  const missed = between(witness.events, missedAfter, upTo);
  assert.equal(missed.filter((e) => e.event === 'window').length, 20);
  assert.deepEqual(between(back.events, missedAfter, upTo), missed);

  // And live from there: batch numbers go on from the checkpoint.
  const mqtt2 = await connect(t, second.mqttUrl);
  await mqtt2.publishAsync('devices/d3/telemetry', reading(4), { qos: 1 });
  await waitFor('the live window', () => back.events.some((e) => e.event === 'window' && e.data.deviceId === 'd3'));
  const live = back.events.filter((e) => e.event === 'window' && e.data.deviceId === 'd3');
  assert.ok(live.every((e) => e.data.batch > upTo));
  const ids = back.events.filter((e) => e.id !== null).map((e) => Number(e.id));
  assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids ascend');
  assert.equal(new Set(ids).size, ids.length, 'no batch twice');
});

test('after a restart, a client that missed more windows than a replay takes gets event: reset, then goes on live', { timeout: 90_000 }, async (t) => {
  const dataDir = tempDir(t);
  // 1-s windows over 101 s of readings: each device has 101 windows, so 200 devices make 20,200 of them, past the
  // replay's 20,000 (REPLAY_MAX_WINDOWS).
  const config = resolveConfig({
    host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir, batchIntervalMs: 100,
    allowedLatenessMs: 86_400_000, windows: [{ lengthMs: 1000, slideMs: 1000 }],
  });
  const first = await startThermostream(config);
  let firstOpen = true;
  t.after(() => (firstOpen ? first.close() : undefined));
  const mqtt1 = await connect(t, first.mqttUrl);
  const client = await stream(t, `${first.httpUrl}/api/v1/stream?kind=batch`);
  await mqtt1.publishAsync('devices/early/telemetry', reading(0), { qos: 1 });
  await waitFor('a first batch', () => client.events.some((e) => e.event === 'batch' && e.data.records > 0));
  const missedAfter = lastBatch(client);
  client.close();
  const t0 = H0 + HOUR;
  for (let d = 0; d < 200; d++) {
    const readings = Array.from({ length: 101 }, (_, i) => ({ ts: t0 + i * 1000, temperature: 20 + (i % 7), seq: i }));
    await mqtt1.publishAsync(`devices/many-${d}/telemetry`, JSON.stringify(readings), { qos: 1 });
  }
  await waitFor('every reading processed', async () => (await first.http.inject({ method: 'GET', url: '/api/v1/stats' })).json().records === 1 + 200 * 101, 60_000);
  await mqtt1.endAsync();
  await first.close();
  firstOpen = false;

  const second = await startThermostream(config);
  t.after(() => second.close());
  // Its first batch refreshes the open windows it restored (EventTimeWindows.restore): live events, which a client
  // connected before it would get after the reset (a busy machine).
  await waitFor("the restart's first batch", async () => (await second.http.inject({ method: 'GET', url: '/api/v1/stats' })).json().lastBatch !== null);
  const back = await stream(t, `${second.httpUrl}/api/v1/stream`, { 'last-event-id': String(missedAfter) });
  await waitFor('event: reset', () => back.events.some((e) => e.event === 'reset'));
  const { id, ...reset } = back.events[0];
  assert.deepEqual(reset, { event: 'reset', data: { reason: 'too much was missed to replay: reload with the query routes', after: missedAfter } });
  // The last batch this server published, if it has published one: where a client cut off again resumes.
  assert.ok(id === null || Number(id) > missedAfter, `reset id ${id}`);
  assert.equal(back.events.filter((e) => e.event === 'window').length, 0, 'nothing replayed');
  // A client that wants no windows is not reset for them: it gets every missed batch's figures.
  const figures = await stream(t, `${second.httpUrl}/api/v1/stream?kind=batch`, { 'last-event-id': String(missedAfter) });
  await waitFor('the missed batches, with every reading published after it', () =>
    figures.events.filter((e) => e.event === 'batch').reduce((n, e) => n + e.data.records, 0) === 200 * 101);
  assert.equal(figures.events.some((e) => e.event === 'reset'), false);
  assert.equal(figures.events[0].data.batch, missedAfter + 1, 'from the first missed batch on');
  // Nor is a client filtered by device for other devices' windows: many-7 missed 101 windows, the fleet 101.
  const some = await stream(t, `${second.httpUrl}/api/v1/stream?deviceId=many-7,*&kind=window,anomaly`, { 'last-event-id': String(missedAfter) });
  const replayed = (deviceId: string) => some.events.filter((e) => e.event === 'window' && e.data.deviceId === deviceId).map((e) => e.data.start).sort();
  const starts = Array.from({ length: 101 }, (_, i) => new Date(t0 + i * 1000).toISOString());
  await waitFor('the replay of many-7 and the fleet', () => (replayed('*').filter((s) => s >= starts[0]).length >= 101 && replayed('many-7').length >= 101) || some.events.some((e) => e.event === 'reset'));
  assert.deepEqual(some.events.filter((e) => e.event === 'reset'), []);
  assert.deepEqual(replayed('many-7'), starts);
  // The fleet's: those windows, and the one of the first reading (rewritten since by the restart's refresh of the
  // open windows it restored, EventTimeWindows.restore).
  assert.deepEqual(replayed('*').filter((s) => s >= starts[0]), starts);
  assert.ok(replayed('*').length <= 102, `fleet windows ${replayed('*').length}`);
  assert.deepEqual(some.events.filter((e) => e.event === 'window' && e.data.deviceId !== 'many-7' && e.data.deviceId !== '*'), [], 'no other device');
  const mqtt2 = await connect(t, second.mqttUrl);
  await mqtt2.publishAsync('devices/late-comer/telemetry', reading(2), { qos: 1 });
  await waitFor('the live window', () => back.events.some((e) => e.event === 'window' && e.data.deviceId === 'late-comer'));
});

test('HEAD /api/v1/stream (curl -I, a probe) answers the stream\'s headers at once and subscribes nothing', async (t) => {
  const app = await startServer(t);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 5000);
  t.after(() => clearTimeout(timer));
  const res = await fetch(`${app.httpUrl}/api/v1/stream?kind=batch`, { method: 'HEAD', signal: controller.signal });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.equal(await res.text(), '');
  assert.equal((await app.http.inject({ method: 'GET', url: '/api/v1/stats' })).json().sseClients, 0);
});

test('device windows stay in the batch thread while no client is there; a client that subscribes while such a batch commits gets them from the store', async (t) => {
  // The first batch with window results cannot commit for 1.5 s (a full disk under the database, retried): it ran
  // with no client subscribed, so its device windows did not come to the main thread.
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir: tempDir(t), batchIntervalMs: 100, ...CONFIG });
  const app = await startThermostream(config, { faults: 'db-full:1500' });
  t.after(() => app.close());
  const mqtt = await connect(t, app.mqttUrl);
  await mqtt.publishAsync('devices/d1/telemetry', reading(1), { qos: 1 });
  const stats = async () => (await app.http.inject({ method: 'GET', url: '/api/v1/stats' })).json();
  await waitFor('the batch to be retried', async () => (await stats()).storage.ok === false);
  const client = await stream(t, `${app.httpUrl}/api/v1/stream`);
  await waitFor('its windows', () => client.events.filter((e) => e.event === 'window').length >= 10);
  const windows = client.events.filter((e) => e.event === 'window');
  const batch = windows[0].data.batch;
  assert.deepEqual(
    windows.map((e) => [e.data.deviceId, e.data.count, e.data.avg, e.data.batch]),
    [...Array(5).fill(['*', 1, 21, batch]), ...Array(5).fill(['d1', 1, 21, batch])],
  );
  await waitFor('its batch event', () => client.events.some((e) => e.event === 'batch' && e.data.batch === batch));
  assert.equal(client.events.find((e) => e.event === 'batch')!.data.windowsUpdated, 10);

  // Live from there, with device windows: the next reading's come in memory, and a client resuming from before the
  // batch reads it from the store and the next from memory, the same events as the first client's.
  await mqtt.publishAsync('devices/d2/telemetry', reading(2), { qos: 1 });
  await waitFor('the next reading', () => client.events.filter((e) => e.event === 'window' && e.data.deviceId === 'd2').length === 5);
  const upTo = lastBatch(client);
  const back = await stream(t, `${app.httpUrl}/api/v1/stream`, { 'last-event-id': String(batch - 1) });
  await waitFor('the replay', () => lastBatch(back) >= upTo);
  assert.deepEqual(between(back.events, batch - 1, upTo), between(client.events, batch - 1, upTo));
});
