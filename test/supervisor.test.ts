import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { childArgs } from '../server/cluster/supervisor.ts';
import { resolveConfig } from '../server/config.ts';
import { externalBrokerName, startExternalBroker } from './external-broker.ts';
import { builtServer, getJson, tempDir, waitFor } from './helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'server/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });

test('a child gets the parent options and its own; a restarted one is not given --fresh, --repair or --rebalance again', () => {
  const config = resolveConfig({ dataDir: '/d', http: { port: 8080 }, broker: { url: 'mqtt://b:1883', clientId: 'ts' } });
  const argv = ['--instances', '2', '--broker', 'mqtt://b:1883', '--fresh', '--repair', '--rebalance'];
  const own = ['--instance-id', 'main-1', '--cluster-instances', 'main-0,main-1', '--data-dir', '/d/instance-1', '--broker-client-id', 'ts-1', '--http-port', '8081'];
  assert.deepEqual(childArgs(argv, config, 2, 1), ['--broker', 'mqtt://b:1883', '--fresh', '--repair', '--rebalance', ...own]);
  assert.deepEqual(childArgs(argv, config, 2, 1, true), ['--broker', 'mqtt://b:1883', ...own]);
});

test('--instances refuses to run without an external broker or without a shared store, naming what is missing', () => {
  const noBroker = cli(['--instances', '2']);
  assert.equal(noBroker.status, 2);
  assert.match(noBroker.stderr, /thermostream: --instances: needs --broker mqtt:\/\/host:port: the instances subscribe to one broker \(an embedded broker cannot be shared between processes\) \[TS_ERR_SUPERVISOR\]/);
  const noStore = cli(['--instances', '2', '--broker', 'mqtt://127.0.0.1:1']);
  assert.equal(noStore.status, 2);
  assert.match(noStore.stderr, /thermostream: --instances: needs --store postgres:\/\/…: a shared store/);
  // A list given with --instances is refused as such, not as a list without this instance's id ("main").
  const list = cli(['--instances', '2', '--broker', 'mqtt://127.0.0.1:1', '--store', 'postgres://u:p@127.0.0.1:1/db', '--cluster-instances', 'a,b']);
  assert.equal(list.status, 2);
  assert.equal(list.stderr, 'thermostream: --instances: cluster.instances = ["a","b"]: --instances sets it for its children; remove it [TS_ERR_SUPERVISOR]\n');
  const bad = cli(['--instances', 'two']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /option --instances needs a number of instances from 1 to 64, got "two" \[TS_ERR_CLI_ARG\]/);
});

test(`--instances 2 behind ${externalBrokerName()}: two children with their own ids, data dirs and ports share the devices; a killed child is restarted; SIGTERM stops them all`, { timeout: 90_000 }, async (t) => {
  const broker = await startExternalBroker(t);
  const dataDir = tempDir(t);
  const args = ['--import', 'tsx', 'server/main.ts', '--instances', '2', '--broker', broker.url, '--data-dir', dataDir, '--http-port', '0', '--batch-interval', '100'];
  const sup = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, THERMOSTREAM_SUPERVISOR_LOCAL_STORE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  sup.stdout!.on('data', (d) => (out += d));
  sup.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => sup.once('exit', (code) => resolve(code)));
  t.after(() => sup.kill('SIGKILL'));
  const urls = await waitFor('both instances to start', () => {
    const found = [0, 1].map((i) => new RegExp(`\\[main-${i}\\] thermostream: HTTP API +(http://127\\.0\\.0\\.1:\\d+)/api/v1/`).exec(out)?.[1]);
    return found.every(Boolean) ? (found as string[]) : null;
  }, 30_000);
  // The banner's lines arrive one by one: the instance line comes after the HTTP one.
  await waitFor('main-0\'s instance line', () => out.includes('[main-0] thermostream: instance'), 10_000);
  assert.match(out, /\[main-0\] thermostream: instance   main-0 of main-0, main-1 \(keeps the devices rendezvous hashing assigns it\)/);
  for (const i of [0, 1]) {
    assert.deepEqual(JSON.parse(readFileSync(join(dataDir, `instance-${i}`, 'cluster.json'), 'utf8')), { instanceId: `main-${i}`, instances: ['main-0', 'main-1'] });
  }

  const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.after(() => pub.endAsync(true));
  const devices = Array.from({ length: 20 }, (_, i) => `sup-${i}`);
  for (const d of devices) await pub.publishAsync(`devices/${d}/telemetry`, JSON.stringify({ temperature: 20, seq: 1 }), { qos: 1 });
  const lists = await waitFor('every device listed by one instance', async () => {
    const l = await Promise.all(urls.map(async (u) => ((await getJson(`${u}/api/v1/devices`)).body.items as { deviceId: string }[]).map((x) => x.deviceId)));
    return l[0].length + l[1].length === devices.length ? l : null;
  });
  assert.deepEqual([...lists[0], ...lists[1]].sort(), [...devices].sort());

  // A child that dies is started again (same id, data dir and port).
  const children = readFileSync(`/proc/${sup.pid}/task/${sup.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  assert.equal(children.length, 2);
  const before = out.length;
  process.kill(children[1], 'SIGKILL');
  await waitFor('the killed child restarted', () => /thermostream supervisor: main-\d exited \(SIGKILL\); restarting in 500 ms/.test(out.slice(before)) && /\[main-\d\] thermostream: data/.test(out.slice(before)), 30_000);

  sup.kill('SIGTERM');
  assert.equal(await exited, 0);
  assert.match(out, /thermostream supervisor: SIGTERM, stopping 2 instance\(s\)/);
  assert.match(out, /\[main-0\] thermostream: SIGTERM, shutting down/);
  assert.match(out, /\[main-1\] thermostream: SIGTERM, shutting down/);
});

test(`--instances 2 whose output reader goes away (npm start -- --instances 2 | head -1): the supervisor stops its instances as at SIGTERM, and exits after them`, { timeout: 90_000 }, async (t) => {
  const broker = await startExternalBroker(t);
  const args = [await builtServer(t), '--instances', '2', '--broker', broker.url, '--data-dir', tempDir(t), '--http-port', '0'];
  const sup = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, THERMOSTREAM_SUPERVISOR_LOCAL_STORE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => sup.kill('SIGKILL'));
  let stderr = '';
  sup.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => sup.once('exit', (code) => resolve(code)));
  // The supervisor's first line comes after it has started its instances: `head -1` reads it and goes away. The
  // instances' start-up lines, which the supervisor passes on, then meet a pipe without a reader (EPIPE).
  await new Promise((resolve) => sup.stdout!.once('data', resolve));
  sup.stdout!.destroy();
  const children = await waitFor('the two instances', () => {
    const pids = readFileSync(`/proc/${sup.pid}/task/${sup.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return pids.length === 2 ? pids : null;
  }, 10_000);
  assert.equal(await exited, 0, stderr);
  // It exits once its instances have: none is left to notice by itself that the supervisor is gone.
  const alive = children.filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  assert.deepEqual(alive, [], 'instances still running when the supervisor exited');
  assert.doesNotMatch(stderr, /EPIPE|Error/);
});
