import { ONE_READING, PANE_WIDTH } from './aggregate.ts';
import { ANOMALY_TYPES } from './detectors/types.ts';
import type { KeyPanes } from './key-panes.ts';
import { LazyRows, type Rows } from './rows.ts';
import type { WindowShape } from './windows.ts';

/** One pane's state as a checkpoint keeps it. */
export interface PaneRow {
  lengthMs: number;
  slideMs: number;
  key: string;
  start: number;
  state: Uint8Array;
}

export type PaneKey = Omit<PaneRow, 'state'>;

/** What changed since the previous advance(): checkpoints are incremental. */
export interface PaneDelta {
  upserts: Rows<PaneRow>;
  deletes: Rows<PaneKey>;
}

/** Panes by reference: their shape (index), key id and start, in columns. */
class PaneRefs {
  readonly shapes: number[] = [];
  readonly ids: string[] = [];
  readonly starts: number[] = [];

  add(i: number, id: string, start: number): void {
    this.shapes.push(i);
    this.ids.push(id);
    this.starts.push(start);
  }
}

/**
 * The panes a batch changed and evicted (EventTimeWindows), for the checkpoint committed with its results: kept by
 * reference, and made rows as the store reads them, from the panes as they are then (rows.ts), so to be read before
 * the next reading is added. A pane the batch changed and then evicted is left out of the upserts (its delete follows).
 */
export class PaneChanges {
  private upserts = new PaneRefs();
  private deletes = new PaneRefs();
  /** A pane's state on its way to the store, then a view of it without and with its counts by type. */
  private readonly out = new Float64Array(PANE_WIDTH + ANOMALY_TYPES.length);
  private readonly bytes = new Uint8Array(this.out.buffer, 0, PANE_WIDTH * 8);
  private readonly bytesByType = new Uint8Array(this.out.buffer);
  /** A one-reading pane's state, and a view of it. */
  private readonly one = new Float64Array(ONE_READING);
  private readonly oneBytes = new Uint8Array(this.one.buffer);
  /** The pane the last row was read from, and its key and shape (state()). */
  private lastKey = -1;
  private lastShape = -1;
  private lastSlot = -1;

  /**
   * `shapes` are the panes' window shapes by index; `key` finds a key's slot in `panes` by its id (-1: none), when the
   * store reads the rows (the key may have been evicted by then, and its slot given to another).
   */
  constructor(
    private readonly panes: KeyPanes,
    private readonly shapes: readonly WindowShape[],
    private readonly key: (id: string) => number,
  ) {}

  changed(i: number, id: string, start: number): void {
    this.upserts.add(i, id, start);
  }

  evicted(i: number, id: string, start: number): void {
    this.deletes.add(i, id, start);
  }

  /** The changes since the last call. */
  take(): PaneDelta {
    const { upserts: u, deletes: d, shapes } = this;
    this.upserts = new PaneRefs();
    this.deletes = new PaneRefs();
    this.lastKey = this.lastShape = this.lastSlot = -1; // the panes may have changed since the last rows were read
    return {
      upserts: new LazyRows(u.starts.length, (j) => {
        const state = this.state(u.shapes[j], u.ids[j], u.starts[j]);
        const { lengthMs, slideMs } = shapes[u.shapes[j]];
        return state === null ? null : { lengthMs, slideMs, key: u.ids[j], start: u.starts[j], state };
      }),
      deletes: new LazyRows(d.starts.length, (j) => {
        const { lengthMs, slideMs } = shapes[d.shapes[j]];
        return { lengthMs, slideMs, key: d.ids[j], start: d.starts[j] };
      }),
    };
  }

  /**
   * A pane's state (its one reading, or its aggregate with its counts by type if any), in a buffer the next call
   * reuses; null: the pane is gone. The rows of a key and shape come by ascending start (the order its panes are
   * listed): each walk goes on from the last pane found.
   */
  private state(i: number, id: string, start: number): Uint8Array | null {
    const k = this.key(id);
    const from = k === this.lastKey && i === this.lastShape ? this.lastSlot : -1;
    const s = k < 0 ? -1 : this.panes.findFrom(k, i, start, from);
    if (s < 0) return null;
    this.lastKey = k;
    this.lastShape = i;
    this.lastSlot = s;
    if (this.panes.readingOf(s, this.one)) return this.oneBytes;
    const a = this.panes.data(s);
    const at = this.panes.at(s);
    for (let j = 0; j < PANE_WIDTH; j++) this.out[j] = a[at + j];
    const byType = this.panes.byType(s);
    if (byType === null) return this.bytes;
    this.out.set(byType, PANE_WIDTH);
    return this.bytesByType;
  }
}
