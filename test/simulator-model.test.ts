import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSource, deviceIds, type Reading, type TruthRecord } from '../simulator/index.ts';
import type { AnomalyEvent, AnomalyType } from '../simulator/anomalies.ts';
import { createRandom } from '../simulator/random.ts';

const START = Date.parse('2026-11-24T00:00:00Z');

interface Slot {
  reading: Reading | undefined;
  deviceId: string;
  ts: number;
  /** The model's clean (pre-anomaly) sensor value and heater state. */
  clean: number;
  room: number;
  heating: boolean;
}

/** Runs the pure source: `devices` devices, one reading per device every `everySec` simulated seconds, for `hours`. */
function simulate(o: { devices: number; everySec: number; hours: number; seed?: number; anomalyRate?: number; events?: AnomalyEvent[]; types?: AnomalyType[] }) {
  const ids = deviceIds('thermostat-', o.devices);
  const truth: TruthRecord[] = [];
  // rate 1 reading/s wall and speedup = everySec / devices simulated s per wall s.
  const source = createSource({
    seed: o.seed ?? 7,
    deviceIds: ids,
    rate: 1,
    speedup: o.everySec / o.devices,
    startMs: START,
    anomalyRate: o.anomalyRate ?? 0,
    anomalyTypes: o.types ?? ['spike', 'dip', 'stuck', 'drift', 'dropout'],
    events: o.events ?? [],
    onTruth: (r) => truth.push(r),
  });
  const slots: Slot[] = [];
  const total = Math.round((o.hours * 3600 * o.devices) / o.everySec);
  for (let n = 0; n < total; n++) {
    const ts = source.simTimeMs(n);
    const reading = source.next();
    const sample = source.lastSample;
    assert.ok(sample);
    slots.push({ reading, deviceId: ids[n % ids.length] as string, ts, clean: sample.temperature, room: sample.room, heating: sample.heating });
  }
  source.finish();
  return { ids, slots, truth, anomalies: source.anomalies };
}

test('the PRNG is deterministic and uniform enough', () => {
  const a = createRandom(123);
  const b = createRandom(123);
  const xs = Array.from({ length: 10_000 }, () => a.next());
  assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b.next()));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

test('without anomalies, a day of readings stays plausible, quantised, with seq from 1 and no gaps', () => {
  const { ids, slots, truth } = simulate({ devices: 6, everySec: 30, hours: 24 });
  assert.equal(truth.length, 0);
  const seqs = new Map<string, number>();
  for (const s of slots) {
    const r = s.reading;
    assert.ok(r, 'no reading is skipped without anomalies');
    assert.ok(r.temperature >= 10 && r.temperature <= 30, `temperature ${r.temperature}`);
    assert.ok(r.humidity >= 5 && r.humidity <= 95, `humidity ${r.humidity}`);
    // Quantised to 0.1 °C / 0.1 %RH, printed without binary residue.
    assert.match(String(r.temperature), /^-?\d+(\.\d)?$/);
    assert.match(String(r.humidity), /^\d+(\.\d)?$/);
    assert.equal(r.seq, (seqs.get(r.deviceId) ?? 0) + 1);
    seqs.set(r.deviceId, r.seq);
  }
  assert.equal(seqs.size, ids.length);
  // Devices differ: their mean temperatures are not all the same.
  const means = ids.map((id) => {
    const xs = slots.filter((s) => s.deviceId === id).map((s) => s.reading!.temperature);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  });
  assert.ok(Math.max(...means) - Math.min(...means) > 0.5, `means ${means.join(', ')}`);
});

test('every device shows HVAC cycles: heating-on phases warm the room, off phases cool it', () => {
  const { ids, slots } = simulate({ devices: 6, everySec: 30, hours: 12, seed: 11 });
  for (const id of ids) {
    const mine = slots.filter((s) => s.deviceId === id);
    let switchesOn = 0;
    let switchesOff = 0;
    let warmOn = 0;
    let nOn = 0;
    let warmOff = 0;
    let nOff = 0;
    for (let i = 1; i < mine.length; i++) {
      const prev = mine[i - 1] as Slot;
      const cur = mine[i] as Slot;
      if (!prev.heating && cur.heating) switchesOn++;
      if (prev.heating && !cur.heating) switchesOff++;
      if (prev.heating && cur.heating) {
        warmOn += cur.room - prev.room;
        nOn++;
      } else if (!prev.heating && !cur.heating) {
        warmOff += cur.room - prev.room;
        nOff++;
      }
    }
    assert.ok(switchesOn >= 3 && switchesOff >= 3, `${id}: ${switchesOn} on / ${switchesOff} off switches`);
    assert.ok(nOn > 0 && warmOn / nOn > 0, `${id}: room does not warm while heating`);
    assert.ok(nOff > 0 && warmOff / nOff < 0, `${id}: room does not cool while off`);
    // The measured temperature follows: it spans at least the hysteresis band.
    const temps = mine.map((s) => s.reading!.temperature);
    assert.ok(Math.max(...temps) - Math.min(...temps) >= 0.4, `${id}: range ${Math.min(...temps)}..${Math.max(...temps)}`);
  }
});

