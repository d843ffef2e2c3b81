/**
 * Per-batch key/value operations as pure functions over arrays of `[K, V]` pairs. Keys are compared as `Map`
 * keys (SameValueZero): use primitives (strings, numbers) as keys, or encode composite keys into a string.
 * Outputs list keys in order of first appearance.
 */
import { asList } from './format.ts';

export type Pair<K, V> = [K, V];

export function mapValues<K, V, W>(records: readonly Pair<K, V>[], fn: (value: V) => W): Pair<K, W>[] {
  const out = new Array<Pair<K, W>>(records.length);
  for (let i = 0; i < records.length; i++) {
    const [k, v] = records[i];
    out[i] = [k, fn(v)];
  }
  return out;
}

/** Folds the values of each key with `fn`, in record order. */
export function reduceToMap<K, V>(records: readonly Pair<K, V>[], fn: (a: V, b: V) => V, into = new Map<K, V>()): Map<K, V> {
  for (const [k, v] of records) {
    // `has` rather than `!== undefined`: a reduced value may legitimately be undefined.
    into.set(k, into.has(k) ? fn(into.get(k) as V, v) : v);
  }
  return into;
}

export function reduceByKey<K, V>(records: readonly Pair<K, V>[], fn: (a: V, b: V) => V): Pair<K, V>[] {
  return [...reduceToMap(records, fn)];
}

export function groupToMap<K, V>(records: readonly Pair<K, V>[]): Map<K, V[]> {
  const groups = new Map<K, V[]>();
  for (const [k, v] of records) {
    const group = groups.get(k);
    if (group) group.push(v);
    else groups.set(k, asList([v]));
  }
  return groups;
}

export function groupByKey<K, V>(records: readonly Pair<K, V>[]): Pair<K, V[]>[] {
  return [...groupToMap(records)];
}

export function countByValue<T>(records: readonly T[]): Pair<T, number>[] {
  const counts = new Map<T, number>();
  for (const r of records) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts];
}

/** Inner join: one `[k, [v, w]]` per pair of matching records, in left record order. */
export function join<K, V, W>(left: readonly Pair<K, V>[], right: readonly Pair<K, W>[]): Pair<K, [V, W]>[] {
  const rightGroups = groupToMap(right);
  const out: Pair<K, [V, W]>[] = [];
  for (const [k, v] of left) {
    const ws = rightGroups.get(k);
    if (ws) for (const w of ws) out.push([k, [v, w]]);
  }
  return out;
}
