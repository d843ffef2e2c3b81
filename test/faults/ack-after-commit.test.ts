import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { externalBrokerName, startExternalBroker } from '../external-broker.ts';
import { tempDir, waitFor } from '../helpers.ts';
import { assertExactlyOnce, counted, ServerProcess } from '../server-process.ts';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const LENGTH = 10_000;
const SLIDE = 2_000;
const DEVICES = 20;
const PER_DEVICE = 300;

function config(brokerUrl: string, ackAfterCommit: boolean) {
  return {
    batchIntervalMs: 200,
    allowedLatenessMs: 3_600_000, // nothing may be late: the test is about exactly-once
    windows: [{ lengthMs: LENGTH, slideMs: SLIDE }],
    broker: { url: brokerUrl, clientId: 'thermostream-replaced', ackAfterCommit },
    cluster: { instanceId: 'inst-a', instances: ['inst-a'] },
  };
}

test(
  `ack after commit (${externalBrokerName()}): an instance killed with SIGKILL whose log is lost, replaced with the same id and its database, loses and duplicates nothing the broker acknowledged`,
  { timeout: 120_000 },
  async (t) => {
    const broker = await startExternalBroker(t);
    const dataDir = tempDir(t);
    // A slow sink: each batch waits 300 ms before it commits, so at the kill many readings are in the log, not committed.
    const server = await ServerProcess.create(dataDir, config(broker.url, true), { THERMOSTREAM_FAULT: 'slow-batch:300' });
    t.after(() => server.kill());
    await server.start();

    const sent: { deviceId: string; ts: number; temperature: number }[] = [];
    const publisher = await mqtt.connectAsync(broker.url, { clientId: 'replaced-fleet', reconnectPeriod: 0 });
    t.after(() => publisher.endAsync(true));
    const publishing = Promise.all(
      Array.from({ length: DEVICES }, async (_, d) => {
        const deviceId = `rep-${d}`;
        for (let i = 1; i <= PER_DEVICE; i++) {
          const reading = { deviceId, ts: T0 + i * 25, temperature: Math.round((18 + ((d * 31 + i * 17) % 90) / 10) * 10) / 10 };
          // Resolves once the broker has acknowledged it: from then on, it must be counted exactly once.
          await publisher.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ...reading, seq: i }), { qos: 1 });
          sent.push(reading);
        }
      }),
    );

    const total = DEVICES * PER_DEVICE;
    await waitFor('a third of the readings counted', async () => (await counted(server)) >= total / 3, 60_000);
    await server.kill('SIGKILL');
    // The machine's disk is gone but for the store (here the SQLite file stands in for the shared PostgreSQL).
    rmSync(join(dataDir, 'log'), { recursive: true, force: true });
    await server.start();
    await publishing;
    await waitFor('every reading counted', async () => (await counted(server)) >= total, 60_000);
    const stats = await (await fetch(`${server.httpUrl}/api/v1/stats`)).json();
    assert.equal(stats.rejected.total, 0);
    assert.equal(await server.kill('SIGTERM'), 0);

    assertExactlyOnce(t, server, sent, { lengthMs: LENGTH, slideMs: SLIDE }, DEVICES, PER_DEVICE);
  },
);

test(`without ack after commit (${externalBrokerName()}): a start with the log gone and a checkpoint past offset 0 is refused, naming the log and the flags; --repair accepts the loss`, { timeout: 60_000 }, async (t) => {
  const broker = await startExternalBroker(t);
  const dataDir = tempDir(t);
  const server = await ServerProcess.create(dataDir, config(broker.url, false));
  t.after(() => server.kill());
  await server.start();
  const publisher = await mqtt.connectAsync(broker.url, { clientId: 'lost-log-fleet', reconnectPeriod: 0 });
  t.after(() => publisher.endAsync(true));
  for (let i = 1; i <= 10; i++) {
    await publisher.publishAsync('devices/lost-1/telemetry', JSON.stringify({ ts: T0 + i * 100, temperature: 20, seq: i }), { qos: 1 });
  }
  await waitFor('the readings committed', async () => (await counted(server)) >= 10);
  assert.equal(await server.kill('SIGTERM'), 0);
  rmSync(join(dataDir, 'log'), { recursive: true, force: true });
  await assert.rejects(server.start(), /exited with 3/);
  const logDir = join(dataDir, 'log');
  assert.match(
    server.output,
    new RegExp(
      `thermostream: the ingest log ${logDir} is missing, but the checkpoint has consumed records up to offset 10: readings ` +
        'acknowledged after the last commit, if any \\(none after a graceful stop\\), were only in that log and are lost\\. .*start once with --repair.* --broker-ack-after-commit .* \\[TS_ERR_LOG_MISSING\\]',
    ),
  );
  // The loss accepted: --repair starts a new log after the checkpoint, and readings go on from there.
  await server.startWith(['--repair']);
  assert.match(server.output, new RegExp(`the ingest log ${logDir} was missing: a new one starts after the checkpoint's offset 10`));
  for (let i = 11; i <= 15; i++) {
    await publisher.publishAsync('devices/lost-1/telemetry', JSON.stringify({ ts: T0 + i * 100, temperature: 20, seq: i }), { qos: 1 });
  }
  await waitFor('the new readings committed', async () => (await counted(server)) >= 15);
  assert.equal(await counted(server), 15);
});
