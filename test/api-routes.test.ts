import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, waitFor, waitForRecords } from './helpers.ts';
import { JOBS } from './jobs-helpers.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();
const cursor = (key: unknown): string => Buffer.from(JSON.stringify(key)).toString('base64url');
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface R {
  ts: number;
  temperature: number;
  humidity?: number;
}

/** The expected window item: the aggregates of the readings with ts in [start, start + length). */
function windowOf(deviceId: string, start: number, lengthMs: number, slideMs: number, all: readonly R[], final = true) {
  const rs = all.filter((r) => r.ts >= start && r.ts < start + lengthMs);
  const temps = rs.map((r) => r.temperature);
  const sum = temps.reduce((a, b) => a + b, 0);
  const sumSq = temps.reduce((a, b) => a + b * b, 0);
  const avg = sum / rs.length;
  const hs = rs.filter((r) => r.humidity !== undefined).map((r) => r.humidity!);
  const last = rs.reduce((a, b) => (b.ts >= a.ts ? b : a));
  const first = rs.reduce((a, b) => (b.ts < a.ts ? b : a));
  const withH = rs.filter((r) => r.humidity !== undefined);
  const hAvg = hs.length ? hs.reduce((a, b) => a + b, 0) / hs.length : null;
  const hStddev = hAvg === null ? null : Math.sqrt(Math.max(0, hs.reduce((a, b) => a + b * b, 0) / hs.length - hAvg * hAvg));
  return {
    deviceId,
    start: new Date(start).toISOString(),
    end: new Date(start + lengthMs).toISOString(),
    lengthMs,
    slideMs,
    count: rs.length,
    avg,
    min: Math.min(...temps),
    max: Math.max(...temps),
    stddev: Math.sqrt(Math.max(0, sumSq / rs.length - avg * avg)),
    first: first.temperature,
    last: last.temperature,
    humidityAvg: hAvg,
    humidityMin: hs.length ? Math.min(...hs) : null,
    humidityMax: hs.length ? Math.max(...hs) : null,
    humidityStddev: hStddev,
    humidityFirst: withH.length ? withH.reduce((a, b) => (b.ts < a.ts ? b : a)).humidity! : null,
    humidityLast: withH.length ? withH.reduce((a, b) => (b.ts >= a.ts ? b : a)).humidity! : null,
    anomalies: 0,
    anomaliesByType: { threshold: 0, spike: 0, dip: 0, stuck: 0, drift: 0, rate: 0, dropout: 0 },
    final,
  };
}

// Device a's readings (seconds after T0): 20@1, 22@3 (40 %RH), 24@9.999 (50 %RH), 30@10; device b: 10@0.5.
const A: R[] = [
  { ts: T0 + 1000, temperature: 20 },
  { ts: T0 + 3000, temperature: 22, humidity: 40 },
  { ts: T0 + 9999, temperature: 24, humidity: 50 },
  { ts: T0 + 10_000, temperature: 30 },
];
const B: R[] = [{ ts: T0 + 500, temperature: 10 }];

