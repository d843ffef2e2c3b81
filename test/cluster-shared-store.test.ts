import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { createPartition } from '../server/cluster/partition.ts';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { externalBrokerName, startExternalBroker } from './external-broker.ts';
import { startPostgres } from './postgres.ts';
import { getJson, tempDir, waitFor } from './helpers.ts';

/**
 * An instance started with another instance list than the running ones, on a new data dir (whose cluster.json knows
 * nothing), used to start: the devices that move to it were then counted by it and by their old owner. Behind
 * Mosquitto, instances a and b with [a, b] and c started with [a, b, c]: every reading of the 12 devices hashing to
 * c counted twice in the devices figures and the fleet windows. The shared store records each instance's list.
 */
test(`instances sharing a PostgreSQL store behind ${externalBrokerName()} must run one instance list: another is refused, naming them, until --rebalance`, async (t) => {
  const [broker, postgres] = await Promise.all([startExternalBroker(t), startPostgres(t)]);
  const storeUrl = await postgres.createDatabase('lists');
  const dirs = { a: tempDir(t), b: tempDir(t), c: tempDir(t) };
  const start = (id: 'a' | 'b' | 'c', instances: string[], rebalance = false) =>
    startThermostream(
      resolveConfig({
        host: '127.0.0.1',
        http: { port: 0 },
        mqtt: { port: 0, tlsPort: -1 },
        dataDir: dirs[id],
        broker: { url: broker.url, clientId: `thermostream-${id}` },
        store: { url: storeUrl },
        cluster: { instanceId: id, instances },
      }),
      { rebalance },
    );
  const refused = (id: string, instances: string[], recorded: string) => (err: Error & { code?: string }) => {
    assert.equal(err.code, 'TS_ERR_CLUSTER_CHANGED');
    assert.equal(
      err.message,
      `${storeUrl.replace(':secret@', ':***@')}: this instance "${id}" starts with the instance list ${JSON.stringify(instances)}, ` +
        `but the store records another one for ${recorded}: instances running with different lists count the devices that ` +
        'move on two instances or on none. Changing the list is a planned operation: stop every instance, then start each one ' +
        'with the new cluster.instances and --rebalance (see docs/OPERATIONS.md, Changing the instance list). Or start this ' +
        'one with the list in force.',
    );
    return true;
  };
  const running = async (...apps: Promise<{ close(): Promise<void> }>[]) => {
    const started = await Promise.all(apps);
    for (const app of started) t.after(() => app.close()); // a second close waits for the first
    return async () => {
      for (const app of started) await app.close();
    };
  };

  // a and b run with [a, b]; c, new, comes with [a, b, c] without the procedure: refused, and records nothing.
  let stop = await running(start('a', ['a', 'b']), start('b', ['a', 'b']));
  await assert.rejects(start('c', ['a', 'b', 'c']), refused('c', ['a', 'b', 'c'], '"a" ["a","b"], "b" ["a","b"]'));
  assert.equal(existsSync(join(dirs.c, 'cluster.json')), false);
  await stop();

  // The procedure: every instance stopped, each started with the new list and --rebalance; later starts need no flag.
  stop = await running(start('a', ['a', 'b', 'c'], true), start('b', ['a', 'b', 'c'], true), start('c', ['a', 'b', 'c'], true));
  await stop();
  stop = await running(start('c', ['c', 'b', 'a']));
  await stop();

  // Back to [a, b]: the rebalance forgets c's record; c started again with its old list is refused.
  stop = await running(start('a', ['a', 'b'], true), start('b', ['a', 'b'], true));
  await stop();
  stop = await running(start('a', ['a', 'b']));
  await assert.rejects(start('c', ['a', 'b', 'c']), refused('c', ['a', 'b', 'c'], '"a" ["a","b"], "b" ["a","b"]'));
  await stop();
});

/**
 * A device that moves to another instance at a --rebalance gets no reading on its old owner any more: an interval
 * anomaly the old owner's detectors had open (end null) stayed open for good, listed as ongoing. The rebalance
 * closes it at the device's last reading, as --fresh does, and the old owner forgets the device's detectors.
 */
test(`a --rebalance closes the open interval anomalies of the devices that moved away, at their last reading (PostgreSQL, ${externalBrokerName()})`, async (t) => {
  const [broker, postgres] = await Promise.all([startExternalBroker(t), startPostgres(t)]);
  const storeUrl = await postgres.createDatabase('moved_intervals');
  const dirs = { a: tempDir(t), b: tempDir(t) };
  // Only the stuck detector, quick to arm: 5 equal readings after 12 that differ (it judges runs once it has seen 10)
  // are a stuck interval, open until a change.
  const detectors = {
    warmupReadings: 3,
    stuck: { enabled: true, minReadings: 5, runFactor: 3, tolerance: 0 },
    spike: { enabled: false }, rate: { enabled: false }, drift: { enabled: false }, dropout: { enabled: false },
  };
  const start = (id: 'a' | 'b', instances: string[], rebalance = false) =>
    startThermostream(
      resolveConfig({
        host: '127.0.0.1',
        http: { port: 0 },
        mqtt: { port: 0, tlsPort: -1 },
        batchIntervalMs: 200,
        dataDir: dirs[id],
        broker: { url: broker.url, clientId: `thermostream-${id}` },
        store: { url: storeUrl },
        cluster: { instanceId: id, instances },
        detectors,
      }),
      { rebalance },
    );
  // A device that moves from a to b when b joins.
  const after = createPartition(['a', 'b'], 'b');
  const deviceId = Array.from({ length: 100 }, (_, i) => `thermo-${i}`).find((id) => after.owns(id))!;
  const stuck = async (app: { httpUrl: string }) =>
    (await getJson(`${app.httpUrl}/api/v1/anomalies?deviceId=${deviceId}&type=stuck&from=0`)).body.items as { start: string; end: string | null }[];

  const a = await start('a', ['a']);
  t.after(() => a.close());
  const device = await mqtt.connectAsync(broker.url, { clientId: 'device', reconnectPeriod: 0 });
  t.after(() => device.endAsync());
  const t0 = Date.now() - 60_000;
  const temperatures = [20, 20.5, 21, 20.25, 20.75, 21.25, 20.1, 20.6, 21.1, 20.35, 20.85, 21.35, 22, 22, 22, 22, 22, 22, 22, 22];
  for (const [i, temperature] of temperatures.entries()) {
    await device.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ts: t0 + i * 1000, temperature, seq: i + 1 }), { qos: 1 });
  }
  const last = new Date(t0 + (temperatures.length - 1) * 1000).toISOString();
  const open = await waitFor('the stuck interval open on a', async () => {
    const items = await stuck(a);
    return items.length === 1 && items[0].end === null ? items[0] : null;
  }, 60_000);
  assert.equal(open.start, new Date(t0 + 12_000).toISOString());
  await a.close();

  // b joins: every instance started with the new list and --rebalance; the device is b's now.
  const [a2, b] = await Promise.all([start('a', ['a', 'b'], true), start('b', ['a', 'b'], true)]);
  t.after(() => a2.close());
  t.after(() => b.close());
  assert.deepEqual(await stuck(b), [{ ...open, end: last }], 'closed at its last reading');
  await a2.close();
  await b.close();
});
