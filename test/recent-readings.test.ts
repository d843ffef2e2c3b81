import assert from 'node:assert/strict';
import { test } from 'node:test';
import { downsample, series, splitBudget, type SeriesPoint } from '../server/api/downsample.ts';
import { RecentReadings } from '../server/engine/recent-readings.ts';
import type { Reading } from '../server/ingest/index.ts';

const r = (deviceId: string, ts: number, temperature: number, humidity?: number): Reading => ({ deviceId, ts, arrival: ts, temperature, humidity, seq: undefined });

test('recent readings: bounded per device, coverage moves past what was evicted or aged out', () => {
  const ring = new RecentReadings(3, 1000, 100); // 3 per device, 1 s old at most, started at t = 100
  ring.add([r('a', 150, 1), r('a', 120, 2, 40), r('b', 130, 9)]);
  // Ascending by ts whatever the arrival order; humidity null when absent; only [from, to).
  assert.deepEqual(ring.query('a', 0, 1e9, 200), {
    coveredFrom: 100,
    points: [
      { ts: 120, temperature: 2, humidity: 40 },
      { ts: 150, temperature: 1, humidity: null },
    ],
  });
  assert.deepEqual(ring.query('a', 121, 150, 200).points, []);
  // A fourth reading evicts the oldest by arrival (ts 150): raw coverage now starts after it.
  ring.add([r('a', 160, 3), r('a', 170, 4)]);
  assert.deepEqual(ring.query('a', 0, 1e9, 200), {
    coveredFrom: 151,
    points: [
      { ts: 160, temperature: 3, humidity: null },
      { ts: 170, temperature: 4, humidity: null },
    ],
  });
  // Age: at t = 1165, readings before 165 are past maxAgeMs.
  assert.deepEqual(ring.query('a', 0, 1e9, 1165), { coveredFrom: 165, points: [{ ts: 170, temperature: 4, humidity: null }] });
  // A device never seen: nothing raw, coverage from the start.
  assert.deepEqual(ring.query('z', 0, 1e9, 200), { coveredFrom: 100, points: [] });
  // Growing past the initial capacity keeps the order.
  const big = new RecentReadings(40, 1e9, 0);
  big.add(Array.from({ length: 50 }, (_, i) => r('a', i, i)));
  const q = big.query('a', 0, 1e9, 0);
  assert.deepEqual([q.coveredFrom, q.points.length, q.points[0].ts, q.points[39].ts], [10, 40, 10, 49]);
});

test('recent readings: a device that reports slower than perDevice readings per maxAgeMs holds only maxAgeMs of them', () => {
  const ring = new RecentReadings(120, 600_000, 0); // 120 a device, 10 minutes at most
  const every10s = Array.from({ length: 360 }, (_, i) => r('slow', i * 10_000, 20 + (i % 7)));
  for (let i = 0; i < every10s.length; i += 6) ring.add(every10s.slice(i, i + 6)); // an hour, a minute a batch
  assert.equal(ring.capacity, 64, 'the 61 readings of the last 10 minutes, not 120 of the last 20');
  const now = 3_590_000;
  const q = ring.query('slow', 0, 1e12, now);
  assert.deepEqual([q.coveredFrom, q.points.length, q.points[0].ts, q.points.at(-1)!.ts], [now - 600_000, 61, now - 600_000, now]);
  // A device whose clock runs 4 minutes ahead: aged by the server's clock (arrival), as the route serves them.
  const ahead = new RecentReadings(120, 600_000, 0);
  ahead.add(Array.from({ length: 90 }, (_, i) => ({ ...r('ahead', i * 10_000 + 240_000, 20), arrival: i * 10_000 })));
  const served = ahead.query('ahead', 0, 1e12, 890_000);
  assert.deepEqual([served.coveredFrom, served.points.length], [290_000, 85], 'every reading the route serves at now = its last arrival');
  const fast = new RecentReadings(120, 600_000, 0);
  fast.add(Array.from({ length: 600 }, (_, i) => r('fast', i * 1000, 20)));
  assert.equal(fast.capacity, 120, 'a device reporting every second keeps perDevice');
});

