import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { getJson, tempDir, waitFor, waitForRecords } from './helpers.ts';
import { addDevice, Client, Message, Mqtt, reading, request, sdkClient, startSecureServer, type DeviceClient } from './iothub-helpers.ts';

// Acceptance 1 of issue 10: unmodified azure-iot-device + azure-iot-device-mqtt over TLS, connection strings from
// the registry, the generated CA passed as the SDK's `ca` option.

test('Azure IoT SDK over TLS: 100 messages from a registry device appear in the window results', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-1');
  assert.match(dev.connectionString, new RegExp(`^HostName=localhost:${new URL(app.mqttsUrl!).port};DeviceId=sdk-1;SharedAccessKey=[A-Za-z0-9+/]{43}=$`));
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();

  const t0 = Date.now() - 5000;
  for (let i = 0; i < 100; i++) await client.sendEvent(reading(t0 + i, 20 + (i % 10), `m-${i}`));
  await waitForRecords(app, 100);

  // Open windows are refreshed within a slide (at once when the device falls quiet): wait for the one holding all.
  let windows: any[] = [];
  const full = await waitFor('a window holding all 100 readings', async () => {
    windows = (await getJson(`${app.httpUrl}/api/v1/windows?deviceId=sdk-1&from=${t0 - 60_000}`)).body.items;
    const f = windows.filter((w: any) => w.count === 100);
    return f.length > 0 ? f : null;
  }).catch(() => []);
  assert.ok(full.length > 0, `a window holds all 100 readings: ${JSON.stringify(windows.map((w: any) => w.count))}`);
  assert.deepEqual([full[0].min, full[0].max, full[0].avg], [20, 29, 24.5]);
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.deepEqual(stats.rejected, { total: 0, byReason: {} });
  assert.deepEqual(stats.security.authFailures, { total: 0, byReason: {} });
  const shown = (await getJson(`${app.httpUrl}/api/v1/registry/devices/sdk-1`)).body;
  assert.equal(shown.connectionState, 'Connected');
});

test('an SDK resend of a message id is counted once', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-dup');
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();
  const ts = Date.now() - 1000;
  await client.sendEvent(reading(ts, 20, 'same-id'));
  await client.sendEvent(reading(ts, 20, 'same-id')); // the SDK resending after a lost PUBACK sends exactly this
  await client.sendEvent(reading(ts + 1, 22, 'other-id'));
  const stats: any = await waitFor('3 accepted', async () => {
    const { body } = await getJson(`${app.httpUrl}/api/v1/stats`);
    return body.accepted === 3 && body.records + body.duplicates === 3 ? body : null;
  });
  assert.equal(stats.records, 2);
  assert.equal(stats.duplicates, 1);
});

test('a wrong key gets the SDK UnauthorizedError; a disabled or deleted device cannot connect; failures are counted by reason', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-2');
  const wrongKey = dev.connectionString.replace(/SharedAccessKey=.*$/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
  const bad = await sdkClient(t, app, wrongKey);
  await assert.rejects(bad.open(), (err: Error) => err.constructor.name === 'UnauthorizedError');

  const disabled = await request('PATCH', `${app.httpUrl}/api/v1/registry/devices/sdk-2`, { status: 'disabled' });
  assert.equal(disabled.status, 200);
  assert.equal(disabled.body.status, 'disabled');
  const off = await sdkClient(t, app, dev.connectionString);
  await assert.rejects(off.open(), (err: Error) => err.constructor.name === 'UnauthorizedError');

  // Enabled again, it connects; deleted, it cannot, and is disconnected.
  assert.equal((await request('PATCH', `${app.httpUrl}/api/v1/registry/devices/sdk-2`, { status: 'enabled' })).status, 200);
  const good = await sdkClient(t, app, dev.connectionString);
  await good.open();
  assert.equal((await request('DELETE', `${app.httpUrl}/api/v1/registry/devices/sdk-2`)).status, 204);
  const gone = await sdkClient(t, app, dev.connectionString);
  await assert.rejects(gone.open(), (err: Error) => err.constructor.name === 'UnauthorizedError');

  const security = (await getJson(`${app.httpUrl}/api/v1/stats`)).body.security;
  assert.deepEqual(security.authFailures, { total: 3, byReason: { bad_signature: 1, device_disabled: 1, unknown_device: 1 } });
});

