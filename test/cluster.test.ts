import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { createPartition } from '../server/cluster/partition.ts';
import { parseCli, resolveConfig, type Config } from '../server/config.ts';
import { startThermostream, type Thermostream } from '../server/main.ts';
import { externalBrokerName, startExternalBroker } from './external-broker.ts';
import { getJson, tempDir, waitFor } from './helpers.ts';
import { diffWindows, oracleWindows, storedWindows } from './server-process.ts';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const LENGTH = 10_000;
const SLIDE = 2_000;

function instanceConfig(dataDir: string, brokerUrl: string, instanceId: string, instances: string[]): Config {
  return resolveConfig({
    host: '127.0.0.1',
    http: { port: 0 },
    mqtt: { port: 0, tlsPort: -1 },
    dataDir,
    batchIntervalMs: 100,
    allowedLatenessMs: 3_600_000, // nothing late: the test is about who counts what
    windows: [{ lengthMs: LENGTH, slideMs: SLIDE }],
    broker: { url: brokerUrl, clientId: `thermostream-${instanceId}` },
    cluster: { instanceId, instances },
  });
}

async function startInstance(t: TestContext, config: Config, rebalance = false): Promise<Thermostream> {
  const app = await startThermostream(config, { rebalance });
  t.after(() => app.close());
  return app;
}

type Sent = { deviceId: string; ts: number; temperature: number };

/** Publishes `perDevice` QoS 1 readings (with seq) for each device; resolves once the broker has acknowledged all. */
async function publishFleet(t: TestContext, url: string, devices: string[], perDevice: number, from = 1): Promise<Sent[]> {
  const client = await mqtt.connectAsync(url, { clientId: `fleet-${Math.random().toString(36).slice(2)}`, reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  const sent: Sent[] = [];
  await Promise.all(
    devices.map(async (deviceId, d) => {
      for (let i = from; i < from + perDevice; i++) {
        const r = { deviceId, ts: T0 + i * 50, temperature: Math.round((18 + ((d * 31 + i * 17) % 90) / 10) * 10) / 10 };
        await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ...r, seq: i }), { qos: 1 });
        sent.push(r);
      }
    }),
  );
  await client.endAsync();
  return sent;
}

const deviceIds = async (app: Thermostream): Promise<string[]> =>
  ((await getJson(`${app.httpUrl}/api/v1/devices`)).body.items as { deviceId: string }[]).map((d) => d.deviceId).sort();