test('recent readings come back exactly as they came, in 8 bytes a reading while they have two decimals, 12 with three and 24 after', () => {
  const day = 86_400_000;
  const t0 = Date.UTC(2026, 11, 4);
  const cases: [string, number, Reading[]][] = [ // name, bytes a reading, readings
    ['two decimals, negative, no humidity, the ends of int16 hundredths', 8, [r('a', t0, 21.37, 40.2), r('a', t0 + 1, -12.5), r('a', t0 + 2, 0.01, 0), r('a', t0 - 5, 327.67, -327.67), r('a', t0 + 3, -327.67, 99.99)]],
    ['humidity absent and present in turn, beside temperatures whose high half is all ones', 8, [r('a', t0, -0.01), r('a', t0 + 1, -0.01, -0.01), r('a', t0 + 2, -1), r('a', t0 + 3, 0, 0), r('a', t0 + 4, -327.67), r('a', t0 + 5, 1, 0.01)]],
    ['three decimals, negative, no humidity', 12, [r('a', t0, 21.375, 40.125), r('a', t0 + 1, -12.5), r('a', t0 + 2, 0.001, 0), r('a', t0 - 5, 1e6, 99.999)]],
    ['a value with three decimals after two', 12, [r('a', t0, 21.37, 40), r('a', t0 + 1, 21.375, 40.125), r('a', t0 + 2, 21.4)]],
    ['a temperature past int16 hundredths', 12, [r('a', t0, 21.4, 40), r('a', t0 + 1, 400.5), r('a', t0 + 2, 21.5, 41)]],
    ['−327.68, whose hundredths mark a missing humidity', 12, [r('a', t0, 21.4, 40), r('a', t0 + 1, -327.68, 50)]],
    ['a humidity past int16 hundredths', 12, [r('a', t0, 21.4), r('a', t0 + 1, 21.5, 327.68), r('a', t0 + 2, 21.6)]],
    ['a humidity of −0', 24, [r('a', t0, 21.4), r('a', t0 + 1, 21.5, -0)]],
    ['a value with more decimals widens the ring, keeping the earlier ones', 24, [r('a', t0, 21.4, 40), r('a', t0 + 1, 20 + 1 / 3, 41.5), r('a', t0 + 2, 22.1)]],
    ['a humidity with more decimals', 24, [r('a', t0, 21.4), r('a', t0 + 1, 21.5, 0.0001)]],
    ['a fractional ts', 24, [r('a', t0, 21.4), r('a', t0 + 0.5, 21.5)]],
    ['−0 (int32 thousandths would give it back as 0)', 24, [r('a', t0, 21.4), r('a', t0 + 1, -0, 40)]],
    ['values past an int32 in thousandths', 24, [r('a', t0, 3e6), r('a', t0 + 1, -2147483.648)]],
    ['a ts 30 days back with a newer one held (wide)', 24, [r('a', t0, 1), r('a', t0 - 30 * day, 2), r('a', t0 + 1, 3)]],
  ];
  for (const [name, bytes, readings] of cases) {
    const ring = new RecentReadings(10, 1e12, 0);
    for (const reading of readings) ring.add([reading]); // one batch each: every path of add, not one sort
    const want = readings.map((x) => ({ ts: x.ts, temperature: x.temperature, humidity: x.humidity ?? null })).sort((x, y) => x.ts - y.ts);
    assert.deepEqual(ring.query('a', -Infinity, Infinity, t0).points, want, name);
    assert.equal(ring.bytes, ring.capacity * bytes, name);
  }
  // A device's ts 30 days on, its older readings aged out: compact ts count from a later base, in either kind.
  for (const [temperature, bytes] of [[1.5, 8], [1.375, 12]]) {
    const month = new RecentReadings(10, 25 * day, 0);
    const readings = [r('a', t0, temperature, 40.5), r('a', t0 + 10 * day, -temperature), r('a', t0 + 10 * day + 1, 2, 0.25), r('a', t0 + 30 * day, temperature, 99.5)];
    for (const reading of readings) month.add([reading]);
    assert.deepEqual(month.query('a', -Infinity, Infinity, t0 + 30 * day).points, readings.slice(1).map((x) => ({ ts: x.ts, temperature: x.temperature, humidity: x.humidity ?? null })));
    assert.equal(month.bytes, month.capacity * bytes);
  }
  // Eviction and growth of a compact ring keep its order and values.
  const ring = new RecentReadings(40, 1e12, 0);
  ring.add(Array.from({ length: 50 }, (_, i) => r('a', t0 + i, 20 + i / 100, i % 2 === 0 ? 40 + i / 8 : undefined)));
  const q = ring.query('a', -Infinity, Infinity, t0);
  assert.deepEqual(q.points.map((p) => [p.ts - t0, p.temperature, p.humidity]), Array.from({ length: 40 }, (_, k) => {
    const i = k + 10;
    return [i, 20 + i / 100, i % 2 === 0 ? 40 + i / 8 : null];
  }));
});

