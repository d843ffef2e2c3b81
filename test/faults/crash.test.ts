import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { tempDir, waitFor } from '../helpers.ts';
import { diffWindows, oracleWindows, publishUntilAcked, ServerProcess, storedWindows } from '../server-process.ts';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const LENGTH = 10_000;
const SLIDE = 2_000;
// Nothing may count as late here: the test is about exactly-once, so the allowed lateness covers the whole run.
const CONFIG = { batchIntervalMs: 200, allowedLatenessMs: 3_600_000, windows: [{ lengthMs: LENGTH, slideMs: SLIDE }] };

interface Sent {
  deviceId: string;
  ts: number;
  temperature: number;
}

/** A pseudo-random but reproducible temperature for (device, seq). */
const temperatureOf = (d: number, seq: number): number => Math.round((18 + ((d * 7919 + seq * 104729) % 800) / 100) * 10) / 10;

test('exactly-once across SIGKILLs at random moments: stored windows equal the oracle of acknowledged readings', { timeout: 180_000 }, async (t) => {
  const DEVICES = 50;
  const PER_DEVICE = 400; // at most: each device stops TAIL readings after the last kill
  const TAIL = 25; // ≈ 1.5 s of readings after the last restart: batches of new input on top of the last recovery
  const KILLS = 10;
  const server = await ServerProcess.create(tempDir(t), CONFIG);
  t.after(() => server.kill());
  await server.start();

  const acked: Sent[] = [];
  const clients = Array.from({ length: DEVICES }, (_, d) =>
    mqtt.connect(server.mqttUrl, { clientId: `crash-${d}`, reconnectPeriod: 100, connectTimeout: 2000 }),
  );
  t.after(() => Promise.all(clients.map((c) => c.endAsync(true))));
  const deadline = Date.now() + 150_000;
  let publishing = true;
  let killsDone = false;
  const publishers = clients.map(async (client, d) => {
    const deviceId = `dev-${d}`;
    // Publishing on after the kills only made the test longer (it was ≈ 20 s of its ≈ 60 s): stop a tail after them.
    let last = PER_DEVICE;
    for (let seq = 1; seq <= last; seq++) {
      const reading = { deviceId, ts: T0 + seq * 100, temperature: temperatureOf(d, seq) };
      await publishUntilAcked(client, `devices/${deviceId}/telemetry`, JSON.stringify({ ...reading, seq }), deadline);
      acked.push(reading);
      if (killsDone && last === PER_DEVICE) last = Math.min(PER_DEVICE, seq + TAIL);
      await new Promise((r) => setTimeout(r, 40)); // ~25 readings/s per device, so the run outlasts the kills
    }
  });
  const allPublished = Promise.all(publishers).finally(() => (publishing = false));

  // Kill the server at random moments while the fleet publishes, and start it again on the same data dir.
  let kills = 0;
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  while (kills < KILLS && publishing) {
    await new Promise((r) => setTimeout(r, 150 + random() * 700));
    if (!publishing) break;
    await server.kill('SIGKILL');
    kills++;
    await server.start();
  }
  killsDone = true;
  await allPublished;
  assert.ok(kills >= KILLS, `only ${kills} kills happened before the fleet finished: make the fleet slower`);
  const perDevice = new Map<string, number>();
  for (const r of acked) perDevice.set(r.deviceId, (perDevice.get(r.deviceId) ?? 0) + 1);
  assert.equal(perDevice.size, DEVICES);
  for (const [deviceId, n] of perDevice) assert.ok(n > TAIL, `${deviceId}: ${n} readings acknowledged`);

  // Let the last batch commit, then stop cleanly and read what SQLite holds.
  await waitFor('all readings processed', async () => {
    const stats = await (await fetch(`${server.httpUrl}/api/v1/stats`)).json();
    return stats.backlog === 0 && stats.lastBatch !== null;
  });
  assert.equal(await server.kill('SIGTERM'), 0);
  const db = server.db();
  t.after(() => db.close());
  const problems = diffWindows(storedWindows(db, LENGTH, SLIDE), oracleWindows(acked, LENGTH, SLIDE));
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} windows differ`);
  assert.equal(db.prepare('SELECT count(*) FROM late_readings').pluck().get(), 0);
  const counted = db.prepare('SELECT device_id, readings FROM devices').all() as { device_id: string; readings: number }[];
  assert.deepEqual(new Map(counted.map((r) => [r.device_id, r.readings])), perDevice, 'every reading counted once in the devices table too');
});
