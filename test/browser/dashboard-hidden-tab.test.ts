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
 *
 * Counted in the stream's batch events, not in seconds: hidden, the page receives 25 batches and reads nothing;
 * then the stream is held back (its events reach the page no more) and the tab is shown, so the redraw that follows
 * can only come from the tab being shown, not from a batch within the overview's 2 s throttle.
 */
test('a hidden tab stops reading the views data, and is current again as soon as it is shown', { timeout: 120_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(client, DEVICES, 30_000, 1000));
  keepPublishing(t, client, DEVICES, 250, 600);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  // The stream as the page sees it: its batch events counted, and held back (not delivered) while `held`.
  // A string, not a function: tsx would name the functions with a helper the page does not have.
  await page.addInitScript(`(() => {
    const stream = (window.__stream = { batches: 0, held: false });
    const add = EventSource.prototype.addEventListener;
    EventSource.prototype.addEventListener = function (type, listener, options) {
      const relay = function (ev) {
        if (type === 'batch') stream.batches++;
        if (stream.held) return;
        return typeof listener === 'function' ? listener.call(this, ev) : listener.handleEvent(ev);
      };
      return add.call(this, type, relay, options);
    };
  })();`);
  const batches = (): Promise<number> => page.evaluate('window.__stream.batches') as Promise<number>;
  const reads: string[] = [];
  let readsInFlight = 0;
  let lastReadAt = 0;
  const isRead = (url: string) => /\/api\/v1\/(devices|windows)/.test(url);
  page.on('request', (r) => {
    if (!isRead(r.url())) return;
    reads.push(r.url());
    readsInFlight++;
    lastReadAt = Date.now();
  });
  const readDone = (r: { url(): string }) => {
    if (isRead(r.url())) readsInFlight--;
  };
  page.on('requestfinished', readDone);
  page.on('requestfailed', readDone);
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
  // A refresh under way when the tab was hidden, or due within the overview's 2 s throttle, may still run: wait until
  // no read is in flight and none has started for longer than the throttle.
  await waitFor('the hidden page to stop reading for the views (a refresh under way or due may end first)', () => readsInFlight === 0 && Date.now() - lastReadAt > 3000, 30_000);
  const readsWhenHidden = reads.length;
  const batchesWhenHidden = await batches();
  await waitFor('25 batches to reach the hidden page', async () => (await batches()) >= batchesWhenHidden + 25, 30_000);
  assert.deepEqual(reads.slice(readsWhenHidden), [], 'hidden, nothing is read for the views');

  // Shown while the stream is held back: a redraw now comes from the tab being shown, not from a batch.
  await page.evaluate('window.__stream.held = true');
  const before = await page.evaluate(() => (window as any).Chart.getChart('fleet-chart').data.datasets[2].data.at(-1).x);
  const readsWhenShown = reads.length;
  await setVisibility('visible');
  await page.waitForFunction((x) => (window as any).Chart.getChart('fleet-chart').data.datasets[2].data.at(-1).x > x, before, { timeout: 15_000 });
  assert.ok(reads.slice(readsWhenShown).some((url) => /\/api\/v1\/devices/.test(url)), 'shown, the device list is read again');
  await page.evaluate('window.__stream.held = false');
  assert.deepEqual(problems, []);
});
