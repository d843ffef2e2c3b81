import { addAnomalyToPane, clearPane, PANE_WIDTH } from './aggregate.ts';
import { ANOMALY_TYPES } from './detectors/types.ts';

/**
 * Pane and window bookkeeping of one key (a device, or the fleet) for one window shape. The panes live in one
 * Float64Array (PANE_WIDTH doubles per slot, aggregate.ts), with the start of each slot beside it (NaN: free): a
 * key holds a handful of panes (length / pane width, plus the allowed lateness), so a scan finds one. The counts by
 * anomaly type of the few panes that hold an anomaly are kept apart, by pane start.
 */
export class KeyPanes {
  slab = new Float64Array(4 * PANE_WIDTH);
  starts: number[] = [NaN, NaN, NaN, NaN];
  size = 0;
  /** Counts by anomaly type (indexed as ANOMALY_TYPES) of the panes with an anomaly, by start; null until the first. */
  private types: Map<number, Float64Array> | null = null;
  /** Starts of panes updated since the last emit (their state goes to the checkpoint). */
  readonly dirty = new TimeSet();
  /** Starts of windows that hold data and are not final yet: each is emitted once more when it becomes final. */
  readonly open = new TimeSet();
  /** Lowest pane start changed since the open windows were last refreshed (Infinity: none). */
  pendingFrom = Infinity;
  /** Batch time from which the open windows may be refreshed again (once per slide). */
  refreshAt = -Infinity;
  /**
   * The watermark from which this key has something to do without new data: its first open window to become final,
   * or its first pane to evict (-Infinity: not known yet, visit it). Without new data, a batch passes over the key
   * while the watermark is below it.
   */
  dueAt = -Infinity;
  // Readings mostly arrive in order: remember the last pane to skip the search.
  lastStart = NaN;
  lastOffset = -1;

  /** Offset of the pane in the slab, or -1. */
  find(start: number): number {
    const starts = this.starts;
    for (let i = 0; i < starts.length; i++) if (starts[i] === start) return i * PANE_WIDTH;
    return -1;
  }

  /** Offset of the pane starting at `start`, created empty if missing; marks it dirty. */
  pane(start: number): number {
    if (start === this.lastStart) return this.lastOffset;
    let o = this.find(start);
    if (o < 0) o = this.create(start);
    this.dirty.add(start);
    this.lastStart = start;
    this.lastOffset = o;
    return o;
  }

  /** A new slot for `start` (not present yet), cleared. */
  create(start: number): number {
    let i = this.starts.findIndex(Number.isNaN);
    if (i < 0) {
      i = this.starts.length;
      // Grown by 4 slots, not doubled: a key's live panes stay at a fixed count once its windows slide.
      const slab = new Float64Array((i + 4) * PANE_WIDTH);
      slab.set(this.slab);
      this.slab = slab;
      for (let j = i; j < i + 4; j++) this.starts.push(NaN);
    }
    this.starts[i] = start;
    this.types?.delete(start);
    this.size++;
    const o = i * PANE_WIDTH;
    clearPane(this.slab, o);
    return o;
  }

  /** Counts by anomaly type of the pane at offset `o`; null when it holds no anomaly. */
  byType(o: number): Float64Array | null {
    return this.types === null ? null : (this.types.get(this.starts[o / PANE_WIDTH]) ?? null);
  }

  /** Counts an anomaly of type `typeIndex` in the pane at offset `o`. */
  addAnomaly(o: number, typeIndex: number): void {
    addAnomalyToPane(this.slab, o);
    const start = this.starts[o / PANE_WIDTH];
    const types = (this.types ??= new Map());
    let counts = types.get(start);
    if (counts === undefined) {
      counts = new Float64Array(ANOMALY_TYPES.length);
      types.set(start, counts);
    }
    counts[typeIndex]++;
  }

  /** Sets the counts by type of the pane at offset `o` (copied; null or all zero: none). */
  setByType(o: number, counts: Float64Array | null): void {
    const start = this.starts[o / PANE_WIDTH];
    if (counts !== null && counts.some((n) => n !== 0)) (this.types ??= new Map()).set(start, Float64Array.from(counts));
    else this.types?.delete(start);
  }

  forget(start: number): void {
    this.types?.delete(start);
    const o = this.find(start);
    if (o < 0) return;
    this.starts[o / PANE_WIDTH] = NaN;
    this.size--;
    if (start === this.lastStart) {
      this.lastStart = NaN;
      this.lastOffset = -1;
    }
  }
}

/**
 * A handful of times (pane or window starts), in insertion order, as a Set<number> would hold them, kept in a plain
 * array of doubles. A key holds a few of each (its windows' panes and open windows); a Set's hash table and the boxed
 * number of each entry cost several times that: ≈ 1.3 KB per device with 3 window shapes (bench engine-fleet).
 */
export class TimeSet {
  private readonly items: number[] = [];

  get size(): number {
    return this.items.length;
  }

  has(t: number): boolean {
    return this.items.includes(t);
  }

  add(t: number): void {
    if (!this.items.includes(t)) this.items.push(t);
  }

  delete(t: number): void {
    const i = this.items.indexOf(t);
    if (i >= 0) this.items.splice(i, 1);
  }

  clear(): void {
    this.items.length = 0;
  }

  [Symbol.iterator](): IterableIterator<number> {
    return this.items.values();
  }
}
