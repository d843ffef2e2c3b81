/** The simulator's file options read and write where the user ran npm, not in the package's directory npm runs it in. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fromUserDir } from '../simulator/files.ts';
import { tempDir } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '..');

test('fromUserDir: a relative path from where npm was started when npm runs the simulator in the package; otherwise as given', (t) => {
  const npm = { INIT_CWD: '/home/u/recordings', npm_package_json: '/opt/thermostream/package.json', npm_lifecycle_event: 'simulate' };
  assert.equal(fromUserDir('temps.csv', npm, '/opt/thermostream'), '/home/u/recordings/temps.csv');
  assert.equal(fromUserDir('../a/temps.csv', npm, '/opt/thermostream'), '/home/u/a/temps.csv');
  assert.equal(fromUserDir('/data/temps.csv', npm, '/opt/thermostream'), '/data/temps.csv', 'absolute: as given');
  assert.equal(fromUserDir('temps.csv', {}, '/opt/thermostream'), 'temps.csv', 'not run by npm');
  assert.equal(fromUserDir('temps.csv', { ...npm, npm_lifecycle_event: 'test' }, '/opt/thermostream'), 'temps.csv', 'npm\'s variables inherited from npm test');
  assert.equal(fromUserDir('temps.csv', npm, '/tmp/elsewhere'), 'temps.csv', 'a process not in the package\'s directory');
  assert.equal(fromUserDir(undefined, npm, '/opt/thermostream'), undefined);
  // The checkout through a symbolic link (npm --prefix ~/thermostream where ~/thermostream links to it).
  const dir = tempDir(t);
  symlinkSync(ROOT, join(dir, 'link'));
  const viaLink = { ...npm, npm_package_json: join(dir, 'link', 'package.json') };
  assert.equal(fromUserDir('temps.csv', viaLink, ROOT), '/home/u/recordings/temps.csv');
});

test("npm --prefix <checkout> run simulate -- --out FILE from another directory writes FILE there; --replay of a missing file names it there", (t) => {
  const dir = tempDir(t);
  // As from a shell: an INIT_CWD this test inherited (run by npm test) is npm's to set.
  const withoutInitCwd = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'INIT_CWD'));
  const run = (args: string[]) =>
    spawnSync('npm', ['--prefix', ROOT, 'run', '-s', 'simulate', '--', ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: withoutInitCwd });
  const out = run(['--devices', '2', '--count', '4', '--out', 'readings.jsonl']);
  assert.equal(out.status, 0, out.stderr);
  assert.equal(readFileSync(join(dir, 'readings.jsonl'), 'utf8').trim().split('\n').length, 4);
  assert.ok(!existsSync(join(ROOT, 'readings.jsonl')), 'nothing written in the checkout');
  const missing = run(['--replay', 'missing.jsonl', '--url', 'mqtt://127.0.0.1:1']);
  assert.equal(missing.status, 2, missing.stderr);
  assert.match(missing.stderr, new RegExp(join(dir, 'missing.jsonl').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
});
