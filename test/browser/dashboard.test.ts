import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, tempDir, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';

test('the dashboard draws rolling window averages per device and lists the devices', async (t) => {
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  const now = Date.now();
  let n = 0;
  for (const device of ['kitchen', 'bedroom']) {
    for (let i = 0; i < 20; i++) {
      const temperature = device === 'kitchen' ? 21 + (i % 3) : 18 + (i % 2);
      await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts: now - 20_000 + i * 1000, temperature }), { qos: 1 });
      n++;
    }
  }
  await waitForRecords(app, n);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${app.httpUrl}/`);

  await page.waitForFunction(
    () => {
      const chart = (window as any).Chart?.getChart('chart');
      return chart && chart.data.datasets.length === 3 && chart.data.datasets.every((d: any) => d.data.length > 0);
    },
    undefined,
    { timeout: 10_000 },
  );
  const datasets = await page.evaluate(() =>
    (window as any).Chart.getChart('chart').data.datasets.map((d: any) => ({ label: d.label, points: d.data.length })),
  );
  assert.deepEqual(datasets.map((d: { label: string }) => d.label).sort(), ['bedroom', 'fleet', 'kitchen']);
  const rows = await page.locator('#devices tbody tr').allInnerTexts();
  assert.equal(rows.length, 2);
  assert.match(rows[0], /^bedroom\s+19\.0\s+20\s/);
  assert.match(await page.locator('#stats').innerText(), /40 accepted/);
  assert.deepEqual(errors, []);
  await page.screenshot({ path: `${tempDir(t)}/dashboard.png` });
  if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT });
});
