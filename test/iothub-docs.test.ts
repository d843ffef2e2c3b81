/**
 * docs/IOTHUB.md as a reader copies it: the shell blocks of "Connecting an SDK device", step 1, run as written (in a
 * temp dir, `npm start` standing for the server's start-up checks: the configuration it parses and the refusals it
 * makes before binding anything), so a documented command that the server refuses fails here, not at a user's.
 * Step 3's device program runs as written too, with the SDK, against a real server.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { getJson, tempDir, waitForRecords } from './helpers.ts';
import { addDevice, startSecureServer } from './iothub-helpers.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The tsx loader by its URL: the blocks run in a temp dir, where a bare `--import tsx` resolves nothing. */
const TSX = import.meta.resolve('tsx');

/** What `npm start -- ARGS` checks before it listens: parseCli, then the bind and API-token refusals. */
const CHECK = `
import { parseCli } from ${JSON.stringify(`${ROOT}server/config.ts`)};
import { checkExposure } from ${JSON.stringify(`${ROOT}server/api/auth.ts`)};
import { checkSafeBind } from ${JSON.stringify(`${ROOT}server/broker/index.ts`)};
try {
  const { config } = parseCli(process.argv.slice(1), {});
  if (config.broker.url === '') checkSafeBind(config.host, config.auth);
  checkExposure(config);
  console.log('starts: host ' + config.host + ', auth ' + config.auth.mode);
} catch (err) {
  console.log('refused: ' + err.message + ' [' + err.code + ']');
  process.exit(2);
}
`;

function step1Blocks(): string[] {
  const doc = readFileSync(`${ROOT}docs/IOTHUB.md`, 'utf8');
  const step = doc.slice(doc.indexOf('1. Start the server'), doc.indexOf('2. Register the device'));
  return [...step.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].replace(/^ {3}/gm, ''));
}

test('IOTHUB.md, step 1: every documented start command makes a configuration the server starts with', { timeout: 60_000 }, (t) => {
  const blocks = step1Blocks();
  assert.ok(blocks.length > 0, 'step 1 has shell blocks');
  const dir = tempDir(t);
  const npm = `npm() { [ "$1" = start ] && [ "$2" = -- ] || { echo "not npm start: $*"; return 99; }; shift 2; ` +
    `node --import ${TSX} --input-type=module -e '${CHECK.replace(/'/g, `'\\''`)}' -- "$@"; }`;
  for (const block of blocks) {
    const run = spawnSync('sh', ['-e', '-c', `${npm}\n${block}`], { cwd: dir, encoding: 'utf8' });
    const starts = run.stdout.split('\n').filter((l) => l.startsWith('starts: '));
    assert.equal(run.status, 0, `${block}\n${run.stdout}${run.stderr}`);
    assert.equal(starts.length, block.split('\n').filter((l) => l.startsWith('npm start')).length, run.stdout);
  }
  // The one beyond loopback is among them, and it really is (not a doc that quietly dropped --host 0.0.0.0).
  assert.ok(blocks.some((b) => b.includes('--host 0.0.0.0')));
});

test('IOTHUB.md, step 3: the device program runs as written (node device.js beside ca.pem) and its reading shows in the windows', { timeout: 60_000 }, async (t) => {
  const doc = readFileSync(`${ROOT}docs/IOTHUB.md`, 'utf8');
  const step = doc.slice(doc.indexOf('3. In the device'), doc.indexOf('### When `open()` fails'));
  const block = /```js\n([\s\S]*?)```/.exec(step);
  assert.ok(block !== null, 'step 3 has a js block');
  const app = await startSecureServer(t);
  const dev = await addDevice(app, 'doc-device');
  const dir = tempDir(t);
  writeFileSync(join(dir, 'device.js'), block[1].replace(/^ {3}/gm, ''));
  copyFileSync(app.caFile!, join(dir, 'ca.pem'));
  // Not spawnSync: the server runs in this process. NODE_PATH: the temp dir has no node_modules of its own.
  const run = await promisify(execFile)(process.execPath, ['device.js'], {
    cwd: dir,
    timeout: 30_000,
    env: { ...process.env, NODE_PATH: `${ROOT}node_modules`, CONNECTION_STRING: dev.connectionString },
  }).catch((err: { stderr?: string; message: string }) => assert.fail(`node device.js failed: ${err.stderr || err.message}`));
  assert.equal(run.stderr, '');
  await waitForRecords(app, 1);
  const windows = (await getJson(`${app.httpUrl}/api/v1/windows?deviceId=doc-device&length=10000`)).body.items;
  assert.ok(windows.length > 0);
  for (const w of windows) assert.deepEqual([w.count, w.avg, w.humidityAvg], [1, 21.4, 40]);
});
