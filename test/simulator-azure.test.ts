import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { createFleet } from '../simulator/index.ts';
import { createThermostat, deviceParams } from '../simulator/model.ts';
import { averageTemperature, getJson, tempDir, waitFor } from './helpers.ts';
import { request, startSecureServer } from './iothub-helpers.ts';
import { runSimulator as runCli, withTimeout } from './simulator-helpers.ts';

// Acceptance 6 of issue 10: the azure transport sends a fleet through the SDK, over TLS, to a server with
// --auth registry; its summary matches the server's counts; a resend (same messageId and seq) is counted once.
test('azure transport: 10 devices × 20 readings over MQTT-TLS with registry auth; summary = server counts; resends counted once', { timeout: 90_000 }, async (t) => {
  const app = await startSecureServer(t);
  const args = ['--transport', 'azure', '--registry', app.httpUrl, '--ca', app.caFile!, '--devices', '10', '--count', '200'];
  args.push('--rate', '100', '--seed', '4', '--duplicate-fraction', '0.05', '--json', '--quiet');
  const run = await runCli(args);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  const dups = summary.injected.duplicate;
  assert.ok(dups > 0, 'some readings were sent twice');
  assert.deepEqual(
    { ok: summary.ok, transport: summary.transport, devices: summary.devices, connections: summary.connections, qos: summary.qos },
    { ok: true, transport: 'azure', devices: 10, connections: 10, qos: 1 },
  );
  assert.deepEqual({ generated: summary.generated, sent: summary.sent, acknowledged: summary.acknowledged, messages: summary.messages, lost: summary.lost, errors: summary.errors }, {
    generated: 200,
    sent: 200 + dups,
    acknowledged: 200 + dups,
    messages: 200 + dups,
    lost: 0,
    errors: 0,
  });

  const stats = await waitFor('every message processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records + s.duplicates >= summary.messages && s.backlog === 0 ? s : null;
  });
  assert.equal(stats.records, 200);
  assert.equal(stats.duplicates, dups);
  assert.deepEqual(stats.rejected, { total: 0, byReason: {} });
  assert.deepEqual(stats.security.authFailures, { total: 0, byReason: {} });
  const devices = (await getJson(`${app.httpUrl}/api/v1/devices?limit=100`)).body.items;
  assert.deepEqual(
    devices.map((d: any) => [d.deviceId, d.readings]).sort(),
    Array.from({ length: 10 }, (_, i) => [`thermostat-${String(i + 1).padStart(4, '0')}`, 20]),
  );
  // The registry holds the devices the simulator created; a second run reuses them.
  const registered = (await getJson(`${app.httpUrl}/api/v1/registry/devices`)).body.items;
  assert.equal(registered.length, 10);
  const again = await runCli(['--transport', 'azure', '--registry', app.httpUrl, '--ca', app.caFile!, '--devices', '10', '--count', '10', '--rate', '100', '--json', '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(JSON.parse(again.stdout).acknowledged, 10);
  assert.equal((await getJson(`${app.httpUrl}/api/v1/registry/devices`)).body.items.length, 10);
});

/**
 * A TCP relay to `port` (TLS passes through untouched) whose connections the test can cut, and which can hold back
 * what the server sends (its PUBACKs) while the devices' publishes still reach it.
 */
async function relay(t: import('node:test').TestContext, port: number): Promise<{ port: number; cut: () => number; holdReplies: () => void }> {
  const sockets = new Set<Socket>();
  const pairs: [Socket, Socket][] = [];
  const server = createServer((inbound) => {
    const outbound = netConnect(port, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    inbound.pipe(outbound).pipe(inbound);
    pairs.push([inbound, outbound]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return {
    port: (server.address() as { port: number }).port,
    cut: () => {
      const n = sockets.size / 2;
      for (const s of sockets) s.destroy();
      return n;
    },
    holdReplies: () => {
      for (const [inbound, outbound] of pairs) {
        outbound.unpipe(inbound);
        outbound.pause();
      }
    },
  };
}

test('azure transport: connections cut mid-run, the SDK reconnects and resends; every reading is counted once', { timeout: 90_000 }, async (t) => {
  const app = await startSecureServer(t);
  const tls = await relay(t, Number(new URL(app.mqttsUrl!).port));
  const fleet = createFleet({ transport: 'azure', registry: app.httpUrl, ca: app.caFile!, url: `mqtts://127.0.0.1:${tls.port}`, devices: 5, rate: 100, count: 600, seed: 6, drainTimeout: 60 });
  const done = fleet.run();
  t.after(() => fleet.stop());
  await waitFor('readings acknowledged', () => fleet.counters.acknowledged >= 100, 20_000);
  // PUBACKs held back: the server has these messages, the devices do not know it; then the connections drop.
  tls.holdReplies();
  await waitFor('messages waiting for their PUBACK', () => fleet.progress().inFlight >= 20, 20_000);
  const inFlight = fleet.progress().inFlight;
  assert.equal(tls.cut(), 5, 'five device connections cut');
  const summary = await withTimeout(done, 80_000, 'the fleet');
  assert.deepEqual([summary.generated, summary.sent, summary.acknowledged, summary.lost, summary.errors], [600, 600, 600, 0, 0]);
  assert.ok(summary.reconnects >= 5, `reconnects ${summary.reconnects}`);
  const stats = await waitFor('every reading processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records >= 600 && s.backlog === 0 ? s : null;
  });
  // Exactly once: a message whose PUBACK the cut lost is sent again with the same messageId and seq.
  assert.equal(stats.records, 600);
  assert.ok(stats.duplicates > 0, `some of the ${inFlight} unacknowledged messages were resent: ${stats.duplicates} duplicates`);
  t.diagnostic(`in flight at the cut: ${inFlight}; resends the server counted as duplicates: ${stats.duplicates}`);
});

test('azure transport over plain MQTT and MQTT over WebSocket, connection strings from a file, CA from NODE_EXTRA_CA_CERTS', { timeout: 90_000 }, async (t) => {
  const app = await startSecureServer(t);
  const dir = tempDir(t);
  const cs: Record<string, string> = {};
  for (const id of ['room-a', 'room-b', 'room-c', 'room-d', 'room-e', 'room-f']) {
    cs[id] = (await request('POST', `${app.httpUrl}/api/v1/registry/devices`, { deviceId: id })).body.connectionString;
  }
  // Each run its own devices (the server dedupes by device and seq, and every run starts at seq 1).
  const lines = join(dir, 'ab.txt');
  writeFileSync(lines, `# two rooms\n${cs['room-a']}\n\n${cs['room-b']}\n`);
  const json = join(dir, 'cd.json');
  writeFileSync(json, JSON.stringify([{ connectionString: cs['room-c'] }, { connectionString: cs['room-d'] }]));
  const ef = join(dir, 'ef.json');
  writeFileSync(ef, JSON.stringify([cs['room-e'], cs['room-f']]));
  const port = new URL(app.httpUrl).port;

  const plain = await runCli(['--transport', 'azure', '--connection-strings', lines, '--url', app.mqttUrl, '--count', '20', '--rate', '100', '--json', '--quiet']);
  assert.equal(plain.code, 0, plain.stderr);
  const ws = await runCli(['--transport', 'azure', '--connection-strings', json, '--url', `ws://127.0.0.1:${port}`, '--count', '20', '--rate', '100', '--json', '--quiet']);
  assert.equal(ws.code, 0, ws.stderr);
  // TLS with the CA from the environment, not --ca.
  const tls = await runCli(['--transport', 'azure', '--connection-strings', ef, '--count', '20', '--rate', '100', '--json', '--quiet'], { env: { NODE_EXTRA_CA_CERTS: app.caFile! } });
  assert.equal(tls.code, 0, tls.stderr);
  for (const run of [plain, ws, tls]) {
    const s = JSON.parse(run.stdout);
    assert.deepEqual([s.devices, s.generated, s.acknowledged, s.lost], [2, 20, 20, 0]);
  }
  const stats = await waitFor('60 records', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records >= 60 && s.backlog === 0 ? s : null;
  });
  assert.equal(stats.records, 60);
  const devices = (await getJson(`${app.httpUrl}/api/v1/devices?limit=100`)).body.items;
  assert.deepEqual(devices.map((d: any) => [d.deviceId, d.readings]).sort(), ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => [`room-${x}`, 10]));
  // Every run authenticated with its SAS keys: none refused.
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/stats`)).body.security.authFailures, { total: 0, byReason: {} });
});

test('azure transport, --replay of an undated recording without seq: records alike are each counted, their duplicates once', { timeout: 90_000 }, async (t) => {
  const app = await startSecureServer(t);
  const file = join(tempDir(t), 'undated.csv');
  // A thermostat that reads 21.5 °C three times: three readings, whatever their content. One record has its own id.
  writeFileSync(file, 'deviceId,temperature,humidity,messageId\nhall,21.5,40,\nhall,21.5,40,\nhall,21.6,40,\nhall,21.5,40,\nhall,21.5,40,gw-77\n');
  // Every record sent twice: the copy has the message id of its original, and only that.
  const run = await runCli(['--transport', 'azure', '--registry', app.httpUrl, '--ca', app.caFile!, '--replay', file, '--duplicate-fraction', '1', '--json', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.deepEqual([summary.generated, summary.acknowledged, summary.injected.duplicate], [5, 10, 5]);
  const stats = await waitFor('every message processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records + s.duplicates >= 10 && s.backlog === 0 ? s : null;
  });
  assert.deepEqual([stats.records, stats.duplicates, stats.rejected.total], [5, 5, 0]);
  assert.equal((await getJson(`${app.httpUrl}/api/v1/devices/hall`)).body.readings, 5);
  // Replayed again, the undated records are new readings, as over MQTT (but gw-77, which names itself, is a resend).
  const again = await runCli(['--transport', 'azure', '--registry', app.httpUrl, '--ca', app.caFile!, '--replay', file, '--json', '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  const after = await waitFor('the second run processed', async () => {
    const s = (await getJson(`${app.httpUrl}/api/v1/stats`)).body;
    return s.records + s.duplicates >= 15 && s.backlog === 0 ? s : null;
  });
  assert.deepEqual([after.records, after.duplicates], [9, 6]);
});

test('azure transport: bad options name what is wrong', async () => {
  const cases: [string[], RegExp][] = [
    // Neither source of devices: the message names both options, not an "undefined" value.
    [['--transport', 'azure', '--count', '1'], /^simulator: --transport azure needs its devices: --registry http:\/\/host:port \(the server's registry creates them\) or --connection-strings FILE\n/],
    [['--transport', 'azure', '--registry', 'http://x:1', '--connection-strings', '/tmp/cs.txt'], /--connection-strings: "\/tmp\/cs.txt" \(expected either --connection-strings FILE or --registry http:\/\/host:port, not both\)/],
    [['--registry', 'http://127.0.0.1:1', '--url', 'mqtt://127.0.0.1:1'], /--registry: "http:\/\/127.0.0.1:1" \(expected only with --transport azure\)/],
    [['--transport', 'azure', '--registry', 'localhost:8080'], /--registry: "localhost:8080" \(expected the server's HTTP base URL/],
    [['--transport', 'azure', '--registry', 'http://x:1', '--qos', '0'], /--qos: 0 \(expected 1 with --transport azure/],
    [['--transport', 'azure', '--connection-strings', '/nonexistent/cs.txt'], /--connection-strings: "\/nonexistent\/cs.txt" \(expected a readable file/],
    // A CA that cannot be read is an option error before anything connects (it was the raw ENOENT, exit code 1).
    [['--transport', 'azure', '--registry', 'http://127.0.0.1:9', '--ca', '/nonexistent/ca.pem', '--count', '1'], /^simulator: invalid value for --ca: "\/nonexistent\/ca.pem" \(expected a readable PEM file; ENOENT: no such file or directory/],
  ];
  for (const [args, message] of cases) {
    const run = await runCli(args);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, message);
  }
  // Options that would do nothing with it are refused by name, not silently ignored (a password is not echoed).
  const azure = ['--transport', 'azure', '--registry', 'http://x:1', '--count', '1'];
  const signIn = 'each device signs in with the key of its connection string';
  const unused: [string[], string][] = [
    [[...azure, '--connections', '4'], 'option --connections does nothing with --transport azure (one SDK client per device): leave it out'],
    [[...azure, '--username', 'gw'], `option --username does nothing with --transport azure (${signIn}): leave it out`],
    [[...azure, '--password', 'hunter2'], `option --password does nothing with --transport azure (${signIn}): leave it out`],
    [[...azure, '--url', 'ws://127.0.0.1:1', '--ca', '/tmp/ca.pem'], 'option --ca does nothing with a --url without TLS (mqtt://, ws://): leave it out'],
    [['--transport', 'azure', '--connection-strings', '/dev/null', '--api-token', 'x'.repeat(16)], 'option --api-token does nothing without --registry (the token is for its requests): leave it out'],
    [['--transport', 'azure', '--connection-strings', '/dev/null', '--device-prefix', 'th-'], "option --device-prefix does nothing with --connection-strings (the devices are the file's): leave it out"],
  ];
  for (const [args, message] of unused) {
    const run = await runCli(args);
    assert.deepEqual({ code: run.code, stdout: run.stdout, stderr: run.stderr }, { code: 2, stdout: '', stderr: `simulator: ${message}\nTry --help.\n` }, args.join(' '));
  }
  const unreachable = await runCli(['--transport', 'azure', '--registry', 'http://127.0.0.1:9', '--count', '1']);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot reach the registry at http:\/\/127.0.0.1:9\/api\/v1\/registry\/devices/);
});

// The SDK passes a TLS failure on as an UnauthorizedError with Node's text and no code: the message named neither
// the certificate's trust nor --ca, as the mqtt transport's does (found in a simulator walkthrough).
test("azure transport over TLS without the server's CA: the failure names --ca", { timeout: 60_000 }, async (t) => {
  const app = await startSecureServer(t);
  const file = join(tempDir(t), 'cs.txt');
  writeFileSync(file, `${(await request('POST', `${app.httpUrl}/api/v1/registry/devices`, { deviceId: 'room-ca' })).body.connectionString}\n`);
  const run = await runCli(['--transport', 'azure', '--connection-strings', file, '--count', '1', '--connect-timeout', '20'], { env: { NODE_EXTRA_CA_CERTS: '' } });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^simulator: cannot connect to the connection strings' HostName: .*unable to verify the first certificate.* \(trust the server's CA: --ca data\/tls\/ca\.pem from its data directory, or NODE_EXTRA_CA_CERTS\)\n$/);
});

test('model: a held setpoint is reached within a simulated minute, heating and cooling, then kept', () => {
  const params = deviceParams(1, 'thermostat-0001');
  for (const delta of [5, -5]) {
    const m = createThermostat(params, 1);
    const t0 = Date.parse('2026-12-01T12:00:00Z');
    for (let s = 0; s <= 600; s += 10) m.sample(t0 + s * 1000);
    const target = params.setpoint + delta;
    m.hold(target);
    assert.equal(m.held, target);
    const at = t0 + 600_000;
    const after = m.sample(at + 60_000);
    assert.ok(Math.abs(after.room - target) <= params.hysteresis / 2 + 0.01, `delta ${delta}: room ${after.room} vs ${target} a minute later`);
    // Kept with hysteresis (heating or cooling) for the next hour.
    for (let s = 70; s <= 3600; s += 10) {
      const x = m.sample(at + s * 1000);
      assert.ok(Math.abs(x.room - target) <= params.hysteresis / 2 + 0.2, `delta ${delta}: room ${x.room} at +${s}s`);
    }
  }
});

// Issue 13: a desired setpoint set over HTTP reaches the simulated device, is acknowledged as a reported property,
// and the device's readings move to it within a simulated minute.
test('azure transport: a desired setpoint reaches the simulated thermostat, is acknowledged, and its readings move to it', { timeout: 90_000 }, async (t) => {
  const app = await startSecureServer(t);
  // 2 devices at 20 readings/s, 30× speedup: one reading per device every 3 simulated s, a simulated minute in 2 s.
  const fleet = createFleet({ transport: 'azure', registry: app.httpUrl, ca: app.caFile!, devices: 2, rate: 20, speedup: 30, duration: 40, seed: 5 });
  const done = fleet.run();
  t.after(() => fleet.stop());
  const id = 'thermostat-0001';
  const twinUrl = `${app.httpUrl}/api/v1/registry/devices/${id}/twin`;
  // Two simulated minutes of readings at the device's own setpoint first.
  await waitFor('readings', async () => ((await getJson(`${app.httpUrl}/api/v1/stats`)).body.records >= 80 ? true : null), 20_000);
  const own = deviceParams(5, id).setpoint;
  const target = own + 5;
  const patched = await request('PATCH', twinUrl, { properties: { desired: { setpoint: target } } });
  assert.equal(patched.status, 200);
  const reported: any = await waitFor('the acknowledgement', async () => {
    const r = (await request('GET', twinUrl)).body.properties.reported;
    return r.setpoint === target ? r : null;
  });
  // (setpointError: null in the device's patch deletes a previous error, as JSON merge patch does.)
  assert.deepEqual(Object.keys(reported).sort(), ['$version', 'setpoint', 'setpointAppliedAt']);
  const appliedAt = Date.parse(reported.setpointAppliedAt);
  // Then two more simulated minutes (4 s), and the run stops.
  await waitFor('two simulated minutes after', async () => {
    const p = await averageTemperature(app.httpUrl, id, appliedAt + 60_000, appliedAt + 120_000);
    return p.n >= 15 ? p : null;
  }, 20_000);
  fleet.stop();
  const summary = await withTimeout(done, 30_000, 'the fleet');
  assert.equal(summary.lost, 0);

  const before = await averageTemperature(app.httpUrl, id, appliedAt - 120_000, appliedAt);
  const after = await averageTemperature(app.httpUrl, id, appliedAt + 60_000, appliedAt + 120_000);
  t.diagnostic(`setpoint ${target} °C: before ${before.avg.toFixed(2)} °C (${before.n} readings), 1–2 simulated min after ${after.avg.toFixed(2)} °C (${after.n})`);
  // Tolerance: half the hysteresis band (≤ 0.5 °C) + calibration offset (≤ 0.3 °C) + noise and quantisation.
  assert.ok(Math.abs(after.avg - target) <= 1, `after: ${after.avg.toFixed(2)} °C over ${after.n} readings, setpoint ${target}`);
  assert.ok(target - before.avg >= 3, `before: ${before.avg.toFixed(2)} °C over ${before.n} readings, setpoint ${target}`);
  // The other device kept its own setpoint.
  assert.deepEqual((await request('GET', `${app.httpUrl}/api/v1/registry/devices/thermostat-0002/twin`)).body.properties.reported, { $version: 1 });
});
