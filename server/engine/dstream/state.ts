/**
 * updateStateByKey's state: one entry per key, updated every batch whether or not the key has new values (as in
 * Spark). The update function returning `undefined` removes the key; with a timeout, a key that got no new values
 * for `timeoutMs` of batch time is removed without calling the function, so idle keys do not hold memory forever.
 */
import { groupToMap, type Pair } from './pair.ts';

export type UpdateStateFn<K, V, S> = (values: V[], state: S | undefined, key: K) => S | undefined;

export interface UpdateStateOptions {
  /** Remove a key once it has received no new value for this long (batch time, ms). Default: never. */
  timeoutMs?: number;
}

interface Entry<S> {
  value: S;
  lastUpdate: number;
}

export class KeyedState<K, V, S> {
  private readonly entries = new Map<K, Entry<S>>();

  constructor(
    private readonly fn: UpdateStateFn<K, V, S>,
    private readonly timeoutMs: number | undefined,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Applies one batch at `time` and returns every key's state afterwards (existing keys first). */
  update(records: readonly Pair<K, V>[], time: number): Pair<K, S>[] {
    const groups = groupToMap(records);
    for (const [key, entry] of this.entries) {
      if (groups.has(key)) continue;
      if (this.timeoutMs !== undefined && time - entry.lastUpdate >= this.timeoutMs) {
        this.entries.delete(key);
        continue;
      }
      const next = this.fn([], entry.value, key);
      if (next === undefined) this.entries.delete(key);
      else entry.value = next;
    }
    for (const [key, values] of groups) {
      const entry = this.entries.get(key);
      const next = this.fn(values, entry?.value, key);
      if (next === undefined) this.entries.delete(key);
      else if (entry) {
        entry.value = next;
        entry.lastUpdate = time;
      } else this.entries.set(key, { value: next, lastUpdate: time });
    }
    const out = new Array<Pair<K, S>>(this.entries.size);
    let i = 0;
    for (const [key, entry] of this.entries) out[i++] = [key, entry.value];
    return out;
  }
}
