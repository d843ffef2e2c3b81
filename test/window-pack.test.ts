import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { EventTimeWindows, FLEET } from '../server/engine/event-time.ts';
import { packWindows, unpackDeviceWindows, windowCount, windowObjects } from '../server/engine/window-pack.ts';

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

  assert.deepEqual(packWindows(windows), { ...packed, numbers: packed.numbers.slice() }, 'objects pack back to the same numbers');
  // Across a real message port, the numbers handed over rather than copied.
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(packed, [packed.numbers.buffer as ArrayBuffer]);
  const received = receiveMessageOnPort(port2)!.message as typeof packed;
  port1.close();
  assert.equal(packed.numbers.byteLength, 0, 'transferred, not copied');

  assert.equal(windowCount(received), windows.length);
  assert.deepEqual(unpackDeviceWindows(received), devices);
  assert.deepEqual(received.fleet, windows.filter((r) => r.deviceId === FLEET));
  assert.ok(received.fleet.every((r) => r.sums !== undefined));
  assert.deepEqual(unpackDeviceWindows(packWindows([])), []);
});
