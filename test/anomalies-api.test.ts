/**
 * GET /api/v1/anomalies end to end: readings over MQTT, anomalies committed with their batch, served newest first
 * with a cursor, and 400s that name the bad parameter.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, getJson, startServer, waitFor, waitForRecords } from './helpers.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const calm = (i: number): number => [20.0, 20.1, 20.2, 20.1][i % 4];

test('anomalies over HTTP: newest first, filtered, paginated with a cursor; bad parameters named', async (t) => {
  const app = await startServer(t, { allowedLatenessMs: 600_000 });
  const client = await connect(t, app.mqttUrl);
  // Device a: 60 readings a second apart, 70 °C (threshold) at 5, a spike at 30 (back at 31), a dip at 45.
  const a = Array.from({ length: 60 }, (_, i) => ({ ts: T0 + i * 1000, temperature: i === 5 ? 70 : i === 30 ? 28 : i === 45 ? 12 : calm(i), seq: i + 1 }));
  await client.publishAsync('devices/a/telemetry', JSON.stringify(a), { qos: 1 });
  await waitForRecords(app, 60);
  const all = await waitFor('three anomalies', async () => {
    const { body } = await getJson(`${app.httpUrl}/api/v1/anomalies`);
    return body.items.length === 3 ? body : null;
  });
  assert.deepEqual(all, {
    items: [
      { deviceId: 'a', type: 'dip', ts: new Date(T0 + 45_000).toISOString(), score: all.items[0].score, value: 12, expected: 20.1,
        threshold: all.items[0].threshold, start: null, end: null, detectedAt: new Date(T0 + 46_000).toISOString() },
      { deviceId: 'a', type: 'spike', ts: new Date(T0 + 30_000).toISOString(), score: all.items[1].score, value: 28, expected: 20.1,
        threshold: all.items[1].threshold, start: null, end: null, detectedAt: new Date(T0 + 31_000).toISOString() },
      { deviceId: 'a', type: 'threshold', ts: new Date(T0 + 5_000).toISOString(), score: 20, value: 70, expected: null,
        threshold: 50, start: null, end: null, detectedAt: new Date(T0 + 5_000).toISOString() },
    ],
    next: null,
  });
  assert.ok(all.items[0].score > 6 && all.items[1].score > 6);

  // Pages of one: the cursor walks the same list.
  const seen: string[] = [];
  let url = `${app.httpUrl}/api/v1/anomalies?limit=1`;
  for (let page = 0; page < 5; page++) {
    const { body } = await getJson(url);
    seen.push(...body.items.map((x: any) => x.type));
    if (body.next === null) break;
    url = `${app.httpUrl}/api/v1/anomalies?limit=1&cursor=${body.next}`;
  }
  assert.deepEqual(seen, ['dip', 'spike', 'threshold']);

  const filtered = await getJson(`${app.httpUrl}/api/v1/anomalies?deviceId=a&type=spike&from=${T0 + 10_000}&to=${new Date(T0 + 40_000).toISOString()}`);
  assert.deepEqual(filtered.body.items.map((x: any) => x.type), ['spike']);
  // The + of an offset written as is in a URL reaches the server as a space (form encoding): read as the + it was.
  const offset = await getJson(`${app.httpUrl}/api/v1/anomalies?from=2026-01-01T01:00:10+01:00&to=2026-01-01T01:00:40+0100`);
  assert.equal(offset.status, 200, JSON.stringify(offset.body));
  assert.deepEqual(offset.body.items.map((x: any) => x.type), ['spike']);
  // ISO 8601 also writes an offset as ±hh: +01 and -05 are +01:00 and -05:00.
  const hours = await getJson(`${app.httpUrl}/api/v1/anomalies?from=2026-01-01T01:00:10%2B01&to=2025-12-31T19:00:40-05`);
  assert.deepEqual([hours.status, hours.body], [200, offset.body]);
  for (const from of ['2026-01-01T01:00:10+1', '2026-01-01T01:00:10%2B010', '2026-01-01T01:00:10%2B25', '2026-01-01T01:00:10%2B01:60', '2026-01-01T01:00:10%2B01%2B01']) {
    const value = new URLSearchParams(`from=${from}`).get('from')!; // as sent: an unencoded + is a space
    const refused = await getJson(`${app.httpUrl}/api/v1/anomalies?from=${from}`);
    assert.deepEqual([refused.status, refused.body], [400, {
      error: 'TS_ERR_QUERY_PARAM',
      // +25 and +01:60 have the form of an offset (the message says which part is wrong); the others do not.
      message: `invalid query parameter "from" = ${JSON.stringify(value)}: expected ISO 8601 with a zone (2026-11-24T10:00:00Z) or epoch milliseconds${/%2B(25|01:60)$/.test(from) ? '; no such day, time of day or zone offset' : ''}`,
      parameter: 'from',
      value,
    }], from);
  }
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/anomalies?deviceId=b`)).body, { items: [], next: null });
  // * is every device, as in /api/v1/windows (where it is the fleet).
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/anomalies?deviceId=*`)).body, all);

  // Windows count them by type.
  const w = await getJson(`${app.httpUrl}/api/v1/windows?deviceId=a&length=1m&from=${T0 - 60_000}&to=${T0 + 1}`);
  assert.deepEqual(w.body.items.at(-1).anomaliesByType, { threshold: 1, spike: 1, dip: 1, stuck: 0, drift: 0, rate: 0, dropout: 0 });

  for (const [query, parameter] of [['type=wobble', 'type'], ['limit=0', 'limit'], ['from=yesterday', 'from'], ['cursor=xyz', 'cursor'], ['deviceId=a%2Fb', 'deviceId'], ['colour=red', 'colour']]) {
    const { status, body } = await getJson(`${app.httpUrl}/api/v1/anomalies?${query}`);
    assert.equal(status, 400, query);
    assert.equal(body.error, 'TS_ERR_QUERY_PARAM');
    assert.equal(body.parameter, parameter, query);
  }
});

test('anomalies over HTTP: readings of one message without ts share its arrival time, and each flagged one is listed (and paged) as the windows count it', async (t) => {
  const app = await startServer(t);
  const client = await connect(t, app.mqttUrl);
  await client.publishAsync('devices/arr-1/telemetry', JSON.stringify([{ temperature: 80 }, { temperature: 90 }, { temperature: -40 }]), { qos: 1 });
  await waitForRecords(app, 3);
  const all = await waitFor('three anomalies', async () => {
    const { body } = await getJson(`${app.httpUrl}/api/v1/anomalies?deviceId=arr-1`);
    return body.items.length === 3 ? body : null;
  });
  assert.equal(new Set(all.items.map((x: any) => x.ts)).size, 1, 'one ts: the arrival time');
  assert.deepEqual(all.items.map((x: any) => [x.type, x.value]), [['threshold', -40], ['threshold', 90], ['threshold', 80]], 'newest found first');
  const paged: number[] = [];
  let url = `${app.httpUrl}/api/v1/anomalies?limit=1`;
  for (let page = 0; page < 5; page++) {
    const { body } = await getJson(url);
    paged.push(...body.items.map((x: any) => x.value));
    if (body.next === null) break;
    url = `${app.httpUrl}/api/v1/anomalies?limit=1&cursor=${body.next}`;
  }
  assert.deepEqual(paged, [-40, 90, 80]);
  const w = await getJson(`${app.httpUrl}/api/v1/windows?deviceId=arr-1&length=10s&limit=1`);
  assert.equal(w.body.items[0].anomaliesByType.threshold, 3);
});

test('anomalies over HTTP: a threshold score is the reading\'s distance past the limit in the decimals it has, without binary noise', async (t) => {
  const app = await startServer(t);
  const client = await connect(t, app.mqttUrl);
  // Past the default upper limit, 50 °C: in binary 50.3 − 50 is 0.29999999999999716, 60.7 − 50 is 10.700000000000003.
  const readings = [{ ts: T0, temperature: 50.3 }, { ts: T0 + 1000, temperature: 60.7 }, { ts: T0 + 2000, temperature: 50.000001 }];
  await client.publishAsync('devices/edge-1/telemetry', JSON.stringify(readings), { qos: 1 });
  await waitForRecords(app, 3);
  const all = await waitFor('three anomalies', async () => {
    const { body } = await getJson(`${app.httpUrl}/api/v1/anomalies?deviceId=edge-1`);
    return body.items.length === 3 ? body : null;
  });
  assert.deepEqual(all.items.map((x: any) => [x.value, x.threshold, x.score]), [[50.000001, 50, 0.000001], [60.7, 50, 10.7], [50.3, 50, 0.3]]);
  const csv = await fetch(`${app.httpUrl}/api/v1/anomalies?deviceId=edge-1`, { headers: { accept: 'text/csv' } });
  assert.deepEqual((await csv.text()).split('\r\n').slice(1, 4).map((row) => row.split(',').slice(3, 6)), [['0.000001', '50.000001', ''], ['10.7', '60.7', ''], ['0.3', '50.3', '']]);
});
