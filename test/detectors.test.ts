/**
 * The anomaly detectors on crafted series, with the exact flags expected (default settings: warm-up 20 readings,
 * spike history 32 and sensitivity 6, stuck at 3 × the longest natural run and at least 10 readings, dropout
 * at 3 × the learned interval).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveConfig } from '../server/config.ts';
import { Detectors, type Anomaly } from '../server/engine/detectors/index.ts';

const T0 = Date.parse('2026-11-24T10:00:00Z');
const config = resolveConfig({}).detectors;

/** A calm series: 20.0, 20.1, 20.2, 20.1, 20.0, … (runs of one reading, spread 0.2 °C). */
const calm = (i: number): number => [20.0, 20.1, 20.2, 20.1][i % 4];

function run(values: readonly number[], everyMs: number, opts: { detectors?: Detectors; from?: number; device?: string } = {}) {
  const d = opts.detectors ?? new Detectors(config);
  const out: Anomaly[] = [];
  values.forEach((v, i) => {
    const ts = T0 + ((opts.from ?? 0) + i) * everyMs;
    d.onReading({ deviceId: opts.device ?? 'dev', ts, temperature: v, humidity: undefined, seq: undefined, arrival: ts }, out);
  });
  return { d, out };
}

/** Anomalies as (type, reading index of ts, start, end, detectedAt) for readable assertions. */
const brief = (as: Anomaly[], everyMs: number) =>
  as.map((a) => ({
    type: a.type,
    at: (a.ts - T0) / everyMs,
    start: a.start === null ? null : (a.start - T0) / everyMs,
    end: a.end === null ? null : (a.end - T0) / everyMs,
    detected: (a.detectedAt - T0) / everyMs,
  }));

test('readings before a baseline are not flagged (only the configured threshold is, from the first reading)', () => {
  // reading:  0    1    2    3    4     5     6 … 19        (20 readings: still warming up)
  //           20.0 20.1 20.2 20.1 60.0  20.0  calm…
  const values = Array.from({ length: 20 }, (_, i) => (i === 4 ? 60 : i === 9 ? 35 : calm(i)));
  const { out } = run(values, 1000);
  assert.deepEqual(brief(out, 1000), [{ type: 'threshold', at: 4, start: null, end: null, detected: 4 }]);
  assert.equal(out[0].threshold, 50);
  assert.equal(out[0].value, 60);
});

test('a spike is flagged once the next reading comes back, dated at its own reading; a step is not a spike', () => {
  // 40 calm readings, a spike at 40 (back at 41), a dip at 60 (back at 61), then a step of +5 °C at 80 that stays.
  const values = Array.from({ length: 120 }, (_, i) => (i === 40 ? 28 : i === 60 ? 14 : i >= 80 ? calm(i) + 5 : calm(i)));
  const { out } = run(values, 1000);
  assert.deepEqual(
    brief(out.filter((a) => a.type !== 'rate' && a.type !== 'drift'), 1000),
    [
      { type: 'spike', at: 40, start: null, end: null, detected: 41 },
      { type: 'dip', at: 60, start: null, end: null, detected: 61 },
    ],
  );
  const spike = out[0];
  assert.equal(spike.value, 28);
  assert.equal(spike.expected, 20.1, 'the rolling median');
  assert.ok(spike.score > 6 && spike.threshold! < 28, `score ${spike.score}, threshold ${spike.threshold}`);
  // The step: too fast for a room (5 °C in a second), reported once as a rate of change, not as a train of spikes.
  assert.deepEqual(brief(out.filter((a) => a.type === 'rate'), 1000), [{ type: 'rate', at: 80, start: null, end: null, detected: 81 }]);
});

test('a plateau is stuck once it outlasts the natural runs: flagged once, dated at its first reading, closed by a change', () => {
  // reading: 0 … 99 calm | 100 … 108 = 20.5 (9) | 109 … 149 calm | 150 … 189 = 20.5 (40) | 190 … calm
  // Calm readings have runs of 1: the 9 equal readings are below max(10, 3 × 1) and not stuck, but they are now the
  // longest natural run (decayed by 0.998 per run to 8.3 at reading 150): the need becomes ⌈3 × 8.3⌉ = 25 readings.
  const values = Array.from({ length: 220 }, (_, i) => ((i >= 100 && i < 109) || (i >= 150 && i < 190) ? 20.5 : calm(i)));
  const { out } = run(values, 1000);
  assert.deepEqual(brief(out, 1000), [
    { type: 'stuck', at: 150, start: 150, end: null, detected: 174 },
    { type: 'stuck', at: 150, start: 150, end: 189, detected: 174 },
  ]);
  assert.equal(out[0].threshold, 25);
  assert.equal(out[0].value, 20.5);
});