test('recent readings: rings that grow or widen move to another pool, and the rings moved into their old room keep their readings', () => {
  // Three devices in the pool of 16: a's ring grows to 32 (b, the last, moves into its room), then b's widens (c
  // moves into its room), then c's grows: each one's readings come back as they came. In thousandths (from a's and
  // c's second reading), then again in hundredths, where b's goes straight to doubles.
  for (const [scale, bytes] of [[1000, 12], [100, 8]]) {
    const ring = new RecentReadings(40, 1e12, 0);
    const readings = (id: string, from: number, n: number) => Array.from({ length: n }, (_, i) => r(id, from + i, (20 * scale + from + i) / scale));
    ring.add([...readings('a', 0, 5), ...readings('c', 100, 5), ...readings('b', 200, 5)]);
    ring.add(readings('a', 5, 15));
    ring.add([...readings('b', 205, 3), r('b', 208, 20 + 1 / 3)]);
    ring.add(readings('c', 105, 20));
    const got = (id: string) => ring.query(id, -Infinity, Infinity, 0).points.map((p) => [p.ts, p.temperature]);
    assert.deepEqual(got('a'), readings('a', 0, 20).map((x) => [x.ts, x.temperature]));
    assert.deepEqual(got('b'), [...readings('b', 200, 8), r('b', 208, 20 + 1 / 3)].map((x) => [x.ts, x.temperature]));
    assert.deepEqual(got('c'), readings('c', 100, 25).map((x) => [x.ts, x.temperature]));
    assert.deepEqual([ring.capacity, ring.bytes], [32 + 16 + 32, 32 * bytes + 16 * 24 + 32 * bytes]);
  }
});

test('recent readings: a ring of hundredths grows through the classes in 8 bytes a reading', () => {
  const ring = new RecentReadings(120, 1e12, 0);
  const readings = Array.from({ length: 130 }, (_, i) => r('a', 1000 * i, (i * 461 - 30_000) / 100, i % 3 === 0 ? undefined : (i * 73) / 100));
  const room: number[][] = [];
  for (const reading of readings) {
    ring.add([reading]);
    if (ring.bytes !== room.at(-1)?.[1]) room.push([ring.capacity, ring.bytes]);
  }
  assert.deepEqual(room, [[16, 128], [32, 256], [64, 512], [120, 960]]);
  assert.deepEqual(ring.query('a', -Infinity, Infinity, 0).points, readings.slice(10).map((x) => ({ ts: x.ts, temperature: x.temperature, humidity: x.humidity ?? null })));
});

test('recent readings: a full ring of hundredths that moves to thousandths, then to doubles, keeps every earlier reading in order', () => {
  const ring = new RecentReadings(40, 1e12, 0);
  const sent: Reading[] = [];
  const send = (reading: Reading) => {
    sent.push(reading);
    ring.add([reading]);
  };
  const held = () => ring.query('a', -Infinity, Infinity, 0).points;
  const want = () => sent.slice(-40).map((x) => ({ ts: x.ts, temperature: x.temperature, humidity: x.humidity ?? null }));
  // 45 readings in a ring of 40: the oldest is no longer at the start of its slot when the ring moves.
  for (let i = 0; i < 45; i++) send(r('a', i, 21 + i / 100, i % 2 === 0 ? 40.5 - i : undefined));
  assert.deepEqual([held(), ring.bytes], [want(), 40 * 8]);
  send(r('a', 45, 21.375, 40.125));
  for (let i = 46; i < 49; i++) send(r('a', i, -i / 1000, i % 2 === 0 ? 0.001 : undefined));
  assert.deepEqual([held(), ring.bytes], [want(), 40 * 12]);
  send(r('a', 49, 20 + 1 / 3));
  for (let i = 50; i < 55; i++) send(r('a', i, i / 100, 1 / i));
  assert.deepEqual([held(), ring.bytes], [want(), 40 * 24]);
});

