import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { builtServer, ensureDashboardBuilt, getJson, tempDir, waitFor } from './helpers.ts';
import { ServerProcess } from './server-process.ts';
import { recordingBroker } from './simulator-helpers.ts';
import { parseCli, resolveConfig } from '../server/config.ts';
import { configWarnings, hostNamePortWarning } from '../server/config-checks.ts';
import { ECHO_MS } from '../server/stop-signals.ts';

const ROOT = new URL('..', import.meta.url).pathname;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI from its TypeScript, as the tests import it. */
const FROM_SOURCE = ['--import', 'tsx', 'server/main.ts'];

/**
 * Runs the real CLI as a user would and collects what it prints: from source, or `script`, e.g. the built server
 * (`npm start` runs it; it starts in about a third of the time tsx takes to load the source).
 */
function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000, script = FROM_SOURCE): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...script, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not exit within ${timeoutMs} ms: ${stdout}${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('invalid configuration exits with code 2 and names the key and value', async (t) => {
  const dir = tempDir(t);
  const zeroWindow = join(dir, 'zero-window.json');
  writeFileSync(zeroWindow, JSON.stringify({ windows: [{ lengthMs: 0, slideMs: 2000 }] }));
  const unknownKey = join(dir, 'unknown-key.json');
  writeFileSync(unknownKey, JSON.stringify({ http: { port: 0, prot: 1 } }));
  const twice = join(dir, 'twice.json');
  writeFileSync(twice, JSON.stringify({ windows: [{ lengthMs: 10000, slideMs: 2000 }, { lengthMs: 10000, slideMs: 2000 }] }));
  const costly = join(dir, 'costly.json');
  writeFileSync(costly, JSON.stringify({ windows: [{ lengthMs: 3600000, slideMs: 1000 }] }));
  const quoted = join(dir, 'quoted-port.json');
  writeFileSync(quoted, JSON.stringify({ http: { port: '8081' } }));
  const sameUser = join(dir, 'same-user.json');
  const users = [{ username: 'gw', password: 'first-password' }, { username: 'gw', password: 'second-password' }];
  writeFileSync(sameUser, JSON.stringify({ auth: { mode: 'registry', users } }));
  const re = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--http-port', 'abc'], {}, /http\.port = "abc" \(from --http-port\): must be integer/],
    // A value from the file names the file, as one from a flag or the environment names those.
    [['--config', zeroWindow], {}, new RegExp(`windows\\[0\\]\\.lengthMs = 0 \\(from ${re(zeroWindow)}\\): must be >= 1`)],
    [['--config', unknownKey], {}, new RegExp(`unknown key "http\\.prot" in ${re(unknownKey)} \\(allowed: port, apiToken, sseHeartbeatMs, compress\\)`)],
    [['--config', quoted], {}, new RegExp(`http\\.port = "8081" \\(from ${re(quoted)}\\): must be integer`)],
    [['--config', quoted], { THERMOSTREAM_HTTP_PORT: 'x' }, /http\.port = "x" \(from env THERMOSTREAM_HTTP_PORT\): must be integer \[/],
    // Two entries for one user: the broker would keep only the second's password.
    [['--config', sameUser], {}, new RegExp(`auth\\.users\\[1\\]\\.username = "gw" \\(from ${re(sameUser)}\\): the same user name as auth\\.users\\[0\\]`)],
    [[], { THERMOSTREAM_MQTT_PORT: '70000' }, /mqtt\.port = 70000 \(from env THERMOSTREAM_MQTT_PORT\): must be <= 65535/],
    [['--no-such-flag'], {}, /unknown option "--no-such-flag"/],
    // A switch takes no value: --rebalance=false rebalanced.
    [['--rebalance=false'], {}, /option --rebalance takes no value \(got "--rebalance=false"\): give --rebalance alone, or leave it out/],
    [['--auth', 'foo'], {}, /auth\.mode = "foo" \(from --auth\): must be one of "none", "registry"/],
    // A key of several types names them in words (ajv says "must be boolean,null").
    [[], { THERMOSTREAM_BROKER_ACK_AFTER_COMMIT: 'yes' }, /broker\.ackAfterCommit = "yes" \(from env THERMOSTREAM_BROKER_ACK_AFTER_COMMIT\): must be true, false or null \[/],
    [['--heap-growth', '500'], {}, /heapGrowthPercent = 500 \(from --heap-growth\): must be <= 300/],
    [['--config', twice], {}, /windows\[1\] = \{"lengthMs":10000,"slideMs":2000\}: the same window as windows\[0\]/],
    [['--config', costly], {}, /windows\[0\] = .*a reading falls in 3600 windows of 3600 panes each/],
    [['--config', join(dir, 'missing.json')], {}, /cannot read config file/],
    // A broker URL the schema's pattern lets through is checked with the rest of the configuration, naming where it
    // came from (before anything is created in the data dir: see below), and the password (with an unencoded "/", so
    // the URL does not parse) is not echoed.
    [['--data-dir', join(dir, 'd'), '--mqtts-port', '-1', '--broker', 'mqtt://u:pa/ss@127.0.0.1:1'], {}, /broker\.url = "mqtt:\/\/u:\*\*\*@127\.0\.0\.1:1" \(from --broker\): not a URL \(its user name or password holds "\/", "\?" or "#": percent-encode them there, as %2F, %3F and %23; "@" as %40, "%" as %25\) \[TS_ERR_CONFIG_INVALID\]/],
    [['--data-dir', join(dir, 'd'), '--mqtts-port', '-1', '--broker', 'mqtt://127.0.0.1:1/x'], {}, /broker\.url = "mqtt:\/\/127\.0\.0\.1:1\/x" \(from --broker\): a path is not allowed/],
    [['--data-dir', join(dir, 'd')], { THERMOSTREAM_BROKER: 'mqtt://127.0.0.1:99999' }, /broker\.url = "mqtt:\/\/127\.0\.0\.1:99999" \(from env THERMOSTREAM_BROKER\): not a URL/],
  ];
  // Built, as npm start runs it: the same validation as from source (the CLI from source is run below), 18 starts.
  const built = [await builtServer(t)];
  for (const [args, env, message] of cases) {
    const run = await runCli(args, env, 20_000, built);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
  assert.equal(existsSync(join(dir, 'd')), false, 'a refused configuration creates no data dir');
});

test('an option without its value exits with code 2 naming the option, and does not take the next option as its value', async (t) => {
  const dir = tempDir(t);
  const taken = (option: string, next: string) =>
    `thermostream: option ${option} needs a value, got the option "${next}" (to give a value that looks like an option, write ${option}=VALUE) [TS_ERR_CLI_ARG]\n`;
  const cases: [string[], string][] = [
    [['--data-dir', '--fresh', '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '-1'], taken('--data-dir', '--fresh')],
    [['--http-port', '--mqtt-port', '11885'], taken('--http-port', '--mqtt-port')],
    [['--instances', '--fresh'], taken('--instances', '--fresh')],
    [['--config', '-h'], taken('--config', '-h')],
    [['--data-dir', dir, '--http-port'], 'thermostream: option --http-port needs a value [TS_ERR_CLI_ARG]\n'],
  ];
  const built = [await builtServer(t)]; // as npm start runs it (the CLI from source is run below)
  for (const [args, stderr] of cases) {
    const run = await runCli(args, {}, 20_000, built);
    assert.deepEqual({ code: run.code, stdout: run.stdout, stderr: run.stderr }, { code: 2, stdout: '', stderr }, args.join(' '));
  }
  assert.equal(existsSync(join(ROOT, '--fresh')), false, 'no directory named after the option');
});

/** The server from its TypeScript, as the tests import it, and built, as `npm start` and `npm run demo` run it. */
const SERVERS = [
  { name: 'from source', script: async () => ['--import', 'tsx', 'server/main.ts'] },
  { name: 'built (as npm start builds and runs it)', script: async (t: TestContext) => [await builtServer(t)] },
];

for (const server of SERVERS) test(`the CLI ${server.name} prints its bound endpoints, serves, and shuts down cleanly on SIGTERM`, async (t) => {
  await ensureDashboardBuilt();
  const dir = tempDir(t);
  const child = spawn(
    process.execPath,
    [...(await server.script(t)), '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '0', '--data-dir', dir, '--demo'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stdout += d));
  // The endpoint lines can arrive in separate chunks: wait for the last one.
  const http = await waitFor('the endpoints', () => stdout.includes('thermostream: data') && /dashboard\s+(http:\/\/\S+)\//.exec(stdout)?.[1], 15_000);
  assert.match(stdout, /MQTT\s+mqtt:\/\/127\.0\.0\.1:\d+/);
  assert.match(stdout, /MQTT TLS\s+mqtts:\/\/127\.0\.0\.1:\d+/);
  assert.ok(stdout.includes(`TLS CA     ${join(dir, 'tls', 'ca.pem')}`), stdout);
  assert.ok(stdout.includes(join(dir, 'thermostream.db')));
  // Every URL printed answers: the API's (its route list, as GET /api/v1), the docs, health.
  for (const [, url] of stdout.matchAll(/(?:HTTP API|docs|health)\s+(http:\/\/[^\s,)]+)/g)) {
    const res = await fetch(url);
    assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
  }
  assert.deepEqual((await getJson(`${http}/api/v1/`)).body, (await getJson(`${http}/api/v1`)).body);

  // The demo fleet's readings show up as fleet-wide windows with their aggregates.
  const items = await waitFor(
    'demo windows',
    async () => {
      const { body } = await getJson(`${http}/api/v1/windows`);
      return body.items.length > 0 ? body.items : null;
    },
    15_000,
  );
  for (const key of ['count', 'avg', 'min', 'max']) assert.equal(typeof items[0][key], 'number');
  const devices = (await getJson(`${http}/api/v1/devices`)).body.items;
  assert.ok(devices.length > 0);
  // A device's own windows, committed by the batch thread to SQLite and read back by its aligned starts.
  const own = await waitFor('a device\'s windows', async () => {
    const { body } = await getJson(`${http}/api/v1/windows?deviceId=${encodeURIComponent(devices[0].deviceId)}`);
    return body.items.length > 0 ? body.items : null;
  }, 15_000);
  assert.equal(own[0].deviceId, devices[0].deviceId);
  assert.equal((await getJson(`${http}/api/v1/stats`)).body.lastBatch.memory.thread, 'worker');
  // A job: its thread loads the user's TypeScript through tsx, the built server's too.
  const job = await fetch(`${http}/livy/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ file: 'examples/hottest-devices.ts', args: ['2000', '5'] }),
  });
  assert.equal(job.status, 201, await job.clone().text());
  const { id } = (await job.json()) as { id: number };
  await waitFor('the job to run', async () => ((await getJson(`${http}/livy/batches/${id}/state`)).body.state === 'running' ? true : null), 15_000);
  const page = await fetch(`${http}/`);
  assert.match(await page.text(), /<script src="\/app\.js"><\/script>/);
  const bundle = await fetch(`${http}/app.js`);
  assert.equal(bundle.status, 200);
  assert.match(await bundle.text(), /Chart\.js v4/);

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(stdout, /SIGTERM, shutting down/);
});

test('an address that is not this machine\'s, or a host name that does not resolve, is named with --host, not with a port flag', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ auth: { mode: 'registry' }, http: { apiToken: 'a-token-of-16-chars' } }));
  const cases: [string, RegExp][] = [
    // 192.0.2.1: TEST-NET-1 (RFC 5737), never a local address.
    ['192.0.2.1', /MQTT cannot listen on 192\.0\.2\.1:0: address not available: 192\.0\.2\.1 is not an address of this machine \(choose another with --host\) \[TS_ERR_LISTEN\]/],
    ['no-such-host.invalid', /MQTT cannot listen on no-such-host\.invalid:0: E[A-Z_]+: the host name no-such-host\.invalid does not resolve \(choose another with --host\) \[TS_ERR_LISTEN\]/],
  ];
  for (const [host, message] of cases) {
    const run = await runCli(['--config', config, '--host', host, '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '-1', '--data-dir', join(dir, 'data')]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, message);
  }
});

test('auth.users with auth.mode none: the start-up line says the users are not asked for', { timeout: 60_000 }, async (t) => {
  const server = await ServerProcess.create(tempDir(t), { auth: { users: [{ username: 'gateway', password: 'gateway-password', deviceId: '*' }] } });
  t.after(() => server.kill());
  await server.start();
  assert.match(
    server.output,
    /^thermostream: auth {7}none \(anyone on this machine may publish; --auth registry to require device keys; the 1 auth\.users are not asked for: they apply with auth\.mode "registry"\)$/m,
  );
  assert.equal(await server.kill('SIGTERM'), 0, server.output);
});

test('settings that do not do what they seem are named at start-up: a window whose slide is longer than its length (swapped?), with the share of readings it leaves out; ack after commit without an external broker', { timeout: 60_000 }, async (t) => {
  const windows = [{ lengthMs: 10_000, slideMs: 2_000 }, { lengthMs: 2_000, slideMs: 10_000 }];
  const server = await ServerProcess.create(tempDir(t), { windows, broker: { ackAfterCommit: true } });
  t.after(() => server.kill());
  await server.start();
  // Each warning is its own write to stderr, so they may arrive in separate chunks: wait for both.
  const warningLines = () => server.output.split('\n').filter((l) => l.startsWith('thermostream: warning'));
  await waitFor('both warnings', () => warningLines().length >= 2, 10_000).catch(() => {});
  const warnings = warningLines();
  assert.deepEqual(warnings, [
    'thermostream: warning    windows[1] = {"lengthMs":2000,"slideMs":10000}: slideMs is longer than lengthMs, so readings in the last ' +
      '8000 ms of every 10000 ms count in no window of this shape (a tumbling window has slideMs = lengthMs; were the two swapped?)',
    'thermostream: warning    broker.ackAfterCommit (--broker-ack-after-commit) does nothing without an external broker (--broker): ' +
      'devices of the embedded broker are acknowledged once their readings are in the ingest log',
  ]);
  assert.equal(await server.kill('SIGTERM'), 0, server.output);
});

test('iothub.hostName without a port while the TLS listener is not on 8883 is warned about at start-up: devices would dial 8883', () => {
  assert.equal(
    hostNamePortWarning('thermo.example.com', 18883),
    'iothub.hostName = "thermo.example.com" names no port, so devices dial it on 8883, but the TLS listener is on 18883: ' +
      'set iothub.hostName to "thermo.example.com:18883", unless a proxy or port forward on 8883 reaches it',
  );
  assert.match(hostNamePortWarning('::1', 18883)!, /set iothub\.hostName to "\[::1\]:18883"/);
  for (const [name, port] of [['', 18883], ['thermo.example.com', 8883], ['thermo.example.com:18883', 18883], ['[::1]:18883', 18883]] as const) {
    assert.equal(hostNamePortWarning(name, port), null, `${name} ${port}`);
  }
});

test('a share group is warned about at start-up: a broker that deals a device\'s messages round robin splits its windows', () => {
  const config = resolveConfig({ dataDir: 'unused', broker: { url: 'mqtt://127.0.0.1:1883', shareGroup: 'g' } });
  assert.deepEqual(configWarnings(config), [
    'broker.shareGroup = "g": each device\'s windows, detectors and dedupe are right only if the broker gives all of a device\'s ' +
      'messages to one member of the group (EMQX\'s hash_clientid or hash_topic); with round robin (Mosquitto) each instance ' +
      'counts a part of every device: use cluster.instances instead (README, Several instances)',
  ]);
  assert.deepEqual(configWarnings(resolveConfig({ dataDir: 'unused', broker: { url: 'mqtt://127.0.0.1:1883' } })), []);
});

test('settings of the connection to an external broker given without one are warned about, each named with its flag; a share group is not judged then', () => {
  const warnings = (argv: string[]) => configWarnings(parseCli(['--data-dir', 'unused', ...argv], {}).config);
  assert.deepEqual(warnings(['--broker-share-group', 'g', '--broker-username', 'u']), [
    'broker.username (--broker-username), broker.shareGroup (--broker-share-group) do nothing without an external broker (--broker): ' +
      'they are settings of the server\'s connection to that broker',
  ]);
  assert.deepEqual(warnings(['--broker-client-id', 'x', '--broker-ack-after-commit']), [
    'broker.clientId (--broker-client-id), broker.ackAfterCommit (--broker-ack-after-commit) do nothing without an external broker ' +
      '(--broker): they are settings of the server\'s connection to that broker; devices of the embedded broker are acknowledged ' +
      'once their readings are in the ingest log',
  ]);
  const fromFile = configWarnings(resolveConfig({ dataDir: 'unused', broker: { maxPending: 5 } }));
  assert.deepEqual(fromFile, ['broker.maxPending does nothing without an external broker (--broker): it is a setting of the server\'s connection to that broker']);
  assert.deepEqual(warnings(['--broker', 'mqtt://127.0.0.1:1883', '--broker-username', 'u', '--broker-client-id', 'x']), []);
  assert.deepEqual(warnings([]), []);
});

test('a block interval not below the batch interval is warned about at start-up: it would not spread a batch\'s work', () => {
  const warning = (block: number, batch: number) =>
    `blockIntervalMs = ${block} (--block-interval) is not below batchIntervalMs = ${batch} (--batch-interval): at most one block ` +
    'of a batch\'s readings is processed before the batch\'s time, so its work is not spread over the interval; use a fraction ' +
    'of the batch interval (default 50), or 0 to do all of a batch\'s work at its time';
  const warnings = (argv: string[]) => configWarnings(parseCli(['--data-dir', 'unused', ...argv], {}).config);
  assert.deepEqual(warnings(['--block-interval', '2000']), [warning(2000, 1000)]);
  assert.deepEqual(warnings(['--block-interval', '500', '--batch-interval', '500']), [warning(500, 500)]);
  assert.deepEqual(warnings(['--block-interval', '499', '--batch-interval', '500']), []);
  assert.deepEqual(warnings(['--block-interval', '0', '--batch-interval', '10']), [], '0: no blocks, all at the batch\'s time');
  assert.deepEqual(warnings([]), [], 'the defaults: 50 and 1000');
});

test('a server bound to one address other than loopback, with iothub.hostName empty, is warned about: its connection strings name localhost', () => {
  const warnings = (host: string, more: object = {}) => configWarnings(resolveConfig({ dataDir: 'unused', host, ...more }));
  assert.deepEqual(warnings('192.168.1.10'), [
    'host = "192.168.1.10" with iothub.hostName empty: the TLS listener is on 192.168.1.10 only, but connection strings and the ' +
      'MQTT TLS line name HostName=localhost, where nothing listens; set iothub.hostName (--config) to "192.168.1.10" or a name ' +
      'that reaches it (docs/IOTHUB.md, step 2: the generated certificate is then issued for it)',
  ]);
  assert.match(warnings('fe80::1')[0], /set iothub\.hostName \(--config\) to "\[fe80::1\]"/);
  // Another TLS port: the connection strings' name has it, and so must the one to set (else a second warning: no port).
  assert.match(warnings('192.168.1.10', { mqtt: { tlsPort: 8884 } })[0], /name HostName=localhost:8884, where nothing listens; set iothub\.hostName \(--config\) to "192\.168\.1\.10:8884"/);
  for (const host of ['127.0.0.1', '127.0.1.1', 'localhost', '::1', '0.0.0.0', '::']) assert.deepEqual(warnings(host), [], host);
  assert.deepEqual(warnings('192.168.1.10', { iothub: { hostName: 'thermo.lan' } }), [], 'a host name set');
  assert.deepEqual(warnings('192.168.1.10', { mqtt: { tlsPort: -1 } }), [], 'no TLS listener');
  assert.deepEqual(warnings('192.168.1.10', { broker: { url: 'mqtt://127.0.0.1:1883' } }), [], 'an external broker');
});

test('the SIGTERM handler is in place when the endpoint lines are printed: a SIGTERM right after them stops the server gracefully', { timeout: 60_000 }, async (t) => {
  const args = ['--import', './test/fixtures/signal-probe.mjs', '--import', 'tsx', 'server/main.ts'];
  args.push('--data-dir', tempDir(t), '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '-1');
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  await waitFor('the data line', () => output.includes('thermostream: data'), 45_000); // from source, on a loaded machine
  assert.match(output, /^probe: SIGTERM listeners at the data line: 1$/m);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, output);
  assert.match(output, /SIGTERM, shutting down/);
});

/** The server started as npm start starts it, from its TypeScript (server/start.ts) or built (server/dist/start.mjs). */
const STARTS = [
  { name: 'from source', script: async () => ['--import', 'tsx', 'server/start.ts'] },
  { name: 'built', script: async (t: TestContext) => [await builtServer(t)] },
];

for (const start of STARTS) test(`a SIGINT during start-up (${start.name}) stops the server as a later one does: exit 0, what the start opened closed`, { timeout: 90_000 }, async (t) => {
  const script = await start.script(t);
  let dataDir = '';
  // While the modules load (nothing opened yet), then once the start has taken the data dir (store, log, ports next).
  for (const probe of ['handler', 'server.lock']) {
    dataDir = tempDir(t);
    const at = probe === 'handler' ? probe : join(dataDir, probe);
    const args = ['--import', './test/fixtures/sigint-probe.mjs', ...script, '--data-dir', dataDir, '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '-1'];
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, SIGINT_PROBE: at }, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, output);
    assert.equal(output, 'probe: SIGINT\nthermostream: SIGINT, shutting down\n', `SIGINT_PROBE=${at}`);
  }
  // Nothing left open or half done: the data dir is free, and a server starts on it and stops as usual.
  const server = await ServerProcess.create(dataDir, {});
  t.after(() => server.kill());
  await server.start();
  assert.equal(await server.kill('SIGINT'), 0, server.output);
});

test('a port in use stops the CLI with exit code 1 and names the port and the flag', async (t) => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const run = await runCli(['--http-port', '0', '--mqtt-port', String(port), '--mqtts-port', '-1', '--data-dir', tempDir(t)]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, new RegExp(`MQTT cannot listen on 127\\.0\\.0\\.1:${port}: address already in use \\(choose another with --mqtt-port`));
});

test('SIGINT and SIGTERM at once (Ctrl-C reaches an --instances child from the terminal and the supervisor) shut down cleanly, exit 0', { timeout: 60_000 }, async (t) => {
  const server = await ServerProcess.create(tempDir(t), {});
  t.after(() => server.kill());
  await server.start();
  server.child!.kill('SIGINT');
  assert.equal(await server.kill('SIGTERM'), 0, server.output);
  assert.doesNotMatch(server.output, /again/);
});

test('the same signal twice stops at once with exit code 1; what was durable is processed at the next start', { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t);
  const server = await ServerProcess.create(dataDir, { batchIntervalMs: 100 });
  t.after(() => server.kill());
  await server.start({ THERMOSTREAM_FAULT: 'slow-batch:30000' }); // the shutdown's last batch waits, as a slow disk would
  const client = await mqtt.connectAsync(server.mqttUrl);
  await client.publishAsync('devices/d1/telemetry', JSON.stringify({ ts: Date.now(), temperature: 21, seq: 1 }), { qos: 1 });
  await client.endAsync();
  server.child!.kill('SIGTERM');
  await waitFor('the shutdown to start', () => server.output.includes('SIGTERM, shutting down'));
  await new Promise((resolve) => setTimeout(resolve, ECHO_MS + 100)); // sooner, it is the first one delivered twice
  assert.equal(await server.kill('SIGTERM'), 1, server.output);
  assert.match(server.output, /thermostream: SIGTERM again, exiting without finishing the shutdown/);
  await server.start({});
  await waitFor('the reading counted', async () => (await getJson(`${server.httpUrl}/api/v1/devices`)).body.items[0]?.readings === 1);
  assert.equal(await server.kill('SIGTERM'), 0, server.output);
});

test('a batch that cannot be committed is named in the log by its number, as the other lines number batches, with its time in ISO 8601', { timeout: 60_000 }, async (t) => {
  const server = await ServerProcess.create(tempDir(t), { batchIntervalMs: 100 });
  t.after(() => server.kill());
  const startedAt = Date.now();
  await server.start({ THERMOSTREAM_FAULT: 'commit-error:2' }); // the second batch with window results fails
  const client = await mqtt.connectAsync(server.mqttUrl);
  t.after(() => client.endAsync(true));
  await client.publishAsync('devices/d1/telemetry', JSON.stringify({ ts: Date.now(), temperature: 21, seq: 1 }), { qos: 1 });
  const windows = (): number => {
    const db = server.db();
    try {
      return (db.prepare('SELECT count(*) AS n FROM windows').get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  await waitFor('the first reading committed', () => windows() > 0);
  await client.publishAsync('devices/d1/telemetry', JSON.stringify({ ts: Date.now(), temperature: 22, seq: 2 }), { qos: 1 });
  assert.equal(await server.waitExit(), 1, server.output);
  const line = /^thermostream engine: batch (\d+) \((\S+)\) failed: disk I\/O error \(injected\); stopping the streaming context$/m.exec(server.output);
  assert.ok(line !== null, server.output);
  // The number the batch would have committed under (the batch log and the pace lines number batches so).
  const db = server.db();
  t.after(() => db.close());
  const { batches } = db.prepare('SELECT batches FROM checkpoint').get() as { batches: number };
  assert.equal(Number(line[1]), batches + 1);
  assert.equal((db.prepare('SELECT max(batch) AS last FROM batch_log').get() as { last: number }).last, batches);
  const time = Date.parse(line[2]);
  assert.equal(new Date(time).toISOString(), line[2]);
  assert.ok(time >= startedAt && time <= Date.now(), line[2]);
});

test('a config file may name its schema ("$schema", for editors); the server ignores it', () => {
  const config = resolveConfig({ $schema: './config/schema.json', http: { port: 8081 } });
  assert.equal(config.http.port, 8081);
  assert.throws(() => resolveConfig({ $schema: 7 }), { code: 'TS_ERR_CONFIG_INVALID', message: /\$schema = 7: must be string/ });
});

test('a secret that breaks the schema (the API token, a password) is named by its key and length, never echoed', () => {
  const cases: [unknown, string][] = [
    [{ http: { apiToken: 'my-real-tok3n' } }, 'invalid configuration: http.apiToken = a secret of 13 characters (not shown): must NOT have fewer than 16 characters'],
    [
      { auth: { mode: 'registry', users: [{ username: 'gw', password: 'hunter2' }] } },
      'invalid configuration: auth.users[0].password = a secret of 7 characters (not shown): must NOT have fewer than 8 characters',
    ],
    // Errors reported at the object or string that holds the secret: the secret is left out of what is shown.
    [
      { auth: { mode: 'registry', users: [{ user: 'bob', password: 'correct-horse-battery' }] } },
      'invalid configuration: auth.users[0] = {"user":"bob","password":"(a secret of 21 characters (not shown))"}: must have ' +
        'required property \'username\'; unknown key "auth.users[0].user" (allowed: username, password, deviceId)',
    ],
    [{ auth: { users: ['bob:correct-horse-battery'] } }, 'invalid configuration: auth.users[0] = a secret of 25 characters (not shown): must be object'],
    [{ store: 'postgres://u:secretpw@h/db' }, 'invalid configuration: store = "postgres://u:***@h/db": must be object'],
  ];
  for (const [file, message] of cases) assert.throws(() => resolveConfig(file), { code: 'TS_ERR_CONFIG_INVALID', message });
  // Not a string: the type is wrong, and still nothing of it is shown.
  assert.throws(() => resolveConfig({ broker: { password: 12345678 } }), {
    message: 'invalid configuration: broker.password = a secret (not shown): must be string',
  });
});

/**
 * npm runs a script as `sh -c "<script> <args>"` and forwards SIGTERM and SIGINT to that shell only. Debian's sh
 * (dash) does not exec the command, so without `exec` in the script the signal ended the shell and left the program
 * running: the server with its ports and data dir (`kill <npm's pid>`, or `docker stop` of a container whose
 * command is `npm start`), the simulator publishing. Started the same way, every long-running script's program gets
 * the signal and ends: nothing is left in the shell's process group.
 */
test('npm start, demo, simulate and example: the SIGTERM npm forwards to the script ends its program', async (t) => {
  const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
  const main = await builtServer(t); // as prestart does, into a directory of its own
  const broker = await recordingBroker();
  t.after(() => broker.broker.close());
  const lines = createServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => lines.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise((resolve) => lines.close(resolve)));
  const server = (name: string) => ({
    name,
    args: `--data-dir ${tempDir(t)} --http-port 0 --mqtt-port 0 --mqtts-port -1`,
    running: /HTTP API\s+http:\/\//,
    stopped: /SIGTERM, shutting down/,
  });
  const cases = [
    server('start'),
    server('demo'),
    { name: 'simulate', args: `--url mqtt://127.0.0.1:${broker.broker.port} --devices 2 --rate 5 --quiet`, running: null, stopped: /simulator finished/ },
    { name: 'example', args: `network-word-count 127.0.0.1 ${(lines.address() as AddressInfo).port}`, running: /Time: \d+ ms/, stopped: null },
  ];
  for (const c of cases) {
    const command = `${scripts[c.name].replace('server/dist/start.mjs', main)} ${c.args}`;
    // A process group of its own: what is left in it once the shell has ended is what the signal did not stop.
    const env = { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` }; // as npm sets it
    const shell = spawn('sh', ['-c', command], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const group = shell.pid!;
    const alive = (): boolean => {
      try {
        process.kill(-group, 0);
        return true;
      } catch {
        return false;
      }
    };
    t.after(() => alive() && process.kill(-group, 'SIGKILL'));
    let out = '';
    shell.stdout.on('data', (d) => (out += d));
    shell.stderr.on('data', (d) => (out += d));
    const exited = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
    if (c.running !== null) await waitFor(`npm run ${c.name} to run`, () => (c.running.test(out) ? true : null), 30_000);
    else await waitFor(`npm run ${c.name} to publish`, () => (broker.packets > 0 ? true : null), 30_000);
    shell.kill('SIGTERM'); // what npm forwards
    await exited;
    await waitFor(`npm run ${c.name} to end`, () => (alive() ? null : true), 15_000).catch(() => {
      assert.fail(`scripts.${c.name} = ${JSON.stringify(scripts[c.name])}: its program did not end on the SIGTERM sent to the shell npm runs it in (output: ${out})`);
    });
    if (c.stopped !== null) assert.match(out, c.stopped);
  }
});

/**
 * Ctrl-C in a terminal signals its foreground process group: a program that `npm start` runs gets SIGINT from the
 * terminal and once more from npm, which forwards it, a few milliseconds apart. That is one stop, not two: the server
 * shuts down cleanly (it used to take the forward for a second Ctrl-C and exit 1 at once), and the simulator prints its
 * summary (it exited 130 without one).
 */
test('Ctrl-C of npm start and npm run simulate (SIGINT to npm and its program) stops them cleanly', async (t) => {
  const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
  const main = await builtServer(t);
  const broker = await recordingBroker();
  t.after(() => broker.broker.close());
  const dir = tempDir(t);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({
    name: 'ctrl-c',
    private: true,
    scripts: { start: scripts.start.replace('server/dist/start.mjs', main), simulate: scripts.simulate.replace('simulator/', `${join(ROOT, 'simulator')}/`) },
  }));
  const env = { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` };
  const cases = [
    { script: 'start', args: ['--data-dir', tempDir(t), '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '-1'], running: /HTTP API\s+http:\/\//, stopped: /SIGINT, shutting down/ },
    { script: 'simulate', args: ['--url', `mqtt://127.0.0.1:${broker.broker.port}`, '--devices', '2', '--rate', '5'], running: null, stopped: /sent/ },
  ];
  for (const c of cases) {
    const npm = spawn('npm', ['run', '-s', c.script, '--', ...c.args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    t.after(() => {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {}
    });
    let out = '';
    npm.stdout.on('data', (d) => (out += d));
    npm.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
    const before = broker.packets;
    if (c.running !== null) await waitFor(`npm run ${c.script} to run`, () => (c.running.test(out) ? true : null), 30_000);
    else await waitFor(`npm run ${c.script} to publish`, () => (broker.packets > before ? true : null), 30_000);
    process.kill(-npm.pid!, 'SIGINT'); // what Ctrl-C does: the whole group, npm and its program
    assert.equal(await exited, 0, `npm run ${c.script}: ${out}`);
    assert.match(out, c.stopped);
    assert.doesNotMatch(out, /again|exiting without/);
  }
});

/**
 * npm's forward of a Ctrl-C can reach the simulator after it printed its summary, while it closes (≈ 10 ms here):
 * that is still the one stop. The simulator used to drop its handlers with the summary and die of the forward (130),
 * three runs in five on this machine; the second SIGINT is sent here the moment the summary appears.
 */
test("a Ctrl-C echoed after the simulator's summary, while it closes, does not end it with 130", async (t) => {
  const broker = await recordingBroker();
  t.after(() => broker.broker.close());
  for (let run = 0; run < 3; run++) {
    const sim = spawn(process.execPath, ['--import', 'tsx', 'simulator/cli.ts', '--url', `mqtt://127.0.0.1:${broker.broker.port}`, '--devices', '2', '--rate', '5'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => sim.kill('SIGKILL'));
    let out = '';
    let echoed = false;
    sim.stderr.on('data', (d) => (out += d));
    sim.stdout.on('data', (d) => {
      out += d;
      if (echoed || !/acknowledged/.test(out) || sim.exitCode !== null || sim.signalCode !== null) return;
      echoed = true;
      sim.kill('SIGINT'); // the echo
    });
    const exited = new Promise<[number | null, string | null]>((resolve) => sim.once('exit', (code, signal) => resolve([code, signal])));
    const before = broker.packets;
    await waitFor('the simulator to publish', () => (broker.packets > before ? true : null), 30_000);
    sim.kill('SIGINT');
    assert.deepEqual(await exited, [0, null], out);
    assert.match(out, /acknowledged/);
  }
});
