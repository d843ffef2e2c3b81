import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Thermostream } from '../../server/main.ts';
import { connect, getJson, waitFor } from '../helpers.ts';
import { chartPoints, restartableHall, SERVER_AWAY } from './dashboard-helpers.ts';

test('after the server restarts on the same port, the page says it is disconnected, then reconnects by itself', async (t) => {
  const hall = await restartableHall(t);
  const { start, port, first, page, problems } = hall;
  let app: Thermostream = hall.app;
  t.after(() => app.close());
  await page.goto(`${app.httpUrl}/#/devices/hall`);
  const badge = page.locator('#link');
  const live = async () => /^live( \(polling\))?$/.test(await badge.innerText()); // "live" over the SSE stream (7/9)
  await waitFor('the page to be live', live);
  // Every request for the event stream, with the id it resumes from (the browser's Last-Event-ID header, or the
  // lastEventId query of a stream the page opened again).
  const streams: (string | null)[] = [];
  page.on('request', async (r) => {
    if (!r.url().includes('/api/v1/stream')) return;
    const i = streams.push(null) - 1;
    streams[i] = (await r.allHeaders())['last-event-id'] ?? new URL(r.url()).searchParams.get('lastEventId') ?? '';
  });
  // A reading on the page: its batch's event was the last the page saw before the server went away.
  await first.publishAsync('devices/hall/telemetry', JSON.stringify({ ts: Date.now(), temperature: 27.75 }), { qos: 1 });
  await waitFor('the reading on the page', async () => /27\.8 °C/.test(await page.locator('.tile').first().innerText()));
  const seen = (await getJson(`${app.httpUrl}/api/v1/stats`)).body.batches;
  assert.deepEqual(problems, []);

  await first.endAsync();
  await app.close(); // may commit one more batch (the engine finishes what is durable)
  const closedAt = Date.now();
  await waitFor('the page to notice', async () => (await badge.innerText()) === 'disconnected, reconnecting…');
  assert.equal(await badge.getAttribute('data-state'), 'reconnecting');
  // Away longer than the engine charts draw a line across (three times the dashboard's 2-s refresh at 100-ms batches).
  await new Promise((r) => setTimeout(r, Math.max(0, closedAt + 6_500 - Date.now())));

  app = await start(port);
  await waitFor('the page to reconnect', live, 15_000);
  // It resumed the stream where it left off: from the last batch it saw (batch numbers continue across restarts).
  const resumed = await waitFor('a stream request after the restart', () => streams.find((id) => id !== null && id !== ''));
  // Batch numbers continue across the restart: the restarted server's count bounds what the page can have seen.
  const batchesNow = (await getJson(`${app.httpUrl}/api/v1/stats`)).body.batches;
  assert.ok(Number(resumed) >= seen && Number(resumed) <= batchesNow, `resumed from ${resumed}: saw batch ${seen}, ${batchesNow} now`);
  t.diagnostic(`stream resumed from batch ${resumed} (saw ${seen}, ${batchesNow} committed now)`);
  assert.match(page.url(), /#\/devices\/hall/, 'the page kept its place');
  // Data flows again, from the restarted server: a new reading reaches the device view without a reload.
  const second = await connect(t, app.mqttUrl);
  await second.publishAsync('devices/hall/telemetry', JSON.stringify({ ts: Date.now(), temperature: 30.25 }), { qos: 1 });
  await waitFor('the new reading on the page', async () => /30\.3 °C/.test(await page.locator('.tile').first().innerText()), 10_000);
  // The engine's charts leave the time the server was away as a gap: the first batch after it starts a new line.
  await page.evaluate(() => (location.hash = '#/engine'));
  const afterGap = await waitFor('a gap in the processing-time line', async () => {
    const points = (await chartPoints(page, 'delay-chart', 'processing time')) as { x: number; gap?: boolean }[];
    const i = points.findIndex((p) => p.gap === true);
    return i > 0 ? { before: points[i - 1].x, after: points[i].x, gaps: points.filter((p) => p.gap).length } : null;
  });
  assert.ok(afterGap.before <= closedAt && afterGap.after > closedAt + 6_000, JSON.stringify({ ...afterGap, closedAt }));
  assert.equal(afterGap.gaps, 1, 'one gap: the downtime');
  // What went wrong while the server was away were connection failures, nothing else (no script error).
  assert.deepEqual(problems.filter((p) => !SERVER_AWAY.test(p)), []);
});
