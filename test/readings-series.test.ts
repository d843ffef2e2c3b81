import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, waitForRecords } from './helpers.ts';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

test('GET /api/v1/readings with a small maxPoints keeps the window aggregates (maxPoints=1: one point for everything)', async (t) => {
  // One tumbling window, so each old reading is in exactly one aggregate.
  const app = await startServer(t, { windows: [{ lengthMs: 10_000, slideMs: 10_000 }] });
  const client = await connect(t, app.mqttUrl);
  // Two readings from long before the server started (served as the window [T0, T0 + 10 s): 2 readings, 21 °C,
  // 45 %RH), then two of the present (served raw). These are in the second half of a window that starts after the
  // server did, so that window's middle is not before the raw readings' time and it is not served as well.
  const old = [
    { ts: at(1000), temperature: 20, humidity: 40 },
    { ts: at(3000), temperature: 22, humidity: 50 },
  ];
  const now = Math.ceil(Date.now() / 10_000) * 10_000 + 6000;
  const recent = [
    { ts: now, temperature: 30, humidity: 60 },
    { ts: now + 1, temperature: 32 },
  ];
  await client.publishAsync('devices/m/telemetry', JSON.stringify(old), { qos: 1 });
  await client.publishAsync('devices/m/telemetry', JSON.stringify(recent), { qos: 1 });
  await waitForRecords(app, 4);

  const get = async (maxPoints: number) => {
    const res = await app.http.inject({ method: 'GET', url: `/api/v1/readings?deviceId=m&from=${T0}&to=${now + 4000}&maxPoints=${maxPoints}` });
    assert.equal(res.statusCode, 200);
    return res.json().items;
  };
  const window = { ts: at(5000), temperature: 21, humidity: 45, count: 2, min: 20, max: 22, source: 'window' };
  const raw = (r: { ts: number; temperature: number; humidity?: number }) => ({
    ts: new Date(r.ts).toISOString(), temperature: r.temperature, humidity: r.humidity ?? null, count: 1, min: r.temperature, max: r.temperature, source: 'raw',
  });
  assert.deepEqual(await get(3), [window, ...recent.map(raw)]);
  assert.deepEqual(await get(2), [window, { ...raw(recent[0]), temperature: 31, humidity: 60, count: 2, max: 32 }]);
  // Every reading is behind the one point; humidity is weighted by count as temperature is: (2 × 45 + 60) / 3.
  assert.deepEqual(await get(1), [{ ts: at(5000), temperature: (42 + 30 + 32) / 4, humidity: 50, count: 4, min: 20, max: 32, source: 'window' }]);
});
