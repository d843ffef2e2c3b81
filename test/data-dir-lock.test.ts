import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { connect, getJson, startServer, tempDir, waitForRecords } from './helpers.ts';
import { ServerProcess } from './server-process.ts';

const LOCKED = /another Thermostream server is running on the data dir (\S+) \(it holds \S+server\.lock\): stop it first, or give this one its own --data-dir/;

const config = (dataDir: string) => resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir, batchIntervalMs: 100 });

test('a second server on a data dir in use is refused, naming the dir; the first goes on; the dir is free again once it closes', { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t);
  const first = await startServer(t, { dataDir });
  await assert.rejects(startThermostream(config(dataDir)), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'TS_ERR_DATA_DIR_LOCKED');
    assert.equal(LOCKED.exec(err.message)?.[1], dataDir, err.message);
    return true;
  });
  // The refused start touched nothing: the first server still takes readings and commits them.
  const client = await connect(t, first.mqttUrl);
  await client.publishAsync('devices/d1/telemetry', JSON.stringify({ ts: Date.now(), temperature: 21.5, seq: 1 }), { qos: 1 });
  await waitForRecords(first, 1);
  await client.endAsync();
  await first.close();
  const next = await startThermostream(config(dataDir));
  t.after(() => next.close());
  const devices = (await getJson(`${next.httpUrl}/api/v1/devices`)).body;
  assert.deepEqual(devices.items.map((d: { deviceId: string }) => d.deviceId), ['d1']);
});

test('across processes: a second server process is refused with exit code 1; after the first is killed with SIGKILL, the lock is gone', { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t);
  const first = await ServerProcess.create(dataDir, {});
  t.after(() => first.kill());
  await first.start();
  const second = await ServerProcess.create(dataDir, {});
  t.after(() => second.kill());
  second.launch();
  assert.equal(await second.waitExit(), 1, second.output);
  assert.match(second.output, LOCKED);
  assert.match(second.output, /\[TS_ERR_DATA_DIR_LOCKED\]/);
  // No stale lock: the operating system drops it with the process, however it ends.
  await first.kill('SIGKILL');
  await first.start();
  assert.equal(await first.kill('SIGTERM'), 0, first.output);
});

test('a data dir that cannot be made (a file in its place, or under one) is refused with TS_ERR_DATA_DIR naming it, before anything is opened', async (t) => {
  const file = join(tempDir(t), 'data');
  writeFileSync(file, 'not a directory');
  for (const dataDir of [file, join(file, 'sub')]) {
    await assert.rejects(startThermostream(config(dataDir)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TS_ERR_DATA_DIR', err.message);
      assert.match(err.message, new RegExp(`^cannot use the data dir ${dataDir} \\(dataDir, --data-dir\\): .*(EEXIST|ENOTDIR).*Make it a directory this user can write, or give another with --data-dir$`));
      return true;
    });
  }
});