test('a device that returns after a dropout: raised by the watermark when 3 intervals are missed, dated when due, closed by its next reading', () => {
  const every = 5_000;
  const { d, out } = run(Array.from({ length: 30 }, (_, i) => calm(i)), every);
  const last = T0 + 29 * every;
  d.tick(last + 3 * every, out); // exactly 3 intervals: not yet
  assert.equal(out.length, 0);
  d.tick(last + 3 * every + 1, out);
  d.tick(last + 10 * every, out); // raised once
  out.push(...run([20.1, 20.2], every, { detectors: d, from: 50 }).out);
  assert.deepEqual(brief(out, every), [
    { type: 'dropout', at: 30, start: 30, end: null, detected: 32.0002 },
    { type: 'dropout', at: 30, start: 30, end: 50, detected: 32.0002 },
  ]);
  assert.equal(out[0].expected, every, 'the learned interval');
  assert.equal(out[0].threshold, 3 * every);
});

test('a device that slows down for good (a backlog flushed, then its own pace) raises 3 dropouts, then its new interval is learned', () => {
  // 30 readings 1 s apart, then 40 readings 60 s apart: every gap of the new pace is past 3 × the learned 1 s.
  const d = new Detectors(config);
  const out: Anomaly[] = [];
  let ts = T0;
  for (let i = 0; i < 70; i++) {
    ts += i < 30 ? 1000 : 60_000;
    d.onReading({ deviceId: 'dev', ts, temperature: calm(i), humidity: undefined, seq: undefined, arrival: ts }, out);
    d.tick(ts, out);
  }
  const dropouts = out.filter((a) => a.type === 'dropout' && a.end !== null);
  assert.equal(dropouts.length, 3, JSON.stringify(dropouts.map((a) => a.expected)));
  assert.ok(dropouts.every((a) => a.expected === 1000));
  // Silent again for 3 × 60 s and more: a dropout against the new interval.
  d.tick(ts + 3 * 60_000 + 1, out);
  assert.equal(out.at(-1)!.type, 'dropout');
  assert.equal(out.at(-1)!.expected, 60_000);
});

test('a dropout\'s threshold is the silence it had to exceed: factor × interval, or minSilenceMs where that is longer', () => {
  for (const [minSilenceMs, want] of [[0, 30_000], [75_000, 75_000]]) {
    const d = new Detectors({ ...config, dropout: { ...config.dropout, minSilenceMs } });
    const out: Anomaly[] = [];
    let ts = T0;
    for (let i = 0; i < 30; i++) {
      ts += 10_000;
      d.onReading({ deviceId: 'dev', ts, temperature: calm(i), humidity: undefined, seq: undefined, arrival: ts }, out);
    }
    d.tick(ts + 80_000, out); // silent 80 s: past 3 × 10 s and past 75 s
    d.onReading({ deviceId: 'dev', ts: ts + 90_000, temperature: calm(30), humidity: undefined, seq: undefined, arrival: ts + 90_000 }, out);
    const dropouts = out.filter((a) => a.type === 'dropout');
    assert.deepEqual(dropouts.map((a) => [a.expected, a.threshold, a.end === null]), [[10_000, want, true], [10_000, want, false]], `minSilenceMs ${minSilenceMs}`);
  }
});

test('a slow drift that no single reading betrays is flagged, and closed when the sensor is recalibrated', () => {
  // One reading every 5 s: 2 h of calm readings with a slow ±0.3 °C cycle, then +3 °C over 20 min, then back.
  // Closed once the smoothed signal (an EWMA of weight 1/8) is back within the slack: a few dozen readings later.
  const every = 5_000;
  const cycle = (i: number) => 20 + 0.3 * Math.sin((2 * Math.PI * i) / 120) + (i % 2) * 0.1;
  const values = Array.from({ length: 1440 + 240 + 200 }, (_, i) => {
    const v = cycle(i) + (i >= 1440 && i < 1680 ? (3 * (i - 1440)) / 240 : 0);
    return Math.round(v * 10) / 10;
  });
  const { out } = run(values, every);
  const drift = out.filter((a) => a.type === 'drift');
  assert.equal(drift.length, 2, JSON.stringify(brief(out, every)));
  const [open, closed] = brief(drift, every);
  assert.ok(open.start! >= 1440 && open.detected < 1680, `opened ${JSON.stringify(open)}`);
  assert.equal(closed.end === null, false);
  assert.ok(closed.end! >= 1670 && closed.end! <= 1720, `closed ${JSON.stringify(closed)}`);
  assert.deepEqual(out.filter((a) => a.type !== 'drift' && a.type !== 'rate').map((a) => a.type), [], 'nothing else');
});

