import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { connect, getJson, startServer, waitFor, waitForRecords } from './helpers.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

test('readings published over MQTT come back as exact window results over HTTP', async (t) => {
  // A long allowed lateness keeps every window open, so the result does not depend on how batches are cut.
  const app = await startServer(t, { allowedLatenessMs: 600_000 });
  const client = await connect(t, app.mqttUrl);

  // Device a: t = 1000, 3000, 9999 and 10000 (exactly on a window boundary); device b: t = 500.
  await client.publishAsync('devices/a/telemetry', JSON.stringify({ ts: at(1000), temperature: 20, seq: 1 }), { qos: 1 });
  await client.publishAsync(
    'devices/a/telemetry',
    JSON.stringify([
      { ts: at(3000), temperature: 22, humidity: 40, seq: 2 },
      { ts: T0 + 9999, temperature: 24, humidity: 50, seq: 3 },
    ]),
    { qos: 1 },
  );
  await client.publishAsync('devices/a/telemetry', JSON.stringify({ ts: at(10_000), temperature: 30, seq: 4 }), { qos: 0 });
  await client.publishAsync('devices/b/telemetry', JSON.stringify({ ts: at(500), temperature: 10 }), { qos: 1 });
  await waitForRecords(app, 5);

  // Windows of 10 s sliding by 2 s, [start, start + 10 s), times relative to T0 in seconds:
  //
  //   readings of a:      20@1    22@3          24@9.999 30@10
  //   [-8, 2)   ====|====                                           20
  //   [-6, 4)     ==|==========                                    20 22
  //   [-4, 6)       |=====================                         20 22
  //   [-2, 8)       |===============================               20 22
  //   [ 0,10)       |==========================================    20 22 24   (30 at t=10 is outside: end exclusive)
  //   [ 2,12)           |===========================================|====  22 24 30
  //   [ 4,14) [ 6,16) [ 8,18)                                       24 30
  //   [10,20)                                                       30
  // Open windows are refreshed at most once per slide (openWindowRefresh "slide", the default): the rows reach
  // their exact values within a slide (2 s) of the last reading's batch.
  const expected = [
    [-8, 1, 20, 20, 20],
    [-6, 2, 21, 20, 22],
    [-4, 2, 21, 20, 22],
    [-2, 2, 21, 20, 22],
    [0, 3, 22, 20, 24],
    [2, 3, (22 + 24 + 30) / 3, 22, 30],
    [4, 2, 27, 24, 30],
    [6, 2, 27, 24, 30],
    [8, 2, 27, 24, 30],
    [10, 1, 30, 30, 30],
  ];
  let status = 0;
  let body: any;
  let rows: unknown[] = [];
  await waitFor('the open windows refreshed', async () => {
    ({ status, body } = await getJson(`${app.httpUrl}/api/v1/windows?deviceId=a&from=${T0 - 60_000}&limit=100`));
    rows = body.items.map((w: any) => [(Date.parse(w.start) - T0) / 1000, w.count, w.avg, w.min, w.max]);
    return isDeepStrictEqual(rows, expected);
  }).catch(() => undefined); // the assertion below shows the difference
  assert.equal(status, 200);
  assert.deepEqual(rows, expected);
  const w0 = body.items[4];
  assert.deepEqual(
    { deviceId: w0.deviceId, start: w0.start, end: w0.end, lengthMs: w0.lengthMs, slideMs: w0.slideMs, final: w0.final },
    { deviceId: 'a', start: at(0), end: at(10_000), lengthMs: 10_000, slideMs: 2000, final: false },
  );
  assert.equal(w0.humidityAvg, 45);
  assert.equal(w0.anomalies, 0);

  // Fleet-wide (no deviceId): [0, 10 s) holds a's 20, 22, 24 and b's 10.
  const fleet = await getJson(`${app.httpUrl}/api/v1/windows?from=${at(0)}&to=${at(1)}`);
  assert.equal(fleet.status, 200);
  assert.equal(fleet.body.items.length, 1);
  const f = fleet.body.items[0];
  assert.deepEqual([f.deviceId, f.start, f.count, f.avg, f.min, f.max], ['*', at(0), 4, 19, 10, 24]);
  const star = await getJson(`${app.httpUrl}/api/v1/windows?deviceId=*&from=${at(0)}&to=${at(1)}`);
  assert.deepEqual(star.body, fleet.body);

  const devices = await getJson(`${app.httpUrl}/api/v1/devices`);
  assert.deepEqual(
    devices.body.items.map((d: any) => [d.deviceId, d.readings, d.lastTemperature, d.online]),
    [
      ['a', 4, 30, true],
      ['b', 1, 10, true],
    ],
  );
  const health = await getJson(`${app.httpUrl}/healthz`);
  assert.equal(health.body.status, 'ok');
});

test('invalid query parameters get a 400 naming the parameter', async (t) => {
  const app = await startServer(t);
  const cases: [string, string][] = [
    ['from=yesterday', 'from'],
    ['length=7s', 'length'],
    ['limit=0', 'limit'],
    ['deviceId=bad/id', 'deviceId'],
    ['colour=red', 'colour'],
  ];
  for (const [query, parameter] of cases) {
    const { status, body } = await getJson(`${app.httpUrl}/api/v1/windows?${query}`);
    assert.equal(status, 400, query);
    assert.equal(body.error, 'TS_ERR_QUERY_PARAM');
    assert.equal(body.parameter, parameter);
    assert.match(body.message, new RegExp(`"${parameter}"`));
  }
});
