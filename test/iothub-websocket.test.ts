import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { connect, getJson, startServer, waitForRecords } from './helpers.ts';
import { addDevice, reading, sdkWsClient, startSecureServer } from './iothub-helpers.ts';

// Acceptance 3 of issue 10: MQTT over WebSocket at /mqtt on the HTTP port, for mqtt.js (browsers) and the SDK.

test('mqtt.js over ws://…/mqtt publishes readings that are processed', async (t) => {
  const app = await startServer(t, { allowedLatenessMs: 600_000 });
  assert.equal(app.wsUrl, `${app.httpUrl.replace('http', 'ws')}/mqtt`);
  const client = await connect(t, app.wsUrl!);
  const ts = Date.now() - 1000;
  for (let i = 0; i < 10; i++) {
    await client.publishAsync('devices/ws-1/telemetry', JSON.stringify({ ts: ts + i, temperature: 20 + i, seq: i }), { qos: 1 });
  }
  await waitForRecords(app, 10);
  const windows = (await getJson(`${app.httpUrl}/api/v1/windows?deviceId=ws-1&from=${ts - 60_000}`)).body.items;
  assert.equal(Math.max(...windows.map((w: any) => w.count)), 10);
  // The HTTP API on the same port is unaffected, and other upgrade paths are refused.
  assert.equal((await getJson(`${app.httpUrl}/healthz`)).status, 200);
  const other = new WebSocket(app.wsUrl!.replace('/mqtt', '/elsewhere'));
  const status = await new Promise<number>((resolve) => other.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  other.on('error', () => {});
  assert.equal(status, 404);
});

test("the SDK's MqttWs transport publishes readings that are processed, with a registry device", async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'ws-sdk');
  // MqttWs appends :443 to the HostName, so the connection string names the host alone (the agent picks the port).
  const client = await sdkWsClient(t, app, dev.connectionString.replace(/HostName=[^;]+/, 'HostName=localhost'));
  await client.open();
  const ts = Date.now() - 1000;
  for (let i = 0; i < 10; i++) await client.sendEvent(reading(ts + i, 18, `ws-${i}`));
  await waitForRecords(app, 10);
  const windows = (await getJson(`${app.httpUrl}/api/v1/windows?deviceId=ws-sdk&from=${ts - 60_000}`)).body.items;
  assert.equal(Math.max(...windows.map((w: any) => w.count)), 10);
  // Twin requests work over WebSocket too.
  const twin = await client.getTwin();
  assert.equal(twin.properties.reported.$version, 1);
});
