import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir, waitFor } from './helpers.ts';
import { withTimeout } from './simulator-helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;

test('azure transport: Ctrl-C while the SDK waits for a CONNACK that never comes ends the run at once, not after --connect-timeout', { timeout: 60_000 }, async (t) => {
  // A server that takes the TCP connection and never answers MQTT: the SDK's open() hangs.
  const sockets = new Set<Socket>();
  const silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const port = (silent.address() as AddressInfo).port;
  const cs = join(tempDir(t), 'cs.txt');
  writeFileSync(cs, `HostName=localhost;DeviceId=hung;SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}\n`);

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'simulator/cli.ts', '--transport', 'azure', '--connection-strings', cs, '--url', `mqtt://127.0.0.1:${port}`, '--connect-timeout', '40', '--count', '10', '--quiet'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  await waitFor('the SDK to connect', () => sockets.size > 0, 20_000);
  await new Promise((r) => setTimeout(r, 300)); // its CONNECT sent, waiting for the CONNACK
  const interruptedAt = Date.now();
  child.kill('SIGINT');
  // Before, it waited for the connect timer (40 s here) and the SDK's socket (its own connect timeout, 60 s).
  const [code] = await withTimeout(exited, 10_000, `the simulator's exit after SIGINT (stderr: ${stderr})`);
  const took = Date.now() - interruptedAt;
  assert.ok(took < 5_000, `exited ${took} ms after SIGINT (stderr: ${stderr})`);
  assert.equal(code, 0, stderr); // stopped by the user: the summary of nothing sent, nothing lost
});
