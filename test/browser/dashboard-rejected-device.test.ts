import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, waitFor, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, publishHistory, watchPage } from './dashboard-helpers.ts';

/**
 * A thermostat whose firmware sends a bad payload: every message is rejected, so the server has no device of that
 * id, only dead letters. Its page must say so (not "has not reported yet", which sends the engineer to check the
 * network), ask the device route once rather than on every batch (each 404 is an error in the browser's console),
 * and a device with some rejected messages shows how many.
 */
test('a device whose every message was rejected: its page says why no reading shows, without a 404 on every batch', { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(client, ['hall'], 20_000, 1000));
  await client.publishAsync('devices/bad-fw/telemetry', JSON.stringify({ ts: Date.now(), temperature: 'hot' }), { qos: 1 });
  await client.publishAsync('devices/hall/telemetry', 'not json', { qos: 1 });
  await client.publishAsync('devices/hall/telemetry', JSON.stringify({ ts: Date.now(), temp: 21 }), { qos: 1 });
  // A topic that names no valid device is no device: not a row (it was one, with an empty id).
  await client.publishAsync('devices/küche/telemetry', JSON.stringify({ ts: Date.now(), temperature: 21 }), { qos: 1 });

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  // The overview lists it among the devices, with its state and why; a device with readings is listed as before.
  await page.goto(`${app.httpUrl}/`);
  const row = (id: string) => page.locator(`#devices tr[data-device="${id}"]`);
  await waitFor('bad-fw in the device table', async () => (await row('bad-fw').count()) === 1);
  const cells = async (id: string) => (await row(id).locator('th, td').allInnerTexts()).map((c) => c.trim());
  assert.deepEqual((await cells('bad-fw')).slice(0, 4), ['bad-fw', '–', '–', 'rejected every message: 1 message (wrong type: 1)']);
  assert.equal((await cells('hall'))[3], 'online');
  assert.equal(await page.locator('#device-count').innerText(), '2 of 2 devices');
  await page.selectOption('#device-status', 'rejected');
  assert.deepEqual(await page.locator('#devices tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.device)), ['bad-fw']);
  await row('bad-fw').locator('a').click(); // its page explains it

  const note = page.locator('#chart-note');
  await waitFor('the device page', async () => page.url().includes('#/devices/bad-fw'));
  await waitFor('the page to say why', async () => /rejected/.test(await note.innerText()));
  const text = await note.innerText();
  assert.doesNotMatch(text, /has not reported yet/);
  assert.match(text, /no reading of this device was accepted: 1 message rejected \(wrong type\); the newest at \d\d:\d\d:\d\d: "temperature" must be a number, got "hot"/);
  await page.waitForTimeout(3000); // a few batches: the page keeps watching for the device's first reading

  // The device route answered 404 once; after that the page looked in the device list.
  const notFound = problems.filter((p) => p.includes('404'));
  assert.deepEqual(notFound, [`HTTP 404: GET ${app.httpUrl}/api/v1/devices/bad-fw`, 'console error: Failed to load resource: the server responded with a status of 404 (Not Found)']);

  // Its first good reading shows without a reload.
  await client.publishAsync('devices/bad-fw/telemetry', JSON.stringify({ ts: Date.now(), temperature: 23.25 }), { qos: 1 });
  await waitFor('the reading on the page', async () => /23\.3 °C/.test(await page.locator('.tile').first().innerText()), 10_000);
  await waitFor('the note to change', async () => !/no reading/.test(await note.innerText()));

  // A device with readings and rejected messages: the readings tile counts both.
  await page.goto(`${app.httpUrl}/#/devices/hall`);
  await waitFor('the rejected count', async () => /2 rejected/.test(await page.locator('.tile', { hasText: 'Readings' }).innerText()));
  assert.deepEqual(problems.filter((p) => !notFound.includes(p)), []);
});
