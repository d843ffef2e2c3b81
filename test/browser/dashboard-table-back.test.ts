import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, waitFor, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, publishHistory, watchPage } from './dashboard-helpers.ts';

/**
 * A user narrows the device table (filter, sort, a later page), opens a device and goes back: the table is as they
 * left it, as a browser restores a form. It was built anew, the filter empty and the first page of ids shown. The
 * overview's link holds the same, so that a reload or a shared link shows those rows (a reload lost them).
 */
test('back from a device page, after a reload and from its link, the device table keeps its filter, status, sort and page', { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  const ids = Array.from({ length: 60 }, (_, i) => `room-${String(i + 1).padStart(2, '0')}`);
  await waitForRecords(app, await publishHistory(client, ids, 4_000, 1000));

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/`);
  const shown = () => page.locator('#devices tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.device));
  await waitFor('the device table', async () => (await page.locator('#devices tbody tr[data-device]').count()) === 25);

  await page.fill('#device-filter', 'Room-');
  await page.selectOption('#device-status', 'online');
  await page.click('button.sort[data-key="deviceId"]'); // descending
  await page.click('#page-next');
  const before = { rows: await shown(), info: await page.locator('#page-info').innerText() };
  assert.deepEqual(before, { rows: ids.slice().reverse().slice(25, 50), info: '26–50 of 60' });
  const link = '#/?filter=Room-&status=online&sort=-deviceId&page=2';
  const hashIs = (p: typeof page, want: string) => waitFor(`the address ${want}`, async () => new URL(p.url()).hash === want);
  await hashIs(page, link); // a moment after the last change

  await page.locator('#devices tbody tr[data-device="room-35"] a').click();
  await waitFor('the device page', async () => (await page.locator('#device-id').count()) === 1);
  await page.goBack();
  await waitFor('the device table again', async () => (await page.locator('#devices tbody tr[data-device]').count()) > 0);
  assert.deepEqual({ rows: await shown(), info: await page.locator('#page-info').innerText() }, before);
  assert.equal(await page.inputValue('#device-filter'), 'Room-');
  assert.equal(await page.inputValue('#device-status'), 'online');
  assert.equal(await page.locator('th[data-key="deviceId"]').getAttribute('aria-sort'), 'descending');
  await hashIs(page, link);

  assert.deepEqual(problems, []); // before the reload, which aborts the page's requests in flight
  // A reload, and the link opened in a new page: the same rows.
  const same = async (p: typeof page, what: string) => {
    await waitFor(what, async () => (await p.locator('#devices tbody tr[data-device]').count()) > 0);
    assert.deepEqual({ rows: await p.locator('#devices tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.device)), info: await p.locator('#page-info').innerText() }, before, what);
    assert.equal(await p.inputValue('#device-filter'), 'Room-');
    assert.equal(await p.inputValue('#device-status'), 'online');
  };
  await page.reload();
  await same(page, 'the table after a reload');
  const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const otherProblems = watchPage(other);
  await other.goto(`${app.httpUrl}/${link}`);
  await same(other, 'the table from its link in a new page');
  assert.deepEqual(otherProblems, []);
  // A link with values the table does not have shows their defaults, and says so in the link.
  await other.goto(`${app.httpUrl}/#/?sort=-bogus&status=asleep&page=0`);
  await other.reload();
  await waitFor('the table from a link of unknown values', async () => (await other.locator('#devices tbody tr[data-device]').count()) === 25);
  assert.equal(await other.inputValue('#device-status'), 'all');
  assert.equal((await other.locator('#devices tbody tr').first().getAttribute('data-device')), 'room-01');
  await hashIs(other, '#/');
});
