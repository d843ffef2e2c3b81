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

test('recent readings come back exactly as they came, in 12 bytes a reading while they fit and 24 after', () => {
  const day = 86_400_000;
  const t0 = Date.UTC(2026, 11, 4);
  const cases: [string, number, Reading[]][] = [ // name, bytes a reading, readings
    ['three decimals, negative, no humidity', 12, [r('a', t0, 21.375, 40.125), r('a', t0 + 1, -12.5), r('a', t0 + 2, 0.001, 0), r('a', t0 - 5, 1e6, 99.999)]],
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
  // A device's ts 30 days on, its older readings aged out: compact ts count from a later base.
  const month = new RecentReadings(10, 25 * day, 0);
  for (const ts of [t0, t0 + 10 * day, t0 + 30 * day]) month.add([r('a', ts, 1.5)]);
  assert.deepEqual(month.query('a', -Infinity, Infinity, t0 + 30 * day).points.map((p) => p.ts - t0), [10 * day, 30 * day]);
  assert.equal(month.bytes, month.capacity * 12);
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
  // moves into its room), then c's grows: each one's readings come back as they came.
  const ring = new RecentReadings(40, 1e12, 0);
  const readings = (id: string, from: number, n: number) => Array.from({ length: n }, (_, i) => r(id, from + i, 20 + (from + i) / 1000));
  ring.add([...readings('a', 0, 5), ...readings('c', 100, 5), ...readings('b', 200, 5)]);
  ring.add(readings('a', 5, 15));
  ring.add([...readings('b', 205, 3), r('b', 208, 20 + 1 / 3)]);
  ring.add(readings('c', 105, 20));
  const got = (id: string) => ring.query(id, -Infinity, Infinity, 0).points.map((p) => [p.ts, p.temperature]);
  assert.deepEqual(got('a'), readings('a', 0, 20).map((x) => [x.ts, x.temperature]));
  assert.deepEqual(got('b'), [...readings('b', 200, 8), r('b', 208, 20 + 1 / 3)].map((x) => [x.ts, x.temperature]));
  assert.deepEqual(got('c'), readings('c', 100, 25).map((x) => [x.ts, x.temperature]));
  assert.deepEqual([ring.capacity, ring.bytes], [32 + 16 + 32, 32 * 12 + 16 * 24 + 32 * 12]);
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
