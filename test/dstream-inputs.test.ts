import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, unlink, writeFile, appendFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { byTime, collect, harness, waitFor } from './dstream-helpers.ts';

test('textFileStream: each new file is read whole into the next batch, exactly once', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dstream-files-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'old.txt'), 'present before start\n');
  const h = harness();
  t.after(() => h.ctx.stop());
  const out = collect(h.ctx.textFileStream(dir));
  h.ctx.start();

  await writeFile(path.join(dir, 'b.txt'), '3'); // no final newline
  await writeFile(path.join(dir, 'a.txt'), '1\r\n2\n');
  await mkdir(path.join(dir, 'sub'));
  await h.step(); // 1000
  await h.step(); // 2000: nothing new

  // The convention: write under a '.'-name or a '.tmp' name, then rename. Half-written files are never read.
  const partial = path.join(dir, '.c.txt.tmp');
  await writeFile(partial, '4\n');
  await writeFile(path.join(dir, 'd.tmp'), 'ignored\n');
  await writeFile(path.join(dir, '.hidden'), 'ignored\n');
  await h.step(); // 3000
  await appendFile(partial, '5\n6\n');
  await rename(partial, path.join(dir, 'c.txt'));
  await h.step(); // 4000

  // A name that left the directory is forgotten: a new file under it is new.
  await unlink(path.join(dir, 'a.txt'));
  await h.step(); // 5000
  await writeFile(path.join(dir, 'a.txt'), 'again\n');
  await h.step(); // 6000
  await h.step(); // 7000

  // A new file renamed over a name already read is new (another inode); appending to a read file is not.
  await appendFile(path.join(dir, 'c.txt'), '7\n');
  await writeFile(path.join(dir, '.c2.tmp'), 'replaced\n');
  await rename(path.join(dir, '.c2.tmp'), path.join(dir, 'c.txt'));
  await h.step(); // 8000

  assert.deepEqual(byTime(out), {
    1000: ['1', '2', '3'],
    2000: [],
    3000: [],
    4000: ['4', '5', '6'],
    5000: [],
    6000: ['again'],
    7000: [],
    8000: ['replaced'],
  });
});

test('textFileStream: a missing directory is reported once and read once it exists', async (t) => {
  const base = await mkdtemp(path.join(os.tmpdir(), 'dstream-files-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const dir = path.join(base, 'later');
  const h = harness();
  t.after(() => h.ctx.stop());
  const out = collect(h.ctx.textFileStream(dir));
  h.ctx.start();
  await h.step(2);
  await mkdir(dir);
  await writeFile(path.join(dir, 'x.csv'), 'x\n');
  await h.step();
  assert.deepEqual(byTime(out), { 1000: [], 2000: [], 3000: ['x'] });
  assert.equal(h.logs.length, 1);
  assert.match(h.logs[0], /^textFileStream .*later: ENOENT/);
});

/** A TCP server on an ephemeral loopback port that records its connections. */
async function lineServer(t: { after(fn: () => unknown): void }, port = 0): Promise<{ server: net.Server; port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve(undefined)));
  });
  return { server, port: (server.address() as net.AddressInfo).port, sockets };
}

test('socketTextStream: lines into batches; reconnects after the connection drops', async (t) => {
  const { port, sockets } = await lineServer(t);
  const h = harness();
  t.after(() => h.ctx.stop());
  const out = collect(h.ctx.socketTextStream('127.0.0.1', port, { minBackoffMs: 100 }));
  h.ctx.start();
  const all = (): string[] => [...out.values()].flat();

  await waitFor('the first connection', () => sockets.length === 1);
  sockets[0].write('hello world\nsecond li');
  sockets[0].write('ne\r\nthird\n');
  await waitFor('three lines', async () => (await h.step(), all().length >= 3));
  assert.deepEqual(all(), ['hello world', 'second line', 'third']);

  sockets[0].destroy(); // the connection drops: the receiver reconnects after its backoff (on the context's clock)
  await waitFor('a second connection', async () => (await h.step(), sockets.length === 2));
  sockets[1].end('after reconnect\nunterminated last line');
  await waitFor('five lines', async () => (await h.step(), all().length >= 5));
  assert.deepEqual(all(), ['hello world', 'second line', 'third', 'after reconnect', 'unterminated last line']);
  assert.deepEqual(h.logs, []);
});

test('socketTextStream: retries while the connection is refused', async (t) => {
  // Find a free port, then leave it closed for a while.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));

  const h = harness();
  t.after(() => h.ctx.stop());
  const out = collect(h.ctx.socketTextStream('127.0.0.1', port, { minBackoffMs: 100, maxBackoffMs: 400 }));
  h.ctx.start();
  await waitFor('a refused connection to be logged', async () => (await h.step(), h.logs.length > 0));
  assert.match(h.logs[0], new RegExp(`^socketTextStream: 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*; reconnecting$`));
  await h.step(3); // more refused attempts: logged once per outage

  const { sockets } = await lineServer(t, port);
  await waitFor('the connection', async () => (await h.step(), sockets.length === 1));
  sockets[0].write('finally\n');
  await waitFor('the line', async () => (await h.step(), [...out.values()].flat().length === 1));
  assert.deepEqual([...out.values()].flat(), ['finally']);
  assert.equal(h.logs.length, 2);
  assert.equal(h.logs[1], `socketTextStream: connected to 127.0.0.1:${port}`);
});
