import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import mqtt from 'mqtt';
import pg from 'pg';
import { createPartition } from '../../server/cluster/partition.ts';
import { externalBrokerName, startExternalBroker } from '../external-broker.ts';
import { startPostgres } from '../postgres.ts';
import { tempDir, waitFor } from '../helpers.ts';
import { diffWindows, oracleWindows, ServerProcess, type WindowRow } from '../server-process.ts';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const LENGTH = 10_000;
const SLIDE = 2_000;
const DEVICES = 100;
const PER_DEVICE = 60;
const PUBLISHERS = 4;
const IDS = ['inst-a', 'inst-b', 'inst-c'];

type Sent = { deviceId: string; ts: number; temperature: number };

/**
 * Issue 15, acceptance 2: Mosquitto and PostgreSQL on loopback, three instances and 100 devices. Every device is
 * processed by exactly one instance; losing an instance (SIGKILL), and losing one with its whole data dir (a
 * replacement starts elsewhere with the same id), loses and duplicates nothing the broker acknowledged.
 */
test(
  `three instances behind ${externalBrokerName()} with PostgreSQL: one owner per device, windows equal the oracle and the fleet merge; SIGKILL and a lost data dir lose and duplicate nothing`,
  { timeout: 240_000 },
  async (t) => {
    const [broker, postgres] = await Promise.all([startExternalBroker(t), startPostgres(t)]);
    t.diagnostic(`broker: ${broker.name}; postgres: ${postgres.source}`);
    const config = (id: string) => ({
      batchIntervalMs: 200,
      allowedLatenessMs: 3_600_000, // nothing may be late: the test is about exactly-once
      windows: [{ lengthMs: LENGTH, slideMs: SLIDE }],
      broker: { url: broker.url, clientId: `thermostream-${id}` }, // ack after commit: on, the store is shared
      cluster: { instanceId: id, instances: IDS },
      store: { url: postgres.url },
    });
    const servers = await Promise.all(IDS.map(async (id) => ServerProcess.create(tempDir(t), config(id))));
    for (const s of servers) t.after(() => s.kill());
    await Promise.all(servers.map((s) => s.start()));

    // 100 devices over 4 publisher connections, QoS 1 with seq; a reading counts as sent once the broker acknowledged it.
    const sent: Sent[] = [];
    const devices = Array.from({ length: DEVICES }, (_, i) => `cl-${i}`);
    const publishers = await Promise.all(
      Array.from({ length: PUBLISHERS }, (_, p) => mqtt.connectAsync(broker.url, { clientId: `cluster-fleet-${p}`, reconnectPeriod: 0 })),
    );
    for (const p of publishers) t.after(() => p.endAsync(true));
    const publishing = Promise.all(
      devices.map(async (deviceId, d) => {
        const client = publishers[d % PUBLISHERS];
        for (let i = 1; i <= PER_DEVICE; i++) {
          const reading = { deviceId, ts: T0 + i * 100, temperature: Math.round((18 + ((d * 31 + i * 17) % 90) / 10) * 10) / 10 };
          await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify({ ...reading, seq: i }), { qos: 1 });
          sent.push(reading);
          if (i % 10 === 0) await new Promise((r) => setTimeout(r, 50)); // spread over a few seconds: kills land mid-load
        }
      }),
    );

    const db = new pg.Client({ connectionString: postgres.url });
    db.on('error', () => undefined); // PostgreSQL stops at the end of the test, maybe before this client ends
    await db.connect();
    t.after(() => db.end().catch(() => undefined));
    const counted = async (): Promise<number> => Number((await db.query('SELECT COALESCE(SUM(readings), 0) AS n FROM devices')).rows[0].n);
    const total = DEVICES * PER_DEVICE;

    // Instance b: SIGKILL mid-load, restarted on its data dir.
    await waitFor('a quarter of the readings committed', async () => (await counted()) >= total / 4, 60_000);
    const kills: string[] = [];
    kills.push(`b killed at ${sent.length} acknowledged by the broker, ${await counted()} committed`);
    await servers[1].kill('SIGKILL');
    await servers[1].start();
    // Instance c: SIGKILL, and its machine is gone with its disk: a replacement with the same id and a new data dir.
    await waitFor('half of the readings committed', async () => (await counted()) >= total / 2, 60_000);
    kills.push(`c killed (data dir deleted) at ${sent.length} acknowledged by the broker, ${await counted()} committed`);
    await servers[2].kill('SIGKILL');
    rmSync(servers[2].dataDir, { recursive: true, force: true });
    const replacement = await ServerProcess.create(tempDir(t), config('inst-c'));
    t.after(() => replacement.kill());
    await replacement.start();

    await publishing;
    t.diagnostic(kills.join('; '));
    assert.equal(sent.length, total);
    await waitFor('every reading committed', async () => (await counted()) >= total, 90_000);
    const live = [servers[0], servers[1], replacement];
    const stats = await Promise.all(live.map(async (s) => (await fetch(`${s.httpUrl}/api/v1/stats`)).json()));
    assert.deepEqual(stats.map((s) => s.rejected.total), [0, 0, 0]);

    // Each device is processed by exactly one instance, the one rendezvous hashing names: its state (dedupe, keyed
    // by instance) is under that instance only, and every device counted each reading once.
    const owners = (await db.query('SELECT device_id, instance_id FROM dedupe ORDER BY device_id')).rows as { device_id: string; instance_id: string }[];
    assert.deepEqual(
      owners.map((r) => `${r.device_id}@${r.instance_id}`),
      [...devices].sort().map((d) => `${d}@${createPartition(IDS, IDS[0]).ownerOf(d)}`),
    );
    const perInstance = IDS.map((id) => owners.filter((r) => r.instance_id === id).length);
    assert.ok(perInstance.every((n) => n > 0), `devices per instance ${perInstance.join('/')}`);
    t.diagnostic(`devices per instance: ${perInstance.join(' / ')}`);
    const perDevice = (await db.query('SELECT device_id, readings FROM devices ORDER BY device_id')).rows as { device_id: string; readings: string }[];
    assert.deepEqual(perDevice.filter((r) => Number(r.readings) !== PER_DEVICE), [], 'every device counted each of its readings exactly once');
    assert.equal(perDevice.length, DEVICES);

    // Device windows equal the oracle; the fleet windows any instance serves (merged from the three partials) too.
    // Nothing is late (1 h of allowed lateness): the windows are open, each refreshed within a slide of its change.
    const oracle = oracleWindows(sent, LENGTH, SLIDE);
    const deviceOracle = new Map([...oracle].filter(([, w]) => w.deviceId !== '*'));
    const fleetOracle = new Map([...oracle].filter(([, w]) => w.deviceId === '*'));
    const asRow = (deviceId: string, r: Record<string, unknown>, start: number): WindowRow => ({ deviceId, start, count: Number(r.count), avg: Number(r.avg), min: Number(r.min), max: Number(r.max) });
    let problems: string[] = [];
    await waitFor('the device windows and the fleet windows of every instance equal the oracle', async () => {
      const rows = (
        await db.query('SELECT device_id AS "deviceId", start, count, avg, min, max FROM windows WHERE length_ms = $1 AND slide_ms = $2', [LENGTH, SLIDE])
      ).rows as Record<string, unknown>[];
      problems = diffWindows(new Map(rows.map((r) => [`${r.deviceId}@${Number(r.start)}`, asRow(String(r.deviceId), r, Number(r.start))])), deviceOracle);
      for (const s of live) {
        const res = await fetch(`${s.httpUrl}/api/v1/windows?length=${LENGTH}&slide=${SLIDE}&from=${T0 - LENGTH}&to=${T0 + 3_600_000}&limit=1000`);
        const { items } = (await res.json()) as { items: (Record<string, unknown> & { start: string })[] };
        const fleet = new Map(items.map((w) => [`*@${Date.parse(w.start)}`, asRow('*', w, Date.parse(w.start))]));
        problems.push(...diffWindows(fleet, fleetOracle).map((p) => `${s.httpUrl}: ${p}`));
      }
      return problems.length === 0;
    }, 20_000).catch(() => undefined);
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} windows differ`);
    for (const s of live) assert.equal(await s.kill('SIGTERM'), 0);
  },
);
