import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, getJson, startServer, waitForRecords } from './helpers.ts';
import type { Thermostream } from '../server/main.ts';

// Event times after every server starts (raw readings are served only for the time since the server started,
// earlier ones from windows; the four runs take less than a minute), within the allowed clock skew (5 min): the readings
// span the minute after T0, two to three minutes from now.
const T0 = Math.ceil(Date.now() / 60_000) * 60_000 + 120_000;
const DEVICES = 6;
const PER_DEVICE = 40;

/**
 * Everything a user reads back, after the same readings: windows of every shape (device and fleet), devices,
 * anomalies, raw recent readings and the stats' counts.
 */
async function results(app: Thermostream): Promise<unknown> {
  const api = `${app.httpUrl}/api/v1`;
  const read = async (path: string) => {
    const { status, body } = await getJson(`${api}${path}`);
    assert.equal(status, 200, `${path}: ${JSON.stringify(body)}`);
    return body;
  };
  const out: Record<string, unknown> = {};
  for (const d of ['*', ...Array.from({ length: DEVICES }, (_, i) => `t-${i}`)]) {
    for (const [length, slide] of [['10s', '2s'], ['1m', '10s'], ['5m', '1m']]) {
      out[`windows ${d} ${length}`] = (await read(`/windows?deviceId=${encodeURIComponent(d)}&length=${length}&slide=${slide}&from=${T0 - 600_000}&limit=1000`)).items;
    }
    if (d !== '*') out[`readings ${d}`] = (await read(`/readings?deviceId=${d}&from=${T0 - 60_000}&to=${T0 + 600_000}`)).items;
  }
  out.devices = (await read('/devices')).items.map(({ deviceId, readings, lastTemperature }: any) => ({ deviceId, readings, lastTemperature }));
  out.anomalies = (await read(`/anomalies?from=${T0 - 600_000}&limit=1000`)).items;
  const stats = await read('/stats');
  out.counts = { records: stats.records, duplicates: stats.duplicates, late: stats.late, rejected: stats.rejected.total };
  return out;
}

/** The most blocks any batch was seen to have (lastBatch.blocks), sampled until stop() is called. */
function sampleBlocks(app: Thermostream): { stop: () => Promise<number> } {
  let most = 0;
  let running = true;
  const done = (async () => {
    for (let i = 0; running && i < 600; i++) {
      const { body } = await getJson(`${app.httpUrl}/api/v1/stats`);
      most = Math.max(most, body.lastBatch?.blocks ?? 0);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  return { stop: async () => ((running = false), await done, most) };
}

test('the batch thread and the main thread, with blocks or without, give the same results for the same readings', async (t) => {
  const settings = [
    // Blocks every 5 ms of 1 s batches: a batch's readings come to it in many blocks before its time.
    { batchThread: 'worker', blockIntervalMs: 5, batchIntervalMs: 1000 },
    { batchThread: 'main', blockIntervalMs: 0 },
    { batchThread: 'main', blockIntervalMs: 5, batchIntervalMs: 1000 },
    { batchThread: 'worker', blockIntervalMs: 0 },
  ] as const;
  // The four servers run side by side (own ports and data dirs): each mostly waits, for its pauses and its batches.
  const runs = await Promise.all(settings.map(async (setting) => {
    // A long lateness keeps every window open, and "batch" refresh writes each changed one every batch, so the
    // results do not depend on how the readings fall into batches.
    const app = await startServer(t, { ...setting, allowedLatenessMs: 3_600_000, openWindowRefresh: 'batch' });
    const client = await connect(t, app.mqttUrl);
    const sampler = sampleBlocks(app);
    let n = 0;
    for (let i = 0; i < PER_DEVICE; i++) {
      for (let d = 0; d < DEVICES; d++) {
        // A spike at reading 30 of device 0, and device 1 resending its reading 10 (a duplicate).
        const temperature = d === 0 && i === 30 ? 60 : 20 + d + Math.sin(i / 5);
        const reading = { ts: T0 + i * 1500 + d * 7, temperature, humidity: 40 + (i % 5), seq: i + 1 };
        await client.publishAsync(`devices/t-${d}/telemetry`, JSON.stringify(reading), { qos: 1 });
        n++;
        if (d === 1 && i === 10) await client.publishAsync(`devices/t-${d}/telemetry`, JSON.stringify(reading), { qos: 1 });
      }
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 300)); // spread over more than one batch
    }
    await client.publishAsync('devices/t-0/telemetry', '{"temperature": "warm"}', { qos: 1 }); // a dead letter
    await waitForRecords(app, n);
    const blocks = await sampler.stop();
    const seen = (await results(app)) as Record<string, any>;
    await client.endAsync();
    await app.close();
    return { blocks, seen };
  }));
  const blocks = runs.map((r) => r.blocks);
  const seen = runs.map((r) => r.seen);
  const [worker] = seen;
  assert.deepEqual(worker.counts, { records: DEVICES * PER_DEVICE, duplicates: 1, late: 0, rejected: 1 });
  assert.equal(worker['readings t-3'].filter((p: any) => p.source === 'raw').length, PER_DEVICE, 'raw recent readings are kept by the batch thread');
  assert.ok(worker.anomalies.length > 0, 'the spike is an anomaly');
  assert.ok(blocks[0] > 1 && blocks[2] > 1, `batches got their readings in blocks before their time (most blocks seen: ${blocks})`);
  assert.deepEqual([blocks[1], blocks[3]], [0, 0], 'no blocks with blockIntervalMs 0');
  for (let i = 1; i < seen.length; i++) assert.deepEqual(seen[i], worker, `${JSON.stringify(settings[i])} gives what ${JSON.stringify(settings[0])} gives`);
});
