import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { recordingBroker } from './simulator-helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;

test('5,000 readings/s for 5 s at QoS 0: the broker receives 25,000 ± 3%', async (t) => {
  const b = await recordingBroker();
  t.after(() => b.broker.close());
  const args = ['--import', 'tsx', 'simulator/cli.ts', '--url', b.broker.url, '--devices', '100', '--rate', '5000', '--duration', '5',
    '--qos', '0', '--seed', '9', '--quiet', '--json'];
  const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as { sent: number; acknowledged: number; lost: number };
  const expected = 25_000;
  assert.ok(Math.abs(b.packets - expected) <= expected * 0.03, `broker received ${b.packets}, expected ${expected} ± 3%`);
  assert.equal(b.packets, summary.sent, 'the summary counts what the broker received');
  assert.equal(summary.lost, 0);
});
