import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { createFleet } from '../simulator/index.ts';
import { getJson, startServer, waitFor } from './helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;

/** Which rejection reason the server gives each malformed kind the simulator injects. */
const REASON_OF_KIND: Record<string, string> = {
  'not-json': 'not_json',
  'missing-temperature': 'missing_temperature',
  'nan-temperature': 'non_finite_temperature',
  'null-temperature': 'non_finite_temperature',
  'string-temperature': 'wrong_type',
  'string-humidity': 'wrong_type',
  'future-ts': 'future_timestamp',
  oversized: 'payload_too_large',
  'bad-topic': 'bad_topic',
  'wrong-device': 'device_mismatch',
};

test('simulated bad, late and duplicate deliveries reach the server and show in its counters by reason', { timeout: 60_000 }, async (t) => {
  const app = await startServer(t, { allowedLatenessMs: 1000 });
  const args = ['--import', 'tsx', 'simulator/cli.ts', '--url', app.mqttUrl, '--devices', '5', '--rate', '200', '--duration', '3'];
  args.push('--seed', '3', '--qos', '1', '--bad-fraction', '0.1', '--late-fraction', '0.1', '--max-delay', '4');
  args.push('--duplicate-fraction', '0.05', '--json', '--quiet');
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout);
  assert.equal(summary.lost, 0);

  const stats = await waitFor('every generated reading processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records === summary.generated && s.backlog === 0 ? s : null;
  });
  const expected: Record<string, number> = {};
  for (const [kind, n] of Object.entries(summary.injected.bad as Record<string, number>)) {
    if (n > 0) expected[REASON_OF_KIND[kind]] = (expected[REASON_OF_KIND[kind]] ?? 0) + n;
  }
  assert.ok(Object.keys(expected).length >= 8, `most bad kinds injected: ${JSON.stringify(expected)}`);
  assert.deepEqual(stats.rejected.byReason, expected);
  assert.equal(stats.duplicates, summary.injected.duplicate);
  assert.ok(summary.injected.duplicate > 0);
  // Delayed readings are late on the server only when the delay took them behind the watermark (1 s lateness).
  assert.ok(stats.late > 0 && stats.late <= summary.injected.late, `late ${stats.late} of ${summary.injected.late} delayed`);
});

test("the mqtt transport over the server's TLS listener trusts --ca (its generated CA); without TLS, or without --url, --ca is refused", { timeout: 60_000 }, async (t) => {
  const app = await startServer(t, { mqtt: { tlsPort: 0 } });
  const run = (args: string[]) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'simulator/cli.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });
    t.after(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  };
  const fleet = ['--devices', '3', '--device-prefix', 'tls-', '--rate', '30', '--count', '30', '--json', '--quiet'];
  const ok = await run([...fleet, '--url', app.mqttsUrl!, '--ca', app.caFile!]);
  assert.equal(ok.code, 0, ok.stderr);
  const summary = JSON.parse(ok.stdout);
  assert.deepEqual([summary.acknowledged, summary.lost], [30, 0]);
  await waitFor('the 30 readings processed', async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body.records === 30);

  // Without it the server's certificate is not trusted, and the failure says so.
  const untrusted = await run([...fleet, '--url', app.mqttsUrl!, '--connect-timeout', '2']);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /unable to verify the first certificate \(trust the server's CA: --ca data\/tls\/ca\.pem from its data directory, or NODE_EXTRA_CA_CERTS\)/);
  const plain = await run([...fleet, '--url', app.mqttUrl, '--ca', app.caFile!]);
  assert.equal(plain.code, 2);
  assert.match(plain.stderr, /^simulator: option --ca does nothing with a --url without TLS \(mqtt:\/\/, ws:\/\/\): leave it out/);
  const missing = await run([...fleet, '--url', app.mqttsUrl!, '--ca', `${app.caFile!}.missing`]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^simulator: invalid value for --ca: ".*\.missing" \(expected a readable PEM file; ENOENT: no such file or directory/);
  const fileOnly = await run(['--devices', '1', '--count', '1', '--out', '/dev/null', '--ca', app.caFile!]);
  assert.equal(fileOnly.code, 2);
  assert.match(fileOnly.stderr, /^simulator: option --ca does nothing without --url \(nothing is published\): leave it out/);
});

test("the mqtt transport over WebSocket: ws://host:port, without a path, reaches the server's /mqtt, as the azure transport its own path", { timeout: 60_000 }, async (t) => {
  const app = await startServer(t);
  const ws = new URL(app.wsUrl!);
  const fleet = createFleet({ url: `ws://127.0.0.1:${ws.port}`, devices: 2, devicePrefix: 'ws-', rate: 20, count: 10, seed: 1, connectTimeout: 3 });
  t.after(() => fleet.stop());
  const summary = await fleet.run();
  assert.deepEqual([summary.acknowledged, summary.lost], [10, 0]);
  await waitFor('the 10 readings processed', async () => (await getJson(`${app.httpUrl}/api/v1/stats`)).body.records === 10);
});

test('the mqtt transport over WebSocket at a path the server does not serve fails naming the HTTP answer, not only a timeout', { timeout: 60_000 }, async (t) => {
  const app = await startServer(t);
  const ws = new URL(app.wsUrl!);
  const fleet = createFleet({ url: `ws://127.0.0.1:${ws.port}/wrong`, devices: 2, rate: 20, count: 10, seed: 1, connectTimeout: 2 });
  t.after(() => fleet.stop());
  await assert.rejects(fleet.run(), {
    message: `cannot connect to ws://127.0.0.1:${ws.port}/wrong: 2 of 2 connections not up after 2000 ms: Unexpected server response: 404`,
  });
});
