/** StateArena: checkpoint state copied into shared chunks stays exact and valid while later rows fill new chunks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StateArena } from '../server/engine/state-arena.ts';

test('StateArena: every copy keeps its value after thousands more, and doubles stay aligned after odd byte lengths', () => {
  const arena = new StateArena();
  const copies: { want: number[] | Uint8Array; got: Buffer }[] = [];
  for (let i = 0; i < 5_000; i++) {
    // Odd byte lengths between the doubles: the next doubles must still start 8-aligned.
    const bytes = Uint8Array.from({ length: 1 + (i % 13) }, (_, j) => (i + j) & 0xff);
    copies.push({ want: bytes, got: arena.copyBytes(bytes) });
    const doubles = [i, -i, NaN, Infinity, -Infinity, i / 7];
    const got = arena.copyDoubles([0.5, ...doubles], 1, doubles.length);
    assert.equal(got.byteOffset % 8, 0);
    copies.push({ want: doubles, got });
  }
  const chunks = new Set(copies.map((c) => c.got.buffer));
  assert.ok(chunks.size > 1, `the copies span several chunks (${chunks.size})`);
  for (const { want, got } of copies) {
    if (want instanceof Uint8Array) assert.deepEqual([...got], [...want]);
    else assert.deepEqual([...new Float64Array(got.buffer, got.byteOffset, got.length / 8)], want);
  }
});

test('StateArena: a copy larger than a chunk gets a chunk of its own', () => {
  const arena = new StateArena();
  const big = new Uint8Array(300 * 1024).fill(7);
  const small = arena.copyBytes(Uint8Array.of(1, 2, 3));
  const copy = arena.copyBytes(big);
  assert.equal(copy.length, big.length);
  assert.ok(copy.every((b) => b === 7));
  assert.deepEqual([...small], [1, 2, 3]);
});
