import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { waitFor } from './dstream-helpers.ts';

const root = path.resolve(import.meta.dirname, '..');

interface PrintedBatch {
  time: number;
  records: string[];
}

/** Parses Spark console output (print()) into batches; an incomplete last batch is left out. */
function parseBatches(stdout: string): PrintedBatch[] {
  const lines = stdout.split('\n');
  const batches: PrintedBatch[] = [];
  const rule = '-------------------------------------------';
  for (let i = 0; i + 2 < lines.length; i++) {
    const header = /^Time: (\d+) ms$/.exec(lines[i + 1]);
    if (lines[i] !== rule || !header || lines[i + 2] !== rule) continue;
    const end = lines.indexOf('', i + 3);
    if (end < 0 || end === lines.length - 1) break; // its empty line not written yet
    batches.push({ time: Number(header[1]), records: lines.slice(i + 3, end) });
    i = end;
  }
  return batches;
}

test('examples/network-word-count: word counts of each batch, as a user runs it', async (t) => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve(undefined)));
  });
  const { port } = server.address() as net.AddressInfo;

  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'examples/run.ts', 'network-word-count', '127.0.0.1', String(port)],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  await waitFor('the example to connect', () => sockets.length === 1, 30_000);
  const nonEmpty = (): PrintedBatch[] => parseBatches(stdout).filter((b) => b.records.length > 0);

  // One write arrives in one chunk, so all its lines fall into the same batch.
  sockets[0].write('the quick the\nfox  the\n');
  await waitFor('a batch with counts', () => nonEmpty().length === 1, 10_000);
  assert.deepEqual(nonEmpty()[0].records, ['(the,3)', '(quick,1)', '(fox,1)']);

  sockets[0].write('b a b\n');
  await waitFor('a second batch with counts', () => nonEmpty().length === 2, 10_000);
  assert.deepEqual(nonEmpty()[1].records, ['(b,2)', '(a,1)']);

  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const { code, signal } = await Promise.race([
    exited,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('no exit 10 s after SIGTERM')), 10_000);
    }),
  ]).finally(() => clearTimeout(timer));
  assert.equal(signal, null);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');

  // Batches every second, one after the other; the empty ones print only their header.
  const batches = parseBatches(stdout);
  assert.ok(batches.length >= 2);
  for (let i = 1; i < batches.length; i++) {
    const gap = batches[i].time - batches[i - 1].time;
    assert.ok(gap > 0 && gap % 1000 === 0, `batch times ${batches[i - 1].time} then ${batches[i].time}`);
  }
  assert.deepEqual(
    batches.flatMap((b) => b.records),
    ['(the,3)', '(quick,1)', '(fox,1)', '(b,2)', '(a,1)'],
  );
});

/** Runs `npm run example -- …` as the README does, to its exit. */
function runExample(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'examples/run.ts', ...args], { cwd: root, encoding: 'utf8' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

test('npm run example -- --help lists the examples and their arguments on stdout, exit code 0; an unknown name is 2', () => {
  // --help was 'unknown example "--help"' with exit code 2, and "constructor" (a name every object has) crashed.
  const usage =
    'usage: npm run example -- <name> <host> <port>\n' +
    'examples (each reads lines from a TCP server at host:port, such as `nc -lk 9999`):\n' +
    '  network-word-count   word counts of every 1 s batch of the lines read from host:port\n' +
    '  windowed-word-count  word counts over the last 30 s, every 10 s\n';
  assert.deepEqual(runExample('--help'), { code: 0, stdout: usage, stderr: '' });
  assert.deepEqual(runExample('-h'), { code: 0, stdout: usage, stderr: '' });
  assert.deepEqual(runExample('constructor'), { code: 2, stdout: '', stderr: `unknown example "constructor"\n${usage}` });
});

test('an example refuses a port that is not one, and arguments it does not take, naming them (exit code 2)', () => {
  // "abc" was reported only as the usage, "(got: localhost abc)"; a third argument was ignored.
  const usage = 'usage: npm run example -- network-word-count <host> <port>\n';
  assert.deepEqual(runExample('network-word-count', 'localhost', 'abc'), {
    code: 2, stdout: '', stderr: `network-word-count: <port> "abc" is not a port number from 1 to 65535\n${usage}`,
  });
  assert.deepEqual(runExample('network-word-count', 'localhost', '1e3'), {
    code: 2, stdout: '', stderr: `network-word-count: <port> "1e3" is not a port number from 1 to 65535\n${usage}`,
  });
  assert.deepEqual(runExample('windowed-word-count', 'localhost', '9999', 'extra'), {
    code: 2, stdout: '', stderr: 'windowed-word-count: unexpected argument "extra"\nusage: npm run example -- windowed-word-count <host> <port>\n',
  });
  assert.deepEqual(runExample('network-word-count'), { code: 2, stdout: '', stderr: `${usage.trimEnd()}  (got: nothing)\n` });
});