test('the server process says so in one line with exit code 1, not with a stack trace', { timeout: 60_000 }, async (t) => {
  const file = join(tempDir(t), 'data');
  writeFileSync(file, 'not a directory');
  const args = ['--import', 'tsx', 'server/main.ts', '--data-dir', file, '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '-1'];
  const child = spawn(process.execPath, args, { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  assert.equal(code, 1, output);
  assert.match(output, new RegExp(`^thermostream: cannot use the data dir ${file} \\(dataDir, --data-dir\\): .* \\[TS_ERR_DATA_DIR\\]\n$`));
});

/**
 * The data dir as a read-only view (a read-only bind mount as root, whom permissions do not stop; else the
 * directory's write bits removed) and how to undo it (before the temporary dir is removed), or null (and the test
 * skipped) when neither can be had.
 */
function readOnlyView(t: TestContext, dataDir: string): { view: string; undo: () => void } | null {
  if (process.getuid?.() !== 0) {
    chmodSync(dataDir, 0o555);
    return { view: dataDir, undo: () => chmodSync(dataDir, 0o755) };
  }
  const view = mkdtempSync(join(tmpdir(), 'thermostream-ro-'));
  const undo = () => {
    execFileSync('umount', ['-l', view]);
    rmSync(view, { recursive: true });
  };
  try {
    execFileSync('mount', ['--bind', dataDir, view], { stdio: 'pipe' });
  } catch (err) {
    rmSync(view, { recursive: true });
    t.skip(`cannot bind-mount the data dir read-only: ${(err as Error).message.split('\n')[0]}`);
    return null;
  }
  try {
    execFileSync('mount', ['-o', 'remount,bind,ro', view], { stdio: 'pipe' });
  } catch (err) {
    undo();
    throw err;
  }
  return { view, undo };
}

test('a data dir of an earlier run that cannot be written (read-only file system, no permission) is refused with TS_ERR_DATA_DIR naming it', async (t) => {
  const dataDir = tempDir(t);
  await (await startThermostream(config(dataDir))).close(); // server.lock and the databases exist
  const readOnly = readOnlyView(t, dataDir);
  if (readOnly === null) return;
  const { view, undo } = readOnly;
  try {
    await assert.rejects(startThermostream(config(view)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TS_ERR_DATA_DIR', err.message);
      assert.match(err.message, new RegExp(`^cannot use the data dir ${view} \\(dataDir, --data-dir\\): (EROFS|EACCES).*Make it a directory this user can write, or give another with --data-dir$`));
      return true;
    });
  } finally {
    undo();
  }
});

test('a data dir to be made on a read-only file system is refused naming EROFS, not ENOENT (what Node 20\'s recursive mkdir says)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a read-only file system needs root');
  const mountPoint = mkdtempSync(join(tmpdir(), 'thermostream-ro-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (err) {
    rmSync(mountPoint, { recursive: true });
    return t.skip(`cannot mount a read-only tmpfs: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    const dataDir = join(mountPoint, 'data');
    await assert.rejects(startThermostream(config(dataDir)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TS_ERR_DATA_DIR', err.message);
      assert.match(err.message, new RegExp(`^cannot use the data dir ${dataDir} \\(dataDir, --data-dir\\): EROFS: read-only file system`));
      return true;
    });
  } finally {
    execFileSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true });
  }
});

test('a data dir on a full file system is refused with TS_ERR_STORAGE_FULL naming the free space, not as one this user cannot write', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('mounting a small tmpfs needs root');
  const mountPoint = mkdtempSync(join(tmpdir(), 'thermostream-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint], { stdio: 'pipe' });
  } catch (err) {
    rmSync(mountPoint, { recursive: true });
    return t.skip(`cannot mount a small tmpfs: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    writeFileSync(join(mountPoint, 'filler'), Buffer.alloc(1024 * 1024)); // fills it: ENOSPC on the last block
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  try {
    const dataDir = join(mountPoint, 'data');
    await assert.rejects(startThermostream(config(dataDir)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'TS_ERR_STORAGE_FULL', err.message);
      assert.equal(
        err.message,
        `cannot lock the data dir ${dataDir}: the file system is full (cannot create or lock ${join(dataDir, 'server.lock')}: ` +
          `database or disk is full; 0 B free in the data dir ${dataDir}). Make room (at least 64 MiB) and start again.`,
      );
      return true;
    });
  } finally {
    execFileSync('umount', ['-l', mountPoint]);
    rmSync(mountPoint, { recursive: true });
  }
});

const ROOT = new URL('..', import.meta.url).pathname;
const DEVICES_CLI = ['--import', 'tsx', 'server/registry/cli.ts'];
const SERVER = ['--import', 'tsx', 'server/main.ts', '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '-1'];

/** Runs a child process for at most 30 s (a hang is killed, and fails the test by its signal). */
function run(args: readonly string[]): { status: number | null; signal: NodeJS.Signals | null; output: string } {
  const child = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { status: child.status, signal: child.signal, output: child.stdout + child.stderr };
}

test('a data dir the file system will not make (under /proc, where Node 20\'s recursive mkdir loops) is refused at once by the server and devices add', { timeout: 90_000 }, (t) => {
  if (!existsSync('/proc/self')) return t.skip('no /proc here');
  const dataDir = '/proc/forbidden';
  const why = `cannot use the data dir ${dataDir} \\(dataDir, --data-dir\\): ENOENT: .*mkdir '${dataDir}' \\(its parent exists: this file system makes no directories there\\)\\. ` +
    'Make it a directory this user can write, or give another with --data-dir \\[TS_ERR_DATA_DIR\\]\n$';
  const server = run([...SERVER, '--data-dir', dataDir]);
  assert.deepEqual([server.status, server.signal], [1, null], server.output);
  assert.match(server.output, new RegExp(`^thermostream: ${why}`));
  for (const dir of [dataDir, join(dataDir, 'sub')]) {
    const add = run([...DEVICES_CLI, 'add', 'x', '--data-dir', dir]);
    assert.deepEqual([add.status, add.signal], [1, null], add.output);
    assert.match(add.output, new RegExp(`^devices: ${why.replace(dataDir, dir)}`));
  }
});

test('devices add on a data dir that cannot be written (read-only file system, no permission) is refused with TS_ERR_DATA_DIR naming it, not a stack trace', async (t) => {
  const dataDir = tempDir(t);
  assert.equal(run([...DEVICES_CLI, 'add', 'first', '--data-dir', dataDir]).status, 0); // registry.db exists
  const readOnly = readOnlyView(t, dataDir);
  if (readOnly === null) return;
  const { view, undo } = readOnly;
  try {
    for (const dir of [view, join(view, 'sub')]) {
      const add = run([...DEVICES_CLI, 'add', 'second', '--data-dir', dir]);
      assert.deepEqual([add.status, add.signal], [1, null], add.output);
      assert.match(add.output, new RegExp(`^devices: cannot use the data dir ${dir} \\(dataDir, --data-dir\\): (EROFS|EACCES): .*\\. ` +
        'Make it a directory this user can write, or give another with --data-dir \\[TS_ERR_DATA_DIR\\]\n$'));
    }
  } finally {
    undo();
  }
});