test(`two instances behind ${externalBrokerName()}, each subscribed to all telemetry: every device is processed by exactly one, windows equal the oracle`, async (t) => {
  const broker = await startExternalBroker(t);
  const ids = ['inst-a', 'inst-b'];
  const apps = await Promise.all(ids.map((id) => startInstance(t, instanceConfig(tempDir(t), broker.url, id, ids))));
  const devices = Array.from({ length: 20 }, (_, i) => `thermo-${i}`);
  const sent = await publishFleet(t, broker.url, devices, 50);

  const stats = async () => Promise.all(apps.map(async (a) => (await getJson(`${a.httpUrl}/api/v1/stats`)).body));
  await waitFor('every reading processed by one instance and dropped by the other', async () => {
    const s = await stats();
    return s.reduce((n, x) => n + x.records, 0) === sent.length && s.reduce((n, x) => n + x.foreign, 0) === sent.length;
  }, 20_000);
  const s = await stats();
  assert.deepEqual(s.map((x) => x.rejected.total), [0, 0], 'a foreign message is not a rejected one');

  // Bad messages are dead-lettered by one instance only: the device's owner (or, for an unusable device id, the
  // owner of "").
  const bad = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => bad.endAsync(true));
  await bad.publishAsync('devices/thermo-3/telemetry', 'not json', { qos: 1 });
  await bad.publishAsync('devices/no such device!/telemetry', JSON.stringify({ temperature: 20 }), { qos: 1 });
  const owner = createPartition(ids, ids[0]);
  await waitFor('both dead letters counted, and dropped as foreign by the other instance', async () => {
    const s = await stats();
    return s.reduce((n, x) => n + x.rejected.total, 0) === 2 && s.reduce((n, x) => n + x.foreign, 0) === sent.length + 2;
  });
  const after = await stats();
  // An id that is not a device id ("no such device!") is owned as "" (the same owner on every instance).
  const expected = ids.map((id) => ['thermo-3', ''].filter((d) => owner.ownerOf(d) === id).length);
  assert.deepEqual(after.map((x) => x.rejected.total), expected);
  assert.equal(after.reduce((n, x) => n + x.foreign, 0), sent.length + 2);

  // The devices each instance lists: disjoint, together the whole fleet, each where rendezvous hashing puts it.
  const lists = await Promise.all(apps.map(deviceIds));
  assert.deepEqual([...lists[0], ...lists[1]].sort(), [...devices].sort());
  assert.equal(lists[0].filter((d) => lists[1].includes(d)).length, 0);
  assert.ok(lists[0].length > 0 && lists[1].length > 0, `split ${lists[0].length}/${lists[1].length}`);
  const partition = createPartition(ids, 'inst-a');
  assert.deepEqual(lists[0], devices.filter((d) => partition.owns(d)).sort());
  assert.deepEqual(s.map((x) => x.accepted), lists.map((l) => l.length * 50));

  // Open windows are refreshed once per slide or in the first batch that brings their device nothing (openWindowRefresh
  // 'slide'): two more batches committed on each instance, and every window shows all of its readings.
  const counted = after.map((x) => x.batches as number);
  await waitFor('two more batches committed by each instance', async () => (await stats()).every((x, i) => x.batches >= counted[i] + 2));

  // Per-device windows equal the oracle; the fleet's partial windows of both merge into the oracle's fleet windows.
  const oracle = oracleWindows(sent, LENGTH, SLIDE);
  const merged = new Map<string, { deviceId: string; start: number; count: number; sum: number; min: number; max: number }>();
  const perDevice = new Map<string, ReturnType<typeof storedWindows> extends Map<string, infer W> ? W : never>();
  for (const app of apps) {
    const db = new Database(app.dbFile, { readonly: true });
    t.after(() => db.close());
    for (const [key, w] of storedWindows(db, LENGTH, SLIDE)) {
      if (w.deviceId !== '*') {
        assert.ok(!perDevice.has(key), `${key} computed by two instances`);
        perDevice.set(key, w);
        continue;
      }
      const m = merged.get(key) ?? { deviceId: '*', start: w.start, count: 0, sum: 0, min: Infinity, max: -Infinity };
      m.count += w.count;
      m.sum += w.avg * w.count;
      m.min = Math.min(m.min, w.min);
      m.max = Math.max(m.max, w.max);
      merged.set(key, m);
    }
  }
  const devicesOnly = new Map([...oracle].filter(([, w]) => w.deviceId !== '*'));
  assert.deepEqual(diffWindows(perDevice, devicesOnly).slice(0, 10), []);
  for (const [key, o] of oracle) {
    if (o.deviceId !== '*') continue;
    const m = merged.get(key);
    assert.ok(m, `fleet window ${key} missing`);
    assert.deepEqual([m.count, m.min, m.max], [o.count, o.min, o.max], key);
    assert.ok(Math.abs(m.sum / m.count - o.avg) <= 1e-9 * Math.abs(o.avg), key);
  }
});

