import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { connect, startServer, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, publishHistory, watchPage } from './dashboard-helpers.ts';

const WINDOWS = [
  { lengthMs: 10_000, slideMs: 2_000 },
  { lengthMs: 60_000, slideMs: 10_000 },
];

test("a shared device URL keeps its window: the page's URL still names it after the load, and a reload opens it again", async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200, windows: WINDOWS });
  const client = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(client, ['hall'], 120_000, 1000));

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  const select = page.locator('#window-select');
  const shown = async () => {
    await page.waitForFunction(() => (document.querySelector('#window-select') as HTMLSelectElement | null)?.options.length === 2, undefined, { timeout: 10_000 });
    await page.waitForFunction(() => /windows/.test(document.querySelector('#chart-note')?.textContent ?? ''), undefined, { timeout: 10_000 });
    return { window: await select.inputValue(), note: await page.locator('#chart-note').innerText(), hash: decodeURIComponent(new URL(page.url()).hash) };
  };

  await page.goto(`${app.httpUrl}/#/devices/hall?range=1h&window=60000/10000`);
  const loaded = await shown();
  assert.equal(loaded.window, '60000/10000');
  assert.match(loaded.note, /^1 min every 10 s windows/);
  assert.equal(loaded.hash, '#/devices/hall?range=1h&window=60000/10000', 'the address bar still names the window');

  await page.reload();
  const reloaded = await shown();
  assert.equal(reloaded.window, '60000/10000', 'a reload opens the same window');
  assert.match(reloaded.note, /^1 min every 10 s windows/);
  assert.equal(reloaded.hash, '#/devices/hall?range=1h&window=60000/10000');
  // The reload ends the first page's event stream (the browser reports it as aborted); nothing else went wrong.
  assert.deepEqual(problems.filter((p) => !/^request failed: GET \S+\/api\/v1\/stream\S* net::ERR_ABORTED$/.test(p)), []);
});

/** A server with 30 s of device hall's history, and a page opened at `hash`, its chart's note drawn. */
async function openDeviceLink(t: TestContext, hash: string): Promise<{ page: Page; problems: string[] }> {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200, windows: WINDOWS });
  const client = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(client, ['hall'], 30_000, 1000));
  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/${hash}`);
  await page.waitForFunction(() => /windows/.test(document.querySelector('#chart-note')?.textContent ?? ''), undefined, { timeout: 10_000 });
  return { page, problems };
}

test("a link whose window this server does not have says so, shows the first window, and the address bar names that one", async (t) => {
  const { page, problems } = await openDeviceLink(t, '#/devices/hall?range=5m&window=300000/60000');
  assert.match(await page.locator('#chart-note').innerText(), /^10 s every 2 s windows · the link's 5 min every 1 min windows are not configured on this server/);
  assert.equal(await page.locator('#window-select').inputValue(), '10000/2000');
  assert.equal(decodeURIComponent(new URL(page.url()).hash), '#/devices/hall?range=5m&window=10000/2000');
  assert.deepEqual(problems, []);
});

test("a link whose window is not a window at all (window=foo) says so in a sentence, and shows the first window", async (t) => {
  const { page, problems } = await openDeviceLink(t, '#/devices/hall?range=5m&window=foo');
  assert.match(await page.locator('#chart-note').innerText(), /^10 s every 2 s windows · the link's window "foo" is not configured on this server/);
  assert.equal(decodeURIComponent(new URL(page.url()).hash), '#/devices/hall?range=5m&window=10000/2000');
  assert.deepEqual(problems, []);
});

test("a link whose range the page does not offer says so, shows 5 min, and the address bar names that one; choosing a range ends the note", async (t) => {
  const { page, problems } = await openDeviceLink(t, '#/devices/hall?range=2h&window=60000/10000');
  assert.match(await page.locator('#chart-note').innerText(), /^1 min every 10 s windows · the link's range "2h" is not one of 5 min, 1 h, 24 h: showing 5 min/);
  assert.equal(await page.locator('button[data-range="5m"]').getAttribute('aria-pressed'), 'true');
  assert.equal(decodeURIComponent(new URL(page.url()).hash), '#/devices/hall?range=5m&window=60000/10000');

  await page.locator('button[data-range="1h"]').click();
  await page.waitForFunction(() => !/the link's range/.test(document.querySelector('#chart-note')?.textContent ?? ''), undefined, { timeout: 10_000 });
  assert.equal(decodeURIComponent(new URL(page.url()).hash), '#/devices/hall?range=1h&window=60000/10000');
  assert.deepEqual(problems, []);
});

test("a device link whose id is no device id (a typo, a stray %) says so, asks the server nothing for it, and the page goes on; an engine link with parameters is the engine view", async (t) => {
  const { page, problems } = await openDeviceLink(t, '#/devices/hall');
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  for (const [hash, id] of [['#/devices/bad%20id', 'bad id'], ['#/devices/50%', '50%']]) {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForFunction((want) => document.querySelector('#device-id')?.textContent === want, id, { timeout: 10_000 });
    assert.equal(await page.locator('#chart-note').innerText(), `"${id}" is not a device id: a device id is 1 to 128 letters, digits, ".", "_", ":" or "-". The fleet overview lists the devices.`);
  }
  await page.waitForTimeout(1500); // a device view refreshes every second: this one must not
  assert.deepEqual(requests.filter((p) => p.startsWith('/api/v1/devices/') || p.startsWith('/api/v1/windows')), []);
  // The engine view takes no parameters: a link with some, or a trailing slash, is the engine view still.
  for (const hash of ['#/engine?from=dashboard', '#/engine/']) {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForFunction(() => /Streaming engine/.test(document.querySelector('#view')?.textContent ?? ''), undefined, { timeout: 10_000 });
  }
  await page.evaluate(() => { location.hash = '#/devices/hall'; });
  await page.waitForFunction(() => /windows/.test(document.querySelector('#chart-note')?.textContent ?? ''), undefined, { timeout: 10_000 });
  assert.deepEqual(problems, []);
});
