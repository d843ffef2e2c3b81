import assert from 'node:assert/strict';
import { request } from 'node:http';
import { hostname } from 'node:os';
import { test } from 'node:test';
import { startServer } from './helpers.ts';

/** A real HTTP GET to the server with the Host header a browser would send for `host`. */
function get(url: string, host: string | null): Promise<{ status: number; body: any }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, setHost: host === null, headers: host === null ? {} : { host } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text.startsWith('{') ? JSON.parse(text) : text }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('without http.apiToken, a request addressed to a name that is not this machine\'s (DNS rebinding) is refused: a web page of another site cannot read device keys', async (t) => {
  const app = await startServer(t, { iothub: { hostName: 'thermo.example.net' } });
  const registry = `${app.httpUrl}/api/v1/registry/devices`;
  const port = new URL(app.httpUrl).port;
  // A page on rebind.attacker.example, its name made to resolve to 127.0.0.1: the browser sends its name as the Host.
  const refused = await get(registry, `rebind.attacker.example:${port}`);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error, 'TS_ERR_HOST_NOT_ALLOWED');
  assert.deepEqual([refused.body.parameter, refused.body.value], ['host', `rebind.attacker.example:${port}`]);
  assert.match(refused.body.message, /^Host "rebind\.attacker\.example:\d+" is not a name of this machine: without http\.apiToken .* \(a web page of another site could otherwise reach it by DNS rebinding\); open it as http:\/\/localhost:<port>\/, or set http\.apiToken to answer any Host \(behind a reverse proxy\)$/);
  assert.equal((await get(`${app.httpUrl}/`, 'evil.example')).status, 403, 'the dashboard too');
  // This machine's names and addresses, and a request without Host (HTTP/1.0), are answered.
  for (const host of [`localhost:${port}`, 'LOCALHOST', `app.localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, '127.0.1.1', `${hostname()}:${port}`, 'thermo.example.net', 'localhost.', null]) {
    assert.equal((await get(registry, host)).status, 200, String(host));
  }
});

test('with http.apiToken any Host is answered (behind a reverse proxy): keys and writes need the token then', async (t) => {
  const app = await startServer(t, { http: { port: 0, apiToken: 'a-token-of-16-chars-or-more' } });
  assert.equal((await get(`${app.httpUrl}/api/v1/devices`, 'thermostream.example.com')).status, 200);
});
