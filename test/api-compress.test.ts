import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { startServer } from './helpers.ts';

/** A GET over real HTTP with the given Accept-Encoding: the status, headers and body's bytes as sent. */
function rawGet(url: string, acceptEncoding: string | null, firstBytesOnly = false): Promise<{ res: IncomingMessage; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers: acceptEncoding === null ? {} : { 'accept-encoding': acceptEncoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (firstBytesOnly) {
          resolve({ res, body: Buffer.concat(chunks) });
          req.destroy();
        }
      });
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', (err) => (firstBytesOnly ? undefined : reject(err)));
  });
}

test('responses of 1 KB and more are compressed as Accept-Encoding takes; small ones, the event stream and http.compress false are not; request bodies are not decoded', async (t) => {
  const app = await startServer(t);
  const docs = `${app.httpUrl}/docs/json`; // the OpenAPI document: tens of KB of JSON
  const plain = await rawGet(docs, null);
  assert.equal(plain.res.statusCode, 200);
  assert.equal(plain.res.headers['content-encoding'], undefined);
  assert.ok(plain.body.length > 10_000, `the document is ${plain.body.length} bytes`);
  const spec = JSON.parse(plain.body.toString('utf8')) as { openapi: string };
  assert.match(spec.openapi, /^3\./);

  const gz = await rawGet(docs, 'gzip');
  assert.equal(gz.res.headers['content-encoding'], 'gzip');
  assert.match(String(gz.res.headers.vary), /accept-encoding/i);
  assert.ok(gz.body.length < plain.body.length / 3, `gzip: ${gz.body.length} of ${plain.body.length} bytes`);
  assert.deepEqual(JSON.parse(gunzipSync(gz.body).toString('utf8')), spec);

  const br = await rawGet(docs, 'br;q=1, gzip;q=0.5');
  assert.equal(br.res.headers['content-encoding'], 'br');
  assert.deepEqual(JSON.parse(brotliDecompressSync(br.body).toString('utf8')), spec);

  // Below 1 KB: sent as it is.
  const health = await rawGet(`${app.httpUrl}/healthz`, 'gzip');
  assert.equal(health.res.statusCode, 200);
  assert.equal(health.res.headers['content-encoding'], undefined);
  assert.ok(health.body.length < 1024);

  // The event stream is never compressed: its first bytes arrive as text, at once.
  const stream = await rawGet(`${app.httpUrl}/api/v1/stream`, 'gzip, br', true);
  assert.match(String(stream.res.headers['content-type']), /^text\/event-stream/);
  assert.equal(stream.res.headers['content-encoding'], undefined);
  assert.match(stream.body.toString('utf8'), /^(:|event:|retry:|id:|data:)/m);

  // Request bodies are taken as sent: a Content-Encoding header is no reason to refuse a request.
  assert.equal((await fetch(`${app.httpUrl}/api/v1/stats`, { headers: { 'content-encoding': 'foo' } })).status, 200);
  assert.equal((await fetch(`${app.httpUrl}/api/v1/stats`, { headers: { 'content-encoding': 'gzip, identity' } })).status, 200);

  const off = await startServer(t, { http: { port: 0, compress: false } });
  const uncompressed = await rawGet(`${off.httpUrl}/docs/json`, 'gzip');
  assert.equal(uncompressed.res.headers['content-encoding'], undefined);
  assert.deepEqual(JSON.parse(uncompressed.body.toString('utf8')), spec);
});
