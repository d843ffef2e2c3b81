/**
 * The whole server on PostgreSQL (store.url): the same readings over MQTT give the same answers over HTTP as on
 * SQLite, and a SIGKILL inside a batch transaction loses and duplicates nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import type { Thermostream } from '../server/main.ts';
import { connect, getJson, startServer, tempDir, waitFor, waitForRecords } from './helpers.ts';
import { diffWindows, oracleWindows, publishUntilAcked, ServerProcess, type WindowRow } from './server-process.ts';
import { startPostgres, type RunningPostgres } from './postgres.ts';
import { SseClient } from './sse-client.ts';

/**
 * One PostgreSQL server for the file, a database per test (tests in a file run one after another). The outage test,
 * which crashes the server and starts it again, comes last: the others never see it go away.
 */
let pg: RunningPostgres;
const stopPg: (() => unknown)[] = [];
before(async () => {
  pg = await startPostgres({ after: (fn) => stopPg.push(fn) });
});
after(async () => {
  for (const fn of stopPg) await fn(); // after every test's servers have closed (their t.after ran at their end)
});

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const DEVICES = 8;
const PER_DEVICE = 30;

/** Quarter degrees, one spike (dev-03 at i = 25), humidity on every other device. */
function payloads(): { topic: string; body: string; reading: { deviceId: string; ts: number; temperature: number } }[] {
  const out = [];
  for (let i = 0; i < PER_DEVICE; i++) {
    for (let d = 0; d < DEVICES; d++) {
      const deviceId = `dev-${d}`;
      const ts = T0 + i * 1000 + d * 10;
      const temperature = d === 3 && i === 25 ? 45 : 20 + ((d * 7 + i * 3) % 12) / 4;
      const body = JSON.stringify({ ts, temperature, seq: i + 1, ...(d % 2 === 0 ? { humidity: 40 + (i % 4) } : {}) });
      out.push({ topic: `devices/${deviceId}/telemetry`, body, reading: { deviceId, ts, temperature } });
    }
  }
  return out;
}

/** What a user sees of a server's results, without what depends on arrival times (firstSeen, lastSeen, online). */
async function results(app: Thermostream): Promise<unknown> {
  const base = `${app.httpUrl}/api/v1`;
  const windows: Record<string, unknown> = {};
  for (const w of app.config.windows) {
    for (const id of ['*', ...Array.from({ length: DEVICES }, (_, d) => `dev-${d}`)]) {
      const q = `length=${w.lengthMs}&slide=${w.slideMs}&from=${T0 - 600_000}&limit=1000`;
      windows[`${id}/${w.lengthMs}`] = (await getJson(`${base}/windows?${id === '*' ? '' : `deviceId=${id}&`}${q}`)).body;
    }
  }
  const devices = (await getJson(`${base}/devices`)).body.items.map(({ firstSeen: _, lastSeen: __, online: ___, ...d }: Record<string, unknown>) => d);
  const anomalies = (await getJson(`${base}/anomalies?from=${T0 - 600_000}`)).body;
  const s = (await getJson(`${base}/stats`)).body;
  return { windows, devices, anomalies, stats: { records: s.records, duplicates: s.duplicates, late: s.late } };
}