test('HTTP API: whole bodies of every route, its pages, CSV, 400s and 404s (inject)', async (t) => {
  const app = await startServer(t, {
    // Device r's readings of the present move the watermark past every window of 2026-01-01: all are final.
    windows: [
      { lengthMs: 10_000, slideMs: 2000 },
      { lengthMs: 60_000, slideMs: 60_000 },
    ],
    // The devices' `online` is asserted after the other subtests: on a loaded machine that is more than a minute.
    onlineAfterMs: 600_000,
  });
  const client = await connect(t, app.mqttUrl);
  const started = Date.now();
  let seq = 0;
  for (const r of A) await client.publishAsync('devices/a/telemetry', JSON.stringify({ ...r, ts: new Date(r.ts).toISOString(), seq: ++seq }), { qos: 1 });
  for (const r of B) await client.publishAsync('devices/b/telemetry', JSON.stringify(r), { qos: 1 });
  await client.publishAsync('devices/a/telemetry', 'not json', { qos: 1 });
  await client.publishAsync('devices/b/telemetry', '{"temperature":"hot"}', { qos: 1 });
  // Device r publishes in the present: its readings are served raw.
  const R0 = Date.now();
  const Rr: R[] = [0, 100, 200, 300, 400].map((d, i) => ({ ts: R0 + d, temperature: 21 + i }));
  await client.publishAsync('devices/r/telemetry', JSON.stringify(Rr), { qos: 1 });
  await waitForRecords(app, A.length + B.length + Rr.length);
  const get = async (url: string, headers: Record<string, string> = {}) => {
    const res = await app.http.inject({ method: 'GET', url, headers });
    return { status: res.statusCode, type: String(res.headers['content-type']), body: res.headers['content-type']?.toString().startsWith('application/json') ? res.json() : res.body, headers: res.headers };
  };
  const finished = Date.now() + 1;

  await t.test('windows: pages of the newest first, ascending within a page, until next is null', async () => {
    const win = (s: number) => windowOf('a', T0 + s * 1000, 10_000, 2000, A);
    const q = `/api/v1/windows?deviceId=a&from=${T0 - 60_000}&limit=4`;
    const p1 = await get(q);
    assert.deepEqual(p1, { ...p1, status: 200 });
    assert.deepEqual(p1.body, { items: [4, 6, 8, 10].map(win), next: cursor(T0 + 4000) });
    const p2 = await get(`${q}&cursor=${p1.body.next}`);
    assert.deepEqual(p2.body, { items: [-4, -2, 0, 2].map(win), next: cursor(T0 - 4000) });
    const p3 = await get(`${q}&cursor=${p2.body.next}`);
    assert.deepEqual(p3.body, { items: [-8, -6].map(win), next: null });

    // Fleet-wide (the default, or *), the second window shape by length (1m = 60000 ms), ISO bounds.
    const fleet = await get(`/api/v1/windows?length=1m&from=${at(0)}&to=${at(1)}`);
    assert.deepEqual(fleet.body, { items: [windowOf('*', T0, 60_000, 60_000, [...A, ...B])], next: null });
    assert.deepEqual((await get(`/api/v1/windows?deviceId=*&length=60000&slide=1m&from=${at(0)}&to=${at(1)}`)).body, fleet.body);
  });

  await t.test('windows as CSV with Accept: text/csv, the next cursor in a header', async () => {
    const res = await get(`/api/v1/windows?deviceId=a&from=${T0 - 60_000}&limit=2`, { accept: 'text/csv' });
    assert.equal(res.status, 200);
    assert.equal(res.type, 'text/csv; charset=utf-8');
    assert.equal(res.headers['x-next-cursor'], cursor(T0 + 8000));
    const types = ['threshold', 'spike', 'dip', 'stuck', 'drift', 'rate', 'dropout'];
    const row = (s: number) => {
      const { anomaliesByType, final, ...w } = windowOf('a', T0 + s * 1000, 10_000, 2000, A);
      const cells = [...Object.values(w), ...types.map((t) => anomaliesByType[t as keyof typeof anomaliesByType]), final];
      return cells.map((v) => (v === null ? '' : String(v))).join(',');
    };
    const header =
      'deviceId,start,end,lengthMs,slideMs,count,avg,min,max,stddev,first,last,humidityAvg,humidityMin,humidityMax,' +
      'humidityStddev,humidityFirst,humidityLast,anomalies,' + types.map((t) => `anomalies.${t}`).join(',') + ',final';
    assert.equal(res.body, `${header}\r\n${row(8)}\r\n${row(10)}\r\n`);
    assert.equal(row(8), `a,${at(8000)},${at(18_000)},10000,2000,2,27,24,30,3,24,30,50,50,50,0,50,50,0,0,0,0,0,0,0,0,true`);
    // The Accept header's qualities decide between CSV and JSON; named equally, the first wins.
    const kind = async (accept: string) => (await get(`/api/v1/windows?deviceId=a&limit=1`, { accept })).type;
    assert.equal(await kind('text/csv;q=0.9, application/json'), 'application/json; charset=utf-8');
    assert.equal(await kind('application/json;q=0.5, text/csv'), 'text/csv; charset=utf-8');
    assert.equal(await kind('application/json, text/csv'), 'application/json; charset=utf-8');
    assert.equal(await kind('text/csv, application/json'), 'text/csv; charset=utf-8');
    assert.equal(await kind('text/csv;q=0'), 'application/json; charset=utf-8');
    assert.equal(await kind('text/*'), 'text/csv; charset=utf-8');
  });

  await t.test('an Accept header that takes none of a route\'s media types is a 406 naming them; wildcards and browsers\' headers get JSON', async () => {
    const refused = (accept: string, types: string) => ({
      status: 406,
      type: 'application/json; charset=utf-8',
      body: { error: 'TS_ERR_BAD_REQUEST', message: `invalid header "accept" = ${JSON.stringify(accept)}: this route answers ${types}`, parameter: 'accept', value: accept },
    });
    const answer = async (url: string, accept: string) => {
      const { status, type, body } = await get(url, { accept });
      return { status, type, body };
    };
    for (const url of ['/api/v1/devices', '/api/v1/stats', '/api/v1/devices/a']) {
      assert.deepEqual(await answer(url, 'text/csv'), refused('text/csv', 'application/json'), url);
      assert.deepEqual(await answer(url, 'text/*'), refused('text/*', 'application/json'), url);
    }
    assert.deepEqual(await answer('/api/v1/windows?deviceId=a', 'text/html'), refused('text/html', 'application/json or text/csv'));
    assert.deepEqual(await answer('/api/v1/stream', 'application/json'), refused('application/json', 'text/event-stream'));
    // Probes and scrapers get their answer whatever they ask.
    assert.equal((await answer('/metrics', 'application/json')).status, 200);
    assert.equal((await answer('/healthz', 'text/csv')).status, 200);
    const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
    for (const accept of ['*/*', 'application/json', 'application/*', browser, 'text/csv;q=0, */*', 'text/csv;q=0']) {
      const res = await get('/api/v1/devices', { accept });
      assert.deepEqual([res.status, res.type], [200, 'application/json; charset=utf-8'], accept);
    }
    assert.equal((await app.http.inject({ method: 'GET', url: '/api/v1/devices' })).statusCode, 200, 'no Accept header');
    assert.equal((await get('/metrics', { accept: 'application/openmetrics-text;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1' })).status, 200, 'Prometheus');
  });

  await t.test('devices: the list, its pages, one device, 404', async () => {
    const list = await get('/api/v1/devices');
    assert.equal(list.status, 200);
    const seen = (id: string) => list.body.items.find((d: { deviceId: string }) => d.deviceId === id);
    for (const id of ['a', 'b', 'r']) {
      const t1 = Date.parse(seen(id).firstSeen);
      assert.ok(t1 >= started && t1 <= finished && Date.parse(seen(id).lastSeen) >= t1, id);
    }
    const device = (id: string, readings: number, lastTemperature: number) => ({
      deviceId: id,
      firstSeen: seen(id).firstSeen,
      lastSeen: seen(id).lastSeen,
      readings,
      lastTemperature,
      online: true,
    });
    assert.deepEqual(list.body, { items: [device('a', 4, 30), device('b', 1, 10), device('r', 5, 25)], next: null });
    const p1 = await get('/api/v1/devices?limit=2');
    assert.deepEqual(p1.body, { items: [device('a', 4, 30), device('b', 1, 10)], next: cursor('b') });
    assert.deepEqual((await get(`/api/v1/devices?limit=2&cursor=${p1.body.next}`)).body, { items: [device('r', 5, 25)], next: null });

    const a = await get('/api/v1/devices/a');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body, {
      ...device('a', 4, 30),
      rejected: { total: 1, byReason: { not_json: 1 } },
      windows: [windowOf('a', T0 + 10_000, 10_000, 2000, A), windowOf('a', T0, 60_000, 60_000, A)],
      openAnomalies: [],
    });
    const missing = await get('/api/v1/devices/nobody');
    assert.deepEqual(missing, {
      ...missing,
      status: 404,
      body: { error: 'TS_ERR_NOT_FOUND', message: 'no device "nobody"', parameter: 'id', value: 'nobody' },
    });
  });

  await t.test('readings: raw for the recent past, the finest window before it, at most maxPoints', async () => {
    const raw = await get(`/api/v1/readings?deviceId=r&from=${R0 - 1}&to=${R0 + 1000}`);
    assert.equal(raw.status, 200);
    const point = (r: R) => ({ ts: new Date(r.ts).toISOString(), temperature: r.temperature, humidity: null, count: 1, min: r.temperature, max: r.temperature, source: 'raw' });
    assert.deepEqual(raw.body, {
      deviceId: 'r',
      from: new Date(R0 - 1).toISOString(),
      to: new Date(R0 + 1000).toISOString(),
      rawFrom: new Date(R0 - 1).toISOString(), // the server started before: every reading since is kept
      window: { lengthMs: 10_000, slideMs: 2000 },
      items: Rr.map(point),
    });
    // maxPoints 2: two runs of 3 and 2 readings, each its first ts, mean, min, max and count.
    const two = await get(`/api/v1/readings?deviceId=r&from=${R0}&to=${R0 + 1000}&maxPoints=2`);
    assert.deepEqual(two.body.items, [
      { ts: new Date(R0).toISOString(), temperature: 22, humidity: null, count: 3, min: 21, max: 23, source: 'raw' },
      { ts: new Date(R0 + 300).toISOString(), temperature: 24.5, humidity: null, count: 2, min: 24, max: 25, source: 'raw' },
    ]);

    // Device a's readings are from long before the server started: the 10 s windows, at their middles.
    const old = await get(`/api/v1/readings?deviceId=a&from=${at(0)}&to=${at(10_000)}`);
    const mid = (s: number) => {
      const w = windowOf('a', T0 + s * 1000, 10_000, 2000, A);
      return { ts: at(s * 1000 + 5000), temperature: w.avg, humidity: w.humidityAvg, count: w.count, min: w.min, max: w.max, source: 'window' };
    };
    assert.deepEqual(old.body, {
      deviceId: 'a',
      from: at(0),
      to: at(10_000),
      rawFrom: null, // the server started long after: no raw reading of that time is kept
      window: { lengthMs: 10_000, slideMs: 2000 },
      items: [-4, -2, 0, 2, 4].map(mid),
    });
    // Over a wider range the aggregates come from the finest window with at most 4 × maxPoints slides in it (two
    // hours: 3,600 of the 10 s / 2 s windows, 120 of the 1 min ones), else from the one with the longest slide.
    const wide = (maxPoints: number) => get(`/api/v1/readings?deviceId=a&from=${at(-3_600_000)}&to=${at(3_600_000)}&maxPoints=${maxPoints}`);
    assert.deepEqual((await wide(900)).body.window, { lengthMs: 10_000, slideMs: 2000 });
    const coarse = (await wide(899)).body;
    assert.deepEqual(coarse.window, { lengthMs: 60_000, slideMs: 60_000 });
    const minute = windowOf('a', T0, 60_000, 60_000, A);
    assert.deepEqual(coarse.items, [{ ts: at(30_000), temperature: minute.avg, humidity: minute.humidityAvg, count: minute.count, min: minute.min, max: minute.max, source: 'window' }]);
    const unknown = await get('/api/v1/readings?deviceId=nobody');
    assert.deepEqual(unknown.body, { error: 'TS_ERR_NOT_FOUND', message: 'no device "nobody"', parameter: 'deviceId', value: 'nobody' });
    assert.equal(unknown.status, 404);
  });

  await t.test('dead letters: newest first, filters, pages', async () => {
    const all = await get('/api/v1/dead-letters');
    assert.equal(all.status, 200);
    const [wrongType, notJson] = all.body.items;
    for (const d of all.body.items) assert.match(d.receivedAt, ISO);
    assert.deepEqual(all.body, {
      items: [
        { id: 2, receivedAt: wrongType.receivedAt, deviceId: 'b', topic: 'devices/b/telemetry', reason: 'wrong_type', detail: wrongType.detail, payload: '{"temperature":"hot"}', payloadEncoding: 'utf8', payloadBytes: 21 },
        { id: 1, receivedAt: notJson.receivedAt, deviceId: 'a', topic: 'devices/a/telemetry', reason: 'not_json', detail: notJson.detail, payload: 'not json', payloadEncoding: 'utf8', payloadBytes: 8 },
      ],
      next: null,
    });
    assert.match(wrongType.detail, /temperature/);
    const p1 = await get('/api/v1/dead-letters?limit=1');
    assert.deepEqual(p1.body, { items: [all.body.items[0]], next: cursor(2) });
    assert.deepEqual((await get(`/api/v1/dead-letters?limit=1&cursor=${p1.body.next}`)).body, { items: [all.body.items[1]], next: null });
    assert.deepEqual((await get('/api/v1/dead-letters?reason=not_json&deviceId=a')).body, { items: [all.body.items[1]], next: null });
    assert.deepEqual((await get('/api/v1/dead-letters?deviceId=r')).body, { items: [], next: null });
    assert.deepEqual((await get('/api/v1/dead-letters?deviceId=*')).body, all.body, '* is every device');
    // Counted by device: the dashboard's overview lists a device whose every message was rejected from it.
    const byDevice = await get('/api/v1/dead-letters/devices');
    assert.deepEqual([byDevice.status, byDevice.body], [200, {
      items: [{ deviceId: 'a', total: 1, byReason: { not_json: 1 } }, { deviceId: 'b', total: 1, byReason: { wrong_type: 1 } }],
      next: null,
    }]);
    // Paged by device id, as GET /api/v1/devices.
    const first = await get('/api/v1/dead-letters/devices?limit=1');
    assert.deepEqual(first.body, { items: [byDevice.body.items[0]], next: first.body.next });
    assert.deepEqual((await get(`/api/v1/dead-letters/devices?limit=1&cursor=${first.body.next}`)).body, { items: [byDevice.body.items[1]], next: null });
    assert.equal((await get('/api/v1/dead-letters/devices?limit=0')).status, 400);
  });

  await t.test('stats, healthz, readyz', async () => {
    const s = await get('/api/v1/stats');
    assert.equal(s.status, 200);
    const e = s.body;
    assert.equal(typeof e.lastBatch.processingMs, 'number');
    assert.deepEqual(e, {
      batchIntervalMs: 100,
      windows: [
        { lengthMs: 10_000, slideMs: 2000 },
        { lengthMs: 60_000, slideMs: 60_000 },
      ],
      batches: e.batches,
      records: 10,
      inputRate: e.inputRate,
      lastBatch: { ...e.lastBatch, batch: e.batches },
      watermark: e.watermark,
      backlog: 0,
      heldAcks: 0,
      logEndOffset: e.logEndOffset,
      replayed: 0,
      accepted: 10,
      late: 0,
      duplicates: 0,
      rejected: { total: 2, byReason: { not_json: 1, wrong_type: 1 } },
      foreign: 0,
      sseClients: 0,
      storage: { ok: true, code: null, error: null, since: null, failing: [], retries: 0 },
      security: { authFailures: { total: 0, byReason: {} }, refusedPublishes: 0, refusedSubscriptions: 0, qos2Disconnects: 0, oversizedPackets: 0, packetsBeforeConnack: 0 },
      // The test's MQTT client is a device to the hub (authentication off).
      iothub: { connectedDevices: 1, twinRequests: 0, methodCalls: 0, methodTimeouts: 0, cloudMessagesDelivered: 0 },
    });
    assert.deepEqual(Object.keys(e.lastBatch), [
      'batch', 'batchTime', 'records', 'late', 'duplicates', 'rejected', 'windowsUpdated', 'schedulingDelayMs', 'processingMs', 'jobMs', 'blocks', 'commitMs', 'totalDelayMs', 'watermark', 'logOffset', 'memory',
    ]);
    // The batch thread's own heap (batchThread worker, the default): its figures, not the main thread's.
    const { memory } = e.lastBatch;
    assert.equal(memory.thread, 'worker');
    assert.ok(memory.heapUsedBytes > 0 && memory.heapUsedBytes <= memory.heapTotalBytes, JSON.stringify(memory));
    assert.ok(memory.arrayBuffersBytes > 0, JSON.stringify(memory));
    const health = await get('/healthz');
    assert.deepEqual(health, { ...health, status: 200, body: { status: 'ok', batches: health.body.batches } });
    assert.ok(health.body.batches >= e.batches);
    const ready = await get('/readyz');
    assert.deepEqual(ready, { ...ready, status: 200, body: { status: 'ready', reasons: [] } });
  });

  await t.test('every 400 names the parameter, the value and what was expected; unknown routes 404', async () => {
    const QUERY = 'TS_ERR_QUERY_PARAM';
    const time = 'expected ISO 8601 with a zone (2026-11-24T10:00:00Z) or epoch milliseconds';
    const cases: [string, string, string | null, string][] = [
      ['/api/v1/windows?from=yesterday', 'from', 'yesterday', time],
      ['/api/v1/windows?to=2026-13-01T00:00:00Z', 'to', '2026-13-01T00:00:00Z', `${time}; no such day, time of day or zone offset`],
      ['/api/v1/windows?to=2026-11-25T24:30:00Z', 'to', '2026-11-25T24:30:00Z', `${time}; no such day, time of day or zone offset`],
      ['/api/v1/windows?from=9999999999999999', 'from', '9999999999999999', `${time}; epoch milliseconds go from -8640000000000000 to 8640000000000000`],
      ['/api/v1/windows?length=7s', 'length', '7s', 'no such window is configured (length/slide ms: 10000/2000, 60000/60000)'],
      ['/api/v1/windows?length=10s&slide=5s', 'slide', '5s', 'no such window is configured (length/slide ms: 10000/2000, 60000/60000)'],
      ['/api/v1/windows?length=0', 'length', '0', 'expected a positive duration such as 10000, 10s, 1m or 1h'],
      ['/api/v1/windows?limit=0', 'limit', '0', 'expected an integer from 1 to 10000'],
      ['/api/v1/windows?limit=ten', 'limit', 'ten', 'expected an integer from 1 to 10000'],
      // ajv alone would coerce these to integers; a client writing them meant something else.
      ...['1e3', '0x10', '+5', ' 5', '1.0'].map((v): [string, string, string, string] => [`/api/v1/windows?limit=${encodeURIComponent(v)}`, 'limit', v, 'expected an integer from 1 to 10000']),
      // Date.parse would roll a day that does not exist over to the next month.
      ['/api/v1/windows?from=2026-02-30T00:00:00Z', 'from', '2026-02-30T00:00:00Z', `${time}; no such day, time of day or zone offset`],
      ['/api/v1/anomalies?to=2026-04-31', 'to', '2026-04-31', `${time}; no such day, time of day or zone offset`],
      // Epoch seconds read as milliseconds would ask about January 1970.
      ['/api/v1/readings?deviceId=d1&from=1764763200', 'from', '1764763200', `${time}; this looks like epoch seconds (1764763200000 in ms)`],
      // A reversed range is a mistake, on every route with from and to.
      [`/api/v1/windows?from=${at(6)}&to=${at(5)}`, 'from', at(6), `expected a time before to (${at(5)})`],
      [`/api/v1/anomalies?from=${at(6)}&to=${at(5)}`, 'from', at(6), `expected a time before to (${at(5)})`],
      ['/api/v1/windows?limit=1&limit=2', 'limit', '1,2', 'given more than once'],
      ['/api/v1/windows?deviceId=bad/id', 'deviceId', 'bad/id', 'expected a device id matching [A-Za-z0-9._:-]{1,128}, or * for the fleet'],
      ['/api/v1/windows?cursor=bad!', 'cursor', 'bad!', 'expected the `next` value of a previous page'],
      [`/api/v1/windows?cursor=${cursor('x')}`, 'cursor', cursor('x'), 'expected the `next` value of a previous page of this route'],
      ['/api/v1/windows?colour=red', 'colour', 'red', 'unknown query parameter (known: deviceId, length, slide, from, to, limit, cursor)'],
      ['/api/v1/devices?limit=10001', 'limit', '10001', 'expected an integer from 1 to 10000'],
      [`/api/v1/devices?cursor=${cursor(5)}`, 'cursor', cursor(5), 'expected the `next` value of a previous page of this route'],
      ['/api/v1/devices?deviceId=a', 'deviceId', 'a', 'unknown query parameter (known: limit, cursor)'],
      ['/api/v1/devices/a?x=1', 'x', '1', 'unknown query parameter (known: none)'],
      ['/api/v1/readings', 'deviceId', null, 'required'],
      ['/api/v1/readings?deviceId=a&maxPoints=0', 'maxPoints', '0', 'expected an integer from 1 to 10000'],
      [`/api/v1/readings?deviceId=a&from=${at(5)}&to=${at(5)}`, 'from', at(5), `expected a time before to (${at(5)})`],
      ['/api/v1/dead-letters?reason=bad', 'reason', 'bad', 'expected one of bad_topic, payload_too_large, not_json, not_object, missing_temperature, non_finite_temperature, out_of_range, wrong_type, bad_timestamp, future_timestamp, device_mismatch, not_authorized, unsupported_content, internal_error'],
      ['/api/v1/stats?verbose=1', 'verbose', '1', 'unknown query parameter (known: none)'],
      ['/api/v1/stream?kind=windows', 'kind', 'windows', 'expected window, anomaly, batch, separated by commas'],
      ['/api/v1/stream?deviceId=a,,b', 'deviceId', 'a,,b', 'expected device ids matching [A-Za-z0-9._:-]{1,128} (or *), separated by commas'],
      ['/healthz?x=1', 'x', '1', 'unknown query parameter (known: none)'],
      ['/metrics?x=1', 'x', '1', 'unknown query parameter (known: none)'],
    ];
    for (const [url, parameter, value, reason] of cases) {
      const res = await get(url);
      assert.equal(res.status, 400, url);
      assert.deepEqual(
        res.body,
        { error: QUERY, message: `invalid query parameter "${parameter}" = ${JSON.stringify(value)}: ${reason}`, parameter, value },
        url,
      );
    }
    const path = await get('/api/v1/devices/bad%20id');
    assert.deepEqual(path.body, {
      error: QUERY,
      message: 'invalid path parameter "id" = "bad id": expected a device id matching [A-Za-z0-9._:-]{1,128}',
      parameter: 'id',
      value: 'bad id',
    });
    // A path that is not percent-encoding is a 400 in the same shape, not fastify's own body.
    const malformed = await get('/api/v1/devices/%zz');
    assert.deepEqual(malformed, {
      ...malformed,
      status: 400,
      body: { error: 'TS_ERR_BAD_REQUEST', message: 'malformed URL "/api/v1/devices/%zz": not valid percent-encoding', parameter: 'url', value: '/api/v1/devices/%zz' },
    });
    // The longest device id (128 characters) reaches the route: an unknown one is a 404, not fastify's 414.
    const longest = 'd'.repeat(128);
    assert.deepEqual((await get(`/api/v1/devices/${longest}`)).body, { error: 'TS_ERR_NOT_FOUND', message: `no device "${longest}"`, parameter: 'id', value: longest });
    const header = await get('/api/v1/stream', { 'last-event-id': 'abc' });
    assert.deepEqual(header, {
      ...header,
      status: 400,
      body: { error: 'TS_ERR_BAD_REQUEST', message: 'invalid header "last-event-id" = "abc": expected a batch number (an event id)', parameter: 'last-event-id', value: 'abc' },
    });
    const route = await get('/api/v1/nothing?x=1');
    assert.deepEqual(route, { ...route, status: 404, body: { error: 'TS_ERR_NOT_FOUND', message: 'no route GET /api/v1/nothing' } });
    // A path with routes, asked with another method: 405, naming the methods it takes.
    for (const [method, url, allow] of [['DELETE', '/api/v1/devices?x=1', 'GET, HEAD'], ['PUT', '/api/v1/devices/a', 'GET, HEAD'], ['POST', '/api/v1/stats', 'GET, HEAD']] as const) {
      const res = await app.http.inject({ method, url });
      const path = url.split('?')[0];
      assert.deepEqual([res.statusCode, res.headers.allow, res.json()], [405, allow, { error: 'TS_ERR_METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${path}: it takes ${allow}` }], `${method} ${url}`);
    }
    const none = await app.http.inject({ method: 'DELETE', url: '/api/v1/nothing' });
    assert.deepEqual([none.statusCode, none.json().error], [404, 'TS_ERR_NOT_FOUND'], 'a path without routes is still a 404');
    // A route of this method that finds nothing (a static file that is not there) is a 404, not a 405.
    const missing = await app.http.inject({ method: 'GET', url: '/docs/static/nope.js' });
    assert.equal(missing.statusCode, 404, 'GET /docs/static/nope.js');
  });
});

test('Livy and jobs routes: whole bodies of their 400s, 404s and 403 (inject)', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const res = await app.http.inject({
      method,
      url,
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } }),
    });
    return { status: res.statusCode, body: res.json() };
  };
  // Livy's clients print `msg`: every Livy error carries the message there too.
  const livy = (status: number, body: Record<string, unknown>) => ({ status, body: { ...body, msg: body.message } });
  const param = (where: 'query' | 'path', parameter: string, value: string | null, reason: string) => ({
    error: 'TS_ERR_QUERY_PARAM',
    message: `invalid ${where} parameter "${parameter}" = ${JSON.stringify(value)}: ${reason}`,
    parameter,
    value,
  });
  const badId = (value: string) => param('path', 'id', value, 'expected a batch id (a non-negative integer)');
  const field = (name: string, shown: string, reason: string) => ({
    error: 'TS_ERR_JOB_REQUEST',
    message: `invalid batch request: "${name}" = ${shown}: ${reason}`,
    field: name,
  });
  const hello = 'test/fixtures/jobs/hello.ts';
  const FIELDS = 'file, className, args, name, conf, driverMemory, proxyUser, jars, pyFiles, files, driverCores, executorMemory, executorCores, numExecutors, archives, queue';
  const dirs = `jobs.dirs: ${JOBS.dirs.join(', ')}`;

  await t.test('Livy: query and path parameters', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['/livy/batches/x', badId('x')],
      ['/livy/batches/1.5', badId('1.5')],
      ['/livy/batches/1e0', badId('1e0')],
      ['/livy/batches?size=0x10', param('query', 'size', '0x10', 'expected an integer from 0 to 10000')],
      ['/livy/batches/-1/state', badId('-1')],
      ['/livy/batches/99999999999999999999/log', badId('99999999999999999999')],
      ['/livy/batches?size=-1', param('query', 'size', '-1', 'expected an integer from 0 to 10000')],
      ['/livy/batches?size=10001', param('query', 'size', '10001', 'expected an integer from 0 to 10000')],
      ['/livy/batches?from=first', param('query', 'from', 'first', `expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}`)],
      ['/livy/batches?from=1&from=2', param('query', 'from', '1,2', 'given more than once')],
      ['/livy/batches?colour=red', param('query', 'colour', 'red', 'unknown query parameter (known: from, size, doAs)')],
      ['/livy/batches/0?size=1', param('query', 'size', '1', 'unknown query parameter (known: doAs)')],
      ['/livy/batches/0/log?size=100001', param('query', 'size', '100001', 'expected an integer from 0 to 100000')],
    ];
    for (const [url, body] of cases) assert.deepEqual(await call('GET', url), livy(400, body), url);
    assert.deepEqual(await call('DELETE', '/livy/batches/abc'), livy(400, badId('abc')));
    // doAs (impersonation) is accepted and ignored on every route.
    assert.deepEqual(await call('GET', '/livy/batches/0/state?doAs=alice'), { status: 200, body: { id: 0, state: 'running' } });
  });

  await t.test('Livy: batch request fields, named as Livy clients expect', async () => {
    const cases: [unknown, Record<string, unknown>][] = [
      [{ file: hello, executorCount: 2 }, { error: 'TS_ERR_JOB_REQUEST', message: `invalid batch request: unknown field "executorCount" (Livy's batch fields: ${FIELDS})`, field: 'executorCount' }],
      [{ className: 'main' }, field('file', 'undefined', 'required: the path of a job module inside a jobs directory')],
      [{ file: 5 }, field('file', '5', 'the path of a job module inside a jobs directory')],
      [{ file: '' }, field('file', '""', 'the path of a job module inside a jobs directory')],
      [{ file: hello, className: 'not-a-name' }, field('className', '"not-a-name"', 'the name of an exported function (default: the default export)')],
      [{ file: hello, args: [1] }, field('args', '[1]', 'an array of strings')],
      [{ file: hello, args: 'a b' }, field('args', '"a b"', 'an array of strings')],
      [{ file: hello, name: 'n'.repeat(257) }, field('name', JSON.stringify('n'.repeat(257)), 'a string of at most 256 characters')],
      [{ file: hello, conf: { retries: [1] } }, field('conf', '{"retries":[1]}', 'an object of string, number or boolean values')],
      [{ file: hello, driverMemory: 'lots' }, field('driverMemory', '"lots"', 'a size such as "512m" or "1g"')],
      [{ file: hello, driverMemory: 512 }, field('driverMemory', '512', 'a size such as "512m" or "1g"')],
      [{ file: hello, driverMemory: '8m' }, field('driverMemory', '"8m"', 'the job\'s heap limit must be from 32m to 64g')],
      [{ file: hello, driverMemory: '65g' }, field('driverMemory', '"65g"', 'the job\'s heap limit must be from 32m to 64g')],
      [[1], { error: 'TS_ERR_JOB_REQUEST', message: 'invalid batch request: the body must be a JSON object, got [1]' }],
      [null, { error: 'TS_ERR_JOB_REQUEST', message: 'invalid batch request: the body must be a JSON object, got null' }],
      [{ file: 'server/main.ts' }, { error: 'TS_ERR_JOB_FILE', message: `file "server/main.ts" is outside the jobs directories (${dirs})`, field: 'file' }],
      [{ file: 'examples/nope.ts' }, { error: 'TS_ERR_JOB_FILE', message: `file "examples/nope.ts" does not exist (${dirs})`, field: 'file' }],
    ];
    for (const [payload, body] of cases) assert.deepEqual(await call('POST', '/livy/batches', payload), livy(400, body), JSON.stringify(payload));
    assert.deepEqual(
      await call('POST', '/livy/batches?x=1', { file: hello }),
      livy(400, param('query', 'x', '1', 'unknown query parameter (known: doAs)')),
    );
  });

  await t.test('Livy: unknown batches 404, the built-in job 403', async () => {
    const notFound = livy(404, { error: 'TS_ERR_JOB_NOT_FOUND', message: 'batch 7 not found' });
    assert.deepEqual(await call('GET', '/livy/batches/7'), notFound);
    assert.deepEqual(await call('GET', '/livy/batches/7/state'), notFound);
    assert.deepEqual(await call('GET', '/livy/batches/7/log'), notFound);
    assert.deepEqual(await call('DELETE', '/livy/batches/7'), notFound);
    assert.deepEqual(
      await call('DELETE', '/livy/batches/0'),
      livy(403, { error: 'TS_ERR_JOB_BUILTIN', message: 'batch 0 is the built-in telemetry job: it runs as long as the server and cannot be deleted' }),
    );
  });

  await t.test('/api/v1/jobs: the same checks under the API\'s conventions (no msg)', async () => {
    const cases: [string, Record<string, unknown>][] = [
      ['/api/v1/jobs?limit=0', param('query', 'limit', '0', 'expected an integer from 1 to 10000')],
      ['/api/v1/jobs?cursor=x', param('query', 'cursor', 'x', 'expected the `next` value of a previous page')],
      ['/api/v1/jobs?doAs=alice', param('query', 'doAs', 'alice', 'unknown query parameter (known: limit, cursor)')],
      ['/api/v1/jobs/x', badId('x')],
      ['/api/v1/jobs/0/log?limit=0', param('query', 'limit', '0', 'expected an integer from 1 to 100000')],
      ['/api/v1/jobs/0/log?size=5', param('query', 'size', '5', 'unknown query parameter (known: from, limit)')],
    ];
    for (const [url, body] of cases) assert.deepEqual(await call('GET', url), { status: 400, body }, url);
    assert.deepEqual(await call('POST', '/api/v1/jobs', { file: hello, arg: ['x'] }), {
      status: 400,
      body: { error: 'TS_ERR_JOB_REQUEST', message: `invalid batch request: unknown field "arg" (Livy's batch fields: ${FIELDS})`, field: 'arg' },
    });
    assert.deepEqual(await call('POST', '/api/v1/jobs', { file: hello, args: 'x' }), { status: 400, body: field('args', '"x"', 'an array of strings') });
    assert.deepEqual(await call('DELETE', '/api/v1/jobs/x'), { status: 400, body: badId('x') });
    const notFound = { status: 404, body: { error: 'TS_ERR_JOB_NOT_FOUND', message: 'job 7 not found' } };
    assert.deepEqual(await call('GET', '/api/v1/jobs/7'), notFound);
    assert.deepEqual(await call('GET', '/api/v1/jobs/7/log'), notFound);
    assert.deepEqual(await call('DELETE', '/api/v1/jobs/7'), notFound);
    assert.deepEqual(await call('DELETE', '/api/v1/jobs/0'), {
      status: 403,
      body: { error: 'TS_ERR_JOB_BUILTIN', message: 'batch 0 is the built-in telemetry job: it runs as long as the server and cannot be deleted' },
    });
  });
});