test('twin: getTwin resolves, a reported update is stored, a desired update over HTTP reaches the twin event', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-twin');
  const base = `${app.httpUrl}/api/v1/registry/devices/sdk-twin`;
  const before = await request('PATCH', `${base}/twin`, { properties: { desired: { targetTemperature: 20, mode: 'eco' } } });
  assert.equal(before.status, 200);
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();

  const twin = await client.getTwin();
  assert.equal(twin.properties.desired.targetTemperature, 20);
  assert.equal(twin.properties.desired.$version, 2);

  await new Promise<void>((resolve, reject) =>
    twin.properties.reported.update({ firmware: '1.4.2', sensor: { kind: 'NTC' } }, (err?: Error) => (err ? reject(err) : resolve())),
  );
  const stored = await request('GET', `${base}/twin`);
  assert.deepEqual(stored.body, {
    deviceId: 'sdk-twin',
    status: 'enabled',
    connectionState: 'Connected',
    version: 3,
    properties: {
      desired: { targetTemperature: 20, mode: 'eco', $version: 2 },
      reported: { firmware: '1.4.2', sensor: { kind: 'NTC' }, $version: 2 },
    },
  });

  const patches: any[] = [];
  twin.on('properties.desired', (delta: any) => patches.push(delta));
  // The listener first sees the desired properties it already has; wait until the SDK subscribed to updates.
  await waitFor('the initial desired event', () => patches.length >= 1);
  await waitFor('the desired-updates subscription', async () => {
    await request('PATCH', `${base}/twin`, { properties: { desired: { targetTemperature: 21.5, mode: null } } });
    return patches.some((p) => p.targetTemperature === 21.5);
  });
  const last = patches.at(-1);
  assert.equal(last.targetTemperature, 21.5);
  assert.equal(last.mode, null);
  assert.equal(typeof last.$version, 'number');
  assert.deepEqual((await request('GET', `${base}/twin`)).body.properties.desired.mode, undefined);
});

