import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runDevicesCli } from '../server/registry/cli.ts';
import { mergePatch } from '../server/registry/twin.ts';
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
  assert.deepEqual(unknown, { status: 404, body: { error: 'TS_ERR_DEVICE_NOT_FOUND', message: 'device "nobody" is not registered' } });
  for (const path of ['/nobody/twin', '/nobody']) assert.equal((await request(path.endsWith('twin') ? 'GET' : 'DELETE', `${base}${path}`)).status, 404);
  const badId = await request('POST', base, { deviceId: 'bad id!' });
  assert.deepEqual(badId, { status: 400, body: { error: 'TS_ERR_BAD_REQUEST', message: 'deviceId "bad id!" must match ^[A-Za-z0-9._:-]{1,128}$' } });
  assert.equal((await request('GET', `${base}/${encodeURIComponent('bad id!')}`)).status, 400);
  const badKey = await request('POST', base, { deviceId: 'k', authentication: { symmetricKey: { primaryKey: 'short' } } });
  assert.equal(badKey.status, 400);
  assert.match(badKey.body.message, /primaryKey must be 16 to 64 bytes in base64/);
  const badStatus = await request('PATCH', `${base}/thermo-1`, { status: 'off' });
  assert.equal(badStatus.status, 400);
  const badTwin = await request('PATCH', `${base}/thermo-1/twin`, { properties: { reported: { x: 1 } } });
  assert.equal(badTwin.status, 400);
  assert.match(badTwin.body.message, /properties.*desired/);

  assert.equal((await request('DELETE', `${base}/thermo-1`)).status, 204);
  assert.deepEqual((await request('GET', base)).body.items.map((d: any) => d.deviceId), ['thermo-2']);
});

test('twin documents change by JSON merge patch: null deletes, objects merge', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { a: null, b: { c: null, x: { y: 1 } }, e: [2], f: 'new' }), {
    b: { d: 3, x: { y: 1 } },
    e: [2],
    f: 'new',
  });
});

test('devices CLI: add, list, show, disable, enable, delete against the data dir; usage errors exit 2, refusals 1', (t) => {
  const dir = tempDir(t);
  const run = (...args: string[]) => runDevicesCli([...args, '--data-dir', dir], {});
  const added = run('add', 'cli-1', '--key', KEY);
  assert.deepEqual(added, { code: 0, out: `added cli-1 (enabled)\nHostName=localhost;DeviceId=cli-1;SharedAccessKey=${KEY}`, err: '' });
  assert.equal(run('add', 'cli-2', '--host-name', 'hub.example.com').out.split('\n')[1].startsWith('HostName=hub.example.com;DeviceId=cli-2;'), true);
  assert.deepEqual(run('add', 'cli-1'), { code: 1, out: '', err: 'devices: device "cli-1" is already registered [TS_ERR_DEVICE_EXISTS]' });
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
  assert.match(runDevicesCli(['--help'], {}).out, /^Usage: npm run devices -- <command>/);

  // The npm script runs the same CLI.
  const viaNpm = spawnSync('npm', ['run', '-s', 'devices', '--', 'list', '--data-dir', dir], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(viaNpm.status, 0, viaNpm.stderr);
  assert.match(viaNpm.stdout, /^deviceId\tstatus\tconnectionString\ncli-2\tenabled\tHostName=localhost;DeviceId=cli-2;/);
});
