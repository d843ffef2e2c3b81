import assert from 'node:assert/strict';
import test from 'node:test';
import { History, historyWidth } from '../server/engine/detectors/history.ts';
import { StateOut } from '../server/engine/detectors/slots.ts';
import { SlotPool } from '../server/engine/slot-pool.ts';

/** `n` histories of `capacity` in one pool, as Detectors keeps them, and a view pointed at each in turn. */
function histories(capacity: number) {
  const pool = new SlotPool(historyWidth(capacity));
  const wide = new SlotPool(capacity);
  const h = new History(capacity, wide);
  const point = (slot: number) => {
    h.view(pool.data(slot), pool.offset(slot));
    h.compact = pool.int16s(slot);
    return h;
  };
  const add = () => {
    const slot = pool.take();
    point(slot).reset();
    return slot;
  };
  return { point, add, wide };
}

const saved = (h: History) => {
  const out = new StateOut();
  h.saveTo(out);
  return [...out.a.subarray(0, out.length)];
};

/** Median and MAD of `xs` as History computes them, from a plain array. */
function stats(xs: number[]): [number, number] {
  const mid = (s: number[]) => (s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2);
  const med = mid([...xs].sort((a, b) => a - b));
  return [med, mid(xs.map((x) => Math.abs(x - med)).sort((a, b) => a - b))];
}

test('a history takes a quarter of the doubles while its values have two decimals, and gives every value back exactly', () => {
  assert.equal(historyWidth(32), 6 + 8); // its named doubles, then 32 int16s
  const { add, point, wide } = histories(32);
  const a = add();
  const b = add();
  const xs = [21.37, -40, 327.67, -327.67, 0, 22.5, 19.99];
  for (const x of xs) point(a).push(x);
  const negated = xs.filter((x) => x !== 0).map((x) => -x); // -0 would not fit (below)
  for (const x of negated) point(b).push(x);
  assert.deepEqual(saved(point(a)), xs);
  assert.deepEqual(saved(point(b)), negated);
  assert.equal(wide.data(0), undefined, 'no slot of doubles was taken');
  point(a).refresh();
  assert.deepEqual([point(a).median, point(a).mad], stats(xs));
});

test('a value beyond hundredths (three decimals, beyond ±327.67, −0) moves the ring to doubles for good, every earlier value kept in its place', () => {
  for (const odd of [21.375, 400.5, -327.68, -0, 0.1 + 0.2]) {
    const { add, point } = histories(8);
    const slot = add();
    const xs = [20, 20.5, 21, 21.5, 22, 22.5, 23, 23.5, 24, 24.5]; // wraps: the ring holds the newest 8
    for (const x of xs.slice(0, 6)) point(slot).push(x);
    point(slot).push(odd);
    for (const x of xs.slice(6)) point(slot).push(x);
    const want = [...xs.slice(0, 6), odd, ...xs.slice(6)].slice(-8);
    const got = saved(point(slot));
    assert.deepEqual(got, want, String(odd));
    if (Object.is(odd, -0)) assert.ok(Object.is(got[want.indexOf(odd)], -0), '-0 comes back -0');
    point(slot).refresh();
    assert.deepEqual([point(slot).median, point(slot).mad], stats(want), String(odd));
  }
});

test('histories compact and wide side by side in one pool, random values: each the same as a plain array of its newest values', () => {
  let seed = 11;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const capacity = 16;
  const { add, point } = histories(capacity);
  const slots = Array.from({ length: 50 }, add);
  const model = slots.map(() => [] as number[]);
  for (let step = 0; step < 5_000; step++) {
    const i = Math.floor(rnd() * slots.length);
    // Mostly two decimals; now and then three, or a value out of an int16's range.
    const r = rnd();
    const x = r < 0.002 ? Math.round((rnd() - 0.5) * 2e6) / 1000 : r < 0.004 ? 400 + Math.round(rnd() * 100) / 100 : Math.round((rnd() - 0.5) * 20000) / 100;
    point(slots[i]).push(x);
    model[i].push(x);
  }
  slots.forEach((slot, i) => {
    const want = model[i].slice(-capacity);
    assert.deepEqual(saved(point(slot)), want, `history ${i}`);
    point(slot).refresh();
    assert.deepEqual([point(slot).median, point(slot).mad], stats(want), `history ${i}`);
  });
});

test('load() refills a history from a checkpoint\'s values, compact or wide, keeping the newest that fit', () => {
  const { add, point } = histories(4);
  const slot = add();
  point(slot).load([1.5, 2.25, 3.125, 4, 5.75]);
  assert.deepEqual(saved(point(slot)), [2.25, 3.125, 4, 5.75]);
  const other = add();
  point(other).load([21.5, 21.6]);
  assert.deepEqual(saved(point(other)), [21.5, 21.6]);
  assert.deepEqual(saved(point(slot)), [2.25, 3.125, 4, 5.75], 'the first is untouched');
});