test('GET /api/v1 lists the routes this server has, the registry\'s included, sorted by URL and method (inject)', async (t) => {
  const app = await startServer(t);
  const res = await app.http.inject({ method: 'GET', url: '/api/v1' });
  assert.equal(res.statusCode, 200);
  const { routes, ...rest } = res.json();
  assert.deepEqual(rest, {});
  // Besides the API: the dashboard's `/` (and, once built, its files), which depend on `npm run build`.
  const api = routes.filter((r: { url: string }) => r.url !== '/' && !/^\/[^/]+\.\w+$/.test(r.url));
  assert.deepEqual(api.map((r: { method: string; url: string }) => `${r.method} ${r.url}`), [
    'GET /api/v1',
    'GET /api/v1/anomalies',
    'GET /api/v1/dead-letters',
    'GET /api/v1/dead-letters/devices',
    'GET /api/v1/devices',
    'GET /api/v1/devices/:id',
    'GET /api/v1/jobs',
    'POST /api/v1/jobs',
    'DELETE /api/v1/jobs/:id',
    'GET /api/v1/jobs/:id',
    'GET /api/v1/jobs/:id/log',
    'GET /api/v1/late-readings',
    'GET /api/v1/readings',
    'GET /api/v1/registry/devices',
    'POST /api/v1/registry/devices',
    'DELETE /api/v1/registry/devices/:id',
    'GET /api/v1/registry/devices/:id',
    'PATCH /api/v1/registry/devices/:id',
    'POST /api/v1/registry/devices/:id/messages',
    'POST /api/v1/registry/devices/:id/methods',
    'GET /api/v1/registry/devices/:id/twin',
    'PATCH /api/v1/registry/devices/:id/twin',
    'GET /api/v1/stats',
    'GET /api/v1/stream',
    'GET /api/v1/windows',
    'GET /healthz',
    'GET /livy/batches',
    'POST /livy/batches',
    'DELETE /livy/batches/:id',
    'GET /livy/batches/:id',
    'GET /livy/batches/:id/log',
    'GET /livy/batches/:id/state',
    'GET /metrics',
    'GET /readyz',
  ]);
  assert.ok(routes.every((r: object) => Object.keys(r).join() === 'method,url'));
  for (const r of routes) if (!api.includes(r)) assert.equal(r.method, 'GET', r.url);
  const unknown = await app.http.inject({ method: 'GET', url: '/api/v1?all=1' });
  assert.deepEqual([unknown.statusCode, unknown.json()], [
    400,
    { error: 'TS_ERR_QUERY_PARAM', message: 'invalid query parameter "all" = "1": unknown query parameter (known: none)', parameter: 'all', value: '1' },
  ]);
});

