import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, getJson, startServer, waitFor, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, publishHistory, watchPage } from './dashboard-helpers.ts';

/**
 * The API's times are UTC; the page shows them in the browser's zone, and says which: a user in India reading
 * "18:43" beside an API that says 13:13Z must not have to guess. Each time axis is titled with the zone, each table's
 * time column with its offset, and the times are the API's, converted.
 */
test('times are shown in the browser\'s time zone and say which zone', { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(client, ['hall'], 60_000, 1000));

  const browser = await launchChromium(t);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'Asia/Kolkata' });
  t.after(() => context.close());
  const page = await context.newPage();
  const problems = watchPage(page);
  const axisTitle = (id: string) => page.evaluate((c) => (window as any).Chart?.getChart(c)?.options.scales.x.title?.text as string | undefined, id);
  // ICU names the zone by its older, canonical name (Asia/Calcutta) in some builds.
  const ZONE = /^time \(Asia\/(Kolkata|Calcutta), UTC\+5:30\)$/;

  await page.goto(`${app.httpUrl}/#/devices/hall?range=5m&window=10000/2000`);
  const details = page.locator('details.numbers');
  await details.locator('summary').click();
  const table = details.locator('table').first();
  const ends = await waitFor('the latest windows', async () => {
    const cells = await table.locator('tbody tr td:first-child').allTextContents();
    return cells.length >= 5 ? cells : null;
  });
  assert.match((await axisTitle('device-chart')) ?? '', ZONE);
  assert.equal(await table.locator('thead th').first().textContent(), 'window end (UTC+5:30)');
  const api = (await getJson(`${app.httpUrl}/api/v1/windows?deviceId=hall&length=10000&slide=2000&from=${Date.now() - 400_000}&limit=1000`)).body.items;
  const inKolkata = new Set(api.map((w: { end: string }) => new Date(w.end).toLocaleTimeString('en-GB', { hour12: false, timeZone: 'Asia/Kolkata' })));
  for (const end of ends) assert.ok(inKolkata.has(end), `window end ${end} on the page is no API window's end in Asia/Kolkata (${[...inKolkata].slice(-3)})`);

  await page.goto(`${app.httpUrl}/#/`);
  await waitFor('the fleet chart', () => axisTitle('fleet-chart'));
  assert.match((await axisTitle('fleet-chart')) ?? '', ZONE);
  await page.goto(`${app.httpUrl}/#/engine`);
  await waitFor('the engine charts', () => axisTitle('rate-chart'));
  assert.match((await axisTitle('rate-chart')) ?? '', ZONE);
  assert.equal(await page.locator('#batches thead th').first().textContent(), 'batch time (UTC+5:30)');
  assert.deepEqual(problems, []);
});
