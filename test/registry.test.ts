import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCli, resolveConfig } from '../server/config.ts';
import { systemClock } from '../server/clock.ts';
import { createRegistry } from '../server/registry/index.ts';
import { runDevicesCli } from '../server/registry/cli.ts';
import { mergePatch, patchProblem } from '../server/registry/twin.ts';
import { startServer, tempDir } from './helpers.ts';
import { request } from './iothub-helpers.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KEY = Buffer.alloc(32, 1).toString('base64');
const KEY2 = Buffer.alloc(32, 2).toString('base64');

test('registry over HTTP: create, list, show, disable, enable, delete in IoT Hub service-API shapes; 400, 404, 409', async (t) => {
  const app = await startServer(t);
  const base = `${app.httpUrl}/api/v1/registry/devices`;
  const created = await request('POST', base, { deviceId: 'thermo-1', authentication: { symmetricKey: { primaryKey: KEY, secondaryKey: KEY2 } } });
  assert.equal(created.status, 201);
  const { generationId, etag, statusUpdatedTime, createdTime, ...rest } = created.body;
  assert.match(generationId, /^[0-9a-f-]{36}$/);
  assert.equal(typeof etag, 'string');
  assert.equal(statusUpdatedTime, createdTime);
  assert.deepEqual(rest, {
    deviceId: 'thermo-1',
    status: 'enabled',
    connectionState: 'Disconnected',
    cloudToDeviceMessageCount: 0,
    authentication: { type: 'sas', symmetricKey: { primaryKey: KEY, secondaryKey: KEY2 } },
    connectionString: `HostName=localhost;DeviceId=thermo-1;SharedAccessKey=${KEY}`,
  });
  const generated = await request('POST', base, { deviceId: 'thermo-2', status: 'disabled' });
  assert.equal(generated.status, 201);
  assert.equal(Buffer.from(generated.body.authentication.symmetricKey.primaryKey, 'base64').length, 32);
  assert.notEqual(generated.body.authentication.symmetricKey.primaryKey, generated.body.authentication.symmetricKey.secondaryKey);

  const list = await request('GET', base);
  assert.deepEqual(list.body.items.map((d: any) => [d.deviceId, d.status]), [['thermo-1', 'enabled'], ['thermo-2', 'disabled']]);
  assert.deepEqual((await request('GET', `${base}/thermo-1`)).body, created.body);
  assert.equal((await request('PATCH', `${base}/thermo-2`, { status: 'enabled' })).body.status, 'enabled');

  const duplicate = await request('POST', base, { deviceId: 'thermo-1' });
  assert.deepEqual(duplicate, { status: 409, body: { error: 'TS_ERR_DEVICE_EXISTS', message: 'device "thermo-1" is already registered' } });
  const unknown = await request('GET', `${base}/nobody`);
  assert.deepEqual(unknown, { status: 404, body: { error: 'TS_ERR_DEVICE_NOT_FOUND', message: 'device "nobody" is not registered', parameter: 'id', value: 'nobody' } });
  for (const path of ['/nobody/twin', '/nobody']) assert.equal((await request(path.endsWith('twin') ? 'GET' : 'DELETE', `${base}${path}`)).status, 404);
  const badId = await request('POST', base, { deviceId: 'bad id!' });
  assert.deepEqual(badId, {
    status: 400,
    body: {
      error: 'TS_ERR_BAD_REQUEST',
      message: 'invalid body field "deviceId" = "bad id!": expected a device id matching [A-Za-z0-9._:-]{1,128}',
      parameter: 'deviceId',
      value: 'bad id!',
    },
  });
  assert.equal((await request('GET', `${base}/${encodeURIComponent('bad id!')}`)).status, 400);
  const badKey = await request('POST', base, { deviceId: 'k', authentication: { symmetricKey: { primaryKey: 'short' } } });
  assert.equal(badKey.status, 400);
  assert.deepEqual(badKey.body, {
    error: 'TS_ERR_BAD_REQUEST',
    message: 'invalid body field "authentication.symmetricKey.primaryKey" = "short": expected 16 to 64 bytes in base64',
    parameter: 'authentication.symmetricKey.primaryKey',
    value: 'short',
  });
  const badStatus = await request('PATCH', `${base}/thermo-1`, { status: 'off' });
  assert.equal(badStatus.status, 400);
  const badTwin = await request('PATCH', `${base}/thermo-1/twin`, { properties: { reported: { x: 1 } } });
  assert.equal(badTwin.status, 400);
  assert.deepEqual(badTwin.body, {
    error: 'TS_ERR_BAD_REQUEST',
    message: 'invalid body field "properties.reported" = {"x":1}: unknown body field (known: desired; desired is required)',
    parameter: 'properties.reported',
    value: '{"x":1}',
  });

  assert.equal((await request('DELETE', `${base}/thermo-1`)).status, 204);
  assert.deepEqual((await request('GET', base)).body.items.map((d: any) => d.deviceId), ['thermo-2']);
});