test("twin property names IoT Hub refuses ('.', '$', a space, a control character, over 1 KB) are refused both ways, naming the name; others are stored", async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-names');
  const base = `${app.httpUrl}/api/v1/registry/devices/sdk-names`;
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();
  const twin = await client.getTwin();
  const report = (patch: object) =>
    new Promise<string>((resolve) => twin.properties.reported.update(patch, (err?: Error) => resolve(err ? err.message : 'ok')));
  const long = 'k'.repeat(1025);
  const refused: [object, string][] = [
    [{ 'fw.version': '1.4' }, 'property name "fw.version" contains ".": IoT Hub\'s twin property names exclude ".", "$", spaces and control characters'],
    [{ sensor: { 'room temp': 1 } }, 'property name "room temp" under "sensor" contains a space: IoT Hub\'s twin property names exclude ".", "$", spaces and control characters'],
    [{ a: { 'b.c': 1 } }, 'property name "b.c" under "a" contains ".": IoT Hub\'s twin property names exclude ".", "$", spaces and control characters'],
    [{ 'del\u007f': 1 }, 'property name "del\u007f" contains the control character U+007F: IoT Hub\'s twin property names exclude ".", "$", spaces and control characters'],
    [{ price$: 1 }, 'property name "price$" contains "$": IoT Hub\'s twin property names exclude ".", "$", spaces and control characters'],
    [{ 'a\u0001': 1 }, 'property name "a\\u0001" contains the control character U+0001: IoT Hub\'s twin property names exclude ".", "$", spaces and control characters'],
    [{ [long]: 1 }, `property name "${'k'.repeat(64)}…" is longer than 1024 bytes`],
  ];
  for (const [patch, message] of refused) {
    assert.equal(await report(patch), message, JSON.stringify(patch).slice(0, 40));
    const http = await request('PATCH', `${base}/twin`, { properties: { desired: patch } });
    assert.equal(http.status, 400);
    assert.equal(http.body.parameter, 'properties.desired');
    assert.match(http.body.message, new RegExp(`: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  }
  // Names IoT Hub takes (letters, digits, _ - : and any other printable character, 1 KB) are stored as sent.
  const fine = { 'fw_version-2': '1.4', 'zone:1': { 'Ünïcode/°C': 21 }, ['k'.repeat(1024)]: true };
  assert.equal(await report(fine), 'ok');
  assert.equal((await request('PATCH', `${base}/twin`, { properties: { desired: fine } })).status, 200);
  const stored = (await request('GET', `${base}/twin`)).body.properties;
  assert.deepEqual(stored.reported, { ...fine, $version: 2 });
  assert.deepEqual(stored.desired, { ...fine, $version: 2 });
  // null deletes whatever the name (one stored before such names were refused can still be removed).
  assert.equal(await report({ 'fw.version': null, 'zone:1': null }), 'ok');
  assert.deepEqual(Object.keys((await request('GET', `${base}/twin`)).body.properties.reported).sort(), ['$version', 'fw_version-2', 'k'.repeat(1024)].sort());
});

test("twin properties nested 10 levels deep (IoT Hub's own example of the deepest valid twin) are taken both ways; 11 levels are refused", async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-depth');
  const base = `${app.httpUrl}/api/v1/registry/devices/sdk-depth`;
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();
  const twin = await client.getTwin();
  const report = (patch: object) =>
    new Promise<string>((resolve) => twin.properties.reported.update(patch, (err?: Error) => resolve(err ? err.message : 'ok')));
  const names = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
  const nest = (keys: string[]): Record<string, unknown> => keys.reduceRight<any>((inner, key) => ({ [key]: inner }), { property: 'value' });
  assert.equal(await report(nest(names)), 'ok');
  assert.equal((await request('PATCH', `${base}/twin`, { properties: { desired: nest(names) } })).status, 200);
  const stored = (await request('GET', `${base}/twin`)).body.properties;
  assert.deepEqual([stored.reported.one, stored.desired.one], [nest(names).one, nest(names).one]);
  const tooDeep = 'twin properties nest deeper than 10 levels at "one.two.three.four.five.six.seven.eight.nine.ten.eleven"';
  assert.equal(await report(nest([...names, 'eleven'])), tooDeep);
  const http = await request('PATCH', `${base}/twin`, { properties: { desired: nest([...names, 'eleven']) } });
  assert.equal(http.status, 400);
  assert.match(http.body.message, new RegExp(`${tooDeep.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
});

test('cloud-to-device: a message queued while offline and one sent while online reach the message event', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-c2d');
  const base = `${app.httpUrl}/api/v1/registry/devices/sdk-c2d`;
  const queued = await request('POST', `${base}/messages`, { payload: { setpoint: 19 }, properties: { kind: 'config' }, messageId: 'c2d-1' });
  assert.equal(queued.status, 202);
  assert.deepEqual({ ...queued.body, enqueuedTime: typeof queued.body.enqueuedTime }, { messageId: 'c2d-1', enqueuedTime: 'string', delivered: false });
  assert.equal((await getJson(base)).body.cloudToDeviceMessageCount, 1);

  const client = await sdkClient(t, app, dev.connectionString);
  const received: { id: string; body: string; kind: unknown }[] = [];
  client.on('message', (msg: any) => {
    received.push({ id: msg.messageId, body: msg.data.toString(), kind: msg.properties.getValue('kind') });
    client.complete(msg, () => {});
  });
  await client.open();
  await waitFor('the queued message', () => received.length >= 1);
  const online = await request('POST', `${base}/messages`, { payload: 'plain text', messageId: 'c2d-2' });
  assert.equal(online.body.delivered, true);
  await waitFor('the second message', () => received.length >= 2);
  assert.deepEqual(received, [
    { id: 'c2d-1', body: '{"setpoint":19}', kind: 'config' },
    { id: 'c2d-2', body: 'plain text', kind: undefined },
  ]);
  assert.equal((await getJson(base)).body.cloudToDeviceMessageCount, 0);
});

test('direct method over HTTP returns the handler status and payload; 404 when not connected, 504 on no answer', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-method');
  const url = `${app.httpUrl}/api/v1/registry/devices/sdk-method/methods`;
  const offline = await request('POST', url, { methodName: 'reboot', payload: {}, responseTimeoutInSeconds: 5 });
  assert.equal(offline.status, 404);
  assert.equal(offline.body.error, 'TS_ERR_DEVICE_NOT_CONNECTED');

  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();
  const calls: unknown[] = [];
  client.onDeviceMethod('setMode', (req: any, res: any) => {
    calls.push(req.payload);
    res.send(201, { mode: req.payload.mode, accepted: true }, () => {});
  });
  client.onDeviceMethod('hang', () => {}); // never answers
  const answer = await waitFor('the methods subscription', async () => {
    const r = await request('POST', url, { methodName: 'setMode', payload: { mode: 'away' }, responseTimeoutInSeconds: 10 });
    return r.status === 200 ? r : null;
  });
  assert.deepEqual(answer.body, { status: 201, payload: { mode: 'away', accepted: true } });
  assert.deepEqual(calls, [{ mode: 'away' }]);

  const timeout = await request('POST', url, { methodName: 'hang', payload: null, responseTimeoutInSeconds: 5 });
  assert.equal(timeout.status, 504);
  assert.equal(timeout.body.error, 'TS_ERR_METHOD_TIMEOUT');
  // The hub's figures in the stats: the device connected, the calls made, the one not answered.
  const { iothub } = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.equal(iothub.connectedDevices, 1);
  assert.ok(iothub.methodCalls >= 2, JSON.stringify(iothub));
  assert.equal(iothub.methodTimeouts, 1);
  const badBody = await request('POST', url, { methodName: 'x y', responseTimeoutInSeconds: 5 });
  assert.equal(badBody.status, 400);
  assert.match(badBody.body.message, /methodName/);
});

test('direct method with connectTimeoutInSeconds waits for the device to connect and listen, as IoT Hub does; without it, 404 at once', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-late');
  const url = `${app.httpUrl}/api/v1/registry/devices/sdk-late/methods`;
  const waiting = request('POST', url, { methodName: 'ping', payload: { n: 1 }, responseTimeoutInSeconds: 10, connectTimeoutInSeconds: 30 });
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();
  client.onDeviceMethod('ping', (req: any, res: any) => res.send(200, { pong: req.payload.n }, () => {}));
  const answer = await waiting;
  assert.deepEqual([answer.status, answer.body], [200, { status: 200, payload: { pong: 1 } }]);
  await client.close();
  const gone = await request('POST', url, { methodName: 'ping', connectTimeoutInSeconds: 1 });
  assert.deepEqual([gone.status, gone.body.error], [404, 'TS_ERR_DEVICE_NOT_CONNECTED']);
  assert.match(gone.body.message, /within 1 s$/);
  const tooLong = await request('POST', url, { methodName: 'ping', connectTimeoutInSeconds: 301 });
  assert.deepEqual([tooLong.status, tooLong.body.parameter], [400, 'connectTimeoutInSeconds']);
});