test('late readings over HTTP: newest first, by device, paged; each with the watermark it was behind', async (t) => {
  const app = await startServer(t); // allowed lateness 10 s
  const client = await connect(t, app.mqttUrl);
  const now = Date.now();
  await client.publishAsync('devices/on-time/telemetry', JSON.stringify({ ts: now, temperature: 21 }), { qos: 1 });
  await waitForRecords(app, 1);
  const old = [now - 3_600_000, now - 60_000];
  for (const [i, ts] of old.entries()) {
    await client.publishAsync(`devices/late-${i}/telemetry`, JSON.stringify({ ts, temperature: 19 + i, humidity: 40, seq: 7 }), { qos: 1 });
  }
  const get = async (url: string) => (await app.http.inject({ method: 'GET', url })).json();
  const all = await waitFor('two late readings', async () => {
    const page = await get('/api/v1/late-readings');
    return page.items.length === 2 ? page : null;
  });
  assert.equal(all.next, null);
  assert.deepEqual(all.items.map(({ id: _, arrival, watermark, ...r }: Record<string, string>) => {
    assert.ok(Date.parse(watermark) > Date.parse(r.ts) && Date.parse(arrival) >= now, JSON.stringify({ arrival, watermark }));
    return r;
  }), [
    { deviceId: 'late-1', ts: new Date(old[1]).toISOString(), temperature: 20, humidity: 40, seq: 7 },
    { deviceId: 'late-0', ts: new Date(old[0]).toISOString(), temperature: 19, humidity: 40, seq: 7 },
  ]);
  const first = await get('/api/v1/late-readings?limit=1');
  assert.deepEqual(first.items, [all.items[0]]);
  assert.deepEqual(await get(`/api/v1/late-readings?limit=1&cursor=${first.next}`), { items: [all.items[1]], next: null });
  assert.deepEqual(await get('/api/v1/late-readings?deviceId=late-0'), { items: [all.items[1]], next: null });
  assert.deepEqual(await get('/api/v1/late-readings?deviceId=on-time'), { items: [], next: null });
  assert.deepEqual(await get('/api/v1/late-readings?deviceId=*'), all, '* is every device');
  assert.equal((await get('/api/v1/late-readings?limit=0')).parameter, 'limit');
});

