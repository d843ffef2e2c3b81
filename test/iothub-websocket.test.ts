import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { connect, getJson, startServer, tempDir, waitForRecords } from './helpers.ts';
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

test('without authentication, a web page of another origin cannot open MQTT over WebSocket (403, logged); local pages, clients without an Origin and, with authentication, any origin can', async (t) => {
  const lines: string[] = [];
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir: tempDir(t) });
  const app = await startThermostream(config, { log: (line) => lines.push(line) });
  t.after(() => app.close());
  const upgrade = (url: string, origin?: string) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(url, 'mqtt', origin === undefined ? {} : { origin });
      ws.on('open', () => {
        ws.close();
        resolve(101);
      });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
  // A page anywhere on the web, one reaching 127.0.0.1 by DNS rebinding, a sandboxed or file:// page.
  for (const origin of ['https://evil.example', 'http://rebind.example:8080', 'null']) assert.equal(await upgrade(app.wsUrl!, origin), 403, origin);
  for (const origin of ['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:8080', undefined]) assert.equal(await upgrade(app.wsUrl!, origin), 101, origin);
  assert.deepEqual(lines.filter((l) => l.includes('WebSocket')).map((l) => l.replace(/from \S+:/, 'from …:')), [
    'refused a WebSocket connection from …: a web page of "https://evil.example", not of this machine, while auth.mode is "none"',
    'refused a WebSocket connection from …: a web page of "http://rebind.example:8080", not of this machine, while auth.mode is "none"',
    'refused a WebSocket connection from …: a web page of "null", not of this machine, while auth.mode is "none"',
  ]);

  const secure = await startSecureServer(t);
  assert.equal(await upgrade(secure.wsUrl!, 'https://app.example'), 101);
});