/** The same bounds as RecentReadings, kept in plain arrays of readings. */
class RecentModel {
  private readonly devices = new Map<string, { coveredFrom: number; readings: Reading[] }>();

  constructor(private readonly perDevice: number, private readonly maxAgeMs: number, private readonly startedAt: number) {}

  add(readings: readonly Reading[]): void {
    for (const r of readings) {
      let d = this.devices.get(r.deviceId);
      if (d === undefined) this.devices.set(r.deviceId, (d = { coveredFrom: this.startedAt, readings: [] }));
      const dropOldest = () => {
        const evicted = d.readings.shift()!;
        if (evicted.ts >= d.coveredFrom) d.coveredFrom = evicted.ts + 1;
      };
      const tooOld = Math.min(r.ts, r.arrival) - this.maxAgeMs;
      while (d.readings.length > 0 && d.readings[0].ts < tooOld) dropOldest();
      if (d.readings.length === this.perDevice) dropOldest();
      d.readings.push(r);
    }
  }

  query(deviceId: string, from: number, to: number, now: number) {
    const d = this.devices.get(deviceId);
    const coveredFrom = Math.max(d?.coveredFrom ?? this.startedAt, now - this.maxAgeMs);
    const lo = Math.max(from, coveredFrom);
    const points = (d?.readings ?? []).filter((x) => x.ts >= lo && x.ts < to).map((x) => ({ ts: x.ts, temperature: x.temperature, humidity: x.humidity ?? null }));
    return { coveredFrom, points: points.sort((a, b) => a.ts - b.ts) };
  }
}