test('a drift closed by a dropout keeps its score and threshold: |z| and baseline ± slack × spread, as any closed drift', () => {
  // The drift of the test above, open when the device falls silent for 100 readings; its return closes the dropout
  // and, the level being unknown after a gap, the drift at its last reading.
  const every = 5_000;
  const cycle = (i: number) => 20 + 0.3 * Math.sin((2 * Math.PI * i) / 120) + (i % 2) * 0.1;
  const value = (i: number) => Math.round((cycle(i) + (i >= 1440 ? (3 * Math.min(i - 1440, 240)) / 240 : 0)) * 10) / 10;
  const { d, out } = run(Array.from({ length: 1640 }, (_, i) => value(i)), every);
  const opened = out.filter((a) => a.type === 'drift');
  assert.deepEqual(opened.map((a) => a.end), [null], 'open when the device falls silent');
  const back = run(Array.from({ length: 10 }, (_, i) => value(1740 + i)), every, { detectors: d, from: 1740 }).out;
  const closed = back.filter((a) => a.type === 'drift');
  assert.deepEqual(closed.map((a) => [(a.ts - T0) / every, (a.end! - T0) / every]), [[(opened[0].ts - T0) / every, 1639]]);
  const [c] = closed;
  const spread = (c.threshold! - c.expected!) / config.drift.slack;
  assert.ok(spread >= config.spike.minScale, `threshold ${c.threshold} is the baseline ${c.expected} + slack × spread`);
  assert.ok(Math.abs(c.score - (c.value! - c.expected!) / spread) < 1e-9, `score ${c.score} is |z| = (value − baseline) / spread`);
  assert.ok(c.score > config.drift.slack, 'still drifting when it was cut short');
});

test('devices reporting every second, every 5 minutes and every hour get the same flags at the same readings', () => {
  // The same series of readings: a spike, a plateau, a dropout; only the interval differs.
  const values = Array.from({ length: 200 }, (_, i) => (i === 50 ? 30 : i >= 100 && i < 130 ? 20.4 : calm(i)));
  const flags = [1_000, 300_000, 3_600_000].map((every) => {
    const { d, out } = run(values.slice(0, 160), every);
    d.tick(T0 + 159 * every + 3 * every - 1, out);
    d.tick(T0 + 159 * every + 3 * every + 1, out);
    out.push(...run(values.slice(170), every, { detectors: d, from: 170 }).out);
    return brief(out, every).map((a) => ({ ...a, detected: Math.round(a.detected) }));
  });
  assert.deepEqual(flags[0], [
    { type: 'spike', at: 50, start: null, end: null, detected: 51 },
    { type: 'stuck', at: 100, start: 100, end: null, detected: 109 },
    { type: 'stuck', at: 100, start: 100, end: 129, detected: 109 },
    { type: 'dropout', at: 160, start: 160, end: null, detected: 162 },
    { type: 'dropout', at: 160, start: 160, end: 170, detected: 162 },
  ]);
  assert.deepEqual(flags[1], flags[0], 'every 5 minutes');
  assert.deepEqual(flags[2], flags[0], 'every hour');
});

test('detector configuration is validated, errors naming the key and the value', () => {
  assert.throws(() => resolveConfig({ detectors: { spike: { sensitivity: 0 } } }), /detectors\.spike\.sensitivity = 0: must be > 0/);
  assert.throws(() => resolveConfig({ detectors: { stuck: { colour: 1 } } }), /unknown key "detectors\.stuck\.colour"/);
  assert.throws(() => resolveConfig({ detectors: { threshold: { min: 30, max: 10 } } }), /detectors\.threshold: min 30 is not below max 10/);
  // A device's own limits: the keys allowed there, and a key that is not a device id, named.
  assert.throws(
    () => resolveConfig({ detectors: { threshold: { devices: { 'freezer-1': { mn: -30 } } } } }),
    { message: 'invalid configuration: unknown key "detectors.threshold.devices.freezer-1.mn" (allowed: min, max)' },
  );
  assert.throws(
    () => resolveConfig({ detectors: { threshold: { devices: { 'freezer/1': { min: -30 } } } } }),
    { message: 'invalid configuration: detectors.threshold.devices has the key "freezer/1": must be a device id: 1 to 128 letters, digits, ".", "_", ":" or "-"' },
  );
  assert.throws(
    () => resolveConfig({ detectors: { threshold: { devices: { 'freezer-1': { min: 60 } } } } }),
    /detectors\.threshold\.devices\.freezer-1: min 60 is not below max 50/,
  );
  const own = resolveConfig({ detectors: { threshold: { devices: { 'freezer-1': { min: -30, max: -10 } } } } }).detectors;
  const out: Anomaly[] = [];
  new Detectors(own).onReading({ deviceId: 'freezer-1', ts: T0, temperature: -5, humidity: undefined, seq: undefined, arrival: T0 }, out);
  assert.deepEqual(out.map((a) => [a.type, a.threshold]), [['threshold', -10]]);
});

