import assert from 'node:assert/strict';
import { test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import Fastify from 'fastify';
import { registerAuth } from '../server/api/auth.ts';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { ThermostreamError } from '../server/errors.ts';
import { startServer, tempDir } from './helpers.ts';

/** Every operation the API serves besides the dashboard's files and /docs itself, with its query and path parameters. */
const ROUTES: Record<string, string[]> = {
  'GET /healthz': [],
  'GET /readyz': [],
  'GET /metrics': [],
  'GET /api/v1/devices': ['limit', 'cursor'],
  'GET /api/v1/devices/{id}': ['id'],
  'GET /api/v1/windows': ['deviceId', 'length', 'slide', 'from', 'to', 'limit', 'cursor'],
  'GET /api/v1/readings': ['deviceId', 'from', 'to', 'maxPoints'],
  'GET /api/v1/anomalies': ['deviceId', 'type', 'from', 'to', 'limit', 'cursor'],
  'GET /api/v1/dead-letters': ['deviceId', 'reason', 'limit', 'cursor'],
  'GET /api/v1/dead-letters/devices': ['limit', 'cursor'],
  'GET /api/v1/late-readings': ['deviceId', 'limit', 'cursor'],
  'GET /api/v1/stats': [],
  'GET /api/v1/stream': ['deviceId', 'kind', 'lastEventId', 'last-event-id'],
  'GET /api/v1/jobs': ['limit', 'cursor'],
  'POST /api/v1/jobs': [],
  'GET /api/v1/jobs/{id}': ['id'],
  'DELETE /api/v1/jobs/{id}': ['id'],
  'GET /api/v1/jobs/{id}/log': ['id', 'from', 'limit'],
  'GET /livy/batches': ['from', 'size', 'doAs'],
  'POST /livy/batches': ['doAs'],
  'GET /livy/batches/{id}': ['id', 'doAs'],
  'DELETE /livy/batches/{id}': ['id', 'doAs'],
  'GET /livy/batches/{id}/state': ['id', 'doAs'],
  'GET /livy/batches/{id}/log': ['id', 'from', 'size', 'doAs'],
  'GET /api/v1': [],
  'GET /api/v1/registry/devices': ['limit', 'cursor'],
  'POST /api/v1/registry/devices': [],
  'GET /api/v1/registry/devices/{id}': ['id'],
  'PATCH /api/v1/registry/devices/{id}': ['id'],
  'DELETE /api/v1/registry/devices/{id}': ['id'],
  'GET /api/v1/registry/devices/{id}/twin': ['id'],
  'PATCH /api/v1/registry/devices/{id}/twin': ['id'],
  'POST /api/v1/registry/devices/{id}/messages': ['id'],
  'POST /api/v1/registry/devices/{id}/methods': ['id'],
};

/** Write routes: they take the API token (documented as the bearer security) and answer 401 without it. */
const WRITES = [
  'POST /api/v1/jobs',
  'DELETE /api/v1/jobs/{id}',
  'POST /livy/batches',
  'DELETE /livy/batches/{id}',
  'POST /api/v1/registry/devices',
  'PATCH /api/v1/registry/devices/{id}',
  'DELETE /api/v1/registry/devices/{id}',
  'PATCH /api/v1/registry/devices/{id}/twin',
  'POST /api/v1/registry/devices/{id}/messages',
  'POST /api/v1/registry/devices/{id}/methods',
];

const schemaOf = (response: any, what: string): any => {
  assert.ok(response?.content?.['application/json']?.schema, `${what} has a JSON schema`);
  return response.content['application/json'].schema;
};

test('the OpenAPI document validates and lists every operation with its parameters, responses and security', async (t) => {
  const app = await startServer(t);
  const res = await app.http.inject({ method: 'GET', url: '/docs/json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  assert.equal(doc.openapi, '3.1.0');
  await SwaggerParser.validate(structuredClone(doc)); // throws with the first problem

  const served = ['/healthz', '/readyz', '/metrics'];
  const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .filter(([p]) => p.startsWith('/api/') || p.startsWith('/livy/') || served.includes(p))
    .flatMap(([p, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${p}`));
  assert.deepEqual(documented.sort(), Object.keys(ROUTES).sort());
  for (const [route, params] of Object.entries(ROUTES)) {
    const [method, path] = route.split(' ');
    const op = doc.paths[path][method.toLowerCase()];
    assert.ok(op.summary, `${route} has a summary`);
    assert.deepEqual((op.parameters ?? []).map((p: { name: string }) => p.name).sort(), [...params].sort(), route);
    const success = Object.keys(op.responses).filter((code) => code.startsWith('2'));
    assert.equal(success.length, 1, `${route} documents one success`);
    if (success[0] === '204') assert.equal(op.responses['204'].content, undefined, `${route} 204 has no body`);
    else assert.ok(Object.values(op.responses[success[0]].content).every((c: any) => c.schema), `${route} ${success[0]} has a schema`);
    if (method === 'POST' || method === 'PATCH') schemaOf(op.requestBody, `${route} request body`);
    // Every route answers an unknown query parameter with a 400, /healthz and /metrics included.
    schemaOf(op.responses['400'], `${route} 400`);
    // An Accept header that takes none of the route's media types is a 406, in the same error body as its 400; not
    // for a route without a body to negotiate (204), nor for the probes' and scrapers' /healthz and /metrics.
    if (success[0] === '204' || path === '/healthz' || path === '/metrics') assert.equal(op.responses['406'], undefined, route);
    else {
      assert.deepEqual(schemaOf(op.responses['406'], `${route} 406`), schemaOf(op.responses['400'], `${route} 400`), route);
      assert.equal(op.responses['406'].description, `The Accept header takes none of: ${Object.keys(op.responses[success[0]].content ?? { 'application/json': 0 }).join(', ')}.`, route);
    }
    // A body over 1 MiB is a 413, one sent without Content-Type: application/json a 415 (docs/ERRORS.md).
    if (op.requestBody) for (const code of ['413', '415']) schemaOf(op.responses[code], `${route} ${code}`);
    if (path.includes('{id}')) schemaOf(op.responses['404'], `${route} 404`);
    if (WRITES.includes(route)) {
      assert.deepEqual(op.security, [{ apiToken: [] }], `${route} takes the bearer token`);
      schemaOf(op.responses['401'], `${route} 401`);
    } else {
      assert.equal(op.security, undefined, `${route} is open`);
    }
  }
  assert.deepEqual(doc.components.securitySchemes.apiToken, { type: 'http', scheme: 'bearer', description: 'http.apiToken, for write routes' });
  // What only the job routes answer: 403 for the built-in job, 429 beyond jobs.maxRunning, 503 while shutting down.
  for (const base of ['/livy/batches', '/api/v1/jobs']) {
    const error = base === '/livy/batches' ? '#/components/schemas/LivyError' : '#/components/schemas/Error';
    assert.deepEqual(Object.keys(doc.paths[base].post.responses).sort(), ['201', '400', '401', '406', '413', '415', '429', '503'], base);
    // A 204 has no body to negotiate: no 406.
    assert.deepEqual(Object.keys(doc.paths[`${base}/{id}`].delete.responses).sort(), base === '/livy/batches' ? ['200', '400', '401', '403', '404', '406'] : ['204', '400', '401', '403', '404'], base);
    for (const code of ['400', '401', '413', '415', '429']) assert.equal(schemaOf(doc.paths[base].post.responses[code], `${base} ${code}`).$ref, error);
    assert.equal(schemaOf(doc.paths[`${base}/{id}`].delete.responses['403'], `${base} 403`).$ref, error);
  }
  const batchBody = schemaOf(doc.paths['/livy/batches'].post.requestBody, 'batch body');
  assert.deepEqual(schemaOf(doc.paths['/api/v1/jobs'].post.requestBody, 'job body'), batchBody);
  assert.equal(batchBody.additionalProperties, false);
  assert.deepEqual(batchBody.required, ['file']);
  assert.deepEqual(Object.keys(batchBody.properties), [
    'file', 'className', 'args', 'name', 'conf', 'driverMemory',
    'proxyUser', 'jars', 'pyFiles', 'files', 'driverCores', 'executorMemory', 'executorCores', 'numExecutors', 'archives', 'queue',
  ]);
  assert.equal(schemaOf(doc.paths['/livy/batches/{id}'].get.responses['200'], 'batch').$ref, '#/components/schemas/Batch');
  const id = doc.paths['/livy/batches/{id}'].get.parameters.find((p: { name: string }) => p.name === 'id');
  assert.deepEqual(id.schema, { minimum: 0, maximum: Number.MAX_SAFE_INTEGER, 'x-expected': 'a batch id (a non-negative integer)', type: 'integer' });
  // Shared schemas are components, referenced by the routes.
  assert.deepEqual(Object.keys(doc.components.schemas).sort(), ['Anomaly', 'Batch', 'DeadLetter', 'Device', 'Error', 'Job', 'LateReading', 'LivyError', 'RegistryDevice', 'Twin', 'Window']);
  // The registry: IoT Hub's shapes, its own answers (409 on a duplicate, 403 on a full queue, 504 when a method times out).
  const registry = '/api/v1/registry/devices';
  const codes = (path: string, method: string) => Object.keys(doc.paths[path][method].responses).sort();
  assert.deepEqual(codes(registry, 'post'), ['201', '400', '401', '406', '409', '413', '415']);
  assert.deepEqual(codes(`${registry}/{id}`, 'delete'), ['204', '400', '401', '404']);
  assert.deepEqual(codes(`${registry}/{id}/messages`, 'post'), ['202', '400', '401', '403', '404', '406', '413', '415']);
  assert.deepEqual(codes(`${registry}/{id}/methods`, 'post'), ['200', '400', '401', '404', '406', '413', '415', '503', '504']);
  assert.equal(schemaOf(doc.paths[`${registry}/{id}`].get.responses['200'], 'registry device').$ref, '#/components/schemas/RegistryDevice');
  assert.equal(schemaOf(doc.paths[`${registry}/{id}/twin`].patch.responses['200'], 'twin').$ref, '#/components/schemas/Twin');
  assert.equal(schemaOf(doc.paths[`${registry}/{id}/twin`].get.responses['404'], 'twin 404').$ref, '#/components/schemas/Error');
  const create = schemaOf(doc.paths[registry].post.requestBody, 'device body');
  assert.deepEqual([create.required, create.additionalProperties, Object.keys(create.properties)], [['deviceId'], false, ['deviceId', 'status', 'authentication']]);
  const method = schemaOf(doc.paths[`${registry}/{id}/methods`].post.requestBody, 'method body');
  assert.deepEqual(method.properties.responseTimeoutInSeconds.default, 30);
  assert.deepEqual(Object.keys(doc.paths['/api/v1'].get.responses), ['200', '400', '406']);
  const windows = doc.paths['/api/v1/windows'].get;
  assert.deepEqual(Object.keys(windows.responses['200'].content), ['application/json', 'text/csv']);
  assert.equal(windows.responses['200'].content['application/json'].schema.properties.items.items.$ref, '#/components/schemas/Window');
  // The CSV pages' cursor travels in a header, which the document names on both paged CSV routes.
  for (const path of ['/api/v1/windows', '/api/v1/anomalies']) {
    assert.equal(doc.paths[path].get.responses['200'].headers?.['x-next-cursor']?.schema?.type, 'string', `${path} documents x-next-cursor`);
  }
  const limit = windows.parameters.find((p: { name: string }) => p.name === 'limit');
  assert.deepEqual(limit, {
    schema: { minimum: 1, maximum: 10_000, default: 100, 'x-expected': 'an integer from 1 to 10000', type: 'integer' },
    in: 'query',
    name: 'limit',
    required: false,
    description: 'Page size (default 100, at most 10000).',
  });
  assert.equal(doc.paths['/api/v1/devices/{id}'].get.responses['404'].content['application/json'].schema.$ref, '#/components/schemas/Error');

  // The UI is served from node_modules: no CDN.
  const page = await app.http.inject({ method: 'GET', url: '/docs/' });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /swagger-ui/);
  assert.doesNotMatch(page.body, /https?:\/\/(?!localhost|127\.0\.0\.1)/);
  const scripts = [...page.body.matchAll(/src="\.?\/?([^"]+)"/g)].map((m) => m[1]);
  assert.ok(scripts.length > 0);
  for (const src of scripts) {
    const asset = await app.http.inject({ method: 'GET', url: `/docs/${src.replace(/^\.?\/?(docs\/)?/, '')}` });
    assert.equal(asset.statusCode, 200, src);
  }
});

test('requireToken guards write routes with the Bearer token; beyond loopback the server refuses to start without one', async (t) => {
  const app = Fastify();
  t.after(() => app.close());
  registerAuth(app, 'a-token-of-16-chars-or-more');
  app.post('/write', { preHandler: app.requireToken }, async () => ({ written: true }));
  const post = (authorization?: string) =>
    app.inject({ method: 'POST', url: '/write', headers: authorization ? { authorization } : {} });
  const none = await post();
  assert.equal(none.statusCode, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="thermostream"');
  assert.deepEqual(none.json(), { error: 'TS_ERR_UNAUTHORIZED', message: 'this route needs "Authorization: Bearer <http.apiToken>"' });
  const wrong = await post('Bearer a-token-of-16-chars-or-less');
  assert.deepEqual([wrong.statusCode, wrong.json()], [401, { error: 'TS_ERR_UNAUTHORIZED', message: 'the API token does not match http.apiToken' }]);
  const right = await post('Bearer a-token-of-16-chars-or-more');
  assert.deepEqual([right.statusCode, right.json()], [200, { written: true }]);

  const open = Fastify();
  t.after(() => open.close());
  registerAuth(open, null); // loopback without a token: nothing to check
  open.post('/write', { preHandler: open.requireToken }, async () => ({ written: true }));
  assert.equal((await open.inject({ method: 'POST', url: '/write' })).statusCode, 200);

  const exposed = resolveConfig({ host: '0.0.0.0', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir: tempDir(t), auth: { mode: 'registry' } });
  await assert.rejects(startThermostream(exposed), (err: ThermostreamError) => {
    assert.equal(err.code, 'TS_ERR_API_TOKEN_REQUIRED');
    assert.equal(
      err.message,
      'HTTP would listen on 0.0.0.0, beyond loopback, without an API token: set http.apiToken in the config file ' +
        '(at least 16 characters; write routes then require "Authorization: Bearer <token>"), or listen on 127.0.0.1',
    );
    return true;
  });
  assert.throws(() => resolveConfig({ http: { apiToken: 'short' } }), /http\.apiToken = a secret of 5 characters \(not shown\): must NOT have fewer than 16 characters/);
  const withToken = await startThermostream(
    resolveConfig({ host: '0.0.0.0', http: { port: 0, apiToken: 'a-token-of-16-chars-or-more' }, mqtt: { port: 0, tlsPort: -1 }, dataDir: tempDir(t), auth: { mode: 'registry' } }),
  );
  t.after(() => withToken.close());
  assert.equal((await withToken.http.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  // Every write route of the server is guarded.
  const writes = [
    { method: 'POST', url: '/livy/batches', payload: { file: 'examples/network-word-count.ts' } },
    { method: 'DELETE', url: '/livy/batches/1' },
    { method: 'POST', url: '/api/v1/jobs', payload: { file: 'examples/network-word-count.ts' } },
    { method: 'DELETE', url: '/api/v1/jobs/1' },
    { method: 'POST', url: '/api/v1/registry/devices', payload: { deviceId: 'd-1' } },
    { method: 'PATCH', url: '/api/v1/registry/devices/d-1', payload: { status: 'disabled' } },
    { method: 'DELETE', url: '/api/v1/registry/devices/d-1' },
    { method: 'PATCH', url: '/api/v1/registry/devices/d-1/twin', payload: { properties: { desired: { mode: 'eco' } } } },
    { method: 'POST', url: '/api/v1/registry/devices/d-1/messages', payload: { payload: 'hi' } },
    { method: 'POST', url: '/api/v1/registry/devices/d-1/methods', payload: { methodName: 'reboot' } },
  ] as const;
  const needed = 'this route needs "Authorization: Bearer <http.apiToken>"';
  for (const w of writes) {
    const res = await withToken.http.inject(w);
    assert.equal(res.statusCode, 401, `${w.method} ${w.url} without a token`);
    // Livy's clients print `msg`.
    const body = w.url.startsWith('/livy/') ? { error: 'TS_ERR_UNAUTHORIZED', message: needed, msg: needed } : { error: 'TS_ERR_UNAUTHORIZED', message: needed };
    assert.deepEqual(res.json(), body, `${w.method} ${w.url}`);
  }
  // Refused writes changed nothing; with the token they go through; reads stay open.
  const list = () => withToken.http.inject({ method: 'GET', url: '/api/v1/registry/devices' }).then((r) => [r.statusCode, r.json().items.length]);
  assert.deepEqual(await list(), [200, 0]);
  const authorization = 'Bearer a-token-of-16-chars-or-more';
  const created = await withToken.http.inject({ method: 'POST', url: '/api/v1/registry/devices', payload: { deviceId: 'd-1' }, headers: { authorization } });
  assert.equal(created.statusCode, 201);
  assert.deepEqual(await list(), [200, 1]);
  // Device keys are secrets: without the token a read shows the device but not its keys or connection string.
  const read = async (url: string, headers = {}) => (await withToken.http.inject({ method: 'GET', url, headers })).json();
  const keyless = await read('/api/v1/registry/devices/d-1');
  assert.equal(keyless.deviceId, 'd-1');
  assert.equal(keyless.authentication, undefined);
  assert.equal(keyless.connectionString, undefined);
  assert.equal((await read('/api/v1/registry/devices')).items[0].authentication, undefined);
  const secret = await read('/api/v1/registry/devices/d-1', { authorization });
  assert.equal(secret.authentication.symmetricKey.primaryKey, created.json().authentication.symmetricKey.primaryKey);
  assert.match(secret.connectionString, /;DeviceId=d-1;SharedAccessKey=/);
  assert.equal((await read('/api/v1/registry/devices', { authorization })).items[0].connectionString, secret.connectionString);
  const deleted = await withToken.http.inject({ method: 'DELETE', url: '/api/v1/registry/devices/d-1', headers: { authorization } });
  assert.equal(deleted.statusCode, 204);
});
