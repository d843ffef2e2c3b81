import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, publishHistory, watchPage } from './dashboard-helpers.ts';

// The longest id the server accepts ([A-Za-z0-9._:-]{1,128}), with no space to wrap at.
const LONG = `site-0042:building.north:floor-07:${'a1b2c3d4'.repeat(12)}`.slice(0, 128);

test('a 128-character device id is cut short with an ellipsis: the device table fits a 1280 px window, its figures on one line', async (t) => {
  assert.equal(LONG.length, 128);
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(client, [LONG, 'kitchen'], 10_000, 1000));
  // A device whose every message is rejected, for two reasons: its row says why, at length, in the status column.
  await client.publishAsync('devices/bad-fw/telemetry', JSON.stringify({ temperature: 'hot' }), { qos: 1 });
  await client.publishAsync('devices/bad-fw/telemetry', 'not json', { qos: 1 });

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/`);
  await page.waitForFunction(() => document.querySelectorAll('#devices tbody tr[data-device]').length === 3, undefined, { timeout: 10_000 });

  // No sideways scrolling: every column (the status and the trend too) is in view.
  const wrap = await page.locator('.device-table .table-wrap').evaluate((el) => ({ scrollWidth: el.scrollWidth, clientWidth: el.clientWidth }));
  assert.ok(wrap.scrollWidth <= wrap.clientWidth, `the table is ${wrap.scrollWidth} px wide in a wrapper of ${wrap.clientWidth} px`);
  const right = await page.locator('#devices thead th').last().evaluate((el) => el.getBoundingClientRect().right);
  assert.ok(right <= 1280, `the last column ends at ${right} px`);

  // The long id and the rejected device's reasons crowd the row: a figure still reads on one line, not "21.4" above "°C".
  const lines = await page.locator('#devices tbody tr:not(.rejected) td:is(.num, .col-seen)').evaluateAll((tds) =>
    tds.map((td) => {
      const range = document.createRange();
      range.selectNodeContents(td);
      return `${td.textContent} on ${new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top))).size} line(s)`;
    }),
  );
  assert.equal(lines.length, 4);
  for (const l of lines) assert.match(l, / on 1 line\(s\)$/);

  // The id is cut short on screen, whole in the link's text and its title (the tooltip).
  const link = page.locator('#devices tbody th a').filter({ hasText: 'site-0042' });
  const shown = await link.evaluate((a) => ({ text: a.textContent, title: a.getAttribute('title'), cut: a.scrollWidth > a.clientWidth, overflow: getComputedStyle(a).textOverflow }));
  assert.deepEqual(shown, { text: LONG, title: LONG, cut: true, overflow: 'ellipsis' });

  // The device page shows the whole id.
  await link.click();
  assert.equal(await page.locator('#device-id').innerText(), LONG);
  assert.deepEqual(problems, []);
});