test('registry routes answer 400 naming the path parameter or body field, 404 naming the device, 409; lists page (inject)', async (t) => {
  const app = await startServer(t);
  const base = '/api/v1/registry/devices';
  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) => {
    const res = await app.http.inject({ method, url, ...(payload === undefined ? {} : { payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } }) });
    return { status: res.statusCode, body: res.body === '' ? null : res.json() };
  };
  // `value` is the field's text; the message shows what was sent: a string quoted, a number or object as its JSON (sent: 'json').
  const field = (parameter: string, value: string | null, reason: string, sent: 'string' | 'json' = 'string') => ({
    status: 400,
    body: { error: 'TS_ERR_BAD_REQUEST', message: `invalid body field "${parameter}" = ${sent === 'json' ? value : JSON.stringify(value)}: ${reason}`, parameter, value },
  });
  const ID = 'a device id matching [A-Za-z0-9._:-]{1,128}';
  for (const id of ['r-1', 'r-2', 'r-3']) assert.equal((await call('POST', base, { deviceId: id })).status, 201);

  // POST /registry/devices: bodies are not coerced, unknown fields are refused, keys are checked beyond the schema.
  assert.deepEqual(await call('POST', base, [1]), {
    status: 400,
    body: { error: 'TS_ERR_BAD_REQUEST', message: 'invalid request body = [1]: expected a JSON object such as {"deviceId": "thermostat-1"}', parameter: 'body', value: '[1]' },
  });
  // A body that is a number or a string: its JSON as sent, so that 5 and "5" read apart.
  for (const [sent, json] of [[5, '5'], ['5', '"5"']] as const) {
    assert.deepEqual(await call('POST', base, sent), {
      status: 400,
      body: { error: 'TS_ERR_BAD_REQUEST', message: `invalid request body = ${json}: expected a JSON object such as {"deviceId": "thermostat-1"}`, parameter: 'body', value: json },
    }, json);
  }
  assert.deepEqual(await call('POST', base, {}), field('deviceId', null, 'required'));
  assert.deepEqual(await call('POST', base, { deviceId: 5 }), field('deviceId', '5', `expected ${ID}`, 'json'));
  assert.deepEqual(await call('POST', base, { deviceId: 'r-4', colour: 'red' }), field('colour', 'red', 'unknown body field (known: deviceId, status, authentication)'));
  assert.deepEqual(await call('POST', base, { deviceId: 'r-4', status: 'off' }), field('status', 'off', 'expected "enabled" or "disabled"'));
  assert.deepEqual(await call('POST', base, { deviceId: 'r-4', authentication: { type: 'x509' } }), field('authentication.type', 'x509', 'expected "sas"'));
  assert.deepEqual(
    await call('POST', base, { deviceId: 'r-4', authentication: { symmetricKey: { primary: KEY } } }),
    field('authentication.symmetricKey.primary', KEY, 'unknown body field (known: primaryKey, secondaryKey)'),
  );
  // 16 bytes whose base64 is not canonical (the last character carries bits beyond them): the pattern passes it, the key check does not.
  const loose = `${'A'.repeat(21)}B==`;
  assert.deepEqual(
    await call('POST', base, { deviceId: 'r-4', authentication: { symmetricKey: { secondaryKey: loose } } }),
    field('authentication.symmetricKey.secondaryKey', loose, 'expected 16 to 64 bytes in base64'),
  );
  assert.deepEqual(await call('POST', base, { deviceId: 'r-1' }), { status: 409, body: { error: 'TS_ERR_DEVICE_EXISTS', message: 'device "r-1" is already registered' } });
  assert.equal((await call('GET', `${base}/r-4`)).status, 404, 'nothing refused was created');

  // Path and query parameters, as everywhere in the API.
  assert.deepEqual(await call('GET', `${base}/${encodeURIComponent('bad id!')}/twin`), {
    status: 400,
    body: { error: 'TS_ERR_QUERY_PARAM', message: `invalid path parameter "id" = "bad id!": expected ${ID}`, parameter: 'id', value: 'bad id!' },
  });
  assert.deepEqual(await call('GET', `${base}/r-1?verbose=1`), {
    status: 400,
    body: { error: 'TS_ERR_QUERY_PARAM', message: 'invalid query parameter "verbose" = "1": unknown query parameter (known: none)', parameter: 'verbose', value: '1' },
  });
  const notFound = (id: string) => ({ status: 404, body: { error: 'TS_ERR_DEVICE_NOT_FOUND', message: `device "${id}" is not registered`, parameter: 'id', value: id } });
  for (const [method, path, payload] of [
    ['GET', '/nobody', undefined],
    ['PATCH', '/nobody', { status: 'disabled' }],
    ['DELETE', '/nobody', undefined],
    ['GET', '/nobody/twin', undefined],
    ['PATCH', '/nobody/twin', { properties: { desired: { a: 1 } } }],
    ['POST', '/nobody/messages', { payload: 'hi' }],
    ['POST', '/nobody/methods', { methodName: 'reboot' }],
  ] as const) {
    assert.deepEqual(await call(method, `${base}${path}`, payload), notFound('nobody'), `${method} ${path}`);
  }

  // PATCH a device's status.
  assert.deepEqual(await call('PATCH', `${base}/r-1`, {}), field('status', null, 'required'));
  assert.deepEqual(await call('PATCH', `${base}/r-1`, { status: true }), field('status', 'true', 'expected "enabled" or "disabled"', 'json'));

  // PATCH a twin: reported properties belong to the device; what the schema cannot say the twin checks.
  assert.deepEqual(await call('PATCH', `${base}/r-1/twin`, { properties: { desired: { a: 1 }, reported: { b: 2 } } }), field('properties.reported', '{"b":2}', 'unknown body field (known: desired)', 'json'));
  assert.deepEqual(await call('PATCH', `${base}/r-1/twin`, { properties: { desired: [1] } }), field('properties.desired', '[1]', 'expected a JSON object (a merge patch of the desired properties)', 'json'));
  // IoT Hub's twin has tags; ours does not: the field sent is named, not only the one missing.
  assert.deepEqual(await call('PATCH', `${base}/r-1/twin`, { tags: { floor: 2 } }), field('tags', '{"floor":2}', 'unknown body field (known: properties; properties is required)', 'json'));
  assert.deepEqual(await call('PATCH', `${base}/r-1/twin`, {}), field('properties', null, 'required'));
  assert.deepEqual(
    await call('PATCH', `${base}/r-1/twin`, { properties: { desired: { mode: { $x: 1 } } } }),
    field('properties.desired', '{"mode":{"$x":1}}', 'property name "mode.$x" starts with "$", which is reserved', 'json'),
  );
  const big = { text: 'x'.repeat(33 * 1024) };
  assert.deepEqual(
    await call('PATCH', `${base}/r-1/twin`, { properties: { desired: big } }),
    field('properties.desired', `${JSON.stringify(big).slice(0, 64)}…`, 'desired properties would exceed 32768 bytes', 'json'),
  );

  // POST a cloud-to-device message.
  assert.deepEqual(await call('POST', `${base}/r-1/messages`, { properties: {} }), field('payload', null, 'required'));
  assert.deepEqual(await call('POST', `${base}/r-1/messages`, { payload: 1, properties: { kind: 5 } }), field('properties.kind', '5', 'expected a string', 'json'));
  assert.deepEqual(await call('POST', `${base}/r-1/messages`, { payload: 1, messageId: '' }), field('messageId', '', 'expected a string of 1 to 128 bytes'));
  const wide = 'é'.repeat(100); // 100 characters, 200 bytes
  assert.deepEqual(await call('POST', `${base}/r-1/messages`, { payload: 1, messageId: wide }), field('messageId', wide, 'expected a string of 1 to 128 bytes'));
  const huge = 'x'.repeat(65 * 1024);
  assert.deepEqual(await call('POST', `${base}/r-1/messages`, { payload: huge }), field('payload', `${huge.slice(0, 64)}…`, 'message of 66560 bytes exceeds 65536'));

  // POST a direct method: the timeout is an integer, not coerced from a string.
  assert.deepEqual(await call('POST', `${base}/r-1/methods`, { methodName: 'x y' }), field('methodName', 'x y', 'expected a method name matching [A-Za-z0-9_.:*-]{1,128}'));
  assert.deepEqual(await call('POST', `${base}/r-1/methods`, { methodName: 'reboot', responseTimeoutInSeconds: 4 }), field('responseTimeoutInSeconds', '4', 'expected an integer from 5 to 300', 'json'));
  assert.deepEqual(await call('POST', `${base}/r-1/methods`, { methodName: 'reboot', responseTimeoutInSeconds: '10' }), field('responseTimeoutInSeconds', '10', 'expected an integer from 5 to 300'));
  assert.deepEqual(await call('POST', `${base}/r-1/methods`, { methodName: 'reboot', timeoutInSeconds: 5 }), field('timeoutInSeconds', '5', 'unknown body field (known: methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds)', 'json'));
  assert.deepEqual(await call('POST', `${base}/r-1/methods`, { methodName: 'reboot', connectTimeoutInSeconds: -1 }), field('connectTimeoutInSeconds', '-1', 'expected an integer from 0 to 300', 'json'));
  assert.deepEqual(await call('POST', `${base}/r-1/methods`, { methodName: 'reboot' }), {
    status: 404,
    body: { error: 'TS_ERR_DEVICE_NOT_CONNECTED', message: 'device "r-1" is not connected or does not listen for direct methods', parameter: 'id', value: 'r-1' },
  });

  // The list pages by deviceId.
  const first = await call('GET', `${base}?limit=2`);
  assert.deepEqual([first.status, first.body.items.map((d: any) => d.deviceId), first.body.next], [200, ['r-1', 'r-2'], Buffer.from('"r-2"').toString('base64url')]);
  const second = await call('GET', `${base}?limit=2&cursor=${first.body.next}`);
  assert.deepEqual([second.body.items.map((d: any) => d.deviceId), second.body.next], [['r-3'], null]);
  assert.deepEqual(second.body.items[0], (await call('GET', `${base}/r-3`)).body);
  assert.deepEqual(await call('GET', `${base}?limit=0`), {
    status: 400,
    body: { error: 'TS_ERR_QUERY_PARAM', message: 'invalid query parameter "limit" = "0": expected an integer from 1 to 10000', parameter: 'limit', value: '0' },
  });
  assert.deepEqual(await call('GET', `${base}?cursor=bm9wZQ`), {
    status: 400,
    body: { error: 'TS_ERR_QUERY_PARAM', message: 'invalid query parameter "cursor" = "bm9wZQ": expected the `next` value of a previous page of this route', parameter: 'cursor', value: 'bm9wZQ' },
  });
});

