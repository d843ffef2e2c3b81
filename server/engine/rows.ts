/**
 * Rows of a batch's checkpoint state (panes, detector and dedupe state) as its store reads them. The job makes them as
 * the store reads them, from its state as it is then: at 10,000 devices a batch has ≈ 50,000 of them, and as objects
 * with a copy of their state each, made at the batch's end and read at its commit, they outlived the young
 * generation's collections and were the batch thread's old garbage (≈ 20 MB a batch). The job's state does not change
 * between a batch's end and its commit (BatchRunner takes no readings while a batch is not committed), so the rows
 * read then are the batch's.
 *
 * A row's bytes (a pane's state, a device's detector state) may be a view of a buffer the next row reuses: read
 * them in the call, or copy them (mapRows). An array is Rows too (a test's, a recovered checkpoint's).
 */
export interface Rows<T> {
  /** How many rows at most: some may be found gone when read (a pane evicted by the same batch, then deleted). */
  readonly length: number;
  forEach(fn: (row: T) => void): void;
}

/** Rows made by `row(i)` as they are read; null leaves row i out. */
export class LazyRows<T> implements Rows<T> {
  constructor(
    readonly length: number,
    private readonly row: (i: number) => T | null,
  ) {}

  forEach(fn: (row: T) => void): void {
    for (let i = 0; i < this.length; i++) {
      const r = this.row(i);
      if (r !== null) fn(r);
    }
  }
}

/** The rows mapped into an array: `fn` copies what it keeps of a row's bytes. */
export function mapRows<T, U>(rows: Rows<T>, fn: (row: T) => U): U[] {
  const out: U[] = [];
  rows.forEach((r) => out.push(fn(r)));
  return out;
}
