/**
 * The batch side decodes a cut in chunks whose reading objects are filled again for the next chunk
 * (decodeCutInChunks): the telemetry job must keep none of them past add(). Late readings are the ones it keeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { TelemetryJob } from '../server/engine/telemetry.ts';
import { BlockWriter, decodeCutInChunks } from '../server/ingest/log-format.ts';
import type { Reading } from '../server/ingest/reading.ts';

const T0 = Date.UTC(2026, 11, 6);

test('late readings of a cut decoded in chunks come out as they were logged, not as the objects were filled later', () => {
  const config = resolveConfig({ windows: [{ lengthMs: 10_000, slideMs: 10_000 }], allowedLatenessMs: 0 });
  const job = new TelemetryJob(config, T0, null);
  // Batch 1 moves the watermark to T0 + 60 s.
  const first = job.begin();
  job.add(first, [{ deviceId: 'a', ts: T0 + 60_000, temperature: 20, humidity: undefined, seq: 1, arrival: T0 + 60_000 }]);
  job.finish(first, [], 1, T0 + 60_000);

  // Batch 2: late readings (before the watermark) between on-time ones, decoded two at a time.
  const logged: Reading[] = [];
  const w = new BlockWriter();
  for (let i = 0; i < 9; i++) {
    const late = i % 3 === 1;
    const r: Reading = { deviceId: `d${i % 4}`, ts: T0 + (late ? 1000 * i : 61_000 + i), temperature: 20 + i, humidity: late ? 30 + i : undefined, seq: 2 + i, arrival: T0 + 61_000 + i };
    if (i === 4) r.messageId = `m${i}`;
    w.reading(r);
    logged.push(r);
  }
  const second = job.begin();
  decodeCutInChunks({ buffers: [w.finish()], firstOffset: 2, after: 1, lastOffset: 10 }, 2, (readings) => job.add(second, readings));
  const out = job.finish(second, [], 10, T0 + 61_000);
  assert.deepEqual(
    out.late.map((r) => [r.deviceId, r.ts, r.temperature, r.humidity, r.seq, r.messageId]),
    logged.filter((_, i) => i % 3 === 1).map((r) => [r.deviceId, r.ts, r.temperature, r.humidity, r.seq, r.messageId]),
  );
  assert.equal(out.records, 9);
});
