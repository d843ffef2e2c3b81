import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { systemClock } from '../server/clock.ts';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { runDevicesCli } from '../server/registry/cli.ts';
import { getJson, tempDir, waitFor, waitForRecords } from './helpers.ts';
import { addDevice, Client, connectWith, hubOptions, ModuleClient, Mqtt, refusedConnect, request, startSecureServer } from './iothub-helpers.ts';

const NOT_AUTHORIZED = { message: 'Connection refused: Not authorized', code: 5 };
const execFileAsync = promisify(execFile);

// Acceptance 2 of issue 10: device A cannot speak for device B, in either dialect, nor listen to B's messages.
test('spoofing: A publishing on B topics (plain and IoT Hub) is refused, counted and dead-lettered; B is untouched; A cannot subscribe to B', async (t) => {
  const app = await startSecureServer(t);
  const a = await addDevice(app, 'dev-a');
  await addDevice(app, 'dev-b');
  const client = await connectWith(t, app.mqttsUrl!, hubOptions(app, { deviceId: 'dev-a', key: a.authentication.symmetricKey.primaryKey }));
  const now = Date.now();
  const body = (temperature: number) => JSON.stringify({ ts: now, temperature });

  await client.publishAsync('devices/dev-b/telemetry', body(99), { qos: 1 });
  await client.publishAsync('devices/dev-b/messages/events/', body(98), { qos: 1 });
  await client.publishAsync('devices/dev-b/messages/events/%24.mid=x&%24.ct=application%2Fjson', body(97), { qos: 0 });
  // Its own topics, in both dialects, are accepted.
  await client.publishAsync('devices/dev-a/telemetry', body(20), { qos: 1 });
  await client.publishAsync('devices/dev-a/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8', body(22), { qos: 1 });

  // mqtt.js rejects a SUBACK with a refused filter; the packet it rejects with holds the return codes.
  const suback = await client
    .subscribeAsync(['devices/dev-b/messages/devicebound/#', 'devices/dev-a/messages/devicebound/#', '#'])
    .then(() => null, (err) => err.packet);
  assert.deepEqual(suback?.granted, [128, 0, 128]);
  await waitForRecords(app, 2);

  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.deepEqual(stats.rejected, { total: 3, byReason: { not_authorized: 3 } });
  assert.equal(stats.security.refusedPublishes, 3);
  assert.equal(stats.security.refusedSubscriptions, 2);
  assert.equal(stats.records, 2);
  const letters = (await getJson(`${app.httpUrl}/api/v1/dead-letters?reason=not_authorized`)).body.items.reverse();
  assert.deepEqual(
    letters.map((l: any) => [l.deviceId, l.topic, l.detail]),
    [
      ['dev-a', 'devices/dev-b/telemetry', 'device "dev-a" may not publish on "devices/dev-b/telemetry" (only under devices/dev-a/)'],
      ['dev-a', 'devices/dev-b/messages/events/', 'device "dev-a" may not publish on "devices/dev-b/messages/events/" (only under devices/dev-a/)'],
      [
        'dev-a',
        'devices/dev-b/messages/events/%24.mid=x&%24.ct=application%2Fjson',
        'device "dev-a" may not publish on "devices/dev-b/messages/events/%24.mid=x&%24.ct=application%2Fjson" (only under devices/dev-a/)',
      ],
    ],
  );
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/windows?deviceId=dev-b`)).body.items, []);
  const devices = (await getJson(`${app.httpUrl}/api/v1/devices`)).body.items;
  assert.deepEqual(devices.map((d: any) => [d.deviceId, d.readings]), [['dev-a', 2]]);
});

test('SAS tokens past their expiry, for another device, or with a client id that is not the device are refused', async (t) => {
  const app = await startSecureServer(t);
  const a = await addDevice(app, 'dev-a');
  const b = await addDevice(app, 'dev-b');
  const keyA = a.authentication.symmetricKey.primaryKey;
  const keyB = b.authentication.symmetricKey.primaryKey;
  const url = app.mqttsUrl!;
  const past = Math.floor(Date.now() / 1000) - 1;

  assert.deepEqual(await refusedConnect(url, hubOptions(app, { deviceId: 'dev-a', key: keyA, expirySeconds: past })), NOT_AUTHORIZED);
  // B's own valid token, presented as A: the resource is B's.
  assert.deepEqual(await refusedConnect(url, hubOptions(app, { deviceId: 'dev-b', as: 'dev-a', key: keyB })), NOT_AUTHORIZED);
  // A token for A's resource signed with B's key.
  assert.deepEqual(await refusedConnect(url, hubOptions(app, { deviceId: 'dev-a', key: keyB })), NOT_AUTHORIZED);
  // A valid login with another client id.
  assert.deepEqual(await refusedConnect(url, { ...hubOptions(app, { deviceId: 'dev-a', key: keyA }), clientId: 'dev-b' }), NOT_AUTHORIZED);
  // Nothing at all.
  assert.deepEqual(await refusedConnect(app.mqttUrl, { reconnectPeriod: 0 }), NOT_AUTHORIZED);
  // The secondary key works as well as the primary.
  await connectWith(t, url, hubOptions(app, { deviceId: 'dev-a', key: a.authentication.symmetricKey.secondaryKey }));

  const security = (await getJson(`${app.httpUrl}/api/v1/stats`)).body.security;
  assert.deepEqual(security.authFailures, {
    total: 5,
    byReason: { expired: 1, wrong_resource: 1, bad_signature: 1, client_id_mismatch: 1, no_credentials: 1 },
  });
});

test('with iothub.hostName set, a SAS token for another host is refused (SDK UnauthorizedError, logged as wrong_host); without it, any host is taken', async (t) => {
  const lines: string[] = [];
  const config = resolveConfig({
    host: '127.0.0.1',
    http: { port: 0 },
    mqtt: { port: 0, tlsPort: 0 },
    auth: { mode: 'registry', users: [] },
    iothub: { hostName: 'localhost:18883' },
    dataDir: tempDir(t),
  });
  const app = await startThermostream(config, { log: (line) => lines.push(line) });
  t.after(() => app.close());
  const dev = await addDevice(app, 'dev-host');
  const key = dev.authentication.symmetricKey.primaryKey;
  const tlsPort = new URL(app.mqttsUrl!).port;
  const sdk = async (hostName: string) => {
    const client = Client.fromConnectionString(`HostName=${hostName};DeviceId=dev-host;SharedAccessKey=${key}`, Mqtt);
    await client.setOptions({ ca: readFileSync(app.caFile!, 'utf8') });
    t.after(() => client.close().catch(() => {}));
    return client;
  };
  // Signed for 127.0.0.1: the key is right, the host is not this hub's.
  const other = await sdk(`127.0.0.1:${tlsPort}`);
  await assert.rejects(other.open(), (err: Error) => err.constructor.name === 'UnauthorizedError' && /Not authorized/.test(err.message));
  await waitFor('the log line', () => lines.length >= 1);
  assert.equal(
    lines[0],
    `refused connection of client "dev-host" from 127.0.0.1: wrong_host (token is for host "127.0.0.1:${tlsPort}", this server is "localhost:18883" (iothub.hostName))`,
  );
  // The configured name, through another port (a proxy's, say) and in other case: the same host.
  await (await sdk(`LocalHost:${tlsPort}`)).open();
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body.security;
  assert.deepEqual(stats.authFailures, { total: 1, byReason: { wrong_host: 1 } });

  // No iothub.hostName: a device's connection string may name this server as it likes.
  const open = await startSecureServer(t, { mqtt: { tlsPort: -1 } });
  const d = await addDevice(open, 'dev-any');
  for (const host of ['localhost', '127.0.0.1:1883', 'thermo.example.com']) {
    const client = await connectWith(t, open.mqttUrl, hubOptions(open, { deviceId: 'dev-any', key: d.authentication.symmetricKey.primaryKey, host }));
    await client.endAsync();
  }
});

test('plain username/password users from config: one device each, or every device with "*"', async (t) => {
  const app = await startSecureServer(t, {
    auth: {
      mode: 'registry',
      users: [
        { username: 'thermo-7', password: 'correct horse battery' },
        { username: 'bridge', password: 'a long bridge secret', deviceId: '*' },
      ],
    },
  });
  assert.deepEqual(await refusedConnect(app.mqttUrl, { username: 'thermo-7', password: 'wrong password', reconnectPeriod: 0 }), NOT_AUTHORIZED);
  const device = await connectWith(t, app.mqttUrl, { username: 'thermo-7', password: 'correct horse battery', reconnectPeriod: 0 });
  const bridge = await connectWith(t, app.mqttUrl, { username: 'bridge', password: 'a long bridge secret', reconnectPeriod: 0 });
  const reading = JSON.stringify({ temperature: 21 });
  await device.publishAsync('devices/thermo-7/telemetry', reading, { qos: 1 });
  await device.publishAsync('devices/thermo-8/telemetry', reading, { qos: 1 }); // refused
  await bridge.publishAsync('devices/x1/telemetry', reading, { qos: 1 });
  await bridge.publishAsync('devices/x2/telemetry', reading, { qos: 1 });
  await waitForRecords(app, 3);
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.deepEqual(stats.rejected.byReason, { not_authorized: 1 });
  assert.deepEqual(stats.security.authFailures, { total: 1, byReason: { bad_password: 1 } });
  const devices = (await getJson(`${app.httpUrl}/api/v1/devices`)).body.items.map((d: any) => d.deviceId);
  assert.deepEqual(devices, ['thermo-7', 'x1', 'x2']);
});

test("a user for one device cannot take another device's client id: that device keeps its connection and session", async (t) => {
  const app = await startSecureServer(t, {
    auth: { mode: 'registry', users: [{ username: 'thermo-7', password: 'correct horse battery' }, { username: 'thermo-8', password: 'another long secret' }] },
  });
  const b = await addDevice(app, 'dev-b');
  const device = await connectWith(t, app.mqttsUrl!, { ...hubOptions(app, { deviceId: 'dev-b', key: b.authentication.symmetricKey.primaryKey }), clean: false });
  await device.subscribeAsync('devices/dev-b/messages/devicebound/#', { qos: 1 });
  const login = { username: 'thermo-7', password: 'correct horse battery', reconnectPeriod: 0 };
  // A registered device's client id, and that of the device another user speaks for.
  assert.deepEqual(await refusedConnect(app.mqttUrl, { ...login, clientId: 'dev-b', clean: false }), NOT_AUTHORIZED);
  assert.deepEqual(await refusedConnect(app.mqttUrl, { ...login, clientId: 'thermo-8' }), NOT_AUTHORIZED);
  assert.equal(device.connected, true);
  // Its own device's id, or one that is no device's (mqtt.js' random one), is taken.
  await connectWith(t, app.mqttUrl, { ...login, clientId: 'thermo-7' });
  await connectWith(t, app.mqttUrl, login);

  const got = new Promise<string>((resolve) => device.once('message', (_topic, payload) => resolve(payload.toString())));
  const sent = await request('POST', `${app.httpUrl}/api/v1/registry/devices/dev-b/messages`, { payload: 'for dev-b only' });
  assert.equal(sent.status, 202);
  assert.equal(await got, 'for dev-b only');
  const security = (await getJson(`${app.httpUrl}/api/v1/stats`)).body.security;
  assert.deepEqual(security.authFailures, { total: 2, byReason: { client_id_mismatch: 2 } });
});

test('a QoS 2 publish in the IoT Hub dialect closes the connection, as IoT Hub does', async (t) => {
  const app = await startSecureServer(t);
  const a = await addDevice(app, 'dev-q');
  const client = await connectWith(t, app.mqttsUrl!, hubOptions(app, { deviceId: 'dev-q', key: a.authentication.symmetricKey.primaryKey }));
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish('devices/dev-q/messages/events/', JSON.stringify({ temperature: 20 }), { qos: 2 });
  await closed;
  assert.equal((await getJson(`${app.httpUrl}/api/v1/stats`)).body.security.qos2Disconnects, 1);
});

test('a PUBLISH to a wildcard topic closes the connection (MQTT 3.1.1 forbids it) and the log says which client and why', async (t) => {
  const lines: string[] = [];
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir: tempDir(t) });
  const app = await startThermostream(config, { log: (line) => lines.push(line) });
  t.after(() => app.close());
  for (const topic of ['devices/+/telemetry', 'devices/#']) {
    const client = await connectWith(t, app.mqttUrl, { clientId: `wild-${topic.length}`, reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(topic, JSON.stringify({ temperature: 20 }), { qos: 1 });
    await closed;
  }
  await waitFor('the log lines', () => lines.length >= 2);
  assert.deepEqual(lines, ['closed client "wild-19": + is not allowed in PUBLISH', 'closed client "wild-9": # is not allowed in PUBLISH']);
});

// Acceptance 5 of issue 10: like Mosquitto 2, no authentication means loopback only.
test('binding a non-loopback address without authentication refuses to start, saying why and what to set', async (t) => {
  const config = resolveConfig({ host: '0.0.0.0', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir: tempDir(t) });
  await assert.rejects(startThermostream(config, { log: () => {} }), (err: any) => {
    assert.equal(err.code, 'TS_ERR_INSECURE_BIND');
    assert.match(err.message, /host = "0\.0\.0\.0" is not a loopback address and auth\.mode is "none"/);
    assert.match(err.message, /Set auth\.mode to "registry" \(--auth registry/);
    return true;
  });
  // With authentication on, the same address is fine.
  const secured = resolveConfig({
    host: '0.0.0.0',
    http: { port: 0, apiToken: 'a-token-of-16-chars-or-more' },
    mqtt: { port: 0, tlsPort: -1 },
    dataDir: tempDir(t),
    auth: { mode: 'registry' },
  });
  const app = await startThermostream(secured, { log: () => {} });
  await app.close();
});

test('$iothub answers go to the asking connection only, though every device subscribes to $iothub/twin/res/#', async (t) => {
  const app = await startSecureServer(t);
  const a = await addDevice(app, 'dev-a');
  const b = await addDevice(app, 'dev-b');
  const clientA = await connectWith(t, app.mqttsUrl!, hubOptions(app, { deviceId: 'dev-a', key: a.authentication.symmetricKey.primaryKey }));
  const clientB = await connectWith(t, app.mqttsUrl!, hubOptions(app, { deviceId: 'dev-b', key: b.authentication.symmetricKey.primaryKey }));
  const seen: Record<string, string[]> = { a: [], b: [] };
  clientA.on('message', (topic, payload) => seen.a.push(`${topic} ${payload}`));
  clientB.on('message', (topic, payload) => seen.b.push(`${topic} ${payload}`));
  await clientA.subscribeAsync('$iothub/twin/res/#');
  await clientB.subscribeAsync('$iothub/twin/res/#');
  // B tries to forge an answer to A; A asks for its twin (without the SDK's trailing slash).
  await clientB.publishAsync('$iothub/twin/res/200/?$rid=1', '{"desired":{"forged":true}}', { qos: 1 });
  await clientA.publishAsync('$iothub/twin/GET?$rid=1', '', { qos: 1 });
  await clientA.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=2', '{"fw":"2.0"}', { qos: 1 });
  await waitFor('two answers', () => seen.a.length >= 2);
  assert.deepEqual(seen.a, [
    '$iothub/twin/res/200/?$rid=1 {"desired":{"$version":1},"reported":{"$version":1}}',
    '$iothub/twin/res/204/?$rid=2&$version=2 ',
  ]);
  // B's forgery reached nobody: the hub answered it, to B alone, as an unknown twin operation.
  assert.deepEqual(seen.b, ['$iothub/twin/res/404/?$rid=1 {"errorCode":404,"message":"unknown twin operation res/200/"}']);
});

test('a connection is closed when its SAS token expires, as on IoT Hub', async (t) => {
  const app = await startSecureServer(t);
  const a = await addDevice(app, 'dev-e');
  const expiry = Math.floor(Date.now() / 1000) + 2;
  const client = await connectWith(t, app.mqttsUrl!, hubOptions(app, { deviceId: 'dev-e', key: a.authentication.symmetricKey.primaryKey, expirySeconds: expiry }));
  await new Promise<void>((resolve) => client.once('close', () => resolve()));
  assert.ok(Date.now() >= expiry * 1000 - 1000, 'not before its expiry (to the second)');
});

test('a SAS token valid for longer than a timer can wait (24.8 days) keeps its connection until it expires', async (t) => {
  // The server's clock, with the time moved by `offset`; a timer of 2^31 - 1 ms or more is kept here to be fired by
  // the test, the others are real.
  const MAX_TIMER = 2 ** 31 - 1;
  const clock = {
    offset: 0,
    long: [] as (() => void)[],
    now: () => Date.now() + clock.offset,
    setTimeout: (fn: () => void, ms: number): unknown => (ms >= MAX_TIMER ? clock.long.push(fn) && null : systemClock.setTimeout(fn, ms)),
    clearTimeout: (handle: unknown) => (handle === null ? undefined : systemClock.clearTimeout(handle)),
  };
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: 0 }, dataDir: tempDir(t), auth: { mode: 'registry', users: [] } });
  const app = await startThermostream(config, { clock });
  t.after(() => app.close());
  const a = await addDevice(app, 'dev-long');
  const expiry = Math.floor(Date.now() / 1000) + 60 * 86_400; // 60 days
  const client = await connectWith(t, app.mqttsUrl!, hubOptions(app, { deviceId: 'dev-long', key: a.authentication.symmetricKey.primaryKey, expirySeconds: expiry }));
  let closed = false;
  client.on('close', () => (closed = true));
  await waitFor('the expiry timer', () => clock.long.length === 1);
  // 24.8 days on, the timer fires: the token has 35 days left, so the connection stays and the timer is set again.
  clock.offset = MAX_TIMER;
  clock.long.shift()!();
  assert.equal(clock.long.length, 1, 'waiting again');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(closed, false, 'not closed before its expiry');
  clock.offset = expiry * 1000 - Date.now() + 1;
  clock.long.shift()!();
  await waitFor('closed at its expiry', () => closed);
});

test('a device subscribing as Azure\'s Embedded C SDK does (devices/+/messages/devicebound/#) gets its own cloud-to-device messages', async (t) => {
  const app = await startSecureServer(t);
  const a = await addDevice(app, 'dev-emb');
  await addDevice(app, 'dev-other');
  const client = await connectWith(t, app.mqttsUrl!, hubOptions(app, { deviceId: 'dev-emb', key: a.authentication.symmetricKey.primaryKey }));
  const granted = await client.subscribeAsync('devices/+/messages/devicebound/#', { qos: 1 });
  assert.deepEqual(granted.map((g) => g.qos), [1], 'granted, not refused');
  const got: string[] = [];
  client.on('message', (topic, payload) => got.push(`${topic} ${payload}`));
  const other = await request('POST', `${app.httpUrl}/api/v1/registry/devices/dev-other/messages`, { payload: 'not yours' });
  assert.equal(other.body.delivered, false, 'another device\'s message is not delivered to it');
  const mine = await request('POST', `${app.httpUrl}/api/v1/registry/devices/dev-emb/messages`, { payload: 'yours', messageId: 'm-1' });
  assert.equal(mine.body.delivered, true);
  await waitFor('the message', () => got.length === 1);
  assert.deepEqual(got, ['devices/dev-emb/messages/devicebound/%24.mid=m-1&%24.to=%2Fdevices%2Fdev-emb%2Fmessages%2Fdevicebound yours']);
});

test('cloud-to-device messages queued while a persistent session was away arrive when it comes back, without a new SUBSCRIBE', async (t) => {
  const app = await startSecureServer(t);
  const a = await addDevice(app, 'dev-p');
  const options = { ...hubOptions(app, { deviceId: 'dev-p', key: a.authentication.symmetricKey.primaryKey }), clean: false };
  const first = await connectWith(t, app.mqttsUrl!, options);
  await first.subscribeAsync('devices/dev-p/messages/devicebound/#', { qos: 1 });
  await first.endAsync();
  const queued = await request('POST', `${app.httpUrl}/api/v1/registry/devices/dev-p/messages`, { payload: 'while away', messageId: 'away-1' });
  assert.equal(queued.body.delivered, false);

  // Listening before the CONNACK: the queued message follows it at once.
  const again = mqtt.connect(app.mqttsUrl!, options);
  t.after(() => again.endAsync(true));
  const got = await new Promise<string>((resolve) => again.once('message', (topic, payload) => resolve(`${topic} ${payload}`)));
  assert.equal(got, 'devices/dev-p/messages/devicebound/%24.mid=away-1&%24.to=%2Fdevices%2Fdev-p%2Fmessages%2Fdevicebound while away');
});

test('a refused connection is logged once, with its reason, not also as a connection closed for a protocol violation', async (t) => {
  const lines: string[] = [];
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, auth: { mode: 'registry', users: [] }, dataDir: tempDir(t) });
  const app = await startThermostream(config, { log: (line) => lines.push(line) });
  t.after(() => app.close());
  await addDevice(app, 'dev-log');
  const wrongKey = Buffer.alloc(32, 7).toString('base64');
  assert.deepEqual(await refusedConnect(app.mqttUrl, hubOptions(app, { deviceId: 'dev-log', key: wrongKey })), NOT_AUTHORIZED);
  await waitFor('the log line', () => lines.length >= 1);
  await new Promise((resolve) => setTimeout(resolve, 200)); // a second line would come right after the first
  assert.deepEqual(lines, ['refused connection of client "dev-log" from 127.0.0.1: bad_signature (signature does not match device "dev-log"\'s keys)']);
});

test('an SDK device that signs in with an X.509 certificate (not supported) is refused, and the log says so', async (t) => {
  const lines: string[] = [];
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: 0 }, auth: { mode: 'registry', users: [] }, dataDir: tempDir(t) });
  const app = await startThermostream(config, { log: (line) => lines.push(line) });
  t.after(() => app.close());
  await addDevice(app, 'dev-x509');
  // The SDK sends the usual username and no password; any certificate and key do for the client side of TLS.
  const tlsDir = dirname(app.caFile!);
  const client = Client.fromConnectionString(`HostName=${app.hostName};DeviceId=dev-x509;x509=true`, Mqtt);
  await client.setOptions({ ca: readFileSync(app.caFile!, 'utf8'), cert: readFileSync(join(tlsDir, 'server.pem'), 'utf8'), key: readFileSync(join(tlsDir, 'server-key.pem'), 'utf8') });
  t.after(() => client.close().catch(() => {}));
  await assert.rejects(client.open(), (err: Error) => err.constructor.name === 'UnauthorizedError');
  await waitFor('the log line', () => lines.length >= 1);
  assert.match(lines[0], /^refused connection of client "dev-x509" from 127\.0\.0\.1: no_credentials \(no password: .*X\.509 client certificates are not supported/);
});

test('an SDK module (ModuleClient: IoT Edge modules are not supported) is refused, and the log names the module, not a client id mismatch', async (t) => {
  const lines: string[] = [];
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: 0 }, auth: { mode: 'registry', users: [] }, dataDir: tempDir(t) });
  const app = await startThermostream(config, { log: (line) => lines.push(line) });
  t.after(() => app.close());
  const dev = await addDevice(app, 'dev-mod');
  // The device's own connection string with a ModuleId: the SDK signs in as {host}/dev-mod/m1/?api-version=…, client id dev-mod/m1.
  const client = ModuleClient.fromConnectionString(`${dev.connectionString};ModuleId=m1`, Mqtt);
  await client.setOptions({ ca: readFileSync(app.caFile!, 'utf8') });
  t.after(() => client.close().catch(() => {}));
  await assert.rejects(client.open(), (err: Error) => err.constructor.name === 'UnauthorizedError');
  await waitFor('the log line', () => lines.length >= 1);
  assert.match(lines[0], /^refused connection of client "dev-mod\/m1" from 127\.0\.0\.1: bad_username \(username ".*\/dev-mod\/m1\/\?api-version=.*" signs in module "m1" of device "dev-mod": IoT Hub module identities are not supported, only devices\)$/);
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/stats`)).body.security.authFailures, { total: 1, byReason: { bad_username: 1 } });
  // A module is told by its client id, not by the username's parts: the older username without "?" whose query
  // holds a "/" (…&DeviceClientType=iothubclient/1.3.0) is a device's, and signs in.
  const older = { ...hubOptions(app, { deviceId: 'dev-mod', key: dev.authentication.symmetricKey.primaryKey }), username: `${app.hostName}/dev-mod/api-version=2016-11-14&DeviceClientType=iothubclient/1.3.0` };
  await connectWith(t, app.mqttsUrl!, older);
  assert.equal(lines.length, 1, lines.join('\n'));
});