test('the server on PostgreSQL answers windows, devices, anomalies and stats over HTTP as on SQLite, for the same MQTT readings', { timeout: 180_000 }, async (t) => {
  const url = await pg.createDatabase('same_answers');
  // A long allowed lateness keeps every window open: the results do not depend on how batches are cut.
  const overrides = { allowedLatenessMs: 600_000 };
  const sqlite = await startServer(t, overrides);
  const postgres = await startServer(t, { ...overrides, store: { url } });
  assert.equal(postgres.dbFile, url.replace(':secret@', ':***@'), 'the store is named without its password');
  const all = payloads();
  // The live stream's fleet windows on PostgreSQL are merged from the store's partials before they are sent.
  const stream = new SseClient(`${postgres.httpUrl}/api/v1/stream?kind=window`);
  await stream.open();
  t.after(() => stream.close());
  for (const app of [sqlite, postgres]) {
    const client = await connect(t, app.mqttUrl);
    for (const p of all) await client.publishAsync(p.topic, p.body, { qos: 1 });
    await waitForRecords(app, all.length);
  }
  // Open windows are refreshed within a slide of their change (at once when the devices fall quiet): compare once
  // both have settled.
  let expected = await results(sqlite);
  let actual = await results(postgres);
  await waitFor('the same answers from both stores', async () => {
    [expected, actual] = [await results(sqlite), await results(postgres)];
    return JSON.stringify(actual) === JSON.stringify(expected);
  }, 15_000).catch(() => undefined);
  assert.deepEqual(actual, expected);
  const fleet = (actual as { windows: Record<string, { items: { lengthMs: number; start: string }[] }> }).windows;
  const mismatches = (): string[] => {
    const lastSent = new Map<string, unknown>();
    for (const e of stream.events) {
      if (e.event !== 'window' || e.data.deviceId !== '*') continue;
      const { batch: _, ...w } = e.data;
      lastSent.set(`${w.lengthMs}@${w.start}`, w);
    }
    const out: string[] = [];
    for (const [key, body] of Object.entries(fleet)) {
      if (!key.startsWith('*/')) continue;
      for (const w of body.items) {
        const sent = lastSent.get(`${w.lengthMs}@${w.start}`);
        if (JSON.stringify(sent) !== JSON.stringify(w)) out.push(`${w.lengthMs}@${w.start}: streamed ${JSON.stringify(sent)}, queried ${JSON.stringify(w)}`);
      }
    }
    return out;
  };
  await waitFor('the streamed fleet windows to be the queried ones', () => mismatches().length === 0).catch(() => {});
  assert.deepEqual(mismatches(), []);
  assert.deepEqual((expected as { anomalies: { items: { deviceId: string; type: string }[] } }).anomalies.items.map((a) => [a.deviceId, a.type]), [['dev-3', 'spike']]);
  const w = (expected as { windows: Record<string, { items: { count: number }[] }> }).windows;
  assert.equal(w['*/10000'].items.reduce((n, x) => n + x.count, 0), all.length * 5, 'every reading in five 10 s windows of the fleet');
});

test('exactly-once on PostgreSQL across a SIGKILL inside a batch transaction: windows equal the oracle, devices count every reading once', { timeout: 180_000 }, async (t) => {
  const url = await pg.createDatabase('sigkill');
  const windows = [{ lengthMs: 10_000, slideMs: 2_000 }];
  const server = await ServerProcess.create(tempDir(t), { batchIntervalMs: 200, allowedLatenessMs: 600_000, windows });
  t.after(() => server.kill());
  const args = ['--store', url, '--instance-id', 'node-1'];
  // The second batch with window results is killed after its outputs are written, before its checkpoint.
  await server.startWith(args, { THERMOSTREAM_FAULT: 'crash-before-checkpoint:2' });
  const all = payloads();
  const client = mqtt.connect(server.mqttUrl, { reconnectPeriod: 200, connectTimeout: 5000 });
  t.after(() => client.endAsync());
  await waitFor('the MQTT connection', () => client.connected);
  // The device publishes one reading at a time, resending what is not acknowledged, across the crash. Its first half
  // is counted (committed by a batch with window results) before it sends the rest, which come in a later batch: so
  // there is a second batch with window results whatever the speed of the machine. (It sent all of them in one go:
  // 240 readings acknowledged within one 200 ms batch made one batch with results, and nothing was ever killed.)
  const deadline = Date.now() + 120_000;
  let killed = false;
  const exited = server.waitExit().then((code) => ((killed = true), code));
  const half = all.length / 2;
  const publishing = (async () => {
    for (const p of all.slice(0, half)) await publishUntilAcked(client, p.topic, p.body, deadline);
    await waitFor('the first half counted (or the server killed already)', async () => killed || (await getJson(`${server.httpUrl}/api/v1/stats`)).body.records >= half, 60_000);
    for (const p of all.slice(half)) await publishUntilAcked(client, p.topic, p.body, deadline);
  })();
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    exited,
    // All acknowledged (before their batch commits): the kill comes within a batch or two, or never.
    publishing.then(() => killed || new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`not killed by the fault: ${server.output.slice(-500)}`)), 60_000)))),
  ]).finally(() => clearTimeout(timer));
  assert.equal(code, null, `killed by the fault (SIGKILL): ${server.output.slice(-500)}`);
  // The restart (same instance id) recovers its checkpoint from PostgreSQL and replays its ingest log.
  await server.startWith(args, {});
  await publishing;
  await waitFor(
    'every reading counted',
    async () => {
      const { body } = await getJson(`${server.httpUrl}/api/v1/devices`);
      return body.items.length === DEVICES && body.items.every((d: { readings: number }) => d.readings === PER_DEVICE);
    },
    60_000,
  );
  // The windows are open (10 min of allowed lateness): each is refreshed within a slide of its last change.
  const oracle = oracleWindows(all.map((p) => p.reading), 10_000, 2_000);
  let problems: string[] = [];
  await waitFor('the windows equal the oracle', async () => {
    const stored = new Map<string, WindowRow>();
    for (const id of ['*', ...Array.from({ length: DEVICES }, (_, d) => `dev-${d}`)]) {
      const q = `${id === '*' ? '' : `deviceId=${id}&`}from=${T0 - 600_000}&limit=1000`;
      for (const w of (await getJson(`${server.httpUrl}/api/v1/windows?${q}`)).body.items) {
        const start = Date.parse(w.start);
        stored.set(`${id}@${start}`, { deviceId: id, start, count: w.count, avg: w.avg, min: w.min, max: w.max });
      }
    }
    problems = diffWindows(stored, oracle);
    return problems.length === 0;
  }, 15_000).catch(() => undefined);
  assert.deepEqual(problems, []);
  const devices = (await getJson(`${server.httpUrl}/api/v1/devices`)).body.items.map((d: { readings: number }) => d.readings);
  assert.deepEqual(devices, Array(DEVICES).fill(PER_DEVICE), 'every reading counted exactly once');
  assert.equal(await server.kill('SIGTERM'), 0);
});

