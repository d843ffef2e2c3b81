import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer, waitFor } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, watchPage } from './dashboard-helpers.ts';

/** A server no device has reported to yet: the overview says so, rather than "0 / 0, all reporting". */
test('before any device reports, the overview says there is none yet', async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/`);
  const tile = page.locator('.tile', { hasText: 'Devices online' });
  await waitFor('the devices tile', async () => /0 \/ 0/.test(await tile.innerText()));
  assert.equal(await tile.locator('.tile-note').innerText(), 'no device has reported yet');
  assert.equal(await page.locator('#devices tbody').innerText(), 'No device has reported yet.');
  assert.deepEqual(problems, []);
});