test("an SDK connection string with a shared access policy (SharedAccessKeyName: not supported) is refused, and the log names the policy, not a wrong key", async (t) => {
  const lines: string[] = [];
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: 0 }, auth: { mode: 'registry', users: [] }, dataDir: tempDir(t) });
  const app = await startThermostream(config, { log: (line) => lines.push(line) });
  t.after(() => app.close());
  const dev = await addDevice(app, 'dev-policy');
  // A service policy's connection string naming the device, as IoT Hub's portal gives for iothubowner: the SDK puts skn= in its token.
  const policyKey = Buffer.alloc(32, 9).toString('base64');
  const client = Client.fromConnectionString(`HostName=${app.hostName};DeviceId=dev-policy;SharedAccessKeyName=iothubowner;SharedAccessKey=${policyKey}`, Mqtt);
  await client.setOptions({ ca: readFileSync(app.caFile!, 'utf8') });
  t.after(() => client.close().catch(() => {}));
  await assert.rejects(client.open(), (err: Error) => err.constructor.name === 'UnauthorizedError');
  await waitFor('the log line', () => lines.length >= 1);
  assert.deepEqual(lines, ['refused connection of client "dev-policy" from 127.0.0.1: malformed_token (token is signed with the shared access policy "iothubowner" (skn=): shared access policies are not supported, a device signs with its own key)']);
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/stats`)).body.security.authFailures, { total: 1, byReason: { malformed_token: 1 } });
  // The device's own connection string still connects.
  const own = Client.fromConnectionString(dev.connectionString, Mqtt);
  await own.setOptions({ ca: readFileSync(app.caFile!, 'utf8') });
  t.after(() => own.close().catch(() => {}));
  await own.open();
});

test("a device's persistent session is kept across a server restart (CONNACK session present); a clean-session connect discards it", async (t) => {
  const dataDir = tempDir(t);
  const plain = { dataDir, mqtt: { tlsPort: -1 } };
  let app = await startSecureServer(t, plain);
  const dev = await addDevice(app, 'dev-session');
  const login = { deviceId: 'dev-session', key: dev.authentication.symmetricKey.primaryKey };
  const connectAs = async (clean: boolean) => {
    const client = mqtt.connect(app.mqttUrl, { ...hubOptions(app, login), clean });
    t.after(() => client.endAsync(true));
    const present = await new Promise<boolean>((resolve, reject) => {
      client.once('connect', (connack) => resolve(connack.sessionPresent));
      client.once('error', reject);
    });
    return { client, present };
  };
  const first = await connectAs(false);
  assert.equal(first.present, false);
  await first.client.subscribeAsync('$iothub/twin/PATCH/properties/desired/#', { qos: 0 });
  await first.client.endAsync();

  await app.close();
  app = await startSecureServer(t, plain);
  const resumed = await connectAs(false);
  assert.equal(resumed.present, true);
  await resumed.client.endAsync();
  await (await connectAs(true)).client.endAsync();
  await app.close();
  app = await startSecureServer(t, plain);
  assert.equal((await connectAs(false)).present, false);
});

test('devices token: a plain MQTT client signs in with the token and username it prints (mosquitto_pub when installed, else mqtt.js); a bad --duration and an unknown device are refused, and a wrong signature by the server', async (t) => {
  const app = await startSecureServer(t);
  const cli = (...args: string[]) => runDevicesCli([...args, '--data-dir', app.config.dataDir, '--mqtts-port', new URL(app.mqttsUrl!).port], {});
  assert.equal(cli('add', 'plain-1').code, 0);
  const token = cli('token', 'plain-1', '--duration', '600');
  assert.equal(token.code, 0, token.err);
  const username = /MQTT username "([^"]+)", client id "plain-1"; the token expires at (\S+)/.exec(token.err);
  assert.ok(username, token.err);
  const expires = Date.parse(username[2]);
  assert.ok(Math.abs(expires - (Date.now() + 600_000)) < 5_000, `expires ${username[2]}`);
  const { port } = new URL(app.mqttUrl);
  const payload = JSON.stringify({ temperature: 21.5 });
  const mosquittoPub = '/usr/bin/mosquitto_pub';
  if (existsSync(mosquittoPub)) {
    t.diagnostic(`client: ${mosquittoPub}`);
    // Not spawnSync: the server runs in this process.
    const pub = (password: string) =>
      execFileAsync(mosquittoPub, ['-h', '127.0.0.1', '-p', port, '-i', 'plain-1', '-u', username[1], '-P', password, '-t', 'devices/plain-1/telemetry', '-q', '1', '-m', payload], { timeout: 10_000 });
    await pub(token.out);
    await assert.rejects(pub(token.out.replace(/sig=[^&]+/, 'sig=AAAA')), (err: { stderr: string }) => /not authori[sz]ed/i.test(err.stderr));
  } else {
    t.diagnostic('client: mqtt.js (no /usr/bin/mosquitto_pub: Debian\'s mosquitto-clients)');
    const client = await connectWith(t, app.mqttUrl, { clientId: 'plain-1', username: username[1], password: token.out, reconnectPeriod: 0 });
    await client.publishAsync('devices/plain-1/telemetry', payload, { qos: 1 });
    const refused = await refusedConnect(app.mqttUrl, { clientId: 'plain-1', username: username[1], password: token.out.replace(/sig=[^&]+/, 'sig=AAAA'), reconnectPeriod: 0 });
    assert.deepEqual(refused, NOT_AUTHORIZED);
  }
  await waitForRecords(app, 1);
  assert.equal((await getJson(`${app.httpUrl}/api/v1/devices/plain-1`)).body.lastTemperature, 21.5);
  assert.equal((await getJson(`${app.httpUrl}/api/v1/stats`)).body.security.authFailures.byReason.bad_signature, 1);
  assert.deepEqual(cli('token', 'plain-1', '--duration', '0').code, 2);
  assert.deepEqual(cli('token', 'plain-1', '--duration', '1.5').code, 2);
  assert.deepEqual(cli('token', 'nobody').code, 1);
});

test("README's plain-client line on another TLS port: the username names localhost as written, the token from devices token --mqtts-port signs localhost:{port}; both are this server, so it connects (another host in the token is still refused)", async (t) => {
  const app = await startSecureServer(t);
  const tlsPort = new URL(app.mqttsUrl!).port;
  const cli = (...args: string[]) => runDevicesCli([...args, '--data-dir', app.config.dataDir, '--mqtts-port', tlsPort], {});
  assert.equal(cli('add', 'thermostat-1').code, 0);
  const token = cli('token', 'thermostat-1');
  assert.match(token.out, new RegExp(`^SharedAccessSignature sr=localhost%3A${tlsPort}%2Fdevices%2Fthermostat-1&`));
  const login = { clientId: 'thermostat-1', username: 'localhost/thermostat-1/?api-version=2021-04-12', ca: readFileSync(app.caFile!, 'utf8'), reconnectPeriod: 0 };
  const client = await connectWith(t, app.mqttsUrl!, { ...login, password: token.out });
  await client.publishAsync('devices/thermostat-1/telemetry', JSON.stringify({ temperature: 21.4 }), { qos: 1 });
  await waitForRecords(app, 1);
  await client.endAsync();

  const key = (await getJson(`${app.httpUrl}/api/v1/registry/devices/thermostat-1`)).body.authentication.symmetricKey.primaryKey;
  const elsewhere = hubOptions(app, { deviceId: 'thermostat-1', key, host: 'localhost', resource: `thermo.example.com:${tlsPort}/devices/thermostat-1` });
  assert.deepEqual(await refusedConnect(app.mqttsUrl!, elsewhere), NOT_AUTHORIZED);
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/stats`)).body.security.authFailures, { total: 1, byReason: { wrong_resource: 1 } });
});
