import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFleet } from '../../simulator/index.ts';
import { deviceParams } from '../../simulator/model.ts';
import { averageTemperature, getJson, waitFor } from '../helpers.ts';
import { startSecureServer } from '../iothub-helpers.ts';
import { withTimeout } from '../simulator-helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, watchPage } from './dashboard-helpers.ts';

const TOKEN = 'dashboard-test-token-0123456789';
const ID = 'thermostat-0001';
const SEED = 5;

/**
 * Issue 13, acceptance 1 (the setpoint): a server with registry auth, TLS and an API token, fed by the azure
 * simulator; the user changes the setpoint on the device page (giving the API token when the server asks for it),
 * the simulated thermostat acknowledges it in its twin and its readings move to it.
 */
test('a setpoint changed on the device page reaches the simulated thermostat, is acknowledged, and its readings move to it', { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startSecureServer(t, { http: { port: 0, apiToken: TOKEN } });
  // One thermostat, a reading every 3 simulated s (20/s at 60×: a simulated minute every wall-clock second; simulated
  // time starts 59 min back and reaches now after the 60 s run), with a spike 5 simulated minutes in.
  const fleet = createFleet({
    transport: 'azure',
    registry: app.httpUrl,
    apiToken: TOKEN,
    ca: app.caFile!,
    devices: 1,
    rate: 20,
    speedup: 60,
    duration: 60,
    seed: SEED,
    scenario: { anomalies: 0, events: [{ device: 1, type: 'spike', at: 300, magnitude: 8 }] },
  });
  const done = fleet.run();
  t.after(() => fleet.stop());
  await waitFor('six simulated minutes of readings', async () => ((await getJson(`${app.httpUrl}/api/v1/stats`)).body.records >= 120 ? true : null), 20_000);
  const spike = await waitFor('the injected spike in /api/v1/anomalies', async () => (await getJson(`${app.httpUrl}/api/v1/anomalies?deviceId=${ID}&type=spike`)).body.items[0]);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/#/devices/${ID}?range=1h`); // simulated time runs up to 59 min behind the clock
  await page.waitForSelector('#twin:not([hidden])', { timeout: 10_000 });
  assert.equal(await page.locator('#twin table').innerText(), 'Reported by the device\nnothing reported yet');
  assert.equal(await page.locator('#setpoint-ack').innerText(), 'No setpoint requested yet.');
  assert.equal(await page.locator('#api-token').isVisible(), false);

  // Set without the token: the server refuses (401) and the page asks for it.
  const own = deviceParams(SEED, ID).setpoint;
  const target = own + 5;
  await page.locator('#setpoint').fill(String(target));
  await page.locator('#twin button[type="submit"]').click();
  await waitFor('the refusal', async () => (await page.locator('#setpoint-ack').getAttribute('data-state')) === 'error');
  assert.equal(await page.locator('#setpoint-ack').innerText(), 'Not sent: this server needs its API token (http.apiToken) for changes. Enter it above and press Set again.');
  assert.equal(await page.locator('#api-token').isVisible(), true);
  assert.deepEqual((await getJson(`${app.httpUrl}/api/v1/registry/devices/${ID}/twin`)).body.properties.desired, { $version: 1 });

  // With the token: sent, pending, then acknowledged by the device.
  await page.locator('#api-token').fill(TOKEN);
  await page.locator('#twin button[type="submit"]').click();
  await waitFor('the acknowledgement on the page', async () => (await page.locator('#setpoint-ack').getAttribute('data-state')) === 'acknowledged', 15_000);
  assert.match(await page.locator('#setpoint-ack').innerText(), new RegExp(`^✓ Acknowledged by the device( at [^:]+:\\d\\d:\\d\\d)?: ${target} °C$`));
  assert.equal(await page.evaluate(() => sessionStorage.getItem('thermostream.apiToken')), TOKEN);
  const twin = (await getJson(`${app.httpUrl}/api/v1/registry/devices/${ID}/twin`)).body.properties;
  assert.equal(twin.desired.setpoint, target);
  assert.equal(twin.reported.setpoint, target);
  assert.match(await page.locator('#twin table').innerText(), new RegExp(`^Reported by the device\\nsetpoint\\t${target}\\nsetpointAppliedAt\\t`));

  // Its readings move to the setpoint within a simulated minute (1 s here), through the API and on the chart.
  const appliedAt = Date.parse(twin.reported.setpointAppliedAt);
  await waitFor('a simulated minute of readings after the first', async () => ((await averageTemperature(app.httpUrl, ID, appliedAt + 60_000, appliedAt + 120_000)).n >= 15 ? true : null), 20_000);
  const before = await averageTemperature(app.httpUrl, ID, appliedAt - 120_000, appliedAt);
  const after = await averageTemperature(app.httpUrl, ID, appliedAt + 60_000, appliedAt + 120_000);
  t.diagnostic(`setpoint ${target} °C: before ${before.avg.toFixed(2)} °C (${before.n} readings), 1–2 simulated min after ${after.avg.toFixed(2)} °C (${after.n})`);
  // Tolerance: half the hysteresis band (≤ 0.5 °C) + calibration offset (≤ 0.3 °C) + noise and quantisation.
  assert.ok(Math.abs(after.avg - target) <= 1, `after: ${after.avg.toFixed(2)} °C, setpoint ${target}`);
  assert.ok(target - before.avg >= 3, `before: ${before.avg.toFixed(2)} °C, setpoint ${target}`);
  await page.waitForFunction(
    ([from, to]) => {
      const ds = (window as any).Chart.getChart('device-chart')?.data.datasets.find((d: { label: string }) => d.label === 'readings');
      return (ds?.data ?? []).some((p: { x: number; y: number }) => p.x > from && p.y >= to - 1);
    },
    [appliedAt + 60_000, target] as const,
    { timeout: 10_000 },
  );

  // The injected spike is on the chart too (its tooltip is dashboard-anomalies.test.ts's).
  const spikeMarker = () =>
    page.evaluate(() => {
      const chart = (window as any).Chart.getChart('device-chart');
      const i = chart.data.datasets.findIndex((d: { label: string }) => d.label === 'spike');
      return i < 0 ? null : { x: chart.getDatasetMeta(i).data[0].x, y: chart.getDatasetMeta(i).data[0].y, value: chart.data.datasets[i].data[0].y };
    });
  let marker = await spikeMarker();
  assert.equal(marker?.value, spike.value);
  if (process.env.DASHBOARD_SCREENSHOTS) {
    // A picture with more of the hour in it: 25 simulated minutes (25 s), the page back at its top.
    await waitFor('25 simulated minutes', async () => ((await getJson(`${app.httpUrl}/api/v1/stats`)).body.records >= 500 ? true : null), 30_000);
    await page.waitForTimeout(1500); // the page's next refresh
    await page.evaluate(() => window.scrollTo(0, 0));
    marker = await spikeMarker();
    const box = (await page.locator('#device-chart').boundingBox())!;
    await page.mouse.move(box.x + marker!.x, box.y + marker!.y); // the spike's tooltip in the picture
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${process.env.DASHBOARD_SCREENSHOTS}/device-anomalies-twin-laptop-light.png`, fullPage: true });
  }

  fleet.stop();
  const summary = await withTimeout(done, 20_000, 'the fleet');
  assert.equal(summary.lost, 0);
  // The one refused write, as the browser reports it; nothing else went wrong.
  const refused = [`HTTP 401: PATCH ${app.httpUrl}/api/v1/registry/devices/${ID}/twin`, 'console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)'];
  assert.deepEqual(problems.filter((p) => !refused.includes(p)), []);
  assert.deepEqual(problems.filter((p) => refused.includes(p)).sort(), [...refused].sort());
});