test('a restart at any reading changes no flag: the checkpointed state judges the next readings as the uninterrupted run does', () => {
  // A noisy series (0.1 °C steps) with a spike at 60 and a dip at 95. The median and MAD the spike detector judges
  // against are refreshed every 16 readings: restored from a checkpoint, they must be the cached ones, not fresh ones,
  // or the scores (and the noise floor learned from them) differ from the run that was not interrupted.
  const noise = (i: number): number => [0, 0.1, 0.3, 0.1, -0.2, 0.2, -0.1, 0.4, 0, -0.3, 0.1][(i * 7) % 11];
  const values = Array.from({ length: 140 }, (_, i) => (i === 60 ? 27 : i === 95 ? 14 : Math.round((20 + noise(i)) * 10) / 10));
  const whole = run(values, 1000).out;
  assert.deepEqual(whole.filter((a) => a.type === 'spike' || a.type === 'dip').map((a) => [a.type, (a.ts - T0) / 1000]), [['spike', 60], ['dip', 95]]);
  for (let cut = 1; cut < values.length; cut++) {
    const first = run(values.slice(0, cut), 1000);
    const restored = new Detectors(config);
    restored.restore(first.d.takeDelta());
    const rest = run(values.slice(cut), 1000, { detectors: restored, from: cut }).out;
    assert.deepEqual([...first.out, ...rest], whole, `restarted after reading ${cut - 1}`);
  }
});

test('a device\'s gaps that are not whole ms or longer than 2^31 ms learn its interval exactly, across a restart, beside a device of whole-ms gaps', () => {
  // Two devices in one Detectors: "whole" (gaps kept in int32s) and one whose gaps are not (kept as doubles from its
  // first such gap on). Each is silent past 3 intervals at the end: the dropout's expected interval is its median gap.
  for (const [every, label] of [[1000.5, 'half ms'], [30 * 86_400_000, '30 days'], [2 ** 31 - 1, '2^31 − 1 ms']] as const) {
    const series = (d: Detectors, device: string, step: number, from: number, to: number, out: Anomaly[]) => {
      for (let i = from; i < to; i++) {
        const ts = T0 + i * step + (device === 'odd' && i >= 10 ? 0.25 * (i % 2) : 0); // ±0.25 ms jitter late in the run
        d.onReading({ deviceId: device, ts, temperature: calm(i), humidity: undefined, seq: undefined, arrival: ts }, out);
      }
    };
    const expected = (d: Detectors, device: string, step: number, out: Anomaly[]) => {
      d.tick(T0 + 40 * step + 3 * step + 10, out);
      return out.filter((a) => a.type === 'dropout' && a.deviceId === device).map((a) => a.expected);
    };
    const whole = new Detectors(config);
    const out: Anomaly[] = [];
    series(whole, 'whole', 1000, 0, 40, out);
    series(whole, 'odd', every, 0, 40, out);
    // Restarted at reading 20: the odd device's ring restored as doubles, the whole one's in int32s.
    const first = new Detectors(config);
    const early: Anomaly[] = [];
    series(first, 'whole', 1000, 0, 20, early);
    series(first, 'odd', every, 0, 20, early);
    const restored = new Detectors(config);
    restored.restore(first.takeDelta());
    const late: Anomaly[] = [];
    series(restored, 'whole', 1000, 20, 40, late);
    series(restored, 'odd', every, 20, 40, late);
    // The odd device's gaps: `every`, and every ± 0.25 ms after reading 10: median `every` (an even number of each side).
    assert.deepEqual(expected(whole, 'odd', every, out), [every], label);
    assert.deepEqual(expected(restored, 'odd', every, late), [every], `${label}, restarted`);
    assert.deepEqual(expected(restored, 'whole', 1000, late), [1000], `${label}: the other device`);
    const states = (d: Detectors) => {
      const rows: [string, number[]][] = [];
      d.takeDelta().forEach((r) => rows.push([r.deviceId, [...r.state]]));
      return rows.sort();
    };
    assert.deepEqual(states(restored), states(whole), `${label}: the same state`);
  }
  // Distinct gaps, the first the longest, the 12th not a whole ms (the ring moves to doubles there): every gap must come
  // along, or the median of the 15 gaps (the 8th longest: 1,080 ms) is another.
  const gaps = [5000, ...Array.from({ length: 14 }, (_, i) => (i === 10 ? 1100.5 : 1010 + 10 * i))];
  const d = new Detectors(resolveConfig({ detectors: { warmupReadings: 10 } }).detectors);
  const out: Anomaly[] = [];
  let ts = T0;
  for (const [i, gap] of [0, ...gaps].entries()) {
    ts += gap;
    d.onReading({ deviceId: 'dev', ts, temperature: calm(i), humidity: undefined, seq: undefined, arrival: ts }, out);
  }
  d.tick(ts + 100_000, out);
  const median = [...gaps].sort((a, b) => a - b)[7];
  assert.deepEqual([median, out.filter((a) => a.type === 'dropout').map((a) => a.expected)], [1080, [1080]]);
});

