import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, watchPage } from './dashboard-helpers.ts';

/**
 * Paging the device table with the keyboard: on the last page "Next" is disabled, and a disabled button loses the
 * focus (to the page's body, so the next Tab starts again at the top of the page). The focus moves to the other
 * pager button instead.
 */
test('paging the device table with the keyboard keeps the focus in the pager at either end', { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  const ids = Array.from({ length: 30 }, (_, i) => `room-${String(i + 1).padStart(2, '0')}`);
  await Promise.all(ids.map((id) => client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ ts: Date.now(), temperature: 21 }), { qos: 1 })));
  await waitForRecords(app, ids.length);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/`);
  await page.waitForFunction(() => document.querySelector('#page-info')?.textContent === '1–25 of 30', undefined, { timeout: 10_000 });
  const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName.toLowerCase());

  await page.locator('#page-next').focus();
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('#page-info').innerText(), '26–30 of 30');
  assert.equal(await page.locator('#page-next').isDisabled(), true);
  assert.equal(await focused(), 'page-prev', 'the focus moved to "Previous", not to the body');
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('#page-info').innerText(), '1–25 of 30');
  assert.equal(await focused(), 'page-next');
  // Shift+Tab from there skips the disabled "Previous": to the last row's link, not back to the top of the page.
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.closest('tr')?.dataset.device), 'room-25');
  assert.deepEqual(problems, []);
});