test("after a server restart, an SDK device still gets desired-property updates: its persistent session's subscriptions are kept, as on IoT Hub", { timeout: 60_000 }, async (t) => {
  // The SDK subscribes to desired-property updates once and, reconnecting with clean session off, relies on the
  // hub keeping that subscription: it never sends that SUBSCRIBE again.
  const dataDir = tempDir(t);
  let app = await startSecureServer(t, { dataDir });
  const tlsPort = Number(new URL(app.mqttsUrl!).port);
  const dev = await addDevice(app, 'sdk-restart');
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();
  const twin = await client.getTwin();
  const patches: any[] = [];
  twin.on('properties.desired', (delta: any) => patches.push(delta));
  const base = () => `${app.httpUrl}/api/v1/registry/devices/sdk-restart`;
  await waitFor('the desired-updates subscription', async () => {
    await request('PATCH', `${base()}/twin`, { properties: { desired: { before: true } } });
    return patches.some((p) => p.before === true);
  });

  await app.close();
  app = await startSecureServer(t, { dataDir, mqtt: { tlsPort } });
  await waitFor('the SDK to reconnect', async () => (await request('GET', base())).body.connectionState === 'Connected', 30_000);
  const patched = await request('PATCH', `${base()}/twin`, { properties: { desired: { after: 21.5 } } });
  assert.equal(patched.status, 200);
  await waitFor('the desired update after the restart', () => patches.some((p) => p.after === 21.5));
  assert.equal(patches.at(-1).$version, patched.body.properties.desired.$version);
});

