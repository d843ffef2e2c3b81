import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { connect, getJson, startServer, waitFor, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, watchPage } from './dashboard-helpers.ts';

/**
 * The "Fleet average" tile read the newest fleet window, which is still filling: just after it opens it holds the
 * readings of whichever devices reported in its first moments, so the tile jumped between them. Here the newest
 * windows hold only the cold room's readings (the warm one stopped); the tile must show a final window's average,
 * over both rooms, and say which window.
 */
test("the fleet average tile shows the newest final window, not one still filling with a few devices' readings", { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  const now = Date.now();
  const history = (temperature: number) => Array.from({ length: 60 }, (_, k) => ({ ts: now - 60_000 + k * 1000, temperature }));
  await client.publishAsync('devices/cold/telemetry', JSON.stringify(history(10)), { qos: 1 });
  await client.publishAsync('devices/warm/telemetry', JSON.stringify(history(30)), { qos: 1 });
  await waitForRecords(app, 120);
  // From now on only the cold room reports.
  // A tick after the client's own t.after has ended it is refused ("client disconnecting"): nothing to report.
  const tick = () => client.publishAsync('devices/cold/telemetry', JSON.stringify({ ts: Date.now(), temperature: 10 }), { qos: 0 }).catch(() => undefined);
  const timer = setInterval(() => void tick(), 250);
  t.after(() => clearInterval(timer));

  const windowsUrl = `${app.httpUrl}/api/v1/windows?length=10000&slide=2000&from=${now - 70_000}&limit=1000`;
  // The history's last reading is a second old: until the cold room's ticks open a window that starts after it, the
  // newest window still holds the warm room too (a fast machine loads the page within that time).
  await waitFor('a newest window with the cold room alone', async () => ((await getJson(windowsUrl)).body.items as { avg: number }[]).at(-1)?.avg === 10, 15_000);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/#/`);
  const tile = page.locator('.tile', { hasText: 'Fleet average' });
  const shown = await waitFor('the fleet average', async () => {
    const text = await tile.innerText();
    return /\d+\.\d °C/.test(text) ? text : null;
  });
  const api = (await getJson(windowsUrl)).body.items as { end: string; avg: number; final: boolean }[];
  const newest = api.at(-1)!;
  assert.equal(newest.final, false);
  assert.equal(newest.avg, 10, 'the newest window holds only the cold room');
  const value = /(\d+\.\d) °C/.exec(shown)![1];
  assert.notEqual(value, '10.0', shown);
  const final = api.filter((w) => w.final && w.avg > 10);
  assert.ok(final.some((w) => w.avg.toFixed(1) === value), `${shown}: not a final window's average (${final.map((w) => w.avg).join(', ')})`);
  assert.match(shown, /window to \d\d:\d\d:\d\d/);
  assert.deepEqual(problems, []);
});

/** The overview reads the hour's newest 5,000 anomalies: with more, its tile says "5,000+", not a count that looks exact. */
/** The overview's anomalies tile once it shows `until`, after `readings` of device "hot" (one message). */
async function anomaliesTile(t: TestContext, readings: object[], until: RegExp): Promise<{ text: string; page: Page; problems: string[] }> {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  await client.publishAsync('devices/hot/telemetry', JSON.stringify(readings), { qos: 1 });
  await waitForRecords(app, readings.length);
  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/#/`);
  const tile = page.locator('.tile', { hasText: 'Anomalies (1 h)' });
  const text = await waitFor('the anomalies tile', async () => {
    const shown = await tile.innerText();
    return until.test(shown) ? shown : null;
  });
  return { text, page, problems };
}

test('more anomalies in the last hour than the overview reads: the tile says 5,000+', { timeout: 90_000 }, async (t) => {
  // 5,001 readings over the threshold's max (50 °C) in one message: 5,001 threshold anomalies.
  const { text, page, problems } = await anomaliesTile(t, Array.from({ length: 5001 }, () => ({ temperature: 80 })), /5,000/);
  assert.match(text, /5,000\+/);
  assert.match(text, /1\+ devices \(among the newest; all: GET \/api\/v1\/anomalies\)/);
  assert.match(await page.locator('.chips').innerText(), /threshold: 5000\+ in the last hour/);
  assert.deepEqual(problems, []);
});

test("one device with anomalies in the last hour: the tile says 1 device, not 1 devices", { timeout: 60_000 }, async (t) => {
  // Two readings over the threshold's max (50 °C): two threshold anomalies of one device.
  const { text, problems } = await anomaliesTile(t, [{ temperature: 80 }, { temperature: 81 }], /\b2\b/);
  assert.match(text, /\n1 device$/);
  assert.deepEqual(problems, []);
});
