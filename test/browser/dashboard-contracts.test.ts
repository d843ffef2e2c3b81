import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { DASHBOARD_DIST } from '../../server/api/static.ts';
import { waitFor } from '../helpers.ts';
import { launchChromium } from './chromium.ts';
import { ensureDashboardBuilt, watchPage } from './dashboard-helpers.ts';

/**
 * The dashboard against the routes other parts are adding, as their issues specify them: the SSE stream with
 * `Last-Event-ID` (7/9), anomalies with score, value, expected and intervals (6/9), the device twin with a desired
 * setpoint (5/9). Until they are merged, a small stand-in server speaks exactly those contracts; once they are, this
 * test should move onto the real server (test/browser/dashboard.test.ts) and the stand-in go.
 */
function standIn() {
  const now = Date.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const spec = { lengthMs: 10_000, slideMs: 2000 };
  const windows = Array.from({ length: 150 }, (_, i) => {
    const start = now - 300_000 + i * 2000;
    const avg = 21 + Math.sin(i / 10) * 0.5;
    return { deviceId: 'kitchen', start: iso(start), end: iso(start + 10_000), ...spec, count: 10, avg, min: avg - 0.3, max: avg + 0.3, anomalies: 0, final: true };
  });
  const anomalies = [
    { deviceId: 'kitchen', type: 'spike', score: 4.2, ts: iso(now - 60_000), value: 27.5, expected: 21, threshold: 3.5, start: null, end: null },
    { deviceId: 'kitchen', type: 'stuck', score: 1, ts: iso(now - 200_000), value: 21.2, expected: null, threshold: 0.01, start: iso(now - 200_000), end: iso(now - 140_000) },
  ];
  const twin = { desired: { $version: 1 } as Record<string, unknown>, reported: { firmware: '1.4.2', setpoint: 21, $version: 3 } as Record<string, unknown> };
  const patches: unknown[] = [];
  const lastEventIds: (string | undefined)[] = [];
  const streams = new Set<ServerResponse>();
  let batch = 0;
  const routes = ['GET /api/v1/stats', 'GET /api/v1/devices', 'GET /api/v1/devices/:id', 'GET /api/v1/readings', 'GET /api/v1/windows', 'GET /api/v1/anomalies', 'GET /api/v1/stream', 'GET /api/v1/registry/devices/:id/twin', 'PATCH /api/v1/registry/devices/:id/twin'];
  const stats = () => ({
    batchIntervalMs: 300, windows: [spec], batches: batch, records: batch * 5, inputRate: 16.7, watermark: iso(Date.now() - 10_000), backlog: 0, heldAcks: 0, accepted: batch * 5, late: 0, duplicates: 0, rejected: { total: 0, byReason: {} },
    lastBatch: { batch, batchTime: iso(Date.now()), windowsUpdated: 3, logOffset: batch * 5, records: 5, late: 0, duplicates: 0, rejected: 0, schedulingDelayMs: 1, processingMs: 3, totalDelayMs: 4, watermark: iso(Date.now() - 10_000) },
  });
  const json = (res: ServerResponse, body: unknown, status = 200) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    if (p === '/api/v1') return json(res, { routes: routes.map((r) => ({ method: r.split(' ')[0], url: r.split(' ')[1] })) });
    if (p === '/api/v1/stats') return json(res, stats());
    const kitchen = { deviceId: 'kitchen', firstSeen: iso(now - 300_000), lastSeen: iso(Date.now()), readings: 1500, lastTemperature: 21.3, online: true };
    if (p === '/api/v1/devices') return json(res, { items: [kitchen], next: null });
    if (p === '/api/v1/devices/kitchen') return json(res, { ...kitchen, rejected: { total: 0, byReason: {} }, windows: [windows[windows.length - 1]], openAnomalies: [] });
    if (p === '/api/v1/readings') {
      const items = Array.from({ length: 120 }, (_, i) => ({ ts: iso(now - 120_000 + i * 1000), temperature: 21 + Math.sin(i / 20) * 0.5 + ((i * 7) % 5) * 0.04, humidity: null, count: 1, min: null, max: null, source: 'raw' }));
      return json(res, { deviceId: 'kitchen', from: iso(now - 300_000), to: iso(now), rawFrom: iso(now - 120_000), window: spec, items });
    }
    if (p === '/api/v1/windows') return json(res, { items: windows.filter((w) => Date.parse(w.start) >= Number(url.searchParams.get('from') ?? 0)) });
    if (p === '/api/v1/anomalies') return json(res, { items: anomalies, next: null });
    if (p === '/api/v1/registry/devices/kitchen/twin' && req.method === 'GET') return json(res, { deviceId: 'kitchen', properties: twin });
    if (p === '/api/v1/registry/devices/kitchen/twin' && req.method === 'PATCH') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const patch = JSON.parse(body);
        patches.push(patch);
        Object.assign(twin.desired, patch.properties.desired);
        setTimeout(() => Object.assign(twin.reported, { setpoint: twin.desired.setpoint }), 1500); // the device acknowledges
        json(res, { deviceId: 'kitchen', properties: twin });
      });
      return;
    }
    if (p === '/api/v1/stream') {
      lastEventIds.push((req.headers['last-event-id'] as string | undefined) ?? url.searchParams.get('lastEventId') ?? undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('retry: 300\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return;
    }
    const file = p === '/' ? 'index.html' : p.slice(1);
    if (!/^[a-z]+\.(html|js|css|svg)$/.test(file)) return json(res, { error: 'not found' }, 404);
    const type = { html: 'text/html', js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml' }[file.split('.')[1]]!;
    res.writeHead(200, { 'content-type': type }).end(readFileSync(DASHBOARD_DIST + file));
  });
  const timer = setInterval(() => {
    batch++;
    // 7/9's batch event (server/api/sse-hub.ts): no delays in it; the page takes those from /api/v1/stats.
    const event = { batch, committedAt: iso(Date.now()), records: 5, late: 0, duplicates: 0, rejected: 0, windowsUpdated: 3, watermark: iso(Date.now() - 10_000), logOffset: batch * 5 };
    for (const s of streams) s.write(`id: ${batch}\nevent: batch\ndata: ${JSON.stringify(event)}\n\n`);
  }, 300);
  return {
    server,
    patches,
    lastEventIds,
    get batch() {
      return batch;
    },
    dropStreams: () => {
      for (const s of streams) s.end(); // the server closes the stream, as at a restart
    },
    close: () => {
      clearInterval(timer);
      for (const s of streams) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('against the contracts of 5/9, 6/9 and 7/9: live over SSE with Last-Event-ID resume, anomaly markers with tooltips, the twin setpoint acknowledged', async (t) => {
  await ensureDashboardBuilt();
  const api = standIn();
  await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', r));
  t.after(() => api.close());
  const base = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = watchPage(page);

  // Overview: the stream is used (badge "live"), anomaly counts by type per device and for the fleet.
  await page.goto(`${base}/`);
  await waitFor('the stream', async () => (await page.locator('#link').innerText()) === 'live');
  await page.waitForSelector('#open-anomalies:not([hidden])');
  assert.equal(await page.locator('#open-anomalies .chips').innerText(), 'spike: 1 in the last hour\nstuck: 1 in the last hour');
  assert.deepEqual(await page.locator('#devices tbody tr[data-device="kitchen"] td.anoms .chip').allInnerTexts(), ['spike 1', 'stuck 1']);

  // The stream drops: the browser reconnects by itself, sending the last event id it saw.
  const seen = api.batch;
  api.dropStreams();
  await waitFor('a resumed stream', () => api.lastEventIds.length >= 2);
  const resumedFrom = Number(api.lastEventIds[1]);
  assert.ok(resumedFrom >= seen && resumedFrom <= api.batch, `resumed from ${resumedFrom}, ${seen} sent before the drop`);
  assert.equal(api.lastEventIds[0], undefined);
  await waitFor('live again', async () => (await page.locator('#link').innerText()) === 'live');

  // Device view: raw readings as dots, a spike marker whose tooltip explains it; the stuck interval shaded and keyed.
  await page.goto(`${base}/#/devices/kitchen`);
  await page.waitForFunction(() => (window as any).Chart.getChart('device-chart')?.data.datasets.find((d: { label: string }) => d.label === 'readings')?.data.length === 120);
  await page.waitForFunction(() => (window as any).Chart.getChart('device-chart')?.data.datasets.some((d: { label: string }) => d.label === 'spike'));
  assert.equal(await page.locator('#anomaly-legend').innerText(), 'stuck (shaded span)');
  const marker = await page.evaluate(() => {
    const chart = (window as any).Chart.getChart('device-chart');
    const i = chart.data.datasets.findIndex((d: { label: string }) => d.label === 'spike');
    const el = chart.getDatasetMeta(i).data[0];
    return { x: el.x, y: el.y };
  });
  const box = (await page.locator('#device-chart').boundingBox())!;
  await page.mouse.move(box.x + marker.x, box.y + marker.y);
  const tooltip = await page.waitForFunction(() => {
    const tip = (window as any).Chart.getChart('device-chart').tooltip;
    const item = tip?.body?.find((b: { lines: string[] }) => b.lines.some((l) => l.startsWith('spike')));
    return item ? [...item.lines, ...item.after].join('\n') : null;
  });
  assert.equal(await tooltip.jsonValue(), 'spike: 27.50\nscore 4.20\nvalue 27.5 °C\nexpected 21.0 °C\nthreshold 3.5');

  // Twin: reported properties, a desired setpoint sent as IoT Hub's twin patch, then acknowledged.
  await page.waitForSelector('#twin:not([hidden])');
  assert.equal(await page.locator('#twin table').innerText(), 'Reported by the device\nfirmware\t1.4.2\nsetpoint\t21');
  await page.locator('#setpoint').fill('23.5');
  await page.locator('#twin button[type="submit"]').click();
  await waitFor('pending', async () => (await page.locator('#setpoint-ack').getAttribute('data-state')) === 'pending');
  assert.equal(await page.locator('#setpoint-ack').innerText(), 'Waiting for the device to report 23.5 °C (it reports 21 °C)…');
  assert.deepEqual(api.patches, [{ properties: { desired: { setpoint: 23.5 } } }]);
  await waitFor('acknowledged', async () => (await page.locator('#setpoint-ack').getAttribute('data-state')) === 'acknowledged', 10_000);
  assert.equal(await page.locator('#setpoint-ack').innerText(), '✓ Acknowledged by the device: 23.5 °C');
  if (process.env.DASHBOARD_SCREENSHOTS) {
    const at = await page.evaluate(() => {
      const chart = (window as any).Chart.getChart('device-chart');
      const el = chart.getDatasetMeta(chart.data.datasets.findIndex((d: { label: string }) => d.label === 'spike')).data[0];
      return { x: el.x, y: el.y };
    });
    await page.mouse.move(box.x + at.x, box.y + at.y); // the spike's tooltip in the picture
    await page.screenshot({ path: `${process.env.DASHBOARD_SCREENSHOTS}/device-anomalies-twin-laptop-light.png`, fullPage: true });
  }

  // Engine view fed by stream events.
  await page.locator('nav a', { hasText: 'Engine' }).click();
  await page.waitForFunction(() => (window as any).Chart.getChart('rate-chart')?.data.datasets[0].data.length > 3);
  assert.deepEqual(problems, []);
});