test('the instance list a data dir was partitioned by is recorded; another list is refused with what moves, --rebalance accepts it', async (t) => {
  const broker = await startExternalBroker(t);
  const dir = tempDir(t);
  const devices = Array.from({ length: 40 }, (_, i) => `thermo-${i}`);
  const before = ['inst-a', 'inst-b'];
  const first = await startThermostream(instanceConfig(dir, broker.url, 'inst-a', before));
  const other = await startInstance(t, instanceConfig(tempDir(t), broker.url, 'inst-b', before));
  const sent = await publishFleet(t, broker.url, devices, 5);
  await waitFor('every reading processed', async () => {
    const s = await Promise.all([first, other].map(async (a) => (await getJson(`${a.httpUrl}/api/v1/stats`)).body.records));
    return s[0] + s[1] === sent.length;
  });
  const mine = await deviceIds(first);
  await first.close();
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')), { instanceId: 'inst-a', instances: before });

  const after = ['inst-a', 'inst-b', 'inst-c'];
  const moving = mine.filter((d) => !createPartition(after, 'inst-a').owns(d)).length;
  assert.ok(moving > 0 && moving < mine.length, `${moving} of ${mine.length} move`);
  await assert.rejects(startThermostream(instanceConfig(dir, broker.url, 'inst-a', after)), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'TS_ERR_CLUSTER_CHANGED');
    assert.equal(
      err.message,
      `${join(dir, 'cluster.json')}: the instance list was ["inst-a","inst-b"] (this instance "inst-a") and is now ` +
        `["inst-a","inst-b","inst-c"] (this instance "inst-a"): ${moving} of the ${mine.length} devices this instance holds ` +
        'state for move to another instance. Changing the list is a planned operation: stop every instance, then start each one ' +
        'with the new cluster.instances and --rebalance (devices that move start fresh windows, detectors and dedupe on ' +
        'their new owner; see docs/OPERATIONS.md, Changing the instance list). Or restore the previous list.',
    );
    return true;
  });
  // The same list in another order is the same partition.
  const reordered = await startThermostream(instanceConfig(dir, broker.url, 'inst-a', [...before].reverse()));
  await reordered.close();

  const rebalanced = await startThermostream(instanceConfig(dir, broker.url, 'inst-a', after), { rebalance: true });
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')), { instanceId: 'inst-a', instances: after });
  await rebalanced.close();
  const again = await startThermostream(instanceConfig(dir, broker.url, 'inst-a', after));
  await again.close();
});

test('cluster.instances must name this instance, needs an external broker and excludes a share group', () => {
  const config = (over: Record<string, unknown>) => () => resolveConfig({ broker: { url: 'mqtt://127.0.0.1:1883' }, ...over });
  assert.throws(config({ cluster: { instanceId: 'x', instances: ['a', 'b'] } }), {
    code: 'TS_ERR_CONFIG_INVALID',
    message: 'invalid configuration: cluster.instances = ["a","b"]: it must contain this instance\'s id, cluster.instanceId = "x"',
  });
  assert.throws(() => resolveConfig({ cluster: { instanceId: 'a', instances: ['a', 'b'] } }), /several instances need an external broker \(broker.url, --broker\)/);
  assert.throws(
    config({ broker: { url: 'mqtt://127.0.0.1:1883', shareGroup: 'g' }, cluster: { instanceId: 'a', instances: ['a', 'b'] } }),
    /with broker.shareGroup = "g" the broker hands each message to one instance/,
  );
  assert.throws(config({ cluster: { instanceId: 'a', instances: ['a', 'a'] } }), /cluster.instances = \["a","a"\].*duplicate/);
  assert.equal(existsSync('cluster.json'), false);
  // Where the list came from, as every other configuration error says it (these named none).
  assert.throws(() => parseCli(['--cluster-instances', 'a,b'], {}), {
    message: 'invalid configuration: cluster.instances = ["a","b"] (from --cluster-instances): it must contain this instance\'s id, cluster.instanceId = "main"',
  });
  assert.throws(() => parseCli(['--broker', 'mqtt://b', '--instance-id', 'a'], { THERMOSTREAM_CLUSTER_INSTANCES: 'a,a' }), /cluster\.instances = \["a","a"\] \(from env THERMOSTREAM_CLUSTER_INSTANCES\): .*duplicate/);
});
