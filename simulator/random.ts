/**
 * Small seeded PRNG (mulberry32) and the distributions the model needs.
 * The model never calls Math.random: the same seed always yields the same sequence.
 */

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [min, max). */
  range(min: number, max: number): number;
  /** Integer uniform in [min, max] (inclusive). */
  int(min: number, max: number): number;
  /** Standard normal (Box–Muller), scaled. */
  normal(mean?: number, sd?: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Derives an independent 32-bit seed from a base seed and a label (FNV-1a over both). */
export function deriveSeed(seed: number, label: string): number {
  // Final avalanche so nearby labels ("dev-1", "dev-2") give unrelated streams.
  return fnv1aAvalanche(Math.imul(0x811c9dc5 ^ (seed >>> 0), 0x01000193), label);
}

/**
 * A 32-bit hash of `s` seeded with `seed`: FNV-1a over UTF-16 code units, then murmur3's finaliser (avalanche). The
 * server's device partitioning hashes with it (server/cluster/partition.ts).
 */
export function hash32(s: string, seed: number): number {
  return fnv1aAvalanche(0x811c9dc5 ^ seed, s);
}

/** FNV-1a over `s`'s UTF-16 code units from state `h`, then murmur3's 32-bit finaliser. */
function fnv1aAvalanche(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function createRandom(seed: number): Random {
  const next = mulberry32(seed);
  let spare: number | undefined;
  return {
    next,
    range: (min, max) => min + (max - min) * next(),
    int: (min, max) => min + Math.floor((max - min + 1) * next()),
    normal(mean = 0, sd = 1) {
      if (spare !== undefined) {
        const z = spare;
        spare = undefined;
        return mean + sd * z;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return mean + sd * r * Math.cos(2 * Math.PI * v);
    },
    chance: (p) => p > 0 && next() < p,
    pick: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
  };
}
