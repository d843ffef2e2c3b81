/**
 * --replay of real systems' exports, each in the exact form the system writes, replayed into a real server (real MQTT)
 * and read back over HTTP: Azure IoT Hub's message routing to storage (JSON), ThingSpeak's channel CSV, a public
 * dataset's day-first times, and the Intel Berkeley lab's headerless data.txt.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { getJson, startServer, tempDir, waitFor } from './helpers.ts';
import { runSimulator as simulate } from './simulator-helpers.ts';

type Served = [ts: string, temperature: number, humidity: number | null];

/**
 * A server whose raw readings cover the times `at(i)`: 500 ms apart from 2 s ago (raw readings are served from the
 * server's start on, so they lie between it and now), and what it serves of a device from a second before the first
 * of them (a time of whole seconds is up to a second earlier).
 */
async function liveServer(t: TestContext) {
  const app = await startServer(t);
  await new Promise((r) => setTimeout(r, 3500));
  const base = Date.now() - 2000;
  const at = (i: number) => base + i * 500;
  const served = async (id: string): Promise<Served[]> => {
    const url = `${app.httpUrl}/api/v1/readings?deviceId=${id}&from=${new Date(base - 1000).toISOString()}&to=${new Date(base + 5000).toISOString()}`;
    return ((await getJson(url)).body.items as { ts: string; temperature: number; humidity: number | null }[]).map((p) => [p.ts, p.temperature, p.humidity]);
  };
  const processed = (n: number) => waitFor('the recording processed', async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body.records === n);
  return { app, at, iso: (i: number) => new Date(at(i)).toISOString(), served, processed };
}

test('--replay of Azure IoT Hub message routing to storage (JSON encoding): --fields reads dotted paths into SystemProperties and Body, a base64 Body holding JSON included; .NET\'s 7 fraction digits are taken', { timeout: 60_000 }, async (t) => {
  const { app, iso, served, processed } = await liveServer(t);
  const dotnet = (i: number) => `${iso(i).slice(0, 23)}0000Z`; // 2024-03-01T10:00:00.1230000Z, as .NET writes it
  const system = (device: string, i: number, json: boolean) => ({
    connectionDeviceId: device,
    connectionAuthMethod: '{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}',
    connectionDeviceGenerationId: '638449123456789012',
    ...(json ? { contentType: 'application/json', contentEncoding: 'utf-8' } : {}),
    enqueuedTime: dotnet(i),
  });
  // Routing writes Body as the JSON itself when the device set contentType application/json and contentEncoding
  // utf-8, and as base64 of its bytes otherwise.
  const line = (device: string, i: number, body: object, json: boolean) =>
    JSON.stringify({ EnqueuedTimeUtc: dotnet(i), Properties: {}, SystemProperties: system(device, i, json), Body: json ? body : Buffer.from(JSON.stringify(body)).toString('base64') });
  const file = join(tempDir(t), '00.json');
  writeFileSync(file, [
    line('thermo-1', 0, { temperature: 21.5, humidity: 40 }, true),
    line('thermo-2', 1, { temperature: 19.25, humidity: 55.5 }, false),
    line('thermo-1', 2, { temperature: 21.75 }, false),
  ].join('\r\n') + '\r\n');
  const fields = 'deviceId=SystemProperties.connectionDeviceId,ts=EnqueuedTimeUtc,temperature=Body.temperature,humidity=Body.humidity';
  const run = await simulate(['--replay', file, '--fields', fields, '--url', app.mqttUrl, '--json', '--quiet']);
  assert.deepEqual([run.code, run.stderr], [0, '']);
  assert.equal(JSON.parse(run.stdout).acknowledged, 3);
  await processed(3);
  assert.deepEqual(await served('thermo-1'), [[iso(0), 21.5, 40], [iso(2), 21.75, null]]);
  assert.deepEqual(await served('thermo-2'), [[iso(1), 19.25, 55.5]]);

  // Without --fields: refused, naming IoT Hub's mapping.
  const bare = await simulate(['--replay', file, '--url', app.mqttUrl, '--quiet']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /--fields deviceId=SystemProperties\.connectionDeviceId,ts=EnqueuedTimeUtc,temperature=Body\.temperature/);
  // A path none of the records has is refused as a key is.
  const wrong = await simulate(['--replay', file, '--fields', 'deviceId=SystemProperties.connectionDeviceId,temperature=Body.temp', '--url', app.mqttUrl, '--quiet']);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /--fields maps temperature to the key "Body\.temp", which none of its records has/);
});

test('--replay of a ThingSpeak channel\'s CSV export: its times written 2024-03-01 10:00:00 UTC (older exports) and 2024-03-01T10:00:00+00:00 are read as the times they are', { timeout: 60_000 }, async (t) => {
  const { app, iso, served, processed } = await liveServer(t);
  const dir = tempDir(t);
  const mysql = (i: number) => `${iso(i).slice(0, 10)} ${iso(i).slice(11, 19)} UTC`; // whole seconds, as ThingSpeak keeps them
  const offset = (i: number) => `${iso(i).slice(0, 19)}+00:00`;
  const whole = (i: number) => `${iso(i).slice(0, 19)}.000Z`;
  const older = join(dir, 'feeds.csv');
  writeFileSync(older, `created_at,entry_id,field1,field2\n${mysql(0)},1,21.5,40\n${mysql(2)},2,21.75,\n`);
  const newer = join(dir, 'feeds-new.csv');
  writeFileSync(newer, `created_at,entry_id,field1,field2\n${offset(1)},7,19.25,55.5\n${offset(3)},8,19.5,56\n`);
  const fields = 'ts=created_at,seq=entry_id,temperature=field1,humidity=field2';
  for (const [file, device] of [[older, 'channel-1'], [newer, 'channel-2']]) {
    const run = await simulate(['--replay', file, '--device', device, '--fields', fields, '--url', app.mqttUrl, '--json', '--quiet']);
    assert.deepEqual([run.code, run.stderr], [0, '']);
  }
  await processed(4);
  assert.deepEqual(await served('channel-1'), [[whole(0), 21.5, 40], [whole(2), 21.75, null]]);
  assert.deepEqual(await served('channel-2'), [[whole(1), 19.25, 55.5], [whole(3), 19.5, 56]]);
});
