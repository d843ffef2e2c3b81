/** Shared helpers of the test/dstream-*.test.ts files: a context on a manual clock, batch by batch. */
import { ManualClock } from '../server/clock.ts';
import { StreamingContext, type DStream, type StreamingContextOptions } from '../server/engine/dstream/index.ts';

export interface Harness {
  clock: ManualClock;
  ctx: StreamingContext;
  lines: string[];
  logs: string[];
  /** Advances the clock batch by batch (`n` batches), letting each batch finish. */
  step(n?: number): Promise<void>;
}

/** A context with batch interval `batchMs` on a ManualClock starting at 0; print() lines go to `lines`. */
export function harness(batchMs = 1000, options: StreamingContextOptions = {}): Harness {
  const clock = new ManualClock(0);
  const lines: string[] = [];
  const logs: string[] = [];
  const ctx = new StreamingContext(batchMs, {
    clock,
    out: (line) => lines.push(line),
    log: (message) => logs.push(message),
    ...options,
  });
  return {
    clock,
    ctx,
    lines,
    logs,
    async step(n = 1) {
      for (let i = 0; i < n; i++) {
        clock.advance(batchMs);
        await ctx.awaitIdle();
      }
    },
  };
}

/** Records of every batch of `stream`, by batch time (only times the stream has batches at). */
export function collect<T>(stream: DStream<T>): Map<number, T[]> {
  const out = new Map<number, T[]>();
  stream.foreachBatch((records, time) => {
    out.set(time, [...records]);
  });
  return out;
}

/** The same, as a plain object keyed by batch time, for deepStrictEqual with a literal. */
export function byTime<T>(batches: Map<number, T[]>): Record<number, T[]> {
  return Object.fromEntries(batches);
}

/** Sorts pairs by key, for comparing outputs whose key order is not part of the contract. */
export function sortPairs<K, V>(pairs: [K, V][]): [K, V][] {
  return [...pairs].sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : 0));
}

// Shared with the other suites: one seeded PRNG (the simulator's), one polling helper.
export { mulberry32 } from '../simulator/random.ts';
export { waitFor } from './helpers.ts';