test('scheduled anomalies appear in the ground truth and in the readings as described', () => {
  const at = (minutes: number) => START + minutes * 60_000;
  const events: AnomalyEvent[] = [
    { deviceId: 'thermostat-0001', type: 'spike', atMs: at(60), magnitude: 10 },
    { deviceId: 'thermostat-0002', type: 'dip', atMs: at(60), magnitude: 8 },
    { deviceId: 'thermostat-0003', type: 'stuck', atMs: at(60), durationMs: 20 * 60_000 },
    { deviceId: 'thermostat-0004', type: 'drift', atMs: at(60), durationMs: 30 * 60_000, magnitude: 4 },
    { deviceId: 'thermostat-0005', type: 'dropout', atMs: at(60), durationMs: 15 * 60_000 },
  ];
  const { slots, truth } = simulate({ devices: 5, everySec: 30, hours: 3, events });
  assert.deepEqual(truth.map((r) => r.type).sort(), ['dip', 'drift', 'dropout', 'spike', 'stuck']);
  const byType = new Map(truth.map((r) => [r.type, r]));
  const inWindow = (r: TruthRecord) =>
    slots.filter((s) => s.deviceId === r.deviceId && s.ts >= Date.parse(r.start) && s.ts <= Date.parse(r.end));

  const spike = byType.get('spike')!;
  assert.equal(spike.deviceId, 'thermostat-0001');
  assert.equal(spike.start, spike.end);
  assert.equal(spike.values.length, 1);
  const [spiked] = inWindow(spike);
  assert.ok(spiked?.reading);
  assert.ok(Math.abs(spiked.reading.temperature - spiked.clean - 10) < 0.051, 'spike is clean + 10 °C');
  assert.equal(spiked.reading.temperature, spike.values[0]);
  assert.deepEqual(spike.seqs, [spiked.reading.seq]);

  const dip = byType.get('dip')!;
  const [dipped] = inWindow(dip);
  assert.ok(dipped?.reading);
  assert.ok(Math.abs(dipped.reading.temperature - dipped.clean + 8) < 0.051, 'dip is clean − 8 °C');
  assert.equal(dip.magnitude, -8);

  const stuck = byType.get('stuck')!;
  const stuckSlots = inWindow(stuck);
  assert.ok(stuckSlots.length >= 35, `${stuckSlots.length} stuck readings`);
  assert.ok(stuckSlots.every((s) => s.reading?.temperature === stuck.magnitude), 'stuck readings all equal the stuck value');
  assert.ok(new Set(stuckSlots.map((s) => s.clean)).size > 1, 'the clean signal kept moving meanwhile');
  assert.deepEqual(stuck.values, stuckSlots.map((s) => s.reading!.temperature));

  const drift = byType.get('drift')!;
  const driftSlots = inWindow(drift);
  assert.ok(driftSlots.length >= 55);
  const offsets = driftSlots.map((s) => s.reading!.temperature - s.clean);
  assert.ok(Math.abs(offsets[0] as number) < 0.2, `drift starts near 0, got ${offsets[0]}`);
  assert.ok(Math.abs((offsets.at(-1) as number) - 4) < 0.25, `drift ends near +4 °C, got ${offsets.at(-1)}`);
  const mid = offsets[Math.floor(offsets.length / 2)] as number;
  assert.ok(Math.abs(mid - 2) < 0.3, `drift is linear: mid ${mid}`);
  // After the drift, the sensor is back on the clean signal.
  const after = slots.filter((s) => s.deviceId === drift.deviceId && s.ts > Date.parse(drift.end));
  assert.ok(after.length > 0 && after.every((s) => s.reading!.temperature === s.clean));

  const dropout = byType.get('dropout')!;
  const silent = inWindow(dropout);
  assert.ok(silent.length >= 29, `${silent.length} slots silent`);
  assert.ok(silent.every((s) => s.reading === undefined), 'no readings during the dropout');
  assert.equal(dropout.magnitude, silent.length);
  assert.deepEqual(dropout.values, []);
  // The device resumes afterwards with the next seq (silence is not a seq gap).
  const dev5 = slots.filter((s) => s.deviceId === dropout.deviceId && s.reading).map((s) => s.reading!.seq);
  assert.deepEqual(dev5, dev5.map((_, i) => i + 1));
  assert.ok(slots.some((s) => s.deviceId === dropout.deviceId && s.ts > Date.parse(dropout.end) && s.reading));
});

test('random anomalies arrive at about the requested rate per device per hour, every type', () => {
  const { truth, anomalies } = simulate({ devices: 10, everySec: 30, hours: 24, anomalyRate: 2, seed: 3 });
  const total = Object.values(anomalies).reduce((a, b) => a + b, 0);
  assert.equal(truth.length, total);
  // Expected ≈ 2/h × 24 h × 10 devices = 480 minus time spent inside anomalies (one at a time per device).
  assert.ok(total > 250 && total < 520, `${total} anomalies`);
  for (const type of ['spike', 'dip', 'stuck', 'drift', 'dropout'] as const) assert.ok(anomalies[type] > 10, `${type}: ${anomalies[type]}`);
  for (const r of truth) assert.ok(Date.parse(r.start) <= Date.parse(r.end));
});
