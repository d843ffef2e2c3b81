import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, getJson, startServer, waitFor, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, keepPublishing, publishHistory, watchPage } from './dashboard-helpers.ts';

/**
 * A window is final once the watermark passes its end; before that its figures may still change (README,
 * "partial results may be shown, marked not final"). The newest windows on a live page are such: the numbers behind
 * the chart say which rows are partial, and the average line is dashed over them.
 */
test('windows not yet final are marked: "partial" in the numbers, a dashed average line over them', { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  await waitForRecords(app, await publishHistory(client, ['hall'], 60_000, 1000));
  keepPublishing(t, client, ['hall'], 500, 120);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/#/devices/hall?range=5m&window=10000/2000`);
  const details = page.locator('details.numbers');
  const rows = await waitFor('the latest windows drawn', async () => {
    if (!(await details.evaluate((d: HTMLDetailsElement) => d.open))) await details.locator('summary').click();
    const r = await details.locator('table').first().locator('tbody tr').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).innerText));
    return r.length === 15 && r.every((x) => x.includes('\t')) ? r : null;
  });
  const headers = await details.locator('table').first().locator('thead th').allInnerTexts().then((h) => h.map((x) => x.toLowerCase()));
  assert.match(headers[0], /^window end \(utc([+-][\d:]+)?\)$/); // in the browser's zone (dashboard-time-zone.test.ts)
  assert.deepEqual(headers.slice(1), ['avg °c', 'min °c', 'max °c', 'readings', 'state']);
  const states = rows.map((r) => r.split('\t').at(-1));
  assert.ok(states.every((s) => s === 'final' || s === 'partial'), rows.join('\n'));
  // Newest first: the partial ones on top (within 10 s allowed lateness of the newest reading), then final ones.
  assert.equal(states[0], 'partial', rows.join('\n'));
  assert.equal(states.at(-1), 'final', rows.join('\n'));
  assert.deepEqual(states, [...states].sort((a, b) => (a === b ? 0 : a === 'partial' ? -1 : 1)));

  // The chart's average: each point knows whether its window is final, as the API says; the segments into partial
  // windows are dashed, the others solid.
  const chart = await page.evaluate(() => {
    const c = (window as any).Chart.getChart('device-chart');
    const ds = c.data.datasets[2];
    const n = ds.data.length;
    // (no named function here: tsx would wrap it in a helper the page does not have)
    const [lastDash, firstDash] = [n - 1, 1].map((i) => (typeof ds.segment?.borderDash === 'function' ? ds.segment.borderDash({ type: 'segment', p0DataIndex: i - 1, p1DataIndex: i, datasetIndex: 2 }) : undefined));
    return { points: ds.data.map((p: { x: number; final: boolean }) => ({ x: p.x, final: p.final })), lastDash, firstDash };
  });
  assert.ok(chart.points.length > 20);
  assert.equal(chart.points.at(-1).final, false);
  assert.deepEqual(chart.lastDash, [5, 4]);
  assert.equal(chart.firstDash, undefined);
  const api = (await getJson(`${app.httpUrl}/api/v1/windows?deviceId=hall&length=10000&slide=2000&from=${Date.now() - 400_000}&limit=1000`)).body.items;
  const final = new Set(api.filter((w: { final: boolean }) => w.final).map((w: { start: string; end: string }) => (Date.parse(w.start) + Date.parse(w.end)) / 2));
  // A window final on the page is final in the API (asked after it); the page's partial ones may have closed since.
  for (const p of chart.points) if (p.final) assert.ok(final.has(p.x), `window at ${new Date(p.x).toISOString()} final on the page, not in the API`);
  assert.ok(chart.points.filter((p: { final: boolean }) => p.final).length >= chart.points.length - 12, 'only the newest windows are partial');

  // The state column still fits a phone: the overview's numbers (readings in the thousands) open at 390 px.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(`${app.httpUrl}/#/`);
  const fleetNumbers = page.locator('details.numbers');
  await page.waitForFunction(() => document.querySelectorAll('details.numbers tbody tr').length > 5, undefined, { timeout: 10_000 });
  await fleetNumbers.locator('summary').click();
  await page.evaluate(() => {
    Array.from(document.querySelectorAll('details.numbers tbody td:nth-child(5)')).forEach((td) => (td.textContent = '12,345')); // a large fleet's counts
  });
  assert.deepEqual(await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]), [390, 390], 'no sideways scrolling');
  assert.deepEqual(problems, []);
});
