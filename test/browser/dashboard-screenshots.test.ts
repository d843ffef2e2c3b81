import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { connect, startServer, tempDir, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, keepPublishing, publishHistory, watchPage } from './dashboard-helpers.ts';

const DEVICES = Array.from({ length: 12 }, (_, i) => `thermostat-${String(i + 1).padStart(2, '0')}`);
const SIZES = [
  { name: 'laptop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;

/**
 * Screenshots of the overview, a device view and the engine view at laptop and phone width, light and dark, into
 * $DASHBOARD_SCREENSHOTS (else a temp dir). The laptop ones are committed under docs/screenshots/ for the README:
 * `DASHBOARD_SCREENSHOTS=docs/screenshots node --import tsx --test test/browser/dashboard-screenshots.test.ts`
 * (then drop the phone ones, or keep them). Also checks that no page scrolls sideways at phone width.
 */
test('screenshots of every view at laptop and phone width, light and dark; no sideways scrolling', async (t) => {
  await ensureDashboardBuilt();
  const dir = process.env.DASHBOARD_SCREENSHOTS ?? tempDir(t);
  mkdirSync(dir, { recursive: true });
  const app = await startServer(t, { batchIntervalMs: 500 });
  const client = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(client, DEVICES, 10 * 60_000, 2000));
  keepPublishing(t, client, DEVICES.slice(0, 11), 700); // one device falls silent: it shows offline after a minute

  const browser = await launchChromium(t);
  // The four pages side by side: each waits mostly for its engine chart, which samples the stats once a second.
  const runs = (['light', 'dark'] as const).flatMap((scheme) => SIZES.map((size) => ({ scheme, size })));
  await Promise.all(runs.map(async ({ scheme, size }) => {
    const context = await browser.newContext({ viewport: { width: size.width, height: size.height }, colorScheme: scheme });
    const page = await context.newPage();
    const problems = watchPage(page);
    const shot = async (view: string, ready: string): Promise<void> => {
      await page.waitForFunction(ready, undefined, { timeout: 30_000 });
      await page.waitForTimeout(300); // a last frame for the sparklines
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= size.width, `${view} at ${size.name} width scrolls sideways (${width} px)`);
      await page.screenshot({ path: `${dir}/${view}-${size.name}-${scheme}.png`, fullPage: true });
    };
    await page.goto(`${app.httpUrl}/`);
    await shot('overview', `document.querySelectorAll('#devices tbody tr[data-device]').length === ${DEVICES.length} && Chart.getChart('fleet-chart')?.data.datasets[2].data.length > 100`);
    await page.goto(`${app.httpUrl}/#/devices/thermostat-03`);
    await shot('device', `Chart.getChart('device-chart')?.data.datasets[2].data.length > 100`);
    await page.locator('nav a', { hasText: 'Engine' }).click();
    await shot('engine', `Chart.getChart('rate-chart')?.data.datasets[0].data.length > 12`);
    assert.deepEqual(problems, [], `${size.name} ${scheme}`);
    await context.close();
  }));
  t.diagnostic(`screenshots in ${dir}`);
});
