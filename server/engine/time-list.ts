/**
 * Times in the order added, each once, in an array reused from one use to the next (the window starts to emit of
 * one key after another). Emptied by its count, with a map of time → the use that added it, so that emptying
 * allocates nothing: a Set's clear() allocates a new table, once per key per window shape per batch.
 */
export class TimeList {
  readonly times: number[] = [];
  length = 0;
  private use = 0;
  private readonly added = new Map<number, number>();

  clear(): void {
    this.length = 0;
    // The map holds every time added since it was last emptied (window starts: a few per slide, shared by all keys).
    if (++this.use > 1 << 29 || this.added.size > 4096) {
      this.added.clear();
      this.use = 1;
    }
  }

  add(t: number): void {
    if (this.added.get(t) === this.use) return;
    this.added.set(t, this.use);
    this.times[this.length++] = t === 0 ? 0 : t; // -0 as 0, as a Set holds it
  }
}
