import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { EventTimeWindows, FLEET } from '../server/engine/event-time.ts';
import { Aggregate } from '../server/engine/aggregate.ts';
import { packWindows, unpackDeviceWindows, windowBuffers, windowCount, windowObjects, windowResult, windowRowValues, WindowPacker, type PackedWindows } from '../server/engine/window-pack.ts';

/** Across a real message port, the numbers handed over rather than copied. */
function acrossPort(packed: PackedWindows): PackedWindows {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(packed, windowBuffers(packed));
  const received = receiveMessageOnPort(port2)!.message as PackedWindows;
  port1.close();
  assert.ok(packed.chunks.every((c) => c.byteLength === 0), 'transferred, not copied');
  return received;
}

test('window results as the engine packs them cross a message port without a copy and come back the same: nulls, final, anomalies by type; fleet windows whole', () => {
  const w = new EventTimeWindows({ windows: [{ lengthMs: 10, slideMs: 5 }, { lengthMs: 20, slideMs: 20 }], allowedLatenessMs: 0, timeMode: 'event', startedAt: 0 });
  w.add({ deviceId: 'a', ts: 1, temperature: 20.25, humidity: 41, seq: undefined, arrival: 1 });
  w.add({ deviceId: 'a', ts: 3, temperature: -3.5, humidity: undefined, seq: undefined, arrival: 3 });
  w.add({ deviceId: 'b', ts: 12, temperature: 22, humidity: undefined, seq: undefined, arrival: 12 }); // no humidity: nulls
  w.countAnomaly('a', 3, 3, 2);
  w.moveWatermark(12);
  const packed = w.emit(); // as the engine emits them: [0,10) of a final, the rest open
  const windows = windowObjects(packed);
  const devices = windows.filter((r) => r.deviceId !== FLEET);
  assert.ok(devices.some((r) => r.final) && devices.some((r) => !r.final) && devices.some((r) => r.humidityAvg === null));
  assert.ok(devices.some((r) => r.anomaliesByType.dip === 1));

  assert.deepEqual(packWindows(windows), packed, 'objects pack back to the same numbers');
  const received = acrossPort(packed);

  assert.equal(windowCount(received), windows.length);
  assert.deepEqual(unpackDeviceWindows(received), devices);
  assert.deepEqual(received.fleet, windows.filter((r) => r.deviceId === FLEET));
  assert.ok(received.fleet.every((r) => r.sums !== undefined));
  assert.deepEqual(unpackDeviceWindows(packWindows([])), []);
});

test('a batch of more windows than one chunk holds: each window where it belongs, rows as the windows table takes them, the last chunk cut to size', () => {
  const windows = Array.from({ length: 10_000 }, (_, i) => {
    const a = new Aggregate();
    a.add({ deviceId: `d${i}`, ts: i, temperature: 20 + i / 1000, humidity: i % 2 === 0 ? 40 : undefined, seq: undefined, arrival: i });
    if (i === 4097) a.addAnomaly(0);
    return windowResult(`d${i}`, 10_000, 2_000, i * 2_000, i * 2_000 + 10_000, i % 3 === 0, a);
  });
  const packed = packWindows(windows);
  assert.deepEqual(packed.chunks.map((c) => c.length / (packed.chunks[0].length / 4096)), [4096, 4096, 1808]);
  const received = acrossPort(packed);
  assert.deepEqual(unpackDeviceWindows(received), windows);
  assert.deepEqual(received.types, [1, 0, 0, 0, 0, 0, 0], 'counts by type kept aside for the one window that has any');
  const w = windows[4097];
  assert.deepEqual(windowRowValues(received, 4097, 123), [
    'd4097', 10_000, 2_000, w.start, w.end, 1, w.avg, w.min, w.max, 0, w.first, w.last, 0, null, null, null, null, null, null,
    1, '{"threshold":1}', 0, 123,
  ]);
  assert.equal(windowRowValues(received, 4096, 123)[20], '{}', 'a window without anomalies: its anomaly counts stored as {}');
  assert.equal(w.anomaliesByType.threshold, 1);
});

test('a packer fills again the chunks of windows nobody reads any more (committed, not handed over), never those handed over', () => {
  const packer = new WindowPacker();
  const batch = (n: number, t: number): PackedWindows => {
    for (let i = 0; i < n; i++) {
      const a = new Aggregate();
      a.add({ deviceId: `d${i}`, ts: t, temperature: t + i, humidity: undefined, seq: undefined, arrival: t });
      packer.add(`d${i}`, 10_000, 2_000, t, t + 10_000, true, a);
    }
    return packer.take();
  };
  const first = batch(5000, 0);
  const [whole] = first.chunks;
  const firstWindows = unpackDeviceWindows(first);
  packer.recycle(first);
  const second = batch(5000, 1);
  assert.ok(second.chunks.includes(whole), 'the first batch\'s whole chunk is filled again');
  assert.deepEqual(unpackDeviceWindows(second).map((w) => w.avg), Array.from({ length: 5000 }, (_, i) => 1 + i));
  assert.deepEqual(firstWindows.map((w) => w.avg), Array.from({ length: 5000 }, (_, i) => i), 'read before it was recycled');
  const sent = acrossPort(second);
  packer.recycle(second); // handed over: nothing of it is kept
  const third = batch(5000, 2);
  assert.ok(!third.chunks.some((c) => second.chunks.includes(c)));
  assert.deepEqual(unpackDeviceWindows(sent).map((w) => w.avg), Array.from({ length: 5000 }, (_, i) => 1 + i), 'what was handed over is intact');
});

test('the average of readings lies between their min and max, though their sum rounds (50 × 999.9, 50 × 0.1 + 0.2)', () => {
  for (const [t, h] of [[999.9, 99.99], [0.1 + 0.2, 33.3]]) {
    const a = new Aggregate();
    for (let i = 0; i < 50; i++) a.add({ deviceId: 'd', ts: i, temperature: t, humidity: h, seq: undefined, arrival: i });
    assert.notEqual(a.sum / a.count, t, 'the plain mean is off by its rounding');
    const w = windowResult('d', 10_000, 2_000, 0, 10_000, true, a);
    assert.deepEqual([w.avg, w.min, w.max, w.stddev, w.humidityAvg], [t, t, t, 0, h]);
  }
});
