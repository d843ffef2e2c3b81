/** The CLIs when the reader of their output goes away (`npm start -- --help | head -1`): they end quietly, no EPIPE stack trace. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { builtServer, tempDir } from './helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Runs `node args` with its stdout a pipe whose reader is gone: closed at once, or after the first output
 * (`afterFirstOutput`, which then also sends SIGTERM: its shutdown line is written to the closed pipe).
 */
function withReaderGone(args: string[], afterFirstOutput = false): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    if (!afterFirstOutput) child.stdout.destroy();
    else {
      child.stdout.once('data', () => {
        child.stdout.destroy();
        child.kill('SIGTERM');
      });
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not end within 30 s; stderr: ${stderr}`));
    }, 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

const CLIS: [string, string[]][] = [
  ['the server from source (node --import tsx server/main.ts)', ['--import', 'tsx', 'server/main.ts', '--help']],
  ['the simulator (npm run simulate)', ['--import', 'tsx', 'simulator/cli.ts', '--help']],
  ['the devices CLI (npm run devices)', ['--import', 'tsx', 'server/registry/cli.ts', '--help']],
  ['the example CLI (npm run example)', ['--import', 'tsx', 'examples/run.ts', '--help']],
];

for (const [name, args] of CLIS) {
  test(`--help into a pipe whose reader is gone: ${name} ends with exit code 0 and prints no EPIPE`, { timeout: 60_000 }, async () => {
    const ended = await withReaderGone(args);
    assert.deepEqual([ended.code, ended.signal], [0, null], ended.stderr);
    assert.equal(ended.stderr, '');
  });
}

test('--help into a pipe whose reader is gone: the built server (npm start) ends with exit code 0 and prints no EPIPE', { timeout: 60_000 }, async (t) => {
  const ended = await withReaderGone([await builtServer(t), '--help']);
  assert.deepEqual([ended.code, ended.signal], [0, null], ended.stderr);
  assert.equal(ended.stderr, '');
});

test('the running server whose output reader went away after its first line shuts down gracefully at SIGTERM, exit code 0, no EPIPE', { timeout: 60_000 }, async (t) => {
  const args = [await builtServer(t), '--data-dir', tempDir(t), '--http-port', '0', '--mqtt-port', '0', '--mqtts-port', '-1'];
  const ended = await withReaderGone(args, true);
  assert.deepEqual([ended.code, ended.signal], [0, null], ended.stderr);
  assert.doesNotMatch(ended.stderr, /EPIPE|Error/);
});

test('a running example whose output reader is gone ends at its first batch\'s output with exit code 0 and prints no EPIPE', { timeout: 60_000 }, async (t) => {
  // A line server as `nc -lk` would be: a line every 50 ms to whoever connects (bounded: 600 lines, 30 s).
  const lines = createServer((socket) => {
    let n = 0;
    const timer = setInterval(() => (++n > 600 ? socket.end() : socket.write(`hello world ${n}\n`)), 50);
    socket.on('close', () => clearInterval(timer));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => lines.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => lines.close(() => resolve())));
  const { port } = lines.address() as AddressInfo;
  const ended = await withReaderGone(['--import', 'tsx', 'examples/run.ts', 'network-word-count', '127.0.0.1', String(port)]);
  assert.deepEqual([ended.code, ended.signal], [0, null], ended.stderr);
  assert.doesNotMatch(ended.stderr, /EPIPE|Error/);
});