test('processing-time mode: a device state saved without its last arrival (before it was kept) raises no dropout until the device reports', () => {
  const old = run(Array.from({ length: 40 }, (_, i) => calm(i)), 1000).d; // event time: no arrival in its state
  const restored = new Detectors(config, true);
  restored.restore(old.takeDelta());
  const out: Anomaly[] = [];
  restored.tick(T0 + 3_600_000, out);
  assert.deepEqual(out, [], 'its silence is unknown');
  const later: Anomaly[] = [];
  restored.onReading({ deviceId: 'dev', ts: T0 + 40_000, temperature: 20, humidity: undefined, seq: undefined, arrival: T0 + 3_600_000 }, later);
  restored.tick(T0 + 3_600_000 + 3_500, later);
  assert.deepEqual(later.map((a) => [a.type, a.ts - T0, a.score]), [['dropout', 41_000, 3.5]], 'then measured from its arrival');
});

test('a detector disabled while its interval is open (a restart with enabled false) still closes it, and raises nothing new', () => {
  const disabled = (name: 'stuck' | 'dropout' | 'drift') => resolveConfig({ detectors: { [name]: { enabled: false } } }).detectors;
  const restart = (d: Detectors, c: typeof config) => {
    const next = new Detectors(c);
    next.restore(d.takeDelta());
    return next;
  };
  // Stuck: open from reading 150 (the test above), the detector disabled at 180; the change at 190 closes it.
  const values = Array.from({ length: 260 }, (_, i) => ((i >= 100 && i < 109) || (i >= 150 && i < 190) || i >= 220 ? 20.5 : calm(i)));
  const stuck = run(values.slice(0, 180), 1000);
  const after = run(values.slice(180), 1000, { detectors: restart(stuck.d, disabled('stuck')), from: 180 }).out;
  assert.deepEqual(brief(after, 1000), [{ type: 'stuck', at: 150, start: 150, end: 189, detected: 174 }], 'closed; the plateau from 220 is not flagged');

  // Dropout: raised by the watermark, the detector disabled; the device's return closes it.
  const every = 5_000;
  const silent = run(Array.from({ length: 30 }, (_, i) => calm(i)), every);
  silent.d.tick(T0 + 29 * every + 10 * every, silent.out);
  assert.deepEqual(silent.out.map((a) => [a.type, a.end]), [['dropout', null]]);
  const back = restart(silent.d, disabled('dropout'));
  const returned = run([20.1, 20.2], every, { detectors: back, from: 50 }).out;
  back.tick(T0 + 200 * every, returned);
  assert.deepEqual(brief(returned, every), [{ type: 'dropout', at: 30, start: 30, end: 50, detected: 39 }]);

  // Drift: open (the slow drift of the test above), the detector disabled: the next reading closes it at its last one.
  const cycle = (i: number) => 20 + 0.3 * Math.sin((2 * Math.PI * i) / 120) + (i % 2) * 0.1;
  const drifting = Array.from({ length: 1640 }, (_, i) => Math.round((cycle(i) + (i >= 1440 ? (3 * (i - 1440)) / 240 : 0)) * 10) / 10);
  const drift = run(drifting, every);
  const opened = drift.out.filter((a) => a.type === 'drift');
  assert.deepEqual(opened.map((a) => a.end), [null]);
  const closed = run([22.5, 22.6], every, { detectors: restart(drift.d, disabled('drift')), from: 1640 }).out;
  assert.deepEqual(closed.map((a) => [a.type, a.ts, (a.end! - T0) / every]), [['drift', opened[0].ts, 1639]]);
});
