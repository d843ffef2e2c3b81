import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPartition } from '../server/cluster/partition.ts';

const ids = Array.from({ length: 10_000 }, (_, i) => `thermostat-${String(i).padStart(5, '0')}`);
const three = ['ts-a', 'ts-b', 'ts-c'];

test('rendezvous hashing spreads 10,000 devices over 3 instances within ±10 % of a third each', () => {
  const p = createPartition(three, 'ts-a');
  const counts = new Map(three.map((id) => [id, 0]));
  for (const id of ids) counts.set(p.ownerOf(id), counts.get(p.ownerOf(id))! + 1);
  for (const [instance, n] of counts) {
    assert.ok(Math.abs(n - ids.length / 3) <= (ids.length / 3) * 0.1, `${instance} owns ${n} of ${ids.length}`);
  }
});

test('every device has exactly one owner, and every instance agrees on it whatever the list order', () => {
  const views = three.map((self, i) => createPartition(i === 1 ? [...three].reverse() : three, self));
  for (const id of ids) {
    const owners = views.filter((v) => v.owns(id)).map((v) => v.self);
    assert.equal(owners.length, 1, `${id} is owned by ${JSON.stringify(owners)}`);
    for (const v of views) assert.equal(v.ownerOf(id), owners[0]);
  }
});

test('adding a 4th instance moves about a quarter of the devices, all of them to the new instance', () => {
  const before = createPartition(three, 'ts-a');
  const after = createPartition([...three, 'ts-d'], 'ts-a');
  let moved = 0;
  for (const id of ids) {
    if (before.ownerOf(id) === after.ownerOf(id)) continue;
    moved++;
    assert.equal(after.ownerOf(id), 'ts-d', `${id} moved from ${before.ownerOf(id)} to ${after.ownerOf(id)}`);
  }
  assert.ok(Math.abs(moved - ids.length / 4) <= (ids.length / 4) * 0.1, `${moved} of ${ids.length} devices moved`);
});

test('an empty instance list is one instance owning every device; an instance outside the list is refused', () => {
  const alone = createPartition([], 'main');
  assert.deepEqual(alone.instances, ['main']);
  assert.ok(ids.every((id) => alone.owns(id)));
  assert.throws(() => createPartition(three, 'ts-z'), /instance "ts-z" is not in the instance list \["ts-a","ts-b","ts-c"\]/);
});

test('the answer for a device is cached: the same owner on every call', () => {
  const p = createPartition(three, 'ts-b');
  const first = ids.map((id) => p.owns(id));
  assert.deepEqual(ids.map((id) => p.owns(id)), first);
});
