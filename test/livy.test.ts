/**
 * Streaming jobs through Apache Livy's batches protocol (https://livy.apache.org/docs/latest/rest-api.html), over
 * real HTTP against a whole server: jobs run in worker threads, read sockets and the live telemetry.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, getJson, startServer, tempDir, waitFor, waitForRecords } from './helpers.ts';
import { EXAMPLES, FIXTURES, fullLog, ISO, JOBS, lineServer, livy, ROOT, sumPairs, waitForState } from './jobs-helpers.ts';

test('network-word-count runs as a Livy batch: running, its counts in the log, DELETE → killed', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  const source = await lineServer(t);

  const created = await livy(app, 'POST', '/livy/batches', {
    file: 'examples/network-word-count.ts',
    className: 'main',
    args: ['127.0.0.1', String(source.port)],
    name: 'words',
  });
  assert.equal(created.status, 201);
  const { appInfo, log, ...rest } = created.body;
  assert.deepEqual(rest, { id: 1, name: 'words', state: 'starting', appId: 'thermostream-job-1' });
  assert.match(appInfo.submittedAt, ISO);
  assert.deepEqual(appInfo, {
    driverLogUrl: '/livy/batches/1/log',
    sparkUiUrl: null,
    file: 'examples/network-word-count.ts',
    className: 'main',
    submittedAt: appInfo.submittedAt,
    startedAt: null,
    endedAt: null,
  });
  assert.equal(log.length, 1);
  assert.match(log[0], /^\[thermostream\] \S+ job 1: submitted examples\/network-word-count.ts \(export main\) with args \["127.0.0.1","\d+"\], heap limit 512 MiB \(driverMemory 512m\)$/);

  assert.deepEqual(await waitForState(app, 1, 'running'), { id: 1, state: 'running' });
  const socket = await source.connected;
  socket.write('the quick fox\nthe lazy dog the\n');
  await waitFor('the word counts in the log', async () => {
    const sums = sumPairs(await fullLog(app, 1));
    return sums.the === 3 && sums.quick === 1 && sums.fox === 1 && sums.lazy === 1 && sums.dog === 1;
  });
  const lines = await fullLog(app, 1);
  assert.deepEqual(sumPairs(lines), { the: 3, quick: 1, fox: 1, lazy: 1, dog: 1 });
  assert.ok(lines.some((l) => /^Time: \d+ ms$/.test(l)), 'print() headers are in the log');

  // Livy's log window: from/size, and the last `size` lines by default.
  const page = await getJson(`${app.httpUrl}/livy/batches/1/log?from=1&size=2`);
  assert.deepEqual(page, { status: 200, body: { id: 1, from: 1, size: 2, total: page.body.total, log: page.body.log } });
  assert.deepEqual(page.body.log, (await fullLog(app, 1)).slice(1, 3));

  const list = await getJson(`${app.httpUrl}/livy/batches`);
  assert.equal(list.status, 200);
  assert.deepEqual(
    { from: list.body.from, total: list.body.total, sessions: list.body.sessions.map((s: any) => [s.id, s.name, s.state, s.appId]) },
    { from: 0, total: 2, sessions: [[0, 'telemetry', 'running', 'thermostream-telemetry'], [1, 'words', 'running', 'thermostream-job-1']] },
  );

  assert.deepEqual(await livy(app, 'DELETE', '/livy/batches/1'), { status: 200, body: { msg: 'deleted' } });
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches/1/state`), { status: 200, body: { id: 1, state: 'killed' } });
  const batch = await getJson(`${app.httpUrl}/livy/batches/1`);
  assert.equal(batch.body.state, 'killed');
  assert.match(batch.body.appInfo.endedAt, ISO);
  assert.match(batch.body.log.at(-1), /job 1: killed$/);
  // A finished batch is removed by a second DELETE, as Livy removes sessions.
  assert.deepEqual(await livy(app, 'DELETE', '/livy/batches/1'), { status: 200, body: { msg: 'deleted' } });
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches/1`), {
    status: 404,
    body: { error: 'TS_ERR_JOB_NOT_FOUND', message: 'batch 1 not found', msg: 'batch 1 not found' },
  });
});

test('a job that throws is dead with its error in the log, and the server keeps serving', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  const created = await livy(app, 'POST', '/livy/batches', { file: join(FIXTURES, 'throws.ts'), args: ['a', 'b'] });
  assert.equal(created.status, 201);
  await waitForState(app, 1, 'dead');
  const lines = await fullLog(app, 1);
  assert.ok(lines.includes('starting with 2 args'), lines.join('\n'));
  assert.ok(lines.includes('Error: the sensor table is empty'), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('throws.ts')), 'the stack names the job file');
  assert.match(lines.at(-1)!, /job 1: failed$/);

  const client = await connect(t, app.mqttUrl);
  await client.publishAsync('devices/d1/telemetry', JSON.stringify({ temperature: 21.5 }), { qos: 1 });
  await waitForRecords(app, 1);
  assert.equal((await getJson(`${app.httpUrl}/healthz`)).status, 200);
});

test('a job in a jobs directory outside this package (a .ts file with no package.json of "type": "module" above it) runs', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  const engine = JSON.stringify(join(ROOT, 'server/engine/dstream/index.ts'));
  writeFileSync(join(jobsDir, 'outside.ts'), `import { StreamingContext } from ${engine};\nexport default function (args: string[]): void {\n  console.log(\`default \${args.join(' ')} \${typeof StreamingContext}\`);\n}\nexport function named(): void {\n  console.log('named');\n}\n`);
  writeFileSync(join(jobsDir, 'plain.js'), "export default function () {\n  console.log('plain js');\n}\n");
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [jobsDir] } });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'outside.ts'), args: ['x'] });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'outside.ts'), className: 'named' });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'plain.js') });
  const output = async (id: number) => (await fullLog(app, id)).filter((l) => !l.startsWith('[thermostream]'));
  const finished = (id: number) =>
    waitFor(`batch ${id} to finish`, async () => {
      const { body } = await getJson(`${app.httpUrl}/livy/batches/${id}/state`);
      return body.state === 'starting' || body.state === 'running' ? null : (body.state as string);
    }, 20_000);
  for (const [id, lines] of [[1, ['default x function']], [2, ['named']], [3, ['plain js']]] as const) {
    const state = await finished(id);
    assert.deepEqual(await output(id), lines, `batch ${id}`);
    assert.equal(state, 'success');
  }
});

test('a job outside this package (CommonJS by tsx) reads the live telemetry and stops gracefully on DELETE, as one in jobs/ does', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  const engine = JSON.stringify(join(ROOT, 'server/engine/dstream/index.ts'));
  writeFileSync(
    join(jobsDir, 'too-hot.ts'),
    `import { StreamingContext } from ${engine};\n` +
      'export default async function (args: string[]): Promise<void> {\n' +
      '  const ctx = new StreamingContext(200);\n' +
      '  ctx.telemetryStream().filter((r) => r.temperature > Number(args[0])).map((r) => [r.deviceId, 1]).reduceByKey((a, b) => a + b).print();\n' +
      '  ctx.start();\n' +
      '  await ctx.awaitTermination();\n' +
      '}\n',
  );
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [jobsDir] } });
  const client = await connect(t, app.mqttUrl);
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'too-hot.ts'), args: ['30'] });
  await waitForState(app, 1, 'running');
  await client.publishAsync('devices/hot-1/telemetry', JSON.stringify([{ temperature: 31 }, { temperature: 35 }, { temperature: 20 }]), { qos: 1 });
  await waitFor('the job to count the hot readings', async () => (await fullLog(app, 1)).includes('(hot-1,2)'));
  assert.deepEqual(await livy(app, 'DELETE', '/livy/batches/1'), { status: 200, body: { msg: 'deleted' } });
  await waitForState(app, 1, 'killed');
  const lines = await fullLog(app, 1);
  assert.ok(!lines.some((l) => l.includes('did not stop within')), lines.join('\n'));
});

test('DELETE stops a job of a long batch interval gracefully at once: what it received is processed, not cut off by jobs.stopTimeoutMs', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  const engine = JSON.stringify(join(ROOT, 'server/engine/dstream/index.ts'));
  writeFileSync(
    join(jobsDir, 'per-minute.mjs'),
    `import { StreamingContext } from ${engine};\n` +
      'export default async function () {\n' +
      '  const ctx = new StreamingContext(60000);\n' +
      '  ctx.telemetryStream().map((r) => [r.deviceId, 1]).reduceByKey((a, b) => a + b).print();\n' +
      '  ctx.start();\n' +
      '  await ctx.awaitTermination();\n' +
      '}\n',
  );
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [jobsDir] } }); // stopTimeoutMs 1000
  const client = await connect(t, app.mqttUrl);
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'per-minute.mjs') });
  await waitForState(app, 1, 'running');
  await client.publishAsync('devices/slow-1/telemetry', JSON.stringify([{ temperature: 21 }, { temperature: 22 }]), { qos: 1 });
  assert.deepEqual(await livy(app, 'DELETE', '/livy/batches/1'), { status: 200, body: { msg: 'deleted' } });
  const lines = await fullLog(app, 1);
  assert.ok(lines.includes('(slow-1,2)'), lines.join('\n'));
  assert.ok(!lines.some((l) => l.includes('did not stop within')), lines.join('\n'));
  assert.deepEqual((await getJson(`${app.httpUrl}/livy/batches/1/state`)).body, { id: 1, state: 'killed' });
});

test('a job outside this package that throws has its own file and line in the stack of its log', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  const file = join(jobsDir, 'fails.ts');
  writeFileSync(file, "export default async function (): Promise<void> {\n  await new Promise((r) => setTimeout(r, 10));\n  throw new TypeError('the sensor table is empty');\n}\n");
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [jobsDir] } });
  await livy(app, 'POST', '/livy/batches', { file });
  await waitForState(app, 1, 'dead');
  const lines = (await fullLog(app, 1)).filter((l) => !l.startsWith('[thermostream]'));
  assert.equal(lines[0], 'TypeError: the sensor table is empty');
  assert.ok(lines[1]?.endsWith(`(${file}:3:9)`), lines.join('\n').slice(0, 500));
  assert.ok(!lines.some((l) => l.includes('data:text/javascript')), lines.join('\n').slice(0, 500));
});

test('the file submitted is the file run: jobs/x.js is not its neighbour jobs/x.ts', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  writeFileSync(join(jobsDir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(join(jobsDir, 'twin.ts'), "export default function (): void {\n  console.log('the .ts file');\n}\n");
  writeFileSync(join(jobsDir, 'twin.js'), "export default function () {\n  console.log('the .js file');\n}\n");
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [jobsDir] } });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'twin.js') });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'twin.ts') });
  await waitForState(app, 1, 'success');
  await waitForState(app, 2, 'success');
  const output = async (id: number) => (await fullLog(app, id)).filter((l) => !l.startsWith('[thermostream]'));
  assert.deepEqual(await output(1), ['the .js file']);
  assert.deepEqual(await output(2), ['the .ts file']);
});

test('a job module with a syntax error is dead with the file, line and column of the error, no loader stack', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  writeFileSync(join(jobsDir, 'typo.ts'), 'export default function (): void {\n  console.log((1;\n}\n');
  writeFileSync(join(jobsDir, 'typo.mjs'), 'export default function () {\n  return (1;\n}\n');
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [jobsDir] } });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'typo.ts') });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'typo.mjs') });
  await waitForState(app, 1, 'dead');
  await waitForState(app, 2, 'dead');
  const errors = async (id: number) => (await fullLog(app, id)).filter((l) => !l.startsWith('[thermostream]'));
  assert.deepEqual(await errors(1), [`SyntaxError: ${join(jobsDir, 'typo.ts')}:2:16: Expected ")" but found ";"`]);
  assert.deepEqual(await errors(2), [`SyntaxError: ${join(jobsDir, 'typo.mjs')}:2:11: Expected ")" but found ";"`]);
});

test('a syntax error in a module a job imports is located too, .ts or .mjs, however deep', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  writeFileSync(join(jobsDir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(join(jobsDir, 'uses-mjs.ts'), "import { f } from './lib/helper.mjs';\nexport default function (): void {\n  f();\n}\n");
  writeFileSync(join(jobsDir, 'uses-ts.mjs'), "import { g } from './lib/chain.ts';\nexport default function () {\n  g();\n}\n");
  mkdirSync(join(jobsDir, 'lib'));
  writeFileSync(join(jobsDir, 'lib', 'helper.mjs'), 'export function f() {\n  return (1;\n}\n');
  writeFileSync(join(jobsDir, 'lib', 'chain.ts'), "import { h } from './typo.ts';\nexport const g = (): number => h();\n");
  writeFileSync(join(jobsDir, 'lib', 'typo.ts'), 'export function h(): number {\n  return (1;\n}\n');
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [jobsDir] } });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'uses-mjs.ts') });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'uses-ts.mjs') });
  await waitForState(app, 1, 'dead');
  await waitForState(app, 2, 'dead');
  const errors = async (id: number) => (await fullLog(app, id)).filter((l) => !l.startsWith('[thermostream]'));
  assert.deepEqual(await errors(1), [`SyntaxError: ${join(jobsDir, 'lib', 'helper.mjs')}:2:11: Expected ")" but found ";"`]);
  assert.deepEqual(await errors(2), [`SyntaxError: ${join(jobsDir, 'lib', 'typo.ts')}:2:11: Expected ")" but found ";"`]);
});

test('a syntax error in a module a job imports is located in a jobs dir without a package.json (CommonJS by tsx)', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  writeFileSync(join(jobsDir, 'uses-ts.ts'), "import { h } from './typo.ts';\nexport default function (): void {\n  h();\n}\n");
  writeFileSync(join(jobsDir, 'typo.ts'), 'export function h(): number {\n  return (1;\n}\n');
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [jobsDir] } });
  await livy(app, 'POST', '/livy/batches', { file: join(jobsDir, 'uses-ts.ts') });
  await waitForState(app, 1, 'dead');
  const errors = (await fullLog(app, 1)).filter((l) => !l.startsWith('[thermostream]'));
  assert.deepEqual(errors, [`SyntaxError: ${join(jobsDir, 'typo.ts')}:2:11: Expected ")" but found ";"`]);
});

test('top-level await in a job outside an ESM package is located, with what to do: CommonJS cannot have it', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  const file = join(jobsDir, 'tla.ts');
  writeFileSync(file, "const n = await Promise.resolve(1);\nexport default function (): void {\n  console.log(n);\n}\n");
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [jobsDir] } });
  await livy(app, 'POST', '/livy/batches', { file });
  await waitForState(app, 1, 'dead');
  const errors = (await fullLog(app, 1)).filter((l) => !l.startsWith('[thermostream]'));
  assert.deepEqual(errors, [
    `SyntaxError: ${file}:1:10: Top-level await is currently not supported with the "cjs" output format (outside an ESM package a job is ` +
      'CommonJS, as Node takes a .ts or .js file without a package.json of "type": "module" above it: add one to its directory)',
  ]);
});

test('a module without the function asked for is dead with the reason alone, not a stack of the server\'s own code', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  await livy(app, 'POST', '/livy/batches', { file: join(FIXTURES, 'hello.ts') });
  await livy(app, 'POST', '/livy/batches', { file: join(FIXTURES, 'hello.ts'), className: 'nope' });
  await waitForState(app, 1, 'dead');
  await waitForState(app, 2, 'dead');
  const errors = async (id: number) => (await fullLog(app, id)).filter((l) => !l.startsWith('[thermostream]'));
  assert.deepEqual(await errors(1), ['Error: the module has no default export function (exported functions: hello; set className to one of them)']);
  assert.deepEqual(await errors(2), ['Error: the module exports no function named "nope" (exported functions: hello; set className to one of them)']);
});

test('a job stuck in an endless loop is killed by DELETE once jobs.stopTimeoutMs has passed', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  await livy(app, 'POST', '/livy/batches', { file: 'test/fixtures/jobs/endless-loop.ts' });
  await waitForState(app, 1, 'running');
  await waitFor('the job to print', async () => (await fullLog(app, 1)).includes('looping forever'));
  assert.deepEqual(await livy(app, 'DELETE', '/livy/batches/1'), { status: 200, body: { msg: 'deleted' } });
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches/1/state`), { status: 200, body: { id: 1, state: 'killed' } });
  const lines = await fullLog(app, 1);
  assert.ok(lines.some((l) => l.endsWith('job 1: did not stop within 1000 ms (jobs.stopTimeoutMs): terminating its thread')), lines.join('\n'));
  assert.equal((await getJson(`${app.httpUrl}/healthz`)).status, 200);
});

test('a job that returns is success; Livy fields for a Spark cluster are accepted and reported in its log', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  const created = await livy(app, 'POST', '/livy/batches', {
    file: 'test/fixtures/jobs/hello.ts',
    className: 'hello',
    args: ['fleet'],
    name: 'greeting',
    conf: { 'spark.app.name': 'greeting', retries: 2 },
    driverMemory: '1g',
    executorMemory: '2g',
    numExecutors: 3,
    jars: ['a.jar'],
    proxyUser: null,
  });
  assert.equal(created.status, 201);
  await waitForState(app, 1, 'success');
  const lines = await fullLog(app, 1);
  const runner = lines.filter((l) => l.startsWith('[thermostream]')).map((l) => l.replace(/^\[thermostream\] \S+ /, ''));
  assert.deepEqual(runner, [
    'job 1: submitted test/fixtures/jobs/hello.ts (export hello) with args ["fleet"], heap limit 1024 MiB (driverMemory 1g)',
    'job 1: conf: {"spark.app.name":"greeting","retries":2}',
    'job 1: ignored Livy fields (they configure a Spark cluster, which this server is not): jars=["a.jar"], executorMemory="2g", numExecutors=3',
    'job 1: finished',
  ]);
  assert.deepEqual(lines.filter((l) => !l.startsWith('[thermostream]')), [
    'hello fleet',
    'name greeting, conf {"spark.app.name":"greeting","retries":2}',
    'a warning on stderr',
  ]);
});

test('refused requests: 400 naming the file or field, 404 unknown batch, 403 for the built-in job', async (t) => {
  const jobsDir = tempDir(t, 'thermostream-jobs-');
  symlinkSync(join(ROOT, 'server/main.ts'), join(jobsDir, 'escape.ts'));
  mkdirSync(join(jobsDir, 'sub'));
  const app = await startServer(t, { jobs: { ...JOBS, dirs: [FIXTURES, EXAMPLES, jobsDir] } });
  const dirs = `jobs.dirs: ${FIXTURES}, ${EXAMPLES}, ${jobsDir}`;
  const fileError = (file: string, why: string) => {
    const message = `file ${JSON.stringify(file)} ${why} (${dirs})`;
    return { status: 400, body: { error: 'TS_ERR_JOB_FILE', message, msg: message, field: 'file' } };
  };
  const requestError = (message: string, field?: string) => ({
    status: 400,
    body: { error: 'TS_ERR_JOB_REQUEST', message, msg: message, ...(field === undefined ? {} : { field }) },
  });
  const post = (body: unknown) => livy(app, 'POST', '/livy/batches', body);

  assert.deepEqual(await post({ file: 'server/main.ts' }), fileError('server/main.ts', 'is outside the jobs directories'));
  assert.deepEqual(await post({ file: 'examples/../server/main.ts' }), fileError('examples/../server/main.ts', 'is outside the jobs directories'));
  assert.deepEqual(await post({ file: join(jobsDir, 'escape.ts') }), fileError(join(jobsDir, 'escape.ts'), 'is outside the jobs directories'));
  assert.deepEqual(await post({ file: 'examples/nope.ts' }), fileError('examples/nope.ts', 'does not exist'));
  assert.deepEqual(await post({ file: join(jobsDir, 'sub') }), fileError(join(jobsDir, 'sub'), 'is not a file'));
  // A jobs directory itself is not outside the jobs directories.
  assert.deepEqual(await post({ file: 'examples' }), fileError('examples', 'is not a file'));
  assert.deepEqual(
    await post({ file: 'wasbs://jobs@account.blob.core.windows.net/job.ts' }),
    fileError('wasbs://jobs@account.blob.core.windows.net/job.ts', 'is not a local path: only files of this server inside the jobs directories can be started'),
  );
  assert.deepEqual(
    await post({ file: 'test/fixtures/jobs/hello.ts', executorCount: 2 }),
    requestError(
      'invalid batch request: unknown field "executorCount" (Livy\'s batch fields: file, className, args, name, conf, driverMemory, proxyUser, jars, pyFiles, files, driverCores, executorMemory, executorCores, numExecutors, archives, queue)',
      'executorCount',
    ),
  );
  const tooLarge = 'invalid batch request: request body: larger than the limit of 1048576 bytes';
  assert.deepEqual(await post({ file: 'test/fixtures/jobs/hello.ts', args: ['x'.repeat(1024 * 1024)] }), {
    status: 413,
    body: { error: 'TS_ERR_JOB_REQUEST', message: tooLarge, msg: tooLarge },
  });
  assert.deepEqual(await post({ className: 'main' }), requestError('invalid batch request: "file" = undefined: required: the path of a job module inside a jobs directory', 'file'));
  // A misspelt "file" is named, not only the "file" it leaves missing.
  assert.deepEqual(
    await post({ File: 'test/fixtures/jobs/hello.ts' }),
    requestError(
      'invalid batch request: unknown field "File" (Livy\'s batch fields: file, className, args, name, conf, driverMemory, proxyUser, jars, pyFiles, files, driverCores, executorMemory, executorCores, numExecutors, archives, queue)',
      'File',
    ),
  );
  assert.deepEqual(await post({ file: 123 }), requestError('invalid batch request: "file" = 123: the path of a job module inside a jobs directory', 'file'));
  // The job function reads conf as job.conf (its second argument); a StreamingContext has none.
  const doc = (await getJson(`${app.httpUrl}/docs/json`)).body;
  const batchBody = doc.paths['/livy/batches'].post.requestBody.content['application/json'].schema;
  assert.equal(batchBody.properties.conf.description, 'Settings the job reads as job.conf (its second argument).');
  assert.deepEqual(await post({ file: 'test/fixtures/jobs/hello.ts', args: [1] }), requestError('invalid batch request: "args" = [1]: an array of strings', 'args'));
  assert.deepEqual(
    await post({ file: 'test/fixtures/jobs/hello.ts', driverMemory: 'lots' }),
    requestError('invalid batch request: "driverMemory" = "lots": a size such as "512m" or "1g"', 'driverMemory'),
  );
  assert.deepEqual(
    await post({ file: 'test/fixtures/jobs/hello.ts', driverMemory: '8m' }),
    requestError('invalid batch request: "driverMemory" = "8m": the job\'s heap limit must be from 32m to 64g', 'driverMemory'),
  );
  assert.deepEqual(await post([1]), requestError('invalid batch request: the body must be a JSON object, got [1]'));

  const notFound = { status: 404, body: { error: 'TS_ERR_JOB_NOT_FOUND', message: 'batch 7 not found', msg: 'batch 7 not found' } };
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches/7`), notFound);
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches/7/state`), notFound);
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches/7/log`), notFound);
  assert.deepEqual(await livy(app, 'DELETE', '/livy/batches/7'), notFound);
  const badId = 'invalid path parameter "id" = "x": expected a batch id (a non-negative integer)';
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches/x`), {
    status: 400,
    body: { error: 'TS_ERR_QUERY_PARAM', message: badId, msg: badId, parameter: 'id', value: 'x' },
  });
  const badSize = 'invalid query parameter "size" = "-1": expected an integer from 0 to 10000';
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches?size=-1`), {
    status: 400,
    body: { error: 'TS_ERR_QUERY_PARAM', message: badSize, msg: badSize, parameter: 'size', value: '-1' },
  });

  const builtIn = 'batch 0 is the built-in telemetry job: it runs as long as the server and cannot be deleted';
  assert.deepEqual(await livy(app, 'DELETE', '/livy/batches/0'), {
    status: 403,
    body: { error: 'TS_ERR_JOB_BUILTIN', message: builtIn, msg: builtIn },
  });
  const telemetry = await getJson(`${app.httpUrl}/livy/batches/0`);
  assert.equal(telemetry.status, 200);
  const { appInfo, log, ...rest } = telemetry.body;
  assert.deepEqual(rest, { id: 0, name: 'telemetry', state: 'running', appId: 'thermostream-telemetry' });
  assert.deepEqual(appInfo, {
    driverLogUrl: '/livy/batches/0/log',
    sparkUiUrl: null,
    file: null,
    className: null,
    submittedAt: appInfo.startedAt,
    startedAt: appInfo.startedAt,
    endedAt: null,
  });
  assert.match(appInfo.startedAt, ISO);
  assert.match(log[0], /^built-in telemetry job \(server\/engine\/telemetry.ts\): MQTT readings → event-time windows \(10000\/2000 ms, 60000\/10000 ms, 300000\/60000 ms\) → SQLite$/);
  assert.match(log[1], /^batch interval 100 ms; batches \d+, records 0, input rate 0.0\/s, late 0, duplicates 0, replayed 0$/);
  const list = await getJson(`${app.httpUrl}/livy/batches?from=0&size=5`);
  assert.deepEqual({ ...list, body: { ...list.body, sessions: list.body.sessions.map((s: any) => s.id) } }, {
    status: 200,
    body: { from: 0, total: 1, sessions: [0] },
  });
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches?from=1`), { status: 200, body: { from: 1, total: 1, sessions: [] } });
});

test('Livy clients send Content-Type: application/json on every request: DELETE without a body stops the batch; unreadable bodies are TS_ERR_JOB_REQUEST', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  // What Airflow's LivyHook and sparkmagic send: the JSON header, with or without a body.
  const send = async (method: string, path: string, body: string | undefined, type: string | null = 'application/json') => {
    // As bytes: fetch() would give a string body a Content-Type of its own.
    const bytes = body === undefined ? undefined : Buffer.from(body);
    const res = await fetch(`${app.httpUrl}${path}`, { method, headers: type === null ? {} : { 'content-type': type }, body: bytes });
    return { status: res.status, body: await res.json() };
  };
  const requestError = (status: number, message: string) => ({ status, body: { error: 'TS_ERR_JOB_REQUEST', message, msg: message } });

  assert.equal((await send('POST', '/livy/batches', JSON.stringify({ file: 'test/fixtures/jobs/endless-loop.ts' }))).status, 201);
  await waitForState(app, 1, 'running');
  assert.deepEqual(await send('DELETE', '/livy/batches/1', undefined), { status: 200, body: { msg: 'deleted' } });
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches/1/state`), { status: 200, body: { id: 1, state: 'killed' } });

  assert.deepEqual(
    await send('POST', '/livy/batches', '{"file": examples/hello.ts}'),
    requestError(400, 'invalid batch request: request body = "{\\"file\\": examples/hello.ts}": not valid JSON (Unexpected token \'e\')'),
  );
  assert.deepEqual(await send('POST', '/livy/batches', ''), requestError(400, 'invalid batch request: request body = "": empty, expected JSON (Content-Type is application/json)'));
  assert.deepEqual(
    await send('POST', '/livy/batches', 'file=examples/hello.ts', 'application/x-www-form-urlencoded'),
    requestError(415, 'invalid batch request: header "content-type" = "application/x-www-form-urlencoded": expected application/json'),
  );
  assert.deepEqual(
    await send('POST', '/livy/batches', JSON.stringify({ file: 'test/fixtures/jobs/hello.ts' }), null),
    requestError(415, 'invalid batch request: header "content-type" = null: required with a request body, expected application/json'),
  );
  assert.deepEqual((await getJson(`${app.httpUrl}/livy/batches`)).body.total, 2, 'no batch was started by a refused request');
});

test('under /livy/ a wrong method or path answers with `msg`, which Livy\'s clients print, and says only batches are here', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  const put = 'PUT is not allowed on /livy/batches/0: it takes GET, HEAD, DELETE';
  assert.deepEqual(await livy(app, 'PUT', '/livy/batches/0'), { status: 405, body: { error: 'TS_ERR_METHOD_NOT_ALLOWED', message: put, msg: put } });
  // sparkmagic starts with Livy's interactive sessions
  const sessions = 'no route POST /livy/sessions (this server has Livy\'s batches API only: /livy/batches)';
  assert.deepEqual(await livy(app, 'POST', '/livy/sessions', { kind: 'spark' }), { status: 404, body: { error: 'TS_ERR_NOT_FOUND', message: sessions, msg: sessions } });
  // Elsewhere the API's own shape, without msg.
  assert.deepEqual(await livy(app, 'GET', '/api/v1/nothing'), { status: 404, body: { error: 'TS_ERR_NOT_FOUND', message: 'no route GET /api/v1/nothing' } });
});

test('the hottest-devices example job prints, per window, the maxima of what was published over MQTT', async (t) => {
  const app = await startServer(t, { jobs: JOBS });
  const client = await connect(t, app.mqttUrl);
  // Published before the job is submitted: not part of its stream (it starts at the end of the log).
  await client.publishAsync('devices/before/telemetry', JSON.stringify({ temperature: 99 }), { qos: 1 });
  await waitForRecords(app, 1);

  const created = await livy(app, 'POST', '/livy/batches', { file: 'examples/hottest-devices.ts', args: ['1000', '3'] });
  assert.equal(created.status, 201);
  await waitForState(app, 1, 'running');
  const published: Record<string, number[]> = { 'dev-a': [20.5, 24.25], 'dev-b': [30, 18], 'dev-c': [22], 'dev-d': [19.5, 19.75] };
  for (const [deviceId, temps] of Object.entries(published)) {
    await client.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify(temps.map((temperature) => ({ temperature }))), { qos: 1 });
  }

  // Each window prints its top 3 devices by their maximum; the readings may fall into one window or several.
  const windows = await waitFor('the published devices in the job output', async () => {
    const found = parseWindows(await fullLog(app, 1));
    const seen = new Set(found.flatMap((w) => w.map(([d]) => d)));
    return seen.has('dev-b') && seen.has('dev-a') && seen.has('dev-c') ? found : null;
  });
  const maxima: Record<string, number> = {};
  for (const window of windows) {
    assert.ok(window.length <= 3, `at most 3 devices per window: ${JSON.stringify(window)}`);
    assert.deepEqual(window, [...window].sort((a, b) => b[1] - a[1]), 'hottest first');
    for (const [deviceId, max] of window) maxima[deviceId] = Math.max(maxima[deviceId] ?? -Infinity, max);
  }
  assert.equal(maxima.before, undefined, 'readings from before the job started are not in its stream');
  for (const [deviceId, max] of Object.entries(maxima)) assert.equal(max, Math.max(...published[deviceId]), deviceId);
  assert.deepEqual(
    { a: maxima['dev-a'], b: maxima['dev-b'], c: maxima['dev-c'] },
    { a: 24.25, b: 30, c: 22 },
  );

  assert.deepEqual(await livy(app, 'DELETE', '/livy/batches/1'), { status: 200, body: { msg: 'deleted' } });
  assert.deepEqual(await getJson(`${app.httpUrl}/livy/batches/1/state`), { status: 200, body: { id: 1, state: 'killed' } });
});

/** The `(device,max)` lines of each printed batch, one array per `Time:` block. */
function parseWindows(lines: string[]): [string, number][][] {
  const windows: [string, number][][] = [];
  for (const line of lines) {
    if (/^Time: \d+ ms$/.test(line)) windows.push([]);
    const m = /^\(([^,]+),([-\d.]+)\)$/.exec(line);
    if (m && windows.length > 0) windows.at(-1)!.push([m[1], Number(m[2])]);
  }
  return windows.filter((w) => w.length > 0);
}
