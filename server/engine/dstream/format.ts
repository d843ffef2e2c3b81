/**
 * Console formatting of records, as Spark's `print()` shows them: a two-element array is a pair and prints as
 * `(word,3)` (nested pairs too: `(k,(1,2))`); value lists made by groupByKey print as `[1, 2]` even when they
 * hold two values, because they are registered here as lists.
 */
const lists = new WeakSet<object>();

/** Marks an array as a list of values (not a pair) for printing; returns it. */
export function asList<T>(values: T[]): T[] {
  lists.add(values);
  return values;
}

export function formatRecord(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    if (value.length === 2 && !lists.has(value)) {
      return `(${formatRecord(value[0])},${formatRecord(value[1])})`;
    }
    return `[${value.map(formatRecord).join(', ')}]`;
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (value instanceof Map) {
    return `Map(${[...value].map(([k, v]) => `${formatRecord(k)} -> ${formatRecord(v)}`).join(', ')})`;
  }
  if (value instanceof Set) return `Set(${[...value].map(formatRecord).join(', ')})`;
  if (value !== null && typeof value === 'object') {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}

export const PRINT_RULE = '-------------------------------------------';

/**
 * The lines Spark's `DStream.print(num)` writes for one batch: a rule, `Time: <t> ms`, a rule, up to `num`
 * records, `...` when there were more, and an empty line.
 */
export function printLines(records: readonly unknown[], batchTime: number, num: number): string[] {
  const lines = [PRINT_RULE, `Time: ${batchTime} ms`, PRINT_RULE];
  const shown = Math.min(num, records.length);
  for (let i = 0; i < shown; i++) lines.push(formatRecord(records[i]));
  if (records.length > num) lines.push('...');
  lines.push('');
  return lines;
}
