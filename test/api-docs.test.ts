import assert from 'node:assert/strict';
import { test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import Fastify from 'fastify';
import { registerAuth } from '../server/api/auth.ts';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { ThermostreamError } from '../server/errors.ts';
import { startServer, tempDir } from './helpers.ts';

/** Every route the API serves besides the dashboard's files and /docs itself, with its query parameters. */
const ROUTES: Record<string, string[]> = {
  '/healthz': [],
  '/readyz': [],
  '/metrics': [],
  '/api/v1/devices': ['limit', 'cursor'],
  '/api/v1/devices/{id}': ['id'],
  '/api/v1/windows': ['deviceId', 'length', 'slide', 'from', 'to', 'limit', 'cursor'],
  '/api/v1/readings': ['deviceId', 'from', 'to', 'maxPoints'],
  '/api/v1/dead-letters': ['deviceId', 'reason', 'limit', 'cursor'],
  '/api/v1/stats': [],
  '/api/v1/stream': ['deviceId', 'kind', 'lastEventId', 'last-event-id'],
};

test('the OpenAPI document validates and lists every route with its parameters and response schemas', async (t) => {
  const app = await startServer(t);
  const res = await app.http.inject({ method: 'GET', url: '/docs/json' });
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  assert.equal(doc.openapi, '3.1.0');
  await SwaggerParser.validate(structuredClone(doc)); // throws with the first problem

  const documented = Object.keys(doc.paths).filter((p) => p.startsWith('/api/') || ['/healthz', '/readyz', '/metrics'].includes(p));
  assert.deepEqual(documented.sort(), Object.keys(ROUTES).sort());
  for (const [path, params] of Object.entries(ROUTES)) {
    const op = doc.paths[path].get;
    assert.ok(op.summary, `${path} has a summary`);
    assert.deepEqual((op.parameters ?? []).map((p: { name: string }) => p.name).sort(), [...params].sort(), path);
    const ok = op.responses['200'];
    assert.ok(ok.content && Object.values(ok.content).every((c: any) => c.schema), `${path} 200 has a schema`);
    if (params.length > 0) assert.ok(op.responses['400']?.content['application/json'].schema, `${path} documents its 400`);
  }
  // Shared schemas are components, referenced by the routes.
  assert.deepEqual(Object.keys(doc.components.schemas).sort(), ['Anomaly', 'DeadLetter', 'Device', 'Error', 'Window']);
  const windows = doc.paths['/api/v1/windows'].get;
  assert.deepEqual(Object.keys(windows.responses['200'].content), ['application/json', 'text/csv']);
  assert.equal(windows.responses['200'].content['application/json'].schema.properties.items.items.$ref, '#/components/schemas/Window');
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

  const exposed = resolveConfig({ host: '0.0.0.0', http: { port: 0 }, mqtt: { port: 0 }, dataDir: tempDir(t) });
  await assert.rejects(startThermostream(exposed), (err: ThermostreamError) => {
    assert.equal(err.code, 'TS_ERR_API_TOKEN_REQUIRED');
    assert.equal(
      err.message,
      'HTTP would listen on 0.0.0.0, beyond loopback, without an API token: set http.apiToken in the config file ' +
        '(at least 16 characters; write routes then require "Authorization: Bearer <token>"), or listen on 127.0.0.1',
    );
    return true;
  });
  assert.throws(() => resolveConfig({ http: { apiToken: 'short' } }), /http\.apiToken = "short": must NOT have fewer than 16 characters/);
  const withToken = await startThermostream(
    resolveConfig({ host: '0.0.0.0', http: { port: 0, apiToken: 'a-token-of-16-chars-or-more' }, mqtt: { port: 0 }, dataDir: tempDir(t) }),
  );
  t.after(() => withToken.close());
  assert.equal((await withToken.http.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  // Every write route of the server is guarded.
  const writes = [
    { method: 'POST', url: '/livy/batches', payload: { file: 'examples/network-word-count.ts' } },
    { method: 'DELETE', url: '/livy/batches/1' },
    { method: 'POST', url: '/api/v1/jobs', payload: { file: 'examples/network-word-count.ts' } },
    { method: 'DELETE', url: '/api/v1/jobs/1' },
  ] as const;
  for (const w of writes) {
    const res = await withToken.http.inject(w);
    assert.equal(res.statusCode, 401, `${w.method} ${w.url} without a token`);
  }
});
