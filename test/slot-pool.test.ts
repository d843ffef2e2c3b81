import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PackedPool, SlotPool } from '../server/engine/slot-pool.ts';

test('slot pool: a slot given back is the next one taken; slots past 1,024 are in a chunk of their own', () => {
  const pool = new SlotPool(3);
  const slots = Array.from({ length: 1025 }, () => pool.take());
  assert.deepEqual([slots[0], slots[1024]], [0, 1024]);
  assert.notEqual(pool.data(0), pool.data(1024));
  assert.deepEqual([pool.offset(1023), pool.offset(1024)], [3069, 0]);
  pool.give(7);
  assert.equal(pool.take(), 7);
  // bytes(): the same memory, byte by byte.
  pool.data(5)[pool.offset(5)] = 1;
  assert.equal(pool.bytes(5)[pool.offset(5) * 8 + 7], 0x3f); // 1.0 is 0x3ff0000000000000, little-endian
});

test('packed pool: the last slot moves into the one given back, its owner is named; a chunk goes once half a chunk below it is free', () => {
  const pool = new PackedPool(2, (n) => new Int32Array(n));
  //   owners  10 11 12 13      give(1): 13's numbers move to slot 1
  //   slots    0  1  2  3  ->  10 13 12
  for (let owner = 10; owner < 14; owner++) {
    const s = pool.take(owner);
    pool.data(s).set([owner, -owner], pool.offset(s));
  }
  assert.equal(pool.give(1), 13);
  assert.deepEqual([...pool.data(1).subarray(pool.offset(1), pool.offset(1) + 2)], [13, -13]);
  assert.equal(pool.give(2), -1, 'the last slot: nothing moves');
  assert.equal(pool.size, 2);
  // Chunks: 1,600 slots take two; the second goes at 512 in use, not at 1,024 (a size to and fro at 1,024 keeps it).
  const big = new PackedPool(1, (n) => new Float64Array(n));
  for (let i = 0; i < 1600; i++) big.take(i);
  const second = big.data(1024);
  while (big.size > 513) big.give(big.size - 1);
  assert.equal(big.data(1024), second);
  big.give(big.size - 1);
  assert.equal(big.data(1024), undefined);
  assert.equal(big.take(0), 512);
});
