import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, getJson, startServer, waitFor, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, watchPage } from './dashboard-helpers.ts';

/**
 * A device over its threshold for a minute has an anomaly per reading: the table under its chart lists the newest 30
 * and says so, rather than look like every anomaly of the range (its caption said "Anomalies in range" over 30 of 40).
 */
test("the device page's anomaly table says when it lists only the newest of the range's anomalies", { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  // 30 s at 21 °C (past the detectors' warm-up), then 40 s over the threshold's 50 °C (config/default.json).
  const now = Date.now();
  const readings = Array.from({ length: 70 }, (_, i) => ({ ts: now - 70_000 + i * 1000, temperature: i < 30 ? 21 + (i % 3) / 10 : 60 + (i % 3) / 10 }));
  await client.publishAsync('devices/boiler/telemetry', JSON.stringify(readings), { qos: 1 });
  await waitForRecords(app, readings.length);
  const all = await waitFor('the threshold anomalies', async () => {
    const items = (await getJson(`${app.httpUrl}/api/v1/anomalies?deviceId=boiler&from=${now - 300_000}`)).body.items;
    return items.filter((a: { type: string }) => a.type === 'threshold').length >= 40 ? items : null;
  });

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/#/devices/boiler?range=5m`);
  const details = page.locator('details.numbers');
  await details.locator('summary').click();
  const table = details.locator('table').nth(1);
  await waitFor('the anomaly table', async () => (await table.locator('tbody tr').count()) === 30);
  assert.equal(await table.locator('caption').textContent(), `Anomalies in range: the newest 30 of ${all.length} (all: GET /api/v1/anomalies)`);
  assert.deepEqual(problems, []);
});