test('registry request bodies fastify cannot read answer in the API\'s shape, naming the body or its Content-Type (inject)', async (t) => {
  const app = await startServer(t);
  const base = '/api/v1/registry/devices';
  const call = async (method: 'POST' | 'DELETE', url: string, payload: string | undefined, headers: Record<string, string>) => {
    const res = await app.http.inject({ method, url, payload, headers });
    return { status: res.statusCode, body: res.body === '' ? null : res.json() };
  };
  const JSON_TYPE = { 'content-type': 'application/json' };
  assert.deepEqual(await call('POST', base, '{"deviceId": "r-1"', JSON_TYPE), {
    status: 400,
    body: {
      error: 'TS_ERR_BAD_REQUEST',
      message: 'invalid request body = "{\\"deviceId\\": \\"r-1\\"": not valid JSON (Expected \',\' or \'}\' after property value in JSON at position 18)',
      parameter: 'body',
      value: '{"deviceId": "r-1"',
    },
  });
  assert.deepEqual(await call('POST', base, '', JSON_TYPE), {
    status: 400,
    body: { error: 'TS_ERR_BAD_REQUEST', message: 'invalid request body = "": empty, expected JSON (Content-Type is application/json)', parameter: 'body', value: '' },
  });
  assert.deepEqual(await call('POST', base, '{"deviceId": "r-1"}', { 'content-type': 'text/plain' }), {
    status: 415,
    body: { error: 'TS_ERR_BAD_REQUEST', message: 'invalid header "content-type" = "text/plain": expected application/json', parameter: 'content-type', value: 'text/plain' },
  });
  assert.deepEqual(await call('POST', base, '{"deviceId": "r-1"}', {}), {
    status: 415,
    body: {
      error: 'TS_ERR_BAD_REQUEST',
      message: 'invalid header "content-type" = null: required with a request body, expected application/json',
      parameter: 'content-type',
      value: null,
    },
  });
  // A route that takes no body takes the header without one (Livy's and IoT Hub's clients send it on every request).
  assert.equal((await call('POST', base, '{"deviceId": "r-1"}', JSON_TYPE)).status, 201);
  assert.deepEqual(await call('DELETE', `${base}/r-1`, undefined, JSON_TYPE), { status: 204, body: null });
});

