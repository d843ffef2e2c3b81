import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { externalBrokerName, startExternalBroker } from '../external-broker.ts';
import { tempDir, waitFor } from '../helpers.ts';
import { assertExactlyOnce, counted, ServerProcess } from '../server-process.ts';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const LENGTH = 10_000;
const SLIDE = 2_000;
const DEVICES = 20;
const PER_DEVICE = 400;
const KILLS = 3;

test(
  `external broker (${externalBrokerName()}): Thermostream killed with SIGKILL mid-load and restarted loses no QoS 1 reading and counts none twice`,
  { timeout: 180_000 },
  async (t) => {
    const broker = await startExternalBroker(t);
    const config = {
      batchIntervalMs: 200,
      allowedLatenessMs: 3_600_000, // nothing may be late: the test is about exactly-once
      windows: [{ lengthMs: LENGTH, slideMs: SLIDE }],
      broker: { url: broker.url, clientId: 'thermostream-crash' },
    };
    const server = await ServerProcess.create(tempDir(t), config);
    t.after(() => server.kill());
    await server.start();
    assert.match(
      server.output,
      new RegExp(`thermostream: MQTT +external broker ${broker.url} +\\(subscribed to devices/\\+/telemetry, devices/\\+/messages/events/#\\)`),
    );

    // The fleet publishes everything to the broker at QoS 1 (the broker queues it while Thermostream is down).
    // Even devices count by seq, odd ones by message id: a message the broker delivers again after a crash (durable
    // here, its PUBACK lost with the process) must be recognised either way.
    const sent: { deviceId: string; ts: number; temperature: number }[] = [];
    const publisher = await mqtt.connectAsync(broker.url, { clientId: 'crash-fleet', reconnectPeriod: 0 });
    t.after(() => publisher.endAsync(true));
    const publishing = Promise.all(
      Array.from({ length: DEVICES }, async (_, d) => {
        const deviceId = `ext-${d}`;
        for (let i = 1; i <= PER_DEVICE; i++) {
          const reading = { deviceId, ts: T0 + i * 25, temperature: Math.round((18 + ((d * 31 + i * 17) % 90) / 10) * 10) / 10 };
          const id = d % 2 === 0 ? { seq: i } : { messageId: `${deviceId}-m${i}` };
          await publisher.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ...reading, ...id }), { qos: 1 });
          sent.push(reading);
        }
      }),
    );

    // Kill Thermostream while it works through the load, each time a little further in, and start it again.
    const total = DEVICES * PER_DEVICE;
    for (let k = 1; k <= KILLS; k++) {
      const mark = Math.floor((total * k) / (KILLS + 2));
      await waitFor(`${mark} readings counted before kill ${k}`, async () => (await counted(server)) >= mark, 60_000);
      await server.kill('SIGKILL');
      await server.start();
    }
    await publishing;
    assert.equal(sent.length, total);
    await waitFor('every reading counted', async () => (await counted(server)) >= total, 60_000);
    const stats = await (await fetch(`${server.httpUrl}/api/v1/stats`)).json();
    assert.equal(stats.rejected.total, 0);
    assert.equal(await server.kill('SIGTERM'), 0);

    assertExactlyOnce(t, server, sent, { lengthMs: LENGTH, slideMs: SLIDE }, DEVICES, PER_DEVICE);
  },
);
