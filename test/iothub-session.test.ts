import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { REGISTRY_SYNC_MS } from '../server/registry/index.ts';
import { systemClock } from '../server/clock.ts';
import type { Thermostream } from '../server/main.ts';
import { runDevicesCli } from '../server/registry/cli.ts';
import { createRegistry } from '../server/registry/index.ts';
import { tempDir, waitFor } from './helpers.ts';
import { addDevice, hubOptions, request, startSecureServer } from './iothub-helpers.ts';

// A deleted device's persistent session (aedes' subscriptions and unacknowledged QoS 1 messages, the registry's
// stored subscriptions) goes with it: a device added again under the same id starts afresh (docs/IOTHUB.md).

const C2D = 'devices/dev-gone/messages/devicebound/#';

/** Connects as the device (persistent session); resolves with the client and CONNACK's session present. */
async function connectAs(t: TestContext, app: Thermostream, key: string, seen: string[] = []): Promise<{ client: MqttClient; present: boolean }> {
  const client = mqtt.connect(app.mqttUrl, {
    ...hubOptions(app, { deviceId: 'dev-gone', key }),
    clean: false,
  });
  // Never acknowledged (mqtt.js sends the PUBACK once handleMessage calls back): a QoS 1 message stays in the session.
  client.handleMessage = () => {};
  client.on('message', (topic, payload) => seen.push(`${topic} ${payload}`));
  t.after(() => client.endAsync(true));
  const present = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent));
    client.once('error', reject);
  });
  return { client, present };
}

/** A device with a persistent session that subscribed and holds a cloud-to-device message it never acknowledged. */
async function deviceWithSession(t: TestContext, app: Thermostream): Promise<MqttClient> {
  const dev = await addDevice(app, 'dev-gone');
  const seen: string[] = [];
  const { client } = await connectAs(t, app, dev.authentication.symmetricKey.primaryKey, seen);
  await client.subscribeAsync([C2D, '$iothub/twin/PATCH/properties/desired/#'], { qos: 1 });
  const sent = await request('POST', `${app.httpUrl}/api/v1/registry/devices/dev-gone/messages`, { payload: 'for the old device', messageId: 'old-1' });
  assert.equal(sent.body.delivered, true);
  await waitFor('the message', () => seen.length === 1);
  return client;
}

test('a device deleted over HTTP is disconnected, and added again starts afresh: no session present, no old subscription or message', async (t) => {
  const app = await startSecureServer(t, { mqtt: { tlsPort: -1 } });
  const old = await deviceWithSession(t, app);
  const closed = new Promise<void>((resolve) => old.once('close', () => resolve()));
  assert.equal((await request('DELETE', `${app.httpUrl}/api/v1/registry/devices/dev-gone`)).status, 204);
  await closed;

  const dev = await addDevice(app, 'dev-gone');
  const seen: string[] = [];
  const again = await connectAs(t, app, dev.authentication.symmetricKey.primaryKey, seen);
  assert.equal(again.present, false, 'the old session is gone');
  // An old subscription would take this message at once, and an old queued one would have come after CONNACK.
  const sent = await request('POST', `${app.httpUrl}/api/v1/registry/devices/dev-gone/messages`, { payload: 'for the new device' });
  assert.equal(sent.body.delivered, false, 'queued: the new device has not subscribed');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(seen, []);
  await again.client.endAsync();

  // Nor did the registry keep the old subscriptions (stored 100 ms after a SUBSCRIBE): a reconnect has no session.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal((await connectAs(t, app, dev.authentication.symmetricKey.primaryKey)).present, false);
});

/** `npm run devices -- …`: the devices CLI in a process of its own, on the server's data dir. */
async function devicesCli(app: Thermostream, ...args: string[]): Promise<string> {
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'server/registry/cli.ts', ...args, '--data-dir', app.config.dataDir]);
  return stdout;
}

test(`a connected device deleted with the devices CLI is disconnected within ${REGISTRY_SYNC_MS} ms, and its session is gone`, async (t) => {
  const app = await startSecureServer(t, { mqtt: { tlsPort: -1 } });
  const old = await deviceWithSession(t, app);
  let closed = false;
  old.once('close', () => (closed = true));
  assert.equal(await devicesCli(app, 'delete', 'dev-gone'), 'deleted dev-gone\n');
  // Within REGISTRY_SYNC_MS and a busy machine's delays: not timed here (the test would fail on a loaded machine).
  await waitFor('the disconnect', () => closed, 10_000);

  const added = runDevicesCli(['add', 'dev-gone', '--data-dir', app.config.dataDir], {});
  const key = /SharedAccessKey=(.+)$/.exec(added.out)![1];
  const seen: string[] = [];
  const again = await connectAs(t, app, key, seen);
  assert.equal(again.present, false, 'the old session is gone');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(seen, [], 'no old message');
});

test(`a connected device disabled with the devices CLI is disconnected within ${REGISTRY_SYNC_MS} ms and refused from then on`, async (t) => {
  const app = await startSecureServer(t, { mqtt: { tlsPort: -1 } });
  const dev = await addDevice(app, 'dev-gone');
  const key = dev.authentication.symmetricKey.primaryKey;
  const { client } = await connectAs(t, app, key, []);
  let closed = false;
  client.once('close', () => (closed = true));
  client.options.reconnectPeriod = 0;
  assert.match(await devicesCli(app, 'disable', 'dev-gone'), /dev-gone/);
  await waitFor('the disconnect', () => closed, 10_000);
  await assert.rejects(connectAs(t, app, key, []), /not authorized/i);
});

test('a device the devices CLI deleted and added again has no session at its next CONNECT, however soon', async (t) => {
  const app = await startSecureServer(t, { mqtt: { tlsPort: -1 } });
  const old = await deviceWithSession(t, app);
  await old.endAsync(true);
  const cli = (...args: string[]) => runDevicesCli([...args, '--data-dir', app.config.dataDir], {});
  assert.equal(cli('delete', 'dev-gone').code, 0);
  const key = /SharedAccessKey=(.+)$/.exec(cli('add', 'dev-gone').out)![1];
  const seen: string[] = [];
  const again = await connectAs(t, app, key, seen);
  assert.equal(again.present, false, 'the old session is gone');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(seen, [], 'no old message');
});

test("a device deleted and added again before its session's subscriptions were written does not get them", async (t) => {
  const dir = tempDir(t);
  const stored = () => {
    const r = createRegistry(dir, { clock: systemClock });
    try {
      return r.sessionSubscriptions('d');
    } finally {
      r.close();
    }
  };
  const r = createRegistry(dir, { clock: systemClock });
  t.after(() => r.close());
  r.create('d', {});
  r.addSessionSubscriptions('d', [{ topic: 'twin/#', qos: 1 }]);
  r.delete('d'); // within the 100 ms before the subscription is written
  r.create('d', {});
  assert.deepEqual(r.sessionSubscriptions('d'), []);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(stored(), []);
});
