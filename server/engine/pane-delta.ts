import { PANE_WIDTH } from './aggregate.ts';
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

/** Panes by reference: their shape, key (and its id) and start, in columns. */
class PaneRefs {
  readonly shapes: WindowShape[] = [];
  readonly keys: KeyPanes[] = [];
  readonly ids: string[] = [];
  readonly starts: number[] = [];

  add(shape: WindowShape, k: KeyPanes, id: string, start: number): void {
    this.shapes.push(shape);
    this.keys.push(k);
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

  changed(shape: WindowShape, k: KeyPanes, id: string, start: number): void {
    this.upserts.add(shape, k, id, start);
  }

  evicted(shape: WindowShape, k: KeyPanes, id: string, start: number): void {
    this.deletes.add(shape, k, id, start);
  }

  /** The changes since the last call. */
  take(): PaneDelta {
    const { upserts: u, deletes: d } = this;
    this.upserts = new PaneRefs();
    this.deletes = new PaneRefs();
    return {
      upserts: new LazyRows(u.starts.length, (i) => {
        const state = this.state(u.keys[i], u.starts[i]);
        return state === null ? null : { lengthMs: u.shapes[i].lengthMs, slideMs: u.shapes[i].slideMs, key: u.ids[i], start: u.starts[i], state };
      }),
      deletes: new LazyRows(d.starts.length, (i) => ({ lengthMs: d.shapes[i].lengthMs, slideMs: d.shapes[i].slideMs, key: d.ids[i], start: d.starts[i] })),
    };
  }

  /** A pane's state, with its counts by type if any, in a buffer the next call reuses; null: the pane is gone. */
  private state(k: KeyPanes, start: number): Uint8Array | null {
    const s = k.find(start);
    if (s < 0) return null;
    const a = k.data(s);
    const at = k.at(s);
    for (let i = 0; i < PANE_WIDTH; i++) this.out[i] = a[at + i];
    const byType = k.byType(s);
    if (byType === null) return this.bytes;
    this.out.set(byType, PANE_WIDTH);
    return this.bytesByType;
  }
}
