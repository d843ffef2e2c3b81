import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, waitFor, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, keepPublishing, publishHistory, watchPage } from './dashboard-helpers.ts';

const DEVICES = ['attic', 'bedroom', 'kitchen'];

/**
 * A tab left open in the background redrew on every batch: the device list, the fleet windows and the sparklines
 * read again every two seconds for nobody to see. Hidden, the page only follows the stream (and the stats, for the
 * badge); shown again, it reads everything at once, so it is current straight away.
 * (Headless Chromium never hides a page; the test tells the page it is hidden as the browser would.)
 */
test('a hidden tab stops reading the views data, and is current again as soon as it is shown', { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(client, DEVICES, 30_000, 1000));
  keepPublishing(t, client, DEVICES, 250, 240);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  const reads: { t: number; url: string }[] = [];
  page.on('request', (r) => {
    if (/\/api\/v1\/(devices|windows)/.test(r.url())) reads.push({ t: Date.now(), url: r.url() });
  });
  await page.goto(`${app.httpUrl}/`);
  await page.waitForFunction(() => document.querySelectorAll('#devices tbody tr[data-device]').length === 3, undefined, { timeout: 10_000 });
  // Visible, the overview reads its data as batches come (was a fixed 3 s wait, then the same count).
  await waitFor('visible, the overview reads its data as batches come', () => reads.length > 3, 10_000);

  // A string, not a function: tsx would name the getters with a helper the page does not have.
  const setVisibility = (state: 'hidden' | 'visible') =>
    page.evaluate(`Object.defineProperty(document, 'visibilityState', { configurable: true, get() { return '${state}'; } });
      Object.defineProperty(document, 'hidden', { configurable: true, get() { return ${state === 'hidden'}; } });
      document.dispatchEvent(new Event('visibilitychange'));`);
  await setVisibility('hidden');
  await page.waitForTimeout(2500); // a refresh already under way, or due within the overview's 2 s throttle, may run
  const hiddenAt = Date.now();
  await page.waitForTimeout(5000);
  assert.deepEqual(reads.filter((r) => r.t > hiddenAt).map((r) => r.url), [], 'hidden, nothing is read for the views');

  const before = await page.evaluate(() => (window as any).Chart.getChart('fleet-chart').data.datasets[2].data.at(-1).x);
  const shownAt = Date.now();
  await setVisibility('visible');
  await page.waitForFunction((x) => (window as any).Chart.getChart('fleet-chart').data.datasets[2].data.at(-1).x > x, before, { timeout: 2000 });
  assert.ok(Date.now() - shownAt < 2000);
  assert.ok(reads.some((r) => r.t >= shownAt && /\/api\/v1\/devices/.test(r.url)));
  assert.deepEqual(problems, []);
});
