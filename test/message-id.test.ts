import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { resolveConfig } from '../server/config.ts';
import { startThermostream, type Thermostream } from '../server/main.ts';
import { connect, getJson, tempDir, waitFor, waitForRecords } from './helpers.ts';
import { ServerProcess } from './server-process.ts';

const WINDOW = { lengthMs: 60_000, slideMs: 60_000 };

async function start(dataDir: string): Promise<Thermostream> {
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir, batchIntervalMs: 100, windows: [WINDOW] });
  return startThermostream(config);
}

async function windowCount(app: Thermostream, deviceId: string, ts: number): Promise<number | undefined> {
  const from = ts - (ts % WINDOW.slideMs);
  const q = `deviceId=${deviceId}&length=${WINDOW.lengthMs}&from=${from}&to=${from + 1}`;
  const { body } = await getJson(`${app.httpUrl}/api/v1/windows?${q}`);
  return body.items[0]?.count;
}

test('a reading resent with the same messageId (plain topic, no seq) counts once, also across a restart', async (t) => {
  const dataDir = tempDir(t);
  const ts = Date.now() - 1000;
  const payload = (messageId: string, temperature: number) => JSON.stringify({ ts, temperature, messageId });

  let app = await start(dataDir);
  let client = await connect(t, app.mqttUrl);
  await client.publishAsync('devices/mid-1/telemetry', payload('a', 20), { qos: 1 });
  await client.publishAsync('devices/mid-1/telemetry', payload('a', 20), { qos: 1 }); // the resend
  await client.publishAsync('devices/mid-1/telemetry', payload('b', 22), { qos: 1 });
  await client.publishAsync('devices/mid-2/telemetry', payload('a', 30), { qos: 1 }); // another device, same id
  await waitForRecords(app, 3);
  let stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.deepEqual([stats.accepted, stats.records, stats.duplicates], [4, 3, 1]);
  assert.deepEqual([await windowCount(app, 'mid-1', ts), await windowCount(app, 'mid-2', ts)], [2, 1]);
  await client.endAsync();
  await app.close();

  // After a restart the dedupe state comes back from the checkpoint: the same message sent again is still a resend.
  app = await start(dataDir);
  t.after(() => app.close());
  client = await connect(t, app.mqttUrl);
  await client.publishAsync('devices/mid-1/telemetry', payload('b', 22), { qos: 1 });
  await client.publishAsync('devices/mid-1/telemetry', payload('c', 24), { qos: 1 });
  await waitForRecords(app, 1);
  stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.deepEqual([stats.accepted, stats.records, stats.duplicates], [2, 1, 1]);
  assert.equal(await windowCount(app, 'mid-1', ts), 3, 'a, b and c: each once');
});

test('long message ids: an array under a $.mid of 255 bytes counts every element, a resend none; ids alike in their first 255 bytes are two', async (t) => {
  const app = await start(tempDir(t));
  t.after(() => app.close());
  const client = await connect(t, app.mqttUrl);
  const ts = Date.now() - 1000;
  // IoT Hub takes a $.mid of up to 255 bytes; element i of an array is {mid}[i], which no longer fits the log's 255.
  const mid = 'm'.repeat(255);
  const array = JSON.stringify([20, 21, 22].map((temperature) => ({ ts, temperature })));
  await client.publishAsync(`devices/long-1/messages/events/%24.mid=${mid}`, array, { qos: 1 });
  await client.publishAsync(`devices/long-1/messages/events/%24.mid=${mid}`, array, { qos: 1 }); // the resend
  // Payload ids of 100 three-byte characters (300 bytes) that differ only in their last one.
  const id = (last: string) => `${'温'.repeat(99)}${last}`;
  await client.publishAsync('devices/long-2/telemetry', JSON.stringify({ ts, temperature: 20, messageId: id('一') }), { qos: 1 });
  await client.publishAsync('devices/long-2/telemetry', JSON.stringify({ ts, temperature: 21, messageId: id('二') }), { qos: 1 });
  await client.publishAsync('devices/long-2/telemetry', JSON.stringify({ ts, temperature: 21, messageId: id('二') }), { qos: 1 }); // the resend
  await waitForRecords(app, 5);
  const stats = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
  assert.deepEqual([stats.accepted, stats.records, stats.duplicates], [9, 5, 4]);
  assert.deepEqual([await windowCount(app, 'long-1', ts), await windowCount(app, 'long-2', ts)], [3, 2]);
});

test('a reading acknowledged but not yet committed when the server is killed (SIGKILL), resent with its messageId, counts once', async (t) => {
  const dataDir = tempDir(t);
  const ts = Date.now() - 1000;
  const payload = JSON.stringify({ ts, temperature: 20, messageId: 'crash-1' });
  // A batch interval of a minute: the PUBACK (durable in the log) comes long before the batch that would commit it.
  const first = await ServerProcess.create(dataDir, { windows: [WINDOW], batchIntervalMs: 60_000 });
  await first.start();
  t.after(() => first.kill());
  const client = await mqtt.connectAsync(first.mqttUrl, { reconnectPeriod: 0 });
  await client.publishAsync('devices/mid-crash/telemetry', payload, { qos: 1 });
  await first.kill('SIGKILL');
  client.end(true);

  // The log is replayed at the next start: the replayed reading's id is known again, so the device's resend is one.
  const second = await ServerProcess.create(dataDir, { windows: [WINDOW], batchIntervalMs: 100 });
  await second.start();
  t.after(() => second.kill('SIGTERM'));
  const again = await connect(t, second.mqttUrl);
  await again.publishAsync('devices/mid-crash/telemetry', payload, { qos: 1 });
  const stats = await waitFor('the replayed reading and the resend', async () => {
    const body = (await getJson(`${second.httpUrl}/api/v1/stats`)).body;
    return body.records + body.duplicates >= 2 ? body : null;
  });
  assert.deepEqual([stats.replayed, stats.records, stats.duplicates], [1, 1, 1]);
  const from = ts - (ts % WINDOW.slideMs);
  const { body } = await getJson(`${second.httpUrl}/api/v1/windows?deviceId=mid-crash&length=${WINDOW.lengthMs}&from=${from}&to=${from + 1}`);
  assert.equal(body.items[0]?.count, 1);
});
