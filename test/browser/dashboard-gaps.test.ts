import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startServer, waitFor, waitForRecords } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, temperatureAt, watchPage } from './dashboard-helpers.ts';

/**
 * A device silent for 30 s (unplugged, or the server down): no window holds readings of the silence, and the chart
 * must show a gap there. It drew the average and the min/max band straight across it, as if readings had been
 * taken all along.
 */
test('a silence in the readings is a gap in the chart, not a line drawn across it', { timeout: 60_000 }, async (t) => {
  await ensureDashboardBuilt();
  const app = await startServer(t, { batchIntervalMs: 200 });
  const client = await connect(t, app.mqttUrl);
  // 90 s of readings, one a second, but none from 60 s to 30 s ago.
  const now = Date.now();
  const readings = [];
  for (let ts = now - 90_000; ts <= now; ts += 1000) if (ts < now - 60_000 || ts >= now - 30_000) readings.push({ ts, temperature: temperatureAt(0, ts) });
  await client.publishAsync('devices/hall/telemetry', JSON.stringify(readings), { qos: 1 });
  await waitForRecords(app, readings.length);

  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = watchPage(page);
  await page.goto(`${app.httpUrl}/#/devices/hall?range=5m&window=10000/2000`);
  await page.waitForFunction(() => (window as any).Chart.getChart('device-chart')?.data.datasets[2].data.length > 20, undefined, { timeout: 10_000 });

  // The windows on either side of the silence: the last one holding a reading before it, the first one after it.
  const silence = { from: now - 60_000, to: now - 30_000 };
  const seen = await page.evaluate(([from, to]) => {
    const chart = (window as any).Chart.getChart('device-chart');
    const [, max, avg] = chart.data.datasets;
    const n = avg.data.length;
    const hidden: number[] = [];
    for (let i = 1; i < n; i++) {
      const ctx = { type: 'segment', p0DataIndex: i - 1, p1DataIndex: i, datasetIndex: 2 };
      if (avg.segment?.borderColor?.(ctx) === 'transparent' && max.segment?.backgroundColor?.({ ...ctx, datasetIndex: 1 }) === 'transparent') hidden.push(i);
    }
    // The pixels of the average's colour in the column at the middle of the silence.
    const x = Math.round(chart.scales.x.getPixelForValue((from + to) / 2) * devicePixelRatio);
    const { top, bottom } = chart.chartArea;
    const img = chart.ctx.getImageData(x, Math.round(top * devicePixelRatio), 1, Math.round((bottom - top) * devicePixelRatio)).data;
    let blue = 0;
    for (let i = 0; i < img.length; i += 4) if (Math.abs(img[i] - 47) < 40 && Math.abs(img[i + 1] - 111) < 40 && Math.abs(img[i + 2] - 222) < 40 && img[i + 3] > 200) blue++;
    return { hidden: hidden.map((i) => [avg.data[i - 1].x, avg.data[i].x]), blue };
  }, [silence.from, silence.to]);
  // Windows of 10 s every 2 s, drawn at their middle: the last one holding the reading just before the silence has
  // its middle 5 s or less after it; the first one after it, 5 s or less before the first reading after it.
  assert.equal(seen.hidden.length, 1, JSON.stringify(seen));
  const [before, after] = seen.hidden[0];
  assert.ok(before >= silence.from - 5000 && before <= silence.from + 5000, `${new Date(before).toISOString()} ends the line before the silence`);
  assert.ok(after >= silence.to - 5000 && after <= silence.to + 5000, `${new Date(after).toISOString()} starts it again after`);
  assert.equal(seen.blue, 0, 'no line drawn in the middle of the silence');
  await waitFor('no error', () => problems.length === 0);
});