test('twin documents change by JSON merge patch: null deletes, objects merge', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { a: null, b: { c: null, x: { y: 1 } }, e: [2], f: 'new' }), {
    b: { d: 3, x: { y: 1 } },
    e: [2],
    f: 'new',
  });
});

test('a twin patch nested deeper than 10 levels is refused naming the path where it goes too deep; IoT Hub\'s deepest valid example is taken', () => {
  // IoT Hub's device twin guide, "Tags and properties format": this object of 10 levels is valid.
  const names = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
  const nest = (keys: string[], leaf: unknown): Record<string, unknown> => keys.reduceRight<any>((inner, key) => ({ [key]: inner }), leaf);
  assert.equal(patchProblem(nest(names, { property: 'value' })), null);
  assert.equal(patchProblem(nest([...names, 'eleven'], { property: 'value' })), 'twin properties nest deeper than 10 levels at "one.two.three.four.five.six.seven.eight.nine.ten.eleven"');
  // A value that is not an object adds no level.
  assert.equal(patchProblem(nest([...names, 'eleven'], 'value')), null);
});

test('devices CLI: add, list, show, disable, enable, delete against the data dir; usage errors exit 2, refusals 1', (t) => {
  const dir = tempDir(t);
  const run = (...args: string[]) => runDevicesCli([...args, '--data-dir', dir], {});
  const added = run('add', 'cli-1', '--key', KEY);
  assert.deepEqual(added, { code: 0, out: `added cli-1 (enabled)\nHostName=localhost;DeviceId=cli-1;SharedAccessKey=${KEY}`, err: '' });
  assert.equal(run('add', 'cli-2', '--host-name', 'hub.example.com').out.split('\n')[1].startsWith('HostName=hub.example.com;DeviceId=cli-2;'), true);
  // A server on another TLS port: the same flag as the server's names it in the HostName the SDK dials.
  assert.match(run('show', 'cli-2', '--mqtts-port', '18384').out, /"connectionString": "HostName=localhost:18384;DeviceId=cli-2;/);
  // A server without a TLS listener: the string is printed, with a warning that SDK devices cannot dial it.
  const noTls = run('list', '--mqtts-port', '-1');
  assert.equal(noTls.code, 0);
  assert.match(noTls.err, /^devices: warning: mqtt\.tlsPort is -1 \(no TLS listener\), so nothing listens where HostName=localhost points \(port 8883\)/);
  assert.equal(run('list', '--mqtts-port', '-1', '--host-name', 'tls.example.com:8884').err, '');
  assert.deepEqual(run('add', 'cli-1'), { code: 1, out: '', err: 'devices: device "cli-1" is already registered [TS_ERR_DEVICE_EXISTS]' });
  // A bad key is named by the option it came in.
  assert.deepEqual(run('add', 'cli-5', '--key', 'short'), {
    code: 1, out: '', err: 'devices: --key must be 16 to 64 bytes in base64 (`openssl rand -base64 32` makes one), got "short" [TS_ERR_BAD_REQUEST]',
  });
  assert.match(run('add', 'cli-5', '--secondary-key', 'x'.repeat(30)).err, /^devices: --secondary-key must be 16 to 64 bytes in base64 .*, got "x{20}"…/);
  assert.deepEqual(run('disable', 'cli-1'), { code: 0, out: 'cli-1 disabled', err: '' });
  const listed = run('list').out.split('\n');
  assert.deepEqual(listed.map((l) => l.split('\t').slice(0, 2)), [['deviceId', 'status'], ['cli-1', 'disabled'], ['cli-2', 'enabled']]);
  assert.equal(JSON.parse(run('show', 'cli-1').out).authentication.symmetricKey.primaryKey, KEY);
  assert.deepEqual(run('enable', 'cli-1'), { code: 0, out: 'cli-1 enabled', err: '' });
  assert.deepEqual(run('delete', 'cli-1'), { code: 0, out: 'deleted cli-1', err: '' });
  assert.deepEqual(run('show', 'cli-1'), { code: 1, out: '', err: 'devices: device "cli-1" is not registered [TS_ERR_DEVICE_NOT_FOUND]' });
  assert.equal(run('frobnicate').code, 2);
  assert.equal(run('show').code, 2);
  assert.equal(run('add', 'x', '--colour', 'red').code, 2);
  // A command's own option given to another did nothing (show printed the device, disable disabled it): refused.
  assert.deepEqual(run('show', 'cli-2', '--key', KEY), { code: 2, out: '', err: 'devices: --key is an option of add, not of show (see --help)' });
  assert.deepEqual(run('enable', 'cli-2', '--secondary-key', KEY), { code: 2, out: '', err: 'devices: --secondary-key is an option of add, not of enable (see --help)' });
  assert.deepEqual(run('list', '--disabled'), { code: 2, out: '', err: 'devices: --disabled is an option of add, not of list (see --help)' });
  assert.deepEqual(run('add', 'cli-9', '--duration', '60'), { code: 2, out: '', err: 'devices: --duration is an option of token, not of add (see --help)' });
  assert.match(runDevicesCli(['--help'], {}).out, /^Usage: npm run devices -- <command>/);

  // Connection strings a device can use: a HostName that is a host name, a TLS port that is the real one.
  const notHost = (value: string) =>
    `devices: invalid --host-name ${JSON.stringify(value)} for connection strings: not a host name: a DNS name or IP address, optionally :port (e.g. myhub.azure-devices.net or localhost:8884) [TS_ERR_CLI_ARG]`;
  assert.deepEqual(run('add', 'cli-3', '--host-name', ''), { code: 2, out: '', err: notHost('') });
  assert.deepEqual(run('add', 'cli-3', '--host-name', 'a;b=c'), { code: 2, out: '', err: notHost('a;b=c') });
  assert.deepEqual(run('list', '--host-name', 'hub.example.com:0'), {
    code: 2,
    out: '',
    err: 'devices: invalid --host-name "hub.example.com:0" for connection strings: port 0 is not from 1 to 65535 [TS_ERR_CLI_ARG]',
  });
  assert.deepEqual(run('add', 'cli-3', '--mqtts-port', '0'), {
    code: 2,
    out: '',
    err:
      'devices: --mqtts-port 0 cannot go into a connection string: a server given 0 listens on any free port, and a device must dial the real one; ' +
      'give the port the server printed ("MQTT TLS mqtts://…:PORT") with --mqtts-port, or --host-name host:port [TS_ERR_CLI_ARG]',
  });
  assert.deepEqual(run('add', 'cli-3', '--host-name', '--key', KEY), {
    code: 2,
    out: '',
    err: 'devices: option --host-name needs a value, got the option "--key" (to give a value that looks like an option, write --host-name=VALUE)',
  });
  assert.equal(run('show', 'cli-3').code, 1, 'no refused add registered the device');
  assert.match(run('show', 'cli-2', '--host-name=[::1]:18384').out, /"connectionString": "HostName=\[::1\]:18384;DeviceId=cli-2;/);
  // Commands other than add on a data dir without a registry (a typo) name it and create nothing.
  const typo = join(dir, 'typo');
  const noRegistry = {
    code: 1,
    out: '',
    err: `devices: no device registry in data dir ${JSON.stringify(typo)} (no ${join(typo, 'registry.db')}; the server creates it when it starts, and so does add): check --data-dir [TS_ERR_NO_REGISTRY]`,
  };
  assert.deepEqual(runDevicesCli(['list', '--data-dir', typo], {}), noRegistry);
  assert.deepEqual(runDevicesCli(['show', 'cli-2', '--data-dir', typo], {}), noRegistry);
  assert.deepEqual(runDevicesCli(['disable', 'cli-2', '--data-dir', typo], {}), noRegistry);
  assert.equal(existsSync(typo), false);
  // A data dir whose name starts with "--" is given with "=", and reaches the server's parser as one argument.
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    assert.deepEqual(runDevicesCli(['add', 'cli-4', '--data-dir=--dashed', '--key', KEY], {}).err, '');
  } finally {
    process.chdir(cwd);
  }
  assert.equal(existsSync(join(dir, '--dashed', 'registry.db')), true);
  // A data dir add cannot make (a file in its place) is refused (1), naming it as the server does, not as a usage
  // error (2); a bad --config value is a usage error with its code, as the server says it.
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const refused = runDevicesCli(['add', 'cli-4', '--data-dir', file], {});
  assert.deepEqual({ ...refused, err: refused.err.replace(/: EEXIST: .*\. Make/, ': EEXIST …. Make') }, {
    code: 1,
    out: '',
    err: `devices: cannot use the data dir ${file} (dataDir, --data-dir): EEXIST …. Make it a directory this user can write, or give another with --data-dir [TS_ERR_DATA_DIR]`,
  });
  const badConfig = join(dir, 'bad-config.json');
  writeFileSync(badConfig, JSON.stringify({ mqtt: { tlsPort: 'x' } }));
  assert.deepEqual(runDevicesCli(['list', '--config', badConfig, '--data-dir', dir], {}), {
    code: 2,
    out: '',
    err: `devices: invalid configuration: mqtt.tlsPort = "x" (from ${badConfig}): must be integer [TS_ERR_CONFIG_INVALID]`,
  });

  // The npm script runs the same CLI.
  const viaNpm = spawnSync('npm', ['run', '-s', 'devices', '--', 'list', '--data-dir', dir], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(viaNpm.status, 0, viaNpm.stderr);
  assert.match(viaNpm.stdout, /^deviceId\tstatus\tconnectionString\ncli-2\tenabled\tHostName=localhost;DeviceId=cli-2;/);
});

test('devices CLI reads only the settings it uses: a bad THERMOSTREAM_HTTP_PORT or http.port is the server\'s to refuse, not its own', (t) => {
  const dir = tempDir(t);
  const env = { THERMOSTREAM_HTTP_PORT: 'abc', THERMOSTREAM_MQTT_PORT: '-7', THERMOSTREAM_MQTTS_PORT: '8884' };
  const added = runDevicesCli(['add', 'env-1', '--data-dir', dir, '--key', KEY], env);
  assert.deepEqual(added, { code: 0, out: `added env-1 (enabled)\nHostName=localhost:8884;DeviceId=env-1;SharedAccessKey=${KEY}`, err: '' });
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ http: { port: 'x' }, iothub: { hostName: 'hub.example:8885' }, dataDir: dir }));
  assert.deepEqual(runDevicesCli(['list', '--config', configFile], {}), {
    code: 0,
    out: `deviceId\tstatus\tconnectionString\nenv-1\tenabled\tHostName=hub.example:8885;DeviceId=env-1;SharedAccessKey=${KEY}`,
    err: '',
  });
  // A bad value of a setting it uses is still refused, naming it; the server refuses the HTTP port it does not use.
  assert.deepEqual(runDevicesCli(['list', '--data-dir', dir], { ...env, THERMOSTREAM_MQTTS_PORT: '99999' }), {
    code: 2,
    out: '',
    err: 'devices: invalid configuration: mqtt.tlsPort = 99999 (from env THERMOSTREAM_MQTTS_PORT): must be <= 65535 [TS_ERR_CONFIG_INVALID]',
  });
  assert.throws(() => parseCli([], { THERMOSTREAM_HTTP_PORT: 'abc' }), {
    code: 'TS_ERR_CONFIG_INVALID',
    message: 'invalid configuration: http.port = "abc" (from env THERMOSTREAM_HTTP_PORT): must be integer',
  });
});

