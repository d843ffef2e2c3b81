import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { watchPage } from './dashboard-helpers.ts';

test('the API docs (/docs, Swagger UI) load with no console error, also when the server is reached by a host name, not only as localhost', async (t) => {
  // Beyond loopback a server has an API token (and then answers a Host of any name: test/api-host-check.test.ts).
  const app = await startServer(t, { http: { port: 0, apiToken: 'a-token-of-16-chars-or-more' } });
  const port = new URL(app.httpUrl).port;
  // A name other than localhost, as a browser on another machine reaches a server on --host 0.0.0.0 (mapped to loopback).
  const browser = await launchChromium(t, ['--host-resolver-rules=MAP thermo.test 127.0.0.1']);
  for (const origin of [`http://127.0.0.1:${port}`, `http://thermo.test:${port}`]) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const problems = watchPage(page);
    const elsewhere: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(`${origin}/`) && !r.url().startsWith('data:')) elsewhere.push(r.url());
    });
    await page.goto(`${origin}/docs`);
    await page.waitForFunction(() => document.querySelectorAll('.opblock-summary-path').length > 30, undefined, { timeout: 10_000 });
    assert.ok((await page.locator('.opblock-summary-path', { hasText: '/api/v1/windows' }).count()) >= 1, origin);
    assert.deepEqual(problems, [], origin);
    assert.deepEqual(elsewhere, [], `${origin}: everything comes from the server`);
    await page.close();
  }
});
