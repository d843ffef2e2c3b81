/**
 * Two server processes with one instance id on a shared PostgreSQL store. The second used to start, take over the
 * broker session of the first (same client id), and stop at its first commit with TS_ERR_INSTANCE_CONFLICT; it is
 * refused at start-up now, before it opens the ingest log or the broker, while the first one keeps working, and a
 * process with that id starts once the first is gone, even killed with SIGKILL (the instance's lock goes with its
 * connection). A lock connection that the server ends is opened again and the lock taken again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import pg from 'pg';
import { externalBrokerName, startExternalBroker } from './external-broker.ts';
import { startPostgres } from './postgres.ts';
import { getJson, tempDir, waitFor } from './helpers.ts';
import { ServerProcess } from './server-process.ts';

test(`a second server process with a running instance's id on one PostgreSQL store behind ${externalBrokerName()} is refused at start-up (TS_ERR_INSTANCE_IN_USE, exit code 1); it starts once the first is killed`, { timeout: 240_000 }, async (t) => {
  const [broker, postgres] = await Promise.all([startExternalBroker(t), startPostgres(t)]);
  const url = await postgres.createDatabase('instance_lock');
  const config = { batchIntervalMs: 200 };
  const first = await ServerProcess.create(tempDir(t), config);
  const second = await ServerProcess.create(tempDir(t), config);
  t.after(async () => {
    await first.kill();
    await second.kill();
  });
  const args = ['--broker', broker.url, '--store', url, '--instance-id', 'node-1'];
  await first.startWith(args);
  const device = await mqtt.connectAsync(broker.url, { clientId: 'device-1', reconnectPeriod: 0 });
  t.after(() => device.endAsync());
  const T0 = Date.parse('2026-01-01T00:00:00.000Z');
  const publish = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      await device.publishAsync('devices/d-1/telemetry', JSON.stringify({ ts: T0 + i * 1000, temperature: 20 + i / 4, seq: i + 1 }), { qos: 1 });
    }
  };
  const readings = async (server: ServerProcess) => (await getJson(`${server.httpUrl}/api/v1/devices`)).body.items.map((d: { readings: number }) => d.readings);
  await publish(0, 10);
  await waitFor('the first one counted 10 readings', async () => (await readings(first))[0] === 10, 60_000);

  second.launch(args);
  assert.equal(await second.waitExit(), 1, second.output);
  const redacted = url.replace(':secret@', ':***@');
  const line = second.output.trim().split('\n').at(-1)!;
  assert.match(
    line,
    new RegExp(
      `^thermostream: instance node-1 is in use on ${redacted.replace(/[.*]/g, '\\$&')}: another process holds its lock there ` +
        '\\(connection "thermostream [0-9a-f]{12} pid \\d+" \\(PostgreSQL process (\\d+)\\) from 127\\.0\\.0\\.1 since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)\\. ' +
        'Two processes under one instance id would count its devices twice and overwrite each other\'s checkpoint\\. Stop the ' +
        'other process first \\(its lock is released when it exits, also when it is killed; when its machine died or was ' +
        'cut off, once PostgreSQL\'s keep-alives give its connection up, about 25 s, or at once with SELECT ' +
        'pg_terminate_backend\\(\\1\\)\\), or give this one its own --instance-id \\(cluster\\.instanceId\\)\\. Nothing of this ' +
        'instance was written \\(the schema is migrated first\\) \\[TS_ERR_INSTANCE_IN_USE\\]$',
    ),
  );
  assert.doesNotMatch(second.output, /thermostream: (HTTP API|MQTT)/, 'refused before it listened or subscribed');

  // The first one was not disturbed: it goes on counting (the second never took its broker session).
  await publish(10, 20);
  await waitFor('the first one counted 20 readings', async () => (await readings(first))[0] === 20, 60_000);
  assert.doesNotMatch(first.output, /lost|fatal|TS_ERR/, first.output);

  // Its lock's connection ended by the server (as a restart of PostgreSQL or a broken network would end it): it takes
  // the lock again (its batches wait meanwhile) and goes on.
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const ended = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'thermostream % pid ' || $1", [String(first.child!.pid)]);
  await admin.end();
  assert.equal(ended.rowCount, 1);
  await waitFor('the lock taken again', () => first.output.includes("instance node-1's lock on") && first.output.includes('taken again'), 60_000);
  await publish(20, 25);
  await waitFor('the first one counted 25 readings', async () => (await readings(first))[0] === 25, 60_000);

  // Killed, the first one's lock is released with its connection: a replacement with its id starts and resumes.
  assert.equal(await first.kill('SIGKILL'), null);
  await second.startWith(args);
  await publish(25, 30);
  await waitFor('the replacement counted all 30 readings', async () => (await readings(second))[0] === 30, 60_000);
  assert.equal(await second.kill('SIGTERM'), 0);
});