test('a late reading is kept with the watermark it was behind, not the one its batch moved the watermark to', async (t) => {
  // A recording: one reading at T (its batch sets the watermark to T − 10 s), then one message holding T + 60 s and
  // T − 20 s. Both are in one batch, so T − 20 s is judged against T − 10 s and is late; the batch then moves the
  // watermark to T + 50 s, which the late reading was kept with (a replay showed late readings "behind" watermarks
  // up to a batch's worth of event time newer than the one that made them late).
  const app = await startServer(t); // allowed lateness 10 s
  const client = await connect(t, app.mqttUrl);
  const T = Date.parse('2026-11-29T10:00:00Z');
  await client.publishAsync('devices/rec/telemetry', JSON.stringify({ ts: T, temperature: 20, seq: 1 }), { qos: 1 });
  await waitForRecords(app, 1);
  const batch = [{ ts: T + 60_000, temperature: 21, seq: 2 }, { ts: T - 20_000, temperature: 22, seq: 3 }];
  await client.publishAsync('devices/rec/telemetry', JSON.stringify(batch), { qos: 1 });
  const late = await waitFor('the late reading', async () => (await app.http.inject({ method: 'GET', url: '/api/v1/late-readings' })).json().items[0]);
  assert.deepEqual([late.seq, late.ts, late.watermark], [3, new Date(T - 20_000).toISOString(), new Date(T - 10_000).toISOString()]);
  // The batch's new watermark (the stats follow the commit a moment later than the store's rows).
  await waitFor('the watermark after the batch', async () => (await app.http.inject({ method: 'GET', url: '/api/v1/stats' })).json().watermark === new Date(T + 50_000).toISOString());
});