test('PostgreSQL going away while the server runs: batches are held and committed again once it is back, nothing lost or doubled', { timeout: 180_000 }, async (t) => {
  const url = await pg.createDatabase('goes_away');
  const app = await startServer(t, { allowedLatenessMs: 600_000, store: { url } });
  const all = payloads();
  const half = all.length / 2;
  const client = await connect(t, app.mqttUrl);
  for (const p of all.slice(0, half)) await client.publishAsync(p.topic, p.body, { qos: 1 });
  await waitForRecords(app, half);
  await pg.crash();
  // Readings keep being written to the durable log; their batch cannot commit, and acknowledgements are held.
  const acked = Promise.all(all.slice(half).map((p) => client.publishAsync(p.topic, p.body, { qos: 1 })));
  const down = await waitFor('the store reported unavailable', async () => {
    const { body } = await getJson(`${app.httpUrl}/api/v1/stats`);
    return body.storage.ok === false ? body.storage : null;
  }, 30_000);
  assert.equal(down.code, 'TS_ERR_STORE_UNAVAILABLE');
  assert.match(down.error, new RegExp(`cannot commit batch \\d+ to ${url.replace(':secret@', ':\\*\\*\\*@').replace(/[.]/g, '\\.')}`));
  assert.equal((await fetch(`${app.httpUrl}/readyz`)).status, 503);
  await pg.start();
  await acked;
  await waitFor('the storage healthy again', async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body.storage.ok, 60_000);
  await waitForRecords(app, all.length);
  const devices = (await getJson(`${app.httpUrl}/api/v1/devices`)).body.items.map((d: { readings: number }) => d.readings);
  assert.deepEqual(devices, Array(DEVICES).fill(PER_DEVICE), 'every reading counted exactly once');
  // The windows are open (10 min of allowed lateness): each is refreshed within a slide of its last change.
  const oracle = new Map([...oracleWindows(all.map((p) => p.reading), 10_000, 2_000)].filter(([k]) => k.startsWith('*@')));
  let problems: string[] = [];
  await waitFor('the fleet windows equal the oracle', async () => {
    const fleet = (await getJson(`${app.httpUrl}/api/v1/windows?from=${T0 - 600_000}&limit=1000`)).body.items;
    const stored = new Map<string, WindowRow>(fleet.map((w: any) => [`*@${Date.parse(w.start)}`, { deviceId: '*', start: Date.parse(w.start), count: w.count, avg: w.avg, min: w.min, max: w.max }]));
    problems = diffWindows(stored, oracle);
    return problems.length === 0;
  }, 15_000).catch(() => undefined);
  assert.deepEqual(problems, []);
});