test('iothub.hostName must be a host name a device can dial (or empty): the server refuses one that would break its connection strings', () => {
  const refused = (hostName: string, why: string) =>
    assert.throws(() => resolveConfig({ iothub: { hostName } }), {
      code: 'TS_ERR_CONFIG_INVALID',
      message: `invalid configuration: iothub.hostName = ${JSON.stringify(hostName)}: ${why}`,
    });
  const notAHost = 'not a host name: a DNS name or IP address, optionally :port (e.g. myhub.azure-devices.net or localhost:8884)';
  refused('hub;SharedAccessKey=x', notAHost);
  refused('my hub', notAHost);
  refused('localhost:0', 'port 0 is not from 1 to 65535');
  for (const ok of ['', 'myhub.azure-devices.net', 'localhost:8884', '127.0.0.1']) assert.equal(resolveConfig({ iothub: { hostName: ok } }).iothub.hostName, ok);
});

test('a damaged registry.db is refused with TS_ERR_DB_CORRUPT naming it, by the server and by the devices CLI, and left as it was', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'registry.db');
  writeFileSync(file, 'this is not an SQLite database, but it is long enough to have a header of one. '.repeat(4));
  const damaged = new RegExp(
    `^the device registry ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is damaged \\(SQLITE_NOTADB: file is not a database\\)\\. Nothing was changed\\. .*sqlite3 .*registry\\.db\\.damaged \\.recover`,
  );
  await assert.rejects(startServer(t, { dataDir: dir }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'TS_ERR_DB_CORRUPT');
    assert.match(err.message, damaged);
    return true;
  });
  const cli = runDevicesCli(['list', '--data-dir', dir], {});
  assert.equal(cli.code, 1);
  assert.match(cli.err.replace(/^devices: /, ''), damaged);
  assert.match(cli.err, / \[TS_ERR_DB_CORRUPT\]$/);
  assert.equal(readFileSync(file, 'utf8').startsWith('this is not an SQLite database'), true);
});