test('a reading behind the watermark by less than the allowed lateness is late too, as GET /docs says', async (t) => {
  // The watermark is already the newest event time minus the allowed lateness (10 s): a reading at T − 15 s, after
  // one at T, is 5 s behind it and late (the route's description once said "more than the allowed lateness behind
  // the watermark", 20 s here).
  const app = await startServer(t);
  const client = await connect(t, app.mqttUrl);
  const T = Date.parse('2026-11-29T10:00:00Z');
  await client.publishAsync('devices/rec/telemetry', JSON.stringify({ ts: T, temperature: 20, seq: 1 }), { qos: 1 });
  await waitForRecords(app, 1);
  await client.publishAsync('devices/rec/telemetry', JSON.stringify({ ts: T - 15_000, temperature: 21, seq: 2 }), { qos: 1 });
  const late = await waitFor('the late reading', async () => (await app.http.inject({ method: 'GET', url: '/api/v1/late-readings' })).json().items[0]);
  assert.deepEqual([late.seq, late.ts, late.watermark], [2, new Date(T - 15_000).toISOString(), new Date(T - 10_000).toISOString()]);
  const doc = (await app.http.inject({ method: 'GET', url: '/docs/json' })).json();
  assert.match(doc.paths['/api/v1/late-readings'].get.description, /^Readings behind the watermark \(the newest event time seen minus the allowed lateness\)/);
});

