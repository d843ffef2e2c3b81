import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { startThermostream } from '../server/main.ts';
import { connect, getJson, tempDir, waitFor } from './helpers.ts';

/**
 * The watermark follows the clock only when no input has arrived for the allowed lateness. Input has arrived when
 * the log accepted it: a server whose batches are slow (here each takes 2.5 s, with an allowed lateness of 1 s) is
 * behind, not idle, and the readings that waited in its log are not late.
 */
test('an engine behind its input is not idle: readings accepted while a batch was slow are not late, and the log says it is behind', { timeout: 60_000 }, async (t) => {
  const logged: string[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => {
    logged.push(args.join(' '));
    error(...args);
  };
  t.after(() => (console.error = error));
  const config = resolveConfig({ host: '127.0.0.1', http: { port: 0 }, mqtt: { port: 0, tlsPort: -1 }, dataDir: tempDir(t), batchIntervalMs: 100, allowedLatenessMs: 1000 });
  const app = await startThermostream(config, { faults: 'slow-batch:2500' });
  t.after(() => app.close());
  const client = await connect(t, app.mqttUrl);
  const sent = 30; // 9 s of input: at least three slow batches that take readings, for the warning
  for (let i = 0; i < sent; i++) {
    await client.publishAsync('devices/slow/telemetry', JSON.stringify({ ts: Date.now(), temperature: 20 + i / 10 }), { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
  }
  const stats = await waitFor(`${sent} readings processed`, async () => {
    const { body } = await getJson(`${app.httpUrl}/api/v1/stats`);
    return body.records >= sent ? body : null;
  }, 30_000);
  assert.equal(stats.late, 0, `late readings: ${stats.late} of ${sent}`);
  const behind = logged.filter((l) => l.startsWith('thermostream engine: behind its input: batch '));
  assert.equal(behind.length, 1, `one warning within a minute:\n${logged.join('\n')}`);
  assert.match(behind[0], /took [\d,]+ ms \(job \d+ ms, commit [\d,]+ ms\) for \d+ readings, more than the 100 ms batch interval, 3 batches in a row; \d+ readings wait in the ingest log/);
});