test("devices' persistent sessions: kept in memory at once, written together shortly after (and at close); unregistered devices keep none", async (t) => {
  const dir = tempDir(t);
  const { createRegistry } = await import('../server/registry/index.ts');
  const { systemClock } = await import('../server/clock.ts');
  const stored = () => {
    const r = createRegistry(dir, { clock: systemClock });
    try {
      return { d: r.sessionSubscriptions('d'), ghost: r.sessionSubscriptions('ghost') };
    } finally {
      r.close();
    }
  };
  const r = createRegistry(dir, { clock: systemClock });
  r.create('d', {});
  r.addSessionSubscriptions('d', [{ topic: 'twin/#', qos: 1 }, { topic: 'methods/#', qos: 0 }]);
  r.addSessionSubscriptions('ghost', [{ topic: 'x', qos: 1 }]);
  assert.deepEqual(r.sessionSubscriptions('d'), [{ topic: 'methods/#', qos: 0 }, { topic: 'twin/#', qos: 1 }]);
  assert.deepEqual(stored().d, [], 'not written yet');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(stored(), { d: [{ topic: 'methods/#', qos: 0 }, { topic: 'twin/#', qos: 1 }], ghost: [] });
  r.removeSessionSubscriptions('d', ['methods/#']);
  r.close(); // writes what waits
  assert.deepEqual(stored().d, [{ topic: 'twin/#', qos: 1 }]);
});