test('windows: a length that two configured windows share needs the slide too; the 400 says which slides there are', async (t) => {
  const app = await startServer(t, { windows: [{ lengthMs: 10_000, slideMs: 2000 }, { lengthMs: 10_000, slideMs: 10_000 }] });
  const get = async (url: string) => {
    const res = await app.http.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() };
  };
  assert.deepEqual(await get('/api/v1/windows?length=10s'), {
    status: 400,
    body: {
      error: 'TS_ERR_QUERY_PARAM',
      message: 'invalid query parameter "length" = "10s": several configured windows have this length (length/slide ms: 10000/2000, 10000/10000): give slide too (2000 or 10000 ms)',
      parameter: 'length',
      value: '10s',
    },
  });
  assert.equal((await get('/api/v1/windows?length=10s&slide=10s')).status, 200);
  assert.equal((await get('/api/v1/windows')).status, 200, 'no length: the first configured window');
  // A slide alone picks the window that has it (a length for the first window's would be a guess); shared, it needs the length.
  assert.equal((await get('/api/v1/windows?slide=2s')).status, 200);
  assert.deepEqual(await get('/api/v1/windows?slide=1m'), {
    status: 400,
    body: {
      error: 'TS_ERR_QUERY_PARAM',
      message: 'invalid query parameter "slide" = "1m": no such window is configured (length/slide ms: 10000/2000, 10000/10000)',
      parameter: 'slide',
      value: '1m',
    },
  });
});

