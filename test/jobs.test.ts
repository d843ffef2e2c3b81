/**
 * The job runner's limits and life cycle, over real HTTP against a whole server: heap limit, shutdown, output rate,
 * maxRunning, and /api/v1/jobs.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { getJson, startServer, tempDir, waitFor } from './helpers.ts';
import { fullLog, ISO, JOBS, lineServer, livy, waitForState } from './jobs-helpers.ts';

test('a job that outgrows its driverMemory is dead, out of memory, and the server keeps serving', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  await livy(app, 'POST', '/livy/batches', { file: 'test/fixtures/jobs/hog.ts', driverMemory: '64m' });
  await waitForState(app, 1, 'dead');
  const lines = await fullLog(app, 1);
  assert.deepEqual(lines.slice(-2).map((l) => l.replace(/^\[thermostream\] \S+ /, '')), [
    "out of memory: the job's heap passed its limit of 64 MiB (raise driverMemory)",
    'job 1: failed',
  ]);
  assert.equal((await getJson(`${app.httpUrl}/healthz`)).status, 200);
});

test('a jobs.driverMemory outside 32m…64g stops the config, naming the key, its value and its file, as the schema\'s refusals do', () => {
  const refusal = (driverMemory: string) =>
    `invalid configuration: jobs.driverMemory = "${driverMemory}" (from thermostream.json): the job's heap limit must be from 32m to 64g`;
  for (const driverMemory of ['10m', '65g']) {
    assert.throws(() => resolveConfig({ jobs: { driverMemory } }, [], 'thermostream.json'), { code: 'TS_ERR_CONFIG_INVALID', message: refusal(driverMemory) });
  }
  assert.equal(resolveConfig({ jobs: { driverMemory: '32m' } }).jobs.driverMemory, '32m');
});

test('shutting the server down stops its running jobs', async (t) => {
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir: tempDir(t), batchIntervalMs: 100, jobs: JOBS });
  const app = await startThermostream(config);
  let closed = false;
  t.after(() => (closed ? undefined : app.close()));
  const source = await lineServer(t);
  await livy(app, 'POST', '/livy/batches', { file: 'examples/network-word-count.ts', className: 'main', args: ['127.0.0.1', String(source.port)] });
  await livy(app, 'POST', '/livy/batches', { file: 'test/fixtures/jobs/endless-loop.ts' });
  await waitForState(app, 1, 'running');
  await waitForState(app, 2, 'running');
  const socket = await source.connected;
  const socketClosed = once(socket, 'close');
  closed = true;
  await app.close(); // resolves once both jobs have exited: one stopped gracefully, the other terminated
  await socketClosed; // the word count's connection went with its job
});

test('a job that prints in a tight loop has its output rate-limited, the drop said in its log', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  await livy(app, 'POST', '/livy/batches', { file: 'test/fixtures/jobs/chatty.ts' });
  await waitForState(app, 1, 'success');
  const { body } = await getJson(`${app.httpUrl}/api/v1/jobs/1/log?limit=2`);
  assert.ok(body.total > 1000 && body.total < 40_000, `about 1 MiB/s of 40-byte lines, not more: ${body.total} lines`);
  assert.equal(body.lines.length, 2);
  const { log } = (await getJson(`${app.httpUrl}/livy/batches/1/log?size=2`)).body;
  assert.deepEqual(log, body.lines);
  assert.match(body.lines[0], /^\[thermostream\] \d+ bytes of output dropped: the job wrote more than 1048576 bytes\/s$/);
  assert.match(body.lines[1], /^\[thermostream\] \S+ job 1: finished$/);
});

test('beyond jobs.maxRunning a submission gets a 429; a finished job frees its place', async (t) => {
  const app = await startServer(t, { jobs: { ...JOBS, maxRunning: 1 } });
  const wordCount = { file: 'examples/network-word-count.ts', className: 'main', args: ['127.0.0.1', '1'] }; // refused: it retries
  assert.equal((await livy(app, 'POST', '/livy/batches', wordCount)).status, 201);
  const message = '1 job is starting or running, the most jobs.maxRunning allows: delete one first';
  assert.deepEqual(await livy(app, 'POST', '/livy/batches', wordCount), {
    status: 429,
    body: { error: 'TS_ERR_JOB_LIMIT', message, msg: message },
  });
  await waitForState(app, 1, 'running');
  await waitFor('the reconnect to be logged', async () =>
    (await fullLog(app, 1)).some((l) => /^\[dstream\] socketTextStream: 127.0.0.1:1: .*; reconnecting$/.test(l)),
  );
  assert.deepEqual(await livy(app, 'DELETE', '/livy/batches/1'), { status: 200, body: { msg: 'deleted' } });
  assert.equal((await livy(app, 'POST', '/livy/batches', { file: 'test/fixtures/jobs/hello.ts', className: 'hello' })).status, 201);
});

test('/api/v1/jobs is the same resource under the API\'s conventions', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  const created = await livy(app, 'POST', '/api/v1/jobs', { file: 'test/fixtures/jobs/hello.ts', className: 'hello', args: ['api'], name: 'hi' });
  assert.equal(created.status, 201);
  assert.match(created.body.submittedAt, ISO);
  assert.deepEqual(created.body, {
    id: 1,
    name: 'hi',
    state: 'starting',
    builtIn: false,
    file: 'test/fixtures/jobs/hello.ts',
    className: 'hello',
    submittedAt: created.body.submittedAt,
    startedAt: null,
    endedAt: null,
  });
  await waitForState(app, 1, 'success'); // the Livy view of the same job
  const job = await getJson(`${app.httpUrl}/api/v1/jobs/1`);
  assert.equal(job.body.state, 'success');
  assert.match(job.body.endedAt, ISO);

  const first = await getJson(`${app.httpUrl}/api/v1/jobs?limit=1`);
  assert.deepEqual(first.body.items.map((j: any) => [j.id, j.name, j.state, j.builtIn]), [[0, 'telemetry', 'running', true]]);
  assert.equal(first.body.next, '1');
  const second = await getJson(`${app.httpUrl}/api/v1/jobs?limit=1&cursor=${first.body.next}`);
  assert.deepEqual({ ...second.body, items: second.body.items.map((j: any) => j.id) }, { items: [1], next: null });

  const log = await getJson(`${app.httpUrl}/api/v1/jobs/1/log?from=1&limit=2`);
  assert.deepEqual(log, { status: 200, body: { id: 1, from: 1, total: 5, lines: ['hello api', 'name hi, conf {}'] } });

  // With the JSON Content-Type and no body, as clients that set the header on every request send it.
  const deleted = await fetch(`${app.httpUrl}/api/v1/jobs/1`, { method: 'DELETE', headers: { 'content-type': 'application/json' } });
  assert.equal(deleted.status, 204);
  assert.deepEqual(await getJson(`${app.httpUrl}/api/v1/jobs/1`), {
    status: 404,
    body: { error: 'TS_ERR_JOB_NOT_FOUND', message: 'job 1 not found' },
  });
  assert.deepEqual(await livy(app, 'DELETE', '/api/v1/jobs/0'), {
    status: 403,
    body: { error: 'TS_ERR_JOB_BUILTIN', message: 'batch 0 is the built-in telemetry job: it runs as long as the server and cannot be deleted' },
  });
  const unreadable = await fetch(`${app.httpUrl}/api/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"file": ' });
  assert.deepEqual({ status: unreadable.status, body: await unreadable.json() }, {
    status: 400,
    body: { error: 'TS_ERR_JOB_REQUEST', message: 'invalid batch request: request body = "{\\"file\\": ": not valid JSON (Unexpected end of JSON input)' },
  });
  assert.deepEqual(await getJson(`${app.httpUrl}/api/v1/jobs?limit=0`), {
    status: 400,
    body: { error: 'TS_ERR_QUERY_PARAM', message: 'invalid query parameter "limit" = "0": expected an integer from 1 to 10000', parameter: 'limit', value: '0' },
  });
});

test('a job\'s log keeps its last jobs.logLines lines: numbered over the job\'s life by /api/v1/jobs, from the first kept by Livy', async (t) => {
  const app = await startServer(t, { jobs: { ...JOBS, logLines: 10 } });
  await livy(app, 'POST', '/livy/batches', { file: 'test/fixtures/jobs/chatty.ts' });
  await waitForState(app, 1, 'success');
  const api = (await getJson(`${app.httpUrl}/api/v1/jobs/1/log?from=0&limit=3`)).body;
  assert.ok(api.total > 1000, `every line the job wrote is counted: ${api.total}`);
  assert.equal(api.from, api.total - 10, 'line 0 is long gone: the answer starts at the first line kept');
  const kept = (await getJson(`${app.httpUrl}/api/v1/jobs/1/log?from=${api.from}&limit=10`)).body.lines;
  assert.equal(kept.length, 10);

  // Livy counts the lines kept: Airflow's LivyHook pages `from` by `size` while from <= total, and gets each once.
  const { body } = await getJson(`${app.httpUrl}/livy/batches/1/log?from=0&size=3`);
  assert.deepEqual([body.from, body.size, body.total, body.log], [0, 3, 10, kept.slice(0, 3)]);
  const dumped: string[] = [];
  for (let from = 0, total = 0; from <= total; from += 3) {
    const page = (await getJson(`${app.httpUrl}/livy/batches/1/log?from=${from}&size=3`)).body;
    total = page.total;
    dumped.push(...page.log);
  }
  assert.deepEqual(dumped, kept);
  assert.deepEqual((await getJson(`${app.httpUrl}/livy/batches/1/log?size=4`)).body.from, 6, 'without from: the last size lines');
  // The OpenAPI document says what total is.
  const doc = (await getJson(`${app.httpUrl}/docs/json`)).body;
  const total = (path: string) => doc.paths[path].get.responses['200'].content['application/json'].schema.properties.total.description;
  assert.equal(total('/api/v1/jobs/{id}/log'), 'Lines the job\'s log has had, kept or not (the last jobs.logLines are kept): the next line\'s number.');
  assert.equal(total('/livy/batches/{id}/log'), 'Lines kept (the last jobs.logLines), as Livy counts them: from + size ≤ total.');
});

test('a job that returns without starting the streaming context it defined is told so in its log', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  await livy(app, 'POST', '/livy/batches', { file: 'test/fixtures/jobs/not-started.ts' });
  await waitForState(app, 1, 'success');
  const lines = (await fullLog(app, 1)).map((l) => l.replace(/^\[thermostream\] \S+ /, '[thermostream] '));
  assert.deepEqual(lines.slice(1), [
    '[thermostream] job 1: returned without starting 1 of its 1 streaming contexts (ctx.start()): they computed nothing',
    '[thermostream] job 1: finished',
  ]);
});