test("devices CLI: connection strings name the TLS port the server on the data dir listens on, without --mqtts-port given again", async (t) => {
  const dataDir = tempDir(t);
  // Started with its own flag (a free port: 0), which the CLI is not given: the server records what it listens on.
  const app = await startServer(t, { dataDir, mqtt: { port: 0, tlsPort: 0 } });
  const port = Number(new URL(app.mqttsUrl!).port);
  const run = (...args: string[]) => runDevicesCli([...args, '--data-dir', dataDir], {});
  const added = run('add', 'port-1', '--key', KEY);
  assert.deepEqual(added, { code: 0, out: `added port-1 (enabled)\nHostName=localhost:${port};DeviceId=port-1;SharedAccessKey=${KEY}`, err: '' });
  assert.equal(JSON.parse(run('show', 'port-1').out).connectionString, `HostName=localhost:${port};DeviceId=port-1;SharedAccessKey=${KEY}`);
  assert.equal(run('list').out.split('\n')[1], `port-1\tenabled\tHostName=localhost:${port};DeviceId=port-1;SharedAccessKey=${KEY}`);
  // The same HostName as the server's own registry API gives.
  const api = await request('GET', `${app.httpUrl}/api/v1/registry/devices/port-1`);
  assert.equal(api.body.connectionString, `HostName=localhost:${port};DeviceId=port-1;SharedAccessKey=${KEY}`);
  // Given, --mqtts-port and --host-name still win.
  assert.match(run('show', 'port-1', '--mqtts-port', '18384').out, /"connectionString": "HostName=localhost:18384;DeviceId=port-1;/);
  assert.match(run('show', 'port-1', '--host-name', 'hub.example.com').out, /"connectionString": "HostName=hub.example.com;DeviceId=port-1;/);
  await app.close();

  // A server without a TLS listener on that data dir: the string is printed with the warning of --mqtts-port -1.
  const plain = await startServer(t, { dataDir, mqtt: { port: 0, tlsPort: -1 } });
  const noTls = run('show', 'port-1');
  assert.equal(JSON.parse(noTls.out).connectionString, `HostName=localhost;DeviceId=port-1;SharedAccessKey=${KEY}`);
  assert.match(noTls.err, /^devices: warning: the server on this data dir has no TLS listener \(mqtt\.tlsPort -1\), so nothing listens where HostName=localhost points \(port 8883\)/);
  await plain.close();

  // A record that is not one is named and left aside: the configured port is used.
  writeFileSync(join(dataDir, 'endpoint.json'), 'garbage');
  const bad = run('show', 'port-1');
  assert.equal(JSON.parse(bad.out).connectionString, `HostName=localhost;DeviceId=port-1;SharedAccessKey=${KEY}`);
  assert.match(bad.err, /^devices: warning: .*endpoint\.json is not valid JSON: .*: ignored \(the server writes it again at its next start\)$/);

  // --mqtts-port given overrides the recorded port alone: the recorded iothub.hostName stays (review).
  writeFileSync(join(dataDir, 'endpoint.json'), JSON.stringify({ iothubHostName: 'hub.example.com', mqttsPort: 8883 }));
  assert.equal(JSON.parse(run('show', 'port-1').out).connectionString, `HostName=hub.example.com;DeviceId=port-1;SharedAccessKey=${KEY}`);
  assert.equal(JSON.parse(run('show', 'port-1', '--mqtts-port', '18384').out).connectionString, `HostName=hub.example.com;DeviceId=port-1;SharedAccessKey=${KEY}`);
});

test("a server that cannot write the devices CLI's endpoint.json starts all the same, with a warning, and leaves no stale record", async (t) => {
  const dataDir = tempDir(t);
  writeFileSync(join(dataDir, 'endpoint.json'), JSON.stringify({ iothubHostName: 'old.example.com', mqttsPort: 18999 }));
  mkdirSync(join(dataDir, 'endpoint.json.tmp')); // the write's temp file cannot be made (as a root-owned leftover)
  const app = await startServer(t, { dataDir, mqtt: { port: 0, tlsPort: -1 } });
  assert.equal(app.warnings.length, 1);
  assert.match(app.warnings[0], /^cannot record this server's HostName for the devices CLI \(EISDIR: .*\): give the CLI --mqtts-port or --host-name$/);
  assert.equal(existsSync(join(dataDir, 'endpoint.json')), false);
});

test('registry.db holds device keys: it and its -wal and -shm files are readable by their owner only (0600), whatever the umask; an older 0644 one is tightened', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'registry.db');
  const old = process.umask(0o022);
  t.after(() => process.umask(old));
  const modes = () => [file, `${file}-wal`, `${file}-shm`].filter(existsSync).map((f) => [f.slice(dir.length + 1), (statSync(f).mode & 0o777).toString(8)]);

  const add = runDevicesCli(['add', 'thermo-1', '--data-dir', dir], {});
  assert.equal(add.code, 0, add.err);
  assert.deepEqual(modes(), [['registry.db', '600']]);
  const registry = createRegistry(dir, { clock: systemClock });
  registry.create('thermo-2', {});
  assert.deepEqual(modes(), [['registry.db', '600'], ['registry.db-wal', '600'], ['registry.db-shm', '600']]);
  registry.close();

  chmodSync(file, 0o644);
  const list = runDevicesCli(['list', '--data-dir', dir], {});
  assert.equal(list.code, 0, list.err);
  assert.deepEqual(modes(), [['registry.db', '600']]);
});
