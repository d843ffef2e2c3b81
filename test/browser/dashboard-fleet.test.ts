import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, temperatureAt, watchPage } from './dashboard-helpers.ts';

const DEVICES = 1000;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Measures, does not judge: the figures go to docs/BENCHMARKS.md (no timed assertion here).
test('a fleet of 1,000 devices: the overview renders and filters (times reported)', async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  const ids = Array.from({ length: DEVICES }, (_, i) => `thermostat-${String(i + 1).padStart(4, '0')}`);
  const now = Date.now();
  await Promise.all(
    ids.map((id, i) =>
      client.publishAsync(`devices/${id}/telemetry`, JSON.stringify([0, 1, 2].map((k) => ({ ts: now - 3000 + k * 1000, temperature: temperatureAt(i, now + k) }))), { qos: 1 }),
    ),
  );
  await waitForRecords(app, DEVICES * 3);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  // The moment the table first shows the whole fleet, from the start of navigation.
  await page.addInitScript(() => {
    new MutationObserver((_m, observer) => {
      if (document.querySelector('#device-count')?.textContent === '1,000 of 1,000 devices') {
        (window as any).__rendered = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  await page.goto(`${app.httpUrl}/`);
  await page.waitForFunction(() => (window as any).__rendered !== undefined, undefined, { timeout: 30_000 });
  const renderMs: number = await page.evaluate(() => (window as any).__rendered);
  assert.equal(await page.locator('#devices tbody tr[data-device]').count(), 25, 'one page of rows is drawn');
  assert.equal(await page.locator('#page-info').innerText(), '1–25 of 1,000');

  // Filter (typing a prefix), then sort, each timed from the event to the next frame with the rows drawn.
  const timed = (action: string) =>
    page.evaluate(async (a) => {
      const t0 = performance.now();
      if (a.startsWith('filter:')) {
        const input = document.querySelector<HTMLInputElement>('#device-filter')!;
        input.value = a.slice('filter:'.length);
        input.dispatchEvent(new Event('input'));
      } else {
        document.querySelector<HTMLButtonElement>(`th[data-key="${a.slice('sort:'.length)}"] button`)!.click();
      }
      const sync = performance.now() - t0;
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
      return { sync, frame: performance.now() - t0, count: document.querySelector('#device-count')!.textContent };
    }, action);
  const filters: number[] = [];
  for (const prefix of ['thermostat-05', 'thermostat-0', '9', 'thermostat-1000', '']) {
    const r = await timed(`filter:${prefix}`);
    filters.push(r.frame);
    const expected = ids.filter((id) => id.includes(prefix)).length;
    assert.equal(r.count, `${expected.toLocaleString('en-US')} of 1,000 devices`);
  }
  const sorts: number[] = [];
  for (const key of ['lastTemperature', 'lastTemperature', 'lastSeen', 'deviceId']) sorts.push((await timed(`sort:${key}`)).frame);
  assert.deepEqual(problems, []);

  const figures = `1,000 devices: first render ${renderMs.toFixed(0)} ms from navigation; filter ${median(filters).toFixed(1)} ms (median of ${filters.length}, max ${Math.max(...filters).toFixed(1)}); sort ${median(sorts).toFixed(1)} ms (median of ${sorts.length})`;
  t.diagnostic(figures);
  console.log(`dashboard bench: ${figures}`);
});
