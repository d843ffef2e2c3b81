import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { checkSegment } from '../../server/ingest/log-format.ts';
import { getJson, tempDir, waitFor } from '../helpers.ts';
import { publishUntilAcked, ServerProcess } from '../server-process.ts';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const FS_BYTES = 8 * 1024 * 1024;

/** A small tmpfs (root only): the data dir's file system, to be filled up. Returns null (and says why) if not permitted. */
function smallFileSystem(t: TestContext): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'thermostream-fs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${FS_BYTES}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true });
    t.skip(`cannot mount a ${FS_BYTES}-byte tmpfs for the data dir (needs root): ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true });
  });
  return dir;
}

/** Fills the file system holding `dir` up to `leave` bytes free. */
function fill(dir: string, leave: number): string {
  const free = Number(execFileSync('df', ['-B1', '--output=avail', dir], { encoding: 'utf8' }).split('\n')[1]);
  const filler = join(dir, 'filler');
  writeFileSync(filler, Buffer.alloc(Math.max(0, free - leave)));
  return filler;
}

/** Publishes readings 1…n of one device at QoS 1 with a window of unacknowledged ones, as a real device keeps. */
async function publishAll(client: MqttClient, deviceId: string, n: number, window: number, deadline: number, from = 1): Promise<void> {
  const pending = new Set<Promise<unknown>>();
  for (let seq = from; seq <= n; seq++) {
    if (Date.now() > deadline) throw new Error(`${deviceId}: ran out of time at seq ${seq}`);
    const payload = JSON.stringify({ ts: T0 + seq * 10, temperature: 20 + (seq % 50) / 10, seq });
    const p = client.publishAsync(`devices/${deviceId}/telemetry`, payload, { qos: 1 });
    pending.add(p);
    void p.finally(() => pending.delete(p));
    if (pending.size >= window) await Promise.race(pending);
  }
  await Promise.all(pending);
}

test('disk full under QoS 1 load: the server stays up, holds acknowledgements, says so once, and resumes when room is made', { timeout: 150_000 }, async (t) => {
  const dataDir = smallFileSystem(t);
  if (dataDir === null) return;
  const DEVICES = 10;
  const PER_DEVICE = 4000;
  // Segments are kept (retainMs) so the log itself grows and fills the disk along with SQLite.
  const config = { batchIntervalMs: 200, allowedLatenessMs: 3_600_000, ingest: { segmentBytes: 262_144, retainMs: 3_600_000 } };
  const server = await ServerProcess.create(dataDir, config);
  t.after(() => server.kill());
  await server.start();
  const filler = fill(dataDir, 1024 * 1024); // 1 MiB left: about a third of what the load writes to the log alone

  const clients = await Promise.all(Array.from({ length: DEVICES }, (_, d) => mqtt.connectAsync(server.mqttUrl, { clientId: `full-${d}` })));
  t.after(() => Promise.all(clients.map((c) => c.endAsync(true))));
  const deadline = Date.now() + 120_000;
  const publishing = Promise.all(clients.map((c, d) => publishAll(c, `full-${d}`, PER_DEVICE, 50, deadline)));

  // The disk fills: the server says so in its stats and keeps running.
  const full = await waitFor('the storage to be reported full', async () => {
    const s = (await getJson(`${server.httpUrl}/api/v1/stats`)).body;
    return s.storage.ok === false ? s : null;
  }, 60_000);
  assert.equal(full.storage.code, 'TS_ERR_STORAGE_FULL');
  assert.match(full.storage.error, /^storage full: cannot write the (ingest log|database) .* \((ENOSPC|SQLITE_FULL)/);
  assert.ok(!Number.isNaN(Date.parse(full.storage.since)));
  // While it is full the acknowledgements are held: the acknowledged count stops growing.
  await new Promise((r) => setTimeout(r, 1500));
  const during = (await getJson(`${server.httpUrl}/api/v1/stats`)).body;
  assert.equal(during.storage.ok, false, 'still full: nothing was freed');
  assert.ok(during.heldAcks > 0, `acknowledgements are held, and counted: ${JSON.stringify(during)}`);
  assert.equal(server.child!.exitCode, null, 'the server is still running');
  const messages = server.output.match(/thermostream: storage full: .*/g) ?? [];
  assert.ok(messages.length >= 1 && messages.length <= 2, `said once per failing part: ${messages.join('\n')}`);
  assert.match(messages[0] ?? '', new RegExp(`free in the data dir ${dataDir}, at least .* needed for the pending write`));

  // Room is made: the server resumes by itself, without a restart.
  rmSync(filler);
  const exited = server.waitExit().then((code) => {
    throw new Error(`the server exited with ${code}: ${server.output}`);
  });
  await Promise.race([publishing, exited]);
  await waitFor('every reading processed', async () => {
    const s = (await getJson(`${server.httpUrl}/api/v1/stats`)).body;
    return s.storage.ok && s.backlog === 0 && s.records >= DEVICES * PER_DEVICE;
  }, 60_000);
  assert.match(server.output, /thermostream: storage writable again: the (ingest log|database) resumed after/);
  const devices = (await getJson(`${server.httpUrl}/api/v1/devices`)).body.items;
  assert.deepEqual(
    devices.map((d: { deviceId: string; readings: number }) => [d.deviceId, d.readings]),
    Array.from({ length: DEVICES }, (_, d) => [`full-${d}`, PER_DEVICE]),
    'every device counted exactly the distinct readings it sent',
  );
  t.diagnostic(`full: ${full.storage.failing.join(', ')}; ${full.storage.error}`);

  // No half-written file: every log segment is whole blocks.
  assert.equal(await server.kill('SIGTERM'), 0);
  for (const name of readdirSync(join(dataDir, 'log'))) {
    const bytes: Buffer = readFileSync(join(dataDir, 'log', name));
    assert.equal(checkSegment(bytes).validBytes, bytes.length, `${name} ends on a whole block`);
  }
});

test('the database cannot commit (SQLITE_FULL): the batch rolls back and is committed again with the same cut, acknowledgements held meanwhile', { timeout: 90_000 }, async (t) => {
  const server = await ServerProcess.create(tempDir(t), { batchIntervalMs: 100, allowedLatenessMs: 3_600_000 });
  t.after(() => server.kill());
  // Every batch transaction fails for 6 s from the first one with results, as a full disk under SQLite makes it.
  await server.start({ THERMOSTREAM_FAULT: 'db-full:6000' });
  const client = await mqtt.connectAsync(server.mqttUrl);
  t.after(() => client.endAsync(true));
  // The first 100 readings make that batch; the rest go once the database is full, so their acknowledgements meet
  // it (published in one go, a quick machine had them all acknowledged before the first commit failed).
  const deadline = Date.now() + 60_000;
  await publishAll(client, 'db-full', 100, 100, deadline);
  const full = await waitFor('the database to be reported full', async () => {
    const s = (await getJson(`${server.httpUrl}/api/v1/stats`)).body;
    return s.storage.ok === false ? s : null;
  });
  assert.deepEqual(full.storage.failing, ['database']);
  assert.match(full.storage.error, /^storage full: cannot write the database .*thermostream\.db \(SQLITE_FULL: database or disk is full \(injected\)\)/);
  const publishing = publishAll(client, 'db-full', 2000, 100, deadline, 101);
  await waitFor('acknowledgements held while the database is full', async () => {
    const s = (await getJson(`${server.httpUrl}/api/v1/stats`)).body;
    return s.storage.ok === false && s.heldAcks > 0;
  });
  await publishing;
  await waitFor('every reading processed', async () => (await getJson(`${server.httpUrl}/api/v1/stats`)).body.records === 2000, 30_000);
  const after = (await getJson(`${server.httpUrl}/api/v1/stats`)).body;
  assert.equal(after.storage.ok, true);
  assert.ok(after.storage.retries === 0 && after.storage.error === null);
  assert.match(server.output, /thermostream: storage writable again: the database resumed after \d+\.\d s and \d+ retries/);
  assert.equal((server.output.match(/storage full/g) ?? []).length, 1, 'said once');
  const devices = (await getJson(`${server.httpUrl}/api/v1/devices`)).body.items;
  assert.equal(devices[0].readings, 2000, 'the retried batch counted once');
  assert.equal(await server.kill('SIGTERM'), 0);
});

test('SIGTERM while the disk is full: the server stops with a message, and after room is made nothing acknowledged is lost', { timeout: 120_000 }, async (t) => {
  const dataDir = smallFileSystem(t);
  if (dataDir === null) return;
  const config = { batchIntervalMs: 200, allowedLatenessMs: 3_600_000, ingest: { segmentBytes: 262_144, retainMs: 3_600_000 } };
  const server = await ServerProcess.create(dataDir, config);
  t.after(() => server.kill());
  await server.start();
  const filler = fill(dataDir, 512 * 1024);
  const DEVICES = 5;
  const acked = new Array<number>(DEVICES).fill(0);
  const clients = Array.from({ length: DEVICES }, (_, d) =>
    mqtt.connect(server.mqttUrl, { clientId: `term-${d}`, reconnectPeriod: 200, connectTimeout: 2000 }),
  );
  t.after(() => Promise.all(clients.map((c) => c.endAsync(true))));
  let running = true;
  t.after(() => (running = false));
  const deadline = Date.now() + 100_000;
  const publishers = clients.map(async (client, d) => {
    for (let seq = 1; running && seq <= 100_000; seq++) {
      const payload = JSON.stringify({ ts: T0 + seq * 10, temperature: 21, seq });
      await publishUntilAcked(client, `devices/term-${d}/telemetry`, payload, deadline, 1000);
      acked[d] = seq;
    }
  });
  await waitFor('the storage to be reported full', async () => (await getJson(`${server.httpUrl}/api/v1/stats`)).body.storage.ok === false, 60_000);
  const code = await server.kill('SIGTERM');
  assert.ok(code === 0 || /fatal: stopped while the disk under .* is full: the batch in progress was not committed/.test(server.output), `exit ${code}: ${server.output}`);

  rmSync(filler);
  await server.start();
  await waitFor('the devices to catch up', async () => (await getJson(`${server.httpUrl}/api/v1/stats`)).body.storage.ok && acked.every((n) => n > 0), 30_000);
  running = false;
  await Promise.all(publishers);
  await waitFor('every acknowledged reading processed', async () => {
    const items = (await getJson(`${server.httpUrl}/api/v1/devices`)).body.items as { deviceId: string; readings: number }[];
    return items.length === DEVICES && items.every((d) => d.readings === acked[Number(d.deviceId.slice(5))]);
  }, 30_000);
  assert.equal(await server.kill('SIGTERM'), 0);
});