test('windows: slide alone picks the configured window with that slide', async (t) => {
  const app = await startServer(t, { allowedLatenessMs: 600_000 });
  const client = await connect(t, app.mqttUrl);
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  await client.publishAsync('devices/s/telemetry', JSON.stringify([{ ts: t0, temperature: 20 }, { ts: t0 + 70_000, temperature: 21 }]), { qos: 1 });
  await waitForRecords(app, 2);
  const get = async (url: string) => (await app.http.inject({ method: 'GET', url })).json();
  const fiveMinutes = await get('/api/v1/windows?deviceId=s&slide=1m');
  assert.deepEqual([...new Set(fiveMinutes.items.map((w: any) => `${w.lengthMs}/${w.slideMs}`))], ['300000/60000']);
  assert.deepEqual(fiveMinutes, await get('/api/v1/windows?deviceId=s&length=5m&slide=1m'));
});

test('devices/:id of a device whose every message was rejected: the 404 says so and where its dead letters are', async (t) => {
  const app = await startServer(t);
  const client = await connect(t, app.mqttUrl);
  // A first firmware that names the field "temp": the device is heard, but none of its readings is accepted.
  await client.publishAsync('devices/typo-1/telemetry', '{"temp": 21.5}', { qos: 1 });
  await client.publishAsync('devices/typo-1/telemetry', '{"temp": 21.6}', { qos: 1 });
  await client.publishAsync('devices/typo-1/telemetry', '21.7', { qos: 1 });
  const get = async (url: string) => {
    const res = await app.http.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json() };
  };
  await waitFor('the dead letters', async () => (await get('/api/v1/dead-letters?deviceId=typo-1')).body.items.length === 3);
  assert.deepEqual(await get('/api/v1/devices/typo-1'), {
    status: 404,
    body: {
      error: 'TS_ERR_NOT_FOUND',
      message: 'no device "typo-1": none of its messages was accepted as a reading (3 rejected: missing_temperature: 2, not_object: 1; see GET /api/v1/dead-letters?deviceId=typo-1)',
      parameter: 'id',
      value: 'typo-1',
    },
  });
  // A device never heard of is a plain 404.
  assert.deepEqual((await get('/api/v1/devices/nobody')).body.message, 'no device "nobody"');
});