test('several readings in one SDK message: sendEventBatch is refused by the SDK over MQTT, an array in one message counts each reading once', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-array');
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();
  const ts = Date.now() - 1000;
  await assert.rejects(client.sendEventBatch([reading(ts, 20, 'b-0'), reading(ts + 1, 21, 'b-1')]), /does not support batching/);
  const array = () => {
    const m = new Message(JSON.stringify([20, 21, 22].map((temperature, i) => ({ ts: ts + i, temperature }))));
    m.messageId = 'array-1';
    return m;
  };
  await client.sendEvent(array());
  await client.sendEvent(array()); // a resend
  const stats: any = await waitFor('6 readings accepted', async () => {
    const { body } = await getJson(`${app.httpUrl}/api/v1/stats`);
    return body.accepted === 6 && body.records + body.duplicates === 6 ? body : null;
  });
  assert.deepEqual([stats.records, stats.duplicates], [3, 3]);
});

test('an IoT Plug and Play component command (component*command, as the SDK samples name them) can be invoked as a direct method', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-pnp');
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();
  client.onDeviceMethod('thermostat1*getMaxMinReport', (req: any, res: any) => res.send(200, { since: req.payload, maxTemp: 23.5 }, () => {}));
  const url = `${app.httpUrl}/api/v1/registry/devices/sdk-pnp/methods`;
  const body = { methodName: 'thermostat1*getMaxMinReport', payload: '2026-12-04T10:00:00Z', responseTimeoutInSeconds: 10 };
  const first = await request('POST', url, body);
  assert.notEqual(first.status, 400, JSON.stringify(first.body));
  const answer = await waitFor('the methods subscription', async () => {
    const r = await request('POST', url, body);
    return r.status === 200 ? r : null;
  });
  assert.deepEqual(answer.body, { status: 200, payload: { since: '2026-12-04T10:00:00Z', maxTemp: 23.5 } });
});

test('IOTHUB.md, "When open() fails": the SDK error names a refusal, a wrong port and an untrusted CA as the table says', async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sdk-open');
  // "mqtt.js returned Failure on first connection (Not authorized): {cause} error", always an UnauthorizedError.
  const cause = async (client: DeviceClient): Promise<string> => {
    const err: Error = await client.open().then(() => new Error('opened'), (e: Error) => e);
    assert.equal(err.constructor.name, 'UnauthorizedError', err.message);
    const m = /Failure on first connection \(Not authorized\): (.*) error$/.exec(err.message);
    return m === null ? err.message : m[1];
  };
  const wrongKey = dev.connectionString.replace(/SharedAccessKey=.*$/, `SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
  assert.equal(await cause(await sdkClient(t, app, wrongKey)), 'Connection refused: Not authorized');

  const unused = createServer();
  await new Promise<void>((resolve) => unused.listen(0, '127.0.0.1', resolve));
  const closedPort = (unused.address() as AddressInfo).port;
  await new Promise((resolve) => unused.close(resolve));
  const wrongPort = dev.connectionString.replace(/HostName=[^;]+/, `HostName=localhost:${closedPort}`);
  assert.match(await cause(await sdkClient(t, app, wrongPort)), new RegExp(`^connect ECONNREFUSED \\S+:${closedPort}$`));

  const noCa = Client.fromConnectionString(dev.connectionString, Mqtt);
  t.after(() => noCa.close().catch(() => {}));
  assert.equal(await cause(noCa), 'unable to verify the first certificate');
});

test("Microsoft's simple_sample_device message, unchanged (a body deviceId of 'myFirstDevice', windSpeed, a property): the reading counts for the device that sent it", async (t) => {
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'sample-7');
  const client = await sdkClient(t, app, dev.connectionString);
  await client.open();
  // What the SDK's sample builds for every message, whatever device it runs as.
  const sample = (temperature: number) => {
    const m = new Message(JSON.stringify({ deviceId: 'myFirstDevice', windSpeed: 11.5, temperature, humidity: 65 }));
    m.properties.add('temperatureAlert', temperature > 28 ? 'true' : 'false');
    return m;
  };
  for (const temperature of [21, 29]) await client.sendEvent(sample(temperature));
  await waitForRecords(app, 2);
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.deepEqual(stats.rejected, { total: 0, byReason: {} });
  const device = (await getJson(`${app.httpUrl}/api/v1/devices/sample-7`)).body;
  assert.equal(device.readings, 2);
  assert.equal((await getJson(`${app.httpUrl}/api/v1/devices/myFirstDevice`)).status, 404);
});
