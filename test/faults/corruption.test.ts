import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { BLOCK_HEADER } from '../../server/ingest/log-format.ts';
import { getJson, tempDir, waitFor } from '../helpers.ts';
import { ServerProcess } from '../server-process.ts';

const T0 = Date.parse('2026-11-20T00:00:00Z');
const CONFIG = { batchIntervalMs: 100, allowedLatenessMs: 3_600_000, ingest: { segmentBytes: 4096 } };

/** Publishes readings 1…n of one device at QoS 1, one group commit each. */
async function publish(url: string, n: number): Promise<void> {
  const client = await mqtt.connectAsync(url);
  for (let seq = 1; seq <= n; seq++) {
    await client.publishAsync('devices/solo/telemetry', JSON.stringify({ ts: T0 + seq * 100, temperature: 20, seq }), { qos: 1 });
  }
  await client.endAsync();
}

test('a flipped byte in a log block that is not the tail: a refusal naming the file and byte (exit 3), then --repair keeps the rest', { timeout: 90_000 }, async (t) => {
  const dataDir = tempDir(t);
  const server = await ServerProcess.create(dataDir, CONFIG);
  t.after(() => server.kill());
  // The engine never gets to commit: everything published stays after the checkpoint, to be replayed.
  await server.start({ THERMOSTREAM_FAULT: 'slow-batch:600000' });
  await publish(server.mqttUrl, 200);
  await server.kill('SIGKILL');

  const logDir = join(dataDir, 'log');
  const segments = readdirSync(logDir).sort();
  assert.ok(segments.length >= 3, `${segments.length} segments`);
  const damaged = join(logDir, segments[1]);
  const bytes = readFileSync(damaged);
  const second = BLOCK_HEADER + bytes.readUInt32LE(4); // the segment's second block
  bytes[second + BLOCK_HEADER + 10] ^= 0x55;
  writeFileSync(damaged, bytes);

  await assert.rejects(server.start({}), /exited with 3/);
  const firstOffset = Number(segments[1].slice(0, 20));
  assert.match(
    server.output,
    new RegExp(
      `thermostream: the ingest log segment ${damaged} is damaged at byte ${second} of ${bytes.length}: the block holding the records ` +
        `from offset ${firstOffset + 1} fails its CRC check, and intact blocks follow at byte \\d+, so this is corruption .*` +
        'Nothing was changed and nothing was skipped\\. Restore the data directory from a backup, or start once with --repair .* \\[TS_ERR_LOG_CORRUPT\\]',
    ),
  );
  assert.equal(statSync(damaged).size, bytes.length, 'the refusal changed nothing');

  server.output = '';
  await server.startWith(['--repair'], {});
  assert.match(server.output, new RegExp(`thermostream: repaired ${damaged}: dropped bytes ${second}…\\d+ \\(\\d+ bytes\\) holding 1 record\\(s\\), offsets ${firstOffset + 1}…${firstOffset + 1}`));
  assert.match(server.output, /thermostream: --repair: 1 log repair\(s\)/);
  await waitFor('the kept readings processed', async () => (await getJson(`${server.httpUrl}/api/v1/stats`)).body.records === 199);
  const devices = (await getJson(`${server.httpUrl}/api/v1/devices`)).body.items;
  assert.equal(devices[0].readings, 199, 'every intact record kept, the damaged one dropped');
  assert.equal(await server.kill('SIGTERM'), 0);
});

test('a truncated SQLite file: a refusal naming the file and what to do (exit 3), every start, never a silent fresh start', { timeout: 60_000 }, async (t) => {
  const dataDir = tempDir(t);
  const server = await ServerProcess.create(dataDir, CONFIG);
  t.after(() => server.kill());
  await server.start();
  await publish(server.mqttUrl, 300);
  await waitFor('processed', async () => (await getJson(`${server.httpUrl}/api/v1/stats`)).body.records === 300);
  assert.equal(await server.kill('SIGTERM'), 0);
  const file = join(dataDir, 'thermostream.db');
  truncateSync(file, Math.floor(statSync(file).size / 2));

  for (let attempt = 0; attempt < 2; attempt++) {
    server.output = '';
    await assert.rejects(server.start(), /exited with 3/);
    assert.match(
      server.output,
      new RegExp(
        `thermostream: the database ${file} is damaged \\(.+\\)\\. Nothing was changed\\. Stop the server and restore the data directory ` +
          `from a backup .*sqlite3 ${file}\\.damaged \\.recover .* \\[TS_ERR_DB_CORRUPT\\]`,
      ),
    );
  }
});