test('recent readings: random readings through many devices come back as a plain array of them gives them', () => {
  for (let seed = 1; seed <= 20; seed++) {
    // mulberry32: the same readings for a seed on every run.
    let state = seed;
    const random = () => {
      state = (state + 0x6d2b79f5) | 0;
      let x = Math.imul(state ^ (state >>> 15), 1 | state);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    const perDevice = pick([1, 5, 16, 40, 120]);
    const maxAgeMs = pick([60_000, 600_000, 1e12]);
    const startedAt = Date.UTC(2026, 11, 4);
    const ring = new RecentReadings(perDevice, maxAgeMs, startedAt);
    const model = new RecentModel(perDevice, maxAgeMs, startedAt);
    // Each device has its own habits: how many decimals at most, how large, how often without humidity, how it jumps.
    const devices = Array.from({ length: 40 }, (_, i) => ({
      id: `d${i}`,
      decimals: pick([0, 1, 2, 2, 2, 3, 4]),
      range: pick([50, 327, 400, 40_000, 3e6, 1e10]),
      missing: pick([0, 0.3, 1]),
      jumps: pick([0, 0.01, 0.1]),
      ts: startedAt + Math.floor(random() * 1e6),
    }));
    const value = (d: (typeof devices)[number]) => {
      const decimals = Math.floor(random() * (d.decimals + 1));
      const v = Math.round((random() * 2 - 1) * d.range * 10 ** decimals) / 10 ** decimals;
      return random() < 0.01 ? -0 : v;
    };
    let now = startedAt;
    for (let batch = 0; batch < 60; batch++) {
      const readings = Array.from({ length: Math.floor(random() * 100) }, (): Reading => {
        const d = pick(devices);
        const jump = random() < d.jumps ? pick([2 ** 31, 2 ** 31 + 1, 30 * 86_400_000, -(2 ** 31) - 5]) : 0;
        d.ts += jump + Math.floor(random() * 20_000) - 2_000 + (random() < 0.01 ? 0.5 : 0);
        now = Math.max(now, d.ts);
        const arrival = d.ts - (random() < 0.2 ? Math.floor(random() * 300_000) : 0);
        return { ...r(d.id, d.ts, value(d), random() < d.missing ? undefined : value(d)), arrival };
      });
      ring.add(readings);
      model.add(readings);
      for (const d of devices) {
        const [from, to] = random() < 0.5 ? [-Infinity, Infinity] : [d.ts - random() * 1e6, d.ts + random() * 1e3];
        assert.deepEqual(ring.query(d.id, from, to, now), model.query(d.id, from, to, now), `seed ${seed}, batch ${batch}, ${d.id}`);
      }
      assert.ok(ring.bytes >= ring.capacity * 8 && ring.bytes <= ring.capacity * 24, `seed ${seed}: ${ring.bytes} bytes for ${ring.capacity}`);
    }
  }
});

test('downsample merges consecutive points into equal runs; the budget is split in proportion', () => {
  const p = (ts: number, temperature: number, count = 1, humidity: number | null = null): SeriesPoint => ({
    ts, temperature, humidity, count, min: temperature, max: temperature, source: 'raw',
  });
  const pts = [p(0, 10), p(1, 20, 3, 50), p(2, 30), p(3, 40), p(4, 50)];
  assert.deepEqual(downsample(pts, 5), pts);
  //   runs of 2:  [10, 20×3] [30, 40] [50]
  assert.deepEqual(downsample(pts, 3), [
    { ts: 0, temperature: (10 + 60) / 4, humidity: 50, count: 4, min: 10, max: 20, source: 'raw' },
    { ts: 2, temperature: 35, humidity: null, count: 2, min: 30, max: 40, source: 'raw' },
    { ts: 4, temperature: 50, humidity: null, count: 1, min: 50, max: 50, source: 'raw' },
  ]);
  assert.equal(downsample(pts, 1).length, 1);
  assert.deepEqual(splitBudget(3, 4, 10), [3, 4]);
  assert.deepEqual(splitBudget(900, 100, 10), [9, 1]);
  assert.deepEqual(splitBudget(1000, 1, 10), [9, 1]);
  assert.deepEqual(splitBudget(0, 50, 10), [0, 10]);
});

test('a merged run weights each point\'s humidity by its count, as its temperature', () => {
  const w = (ts: number, temperature: number, humidity: number | null, count: number): SeriesPoint => ({
    ts, temperature, humidity, count, min: temperature, max: temperature, source: 'window',
  });
  // A window of 3 readings at 40 %RH and one of 1 at 60 %RH: the 4 readings average 45 %RH, not (40 + 60) / 2.
  assert.deepEqual(downsample([w(0, 20, 40, 3), w(1, 24, 60, 1), w(2, 30, null, 2)], 1), [
    { ts: 0, temperature: (60 + 24 + 60) / 6, humidity: 45, count: 6, min: 20, max: 30, source: 'window' },
  ]);
});

test('a merged run of equal readings averages to them: the sum\'s rounding does not carry the mean past its min and max', () => {
  const same = (v: number) => Array.from({ length: 50 }, (_, ts): SeriesPoint => ({ ts, temperature: v, humidity: null, count: 1, min: v, max: v, source: 'raw' }));
  assert.notEqual(same(999.9).reduce((sum, p) => sum + p.temperature, 0) / 50, 999.9, 'the plain sum / count is off');
  for (const v of [999.9, 0.1]) assert.equal(downsample(same(v), 1)[0].temperature, v);
});

test('series: the aggregates, then the raw readings, each merged to its share; a budget of 1 merges both', () => {
  const p = (ts: number, temperature: number, source: 'raw' | 'window', count = 1): SeriesPoint => ({
    ts, temperature, humidity: null, count, min: temperature, max: temperature, source,
  });
  const agg = [p(0, 10, 'window', 4), p(10, 20, 'window', 4)];
  const raw = [p(20, 30, 'raw'), p(21, 32, 'raw')];
  assert.deepEqual(series(agg, raw, 4), [...agg, ...raw]);
  assert.deepEqual(series(agg, raw, 2), [
    { ts: 0, temperature: 15, humidity: null, count: 8, min: 10, max: 20, source: 'window' },
    { ts: 20, temperature: 31, humidity: null, count: 2, min: 30, max: 32, source: 'raw' },
  ]);
  // One point for the whole range: every reading behind it, the aggregates' included.
  assert.deepEqual(series(agg, raw, 1), [{ ts: 0, temperature: (40 + 80 + 30 + 32) / 10, humidity: null, count: 10, min: 10, max: 32, source: 'window' }]);
  assert.deepEqual(series(agg, [], 1), [{ ts: 0, temperature: 15, humidity: null, count: 8, min: 10, max: 20, source: 'window' }]);
  assert.deepEqual(series([], raw, 1), [{ ts: 20, temperature: 31, humidity: null, count: 2, min: 30, max: 32, source: 'raw' }]);
});
