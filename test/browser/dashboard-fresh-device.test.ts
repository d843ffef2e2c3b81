import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, getJson, startServer, waitFor } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { chartPoints, ensureDashboardBuilt, publishHistory, watchPage } from './dashboard-helpers.ts';

/**
 * A device page opened before the device's first reading: its first draw has no readings at all, and the chart
 * must still draw every series (raw readings included) once readings arrive, without a reload.
 */
test('a device page opened before its first reading draws the chart once readings arrive', async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/#/devices/fresh-0001`);
  const note = page.locator('#chart-note');
  await waitFor('the page to say the device has not reported', async () => /this device has not reported yet/.test(await note.innerText()));

  // 20 s of history, one reading a second, then the page's next refresh (on the stream's batch event) draws it.
  await publishHistory(client, ['fresh-0001'], 20_000, 1000);
  await waitFor('the readings on the chart', async () => (await chartPoints(page, 'device-chart', 'readings')).length >= 10, 10_000).catch((err: Error) => {
    throw new Error(`${err.message}; in the page: ${JSON.stringify(problems.slice(0, 3))}`);
  });
  await waitFor('the window averages on the chart', async () => (await chartPoints(page, 'device-chart', 'window average')).length > 0, 10_000);
  assert.doesNotMatch(await note.innerText(), /not reported yet/);
  assert.match(await page.locator('.tile').first().innerText(), /\d+\.\d °C/);

  // The device's own route answers 404 until its first reading (the page reads that as "not reported yet"); the
  // browser logs that answer. Anything else, such as "a view failed to draw", is a bug.
  const notYet = /\/api\/v1\/devices\/fresh-0001\b.*|status of 404 \(Not Found\)/;
  assert.deepEqual(problems.filter((p) => !(p.includes('404') && notYet.test(p))), []);
});

test('a device whose readings are all older than the range (silent since, or a replayed recording) says so under its empty chart', async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  // 20 s of readings two hours ago, into a fresh server (not late: its watermark starts at them).
  const n = await publishHistory(client, ['old-0001'], 20_000, 1000, Date.now() - 2 * 3_600_000);
  await waitFor('the readings committed', async () => (await getJson(`${app.httpUrl}/api/v1/devices/old-0001`)).body.readings === n);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/#/devices/old-0001?range=5m`);
  const note = page.locator('#chart-note');
  await waitFor('the note', async () => /holds a reading/.test(await note.innerText()));
  assert.match(await note.innerText(), /no window of this device holds a reading in the last 5 min \(readings are drawn at their own timestamps, ts\)/);
  await page.locator('button[data-range="24h"]').click();
  await waitFor('the window averages on the chart', async () => (await chartPoints(page, 'device-chart', 'window average')).length > 0, 10_000);
  assert.doesNotMatch(await note.innerText(), /holds a reading/);
  // The overview's fleet average is of the last 10 minutes' windows: it says that, not that there is none at all.
  await page.goto(`${app.httpUrl}/#/`);
  await waitFor('the fleet tile', async () => /no window in the last 10 min/.test(await page.locator('.tile', { hasText: 'Fleet average' }).innerText()));
  assert.deepEqual(problems, []);
});
