import type { WindowSpec } from '../config.ts';
import type { Reading } from '../ingest/reading.ts';
import { Aggregate, addToFleetPane, mergePane, raisesFleetLast, type Summary } from './aggregate.ts';
import { KeyPanes } from './key-panes.ts';
import { TimeList } from './time-list.ts';
import { PaneChanges, type PaneDelta, type PaneRow } from './pane-delta.ts';
import type { Rows } from './rows.ts';
import { WindowPacker, windowObjects, type PackedWindows } from './window-pack.ts';
import { firstContaining, lastContaining, lastEndingBy, lastWindowEnd, paneStart, windowShape, type WindowShape } from './windows.ts';

/** The key of fleet-wide windows (all devices together). */
export const FLEET = '*';

export interface WindowResult extends Summary {
  deviceId: string;
  lengthMs: number;
  slideMs: number;
  start: number;
  end: number;
  /** The watermark has passed the window's end: it will not change any more. */
  final: boolean;
  /** Fleet windows only: the raw sums, so that the store can keep a partial aggregate and merge instances exactly. */
  sums?: WindowSums;
}

/** What a Summary rounds away: sums, sums of squares and the times of first and last (±Infinity when none). */
export interface WindowSums {
  sum: number;
  sumSq: number;
  firstTs: number;
  lastTs: number;
  humiditySum: number;
  humiditySumSq: number;
  humidityFirstTs: number;
  humidityLastTs: number;
}

export type { PaneDelta, PaneKey, PaneRow } from './pane-delta.ts';

/** The scalar part of the state; panes come as PaneRows. */
export interface ClockState {
  watermark: number;
  maxEventTime: number;
}

export interface EventTimeOptions {
  windows: readonly WindowSpec[];
  allowedLatenessMs: number;
  /** 'processing' places readings by arrival time instead of their ts, as Spark Streaming's DStream windows do. */
  timeMode: 'event' | 'processing';
  /** Wall-clock time the stream (re)started: idleness is counted from here, so a restart is not idle time. */
  startedAt: number;
  /** How often an open window's partial result is emitted again (default 'slide': at most once per slide). */
  openWindowRefresh?: 'slide' | 'batch' | 'final';
}

/**
 * Event-time sliding windows over readings, per device and fleet-wide, with a watermark.
 *
 * - watermark = max event time (each reading counting at most its arrival time) − allowed lateness, never going back; when no input has arrived for longer than
 *   the allowed lateness, it also follows the clock (now − allowed lateness), so idle windows still become final (from the first reading on).
 *   Input has arrived when the ingest log accepted it (noteInput), not when a batch processes it.
 * - A reading whose ts is behind the watermark is late: add() returns false and it touches no window, so a final
 *   window never changes. Any other reading falls only in windows that are not final.
 * - advance(now), once per batch, moves the watermark and returns the window results of the batch:
 *   - per key and shape, the newest window holding each pane the batch changed (so every reading is in a result
 *     of the batch that processed it);
 *   - windows that get their first reading or anomaly (so no window with data is missing from the results);
 *   - the other windows the batch changed, at most once per slide of their shape (refreshAt), and at once in the
 *     first batch that brings the key nothing (so a device that stops, or a pause in the input, leaves no stale
 *     partial result behind) or after flushOpenWindows(): with a slide longer
 *     than the batch interval, an open window's partial result is refreshed every slide rather than every batch
 *     (a reading falls in length / slide windows of each shape: re-emitting all of them every batch made the
 *     per-batch work ∝ active devices × windows);
 *   - every window that becomes final, exactly once, with all its readings.
 *   With openWindowRefresh 'batch', every window the batch changed is emitted (the refresh is always due); with
 *   'final', a device's windows are emitted only when final (once each: the fewest rows a store can take for a large
 *   fleet), while the fleet's windows are refreshed as with 'slide'.
 */
export class EventTimeWindows {
  private readonly shapes: WindowShape[];
  /** Every key's panes, of every shape. */
  private readonly panes: KeyPanes;
  /** Keys (device ids, and FLEET) to their slot in `panes`. */
  private readonly keys = new Map<string, number>();
  /** The slot of FLEET (-1: not known: look it up). */
  private fleetKey = -1;
  /** Per shape, starts of fleet panes to merge anew from the device panes at the next emit (raisesFleetLast). */
  private readonly remerge: Set<number>[];
  private readonly latenessMs: number;
  private readonly byArrival: boolean;
  private readonly everyBatch: boolean;
  private readonly devicesFinalOnly: boolean;
  private maxEventTime = -Infinity;
  private lastInputAt: number;
  private wm = -Infinity;
  /** The watermark at the end of the last emit(): windows ending at or below it were shown final then, or before. */
  private emittedWm = -Infinity;
  /** The panes the batch changed and evicted: the checkpoint's rows once the store reads them. */
  private readonly changes: PaneChanges;
  private moved = false;
  /** Reused per window result and per key's emission: no aggregate or set allocated per window per batch. */
  private readonly scratch = new Aggregate();
  /** The first pane of the key's last window in emit() (result()), where the next window's walk begins (-1: the first). */
  private cursor = -1;
  /** The windows of the batch being emitted. */
  private readonly packer = new WindowPacker();
  private readonly starts = new TimeList();
  /** The batch time of the last moveWatermark(): paces the refresh of open windows. */
  private now = -Infinity;
  /** Stopping: every batch from now on refreshes what waits (flushOpenWindows). */
  private flushing = false;

  constructor(options: EventTimeOptions) {
    this.shapes = options.windows.map((w) => windowShape(w.lengthMs, w.slideMs));
    this.panes = new KeyPanes(this.shapes.length);
    this.remerge = this.shapes.map(() => new Set());
    this.changes = new PaneChanges(this.panes, this.shapes, (id) => this.keys.get(id) ?? -1);
    this.latenessMs = options.allowedLatenessMs;
    this.byArrival = options.timeMode === 'processing';
    this.everyBatch = options.openWindowRefresh === 'batch';
    this.devicesFinalOnly = options.openWindowRefresh === 'final';
    this.lastInputAt = options.startedAt;
  }

  get watermark(): number {
    return this.wm;
  }

  clockState(): ClockState {
    return { watermark: this.wm, maxEventTime: this.maxEventTime };
  }

  /** Pane changes made by the last advance(), for the checkpoint committed with its results (PaneChanges). */
  takeDelta(): PaneDelta {
    return this.changes.take();
  }

  /**
   * Restores a checkpoint: the watermark, and the panes. Every window that holds a restored pane and is not final
   * is open again: it is emitted once more when final, and (openWindowRefresh 'slide', where its last partial result
   * may be up to a slide old) refreshed at the first batch.
   */
  restore(clock: ClockState, panes: Rows<PaneRow>): void {
    this.wm = this.emittedWm = clock.watermark;
    this.maxEventTime = clock.maxEventTime;
    const { panes: kp } = this;
    const restored = new Set<number>(); // key slot × shapes + shape
    panes.forEach((row) => {
      const i = this.shapes.findIndex((x) => x.lengthMs === row.lengthMs && x.slideMs === row.slideMs);
      if (i < 0) throw new Error(`checkpoint pane of window ${row.lengthMs}/${row.slideMs} ms is not configured`);
      const d = this.key(row.key);
      let s = kp.find(d, i, row.start);
      if (s < 0) s = kp.create(d, i, row.start);
      kp.write(s, Aggregate.fromBytes(row.state));
      restored.add(d * this.shapes.length + i);
      // Their partial results may have been refreshed last before the restart: refresh them at the first batch.
      if (row.start < kp.pendingFrom(d, i) && this.refreshesOpen(row.key)) kp.setPendingFrom(d, i, row.start);
    });
    // The restored panes' windows were shown before the restart: settled, each key and shape once (a walk of its panes).
    for (const ds of restored) kp.settle(Math.floor(ds / this.shapes.length), ds % this.shapes.length);
  }

  /**
   * Adds one reading to its device's panes and to the fleet's; false (and nothing changed) when it is late. A fleet
   * pane is the merge of its devices' panes (addToFleetPane). Hot path: no allocation in the common case.
   */
  add(r: Reading): boolean {
    const t = this.byArrival ? r.arrival : r.ts;
    if (r.arrival > this.lastInputAt) this.lastInputAt = r.arrival;
    if (t < this.wm) return false;
    // A device clock running ahead must not drag the watermark ahead of the server's clock (and so make everyone
    // else late): its readings advance event time at most to their arrival.
    const progress = t < r.arrival ? t : r.arrival;
    if (progress > this.maxEventTime) this.maxEventTime = progress;
    const { panes } = this;
    let d = -1;
    let fleet = -1;
    for (let i = 0; i < this.shapes.length; i++) {
      const shape = this.shapes[i];
      if (lastWindowEnd(shape, t) === -Infinity) continue; // in the gap between windows (slide > length)
      if (d < 0) {
        d = this.key(r.deviceId);
        fleet = this.fleet();
      }
      const p = paneStart(shape, t);
      const s = panes.pane(d, i, p);
      const f = panes.pane(fleet, i, p);
      panes.widen(f); // a fleet pane is written in place
      const fa = panes.data(f);
      const fo = panes.at(f);
      if (raisesFleetLast(panes.data(s), panes.at(s), fa, fo, r)) this.remerge[i].add(p);
      panes.addReading(s, r);
      addToFleetPane(fa, fo, r, panes.data(s), panes.at(s));
    }
    return true;
  }

  /**
   * From now on every emit refreshes all open windows with changes not shown yet (a graceful stop: the last batch
   * leaves no partial result older than its panes).
   */
  flushOpenWindows(): void {
    this.flushing = true;
  }

  /** The time a reading is placed at: its ts, or its arrival in processing-time mode. */
  timeOf(r: Reading): number {
    return this.byArrival ? r.arrival : r.ts;
  }

  /**
   * Counts an anomaly of a device in the windows of its event time `t` if none of them is final yet (t ≥ watermark),
   * otherwise in those of `detectedAt` (the reading or watermark that revealed it, never behind the watermark).
   */
  countAnomaly(deviceId: string, t: number, detectedAt: number, typeIndex: number): void {
    const at = t >= this.wm ? t : Math.max(detectedAt, this.wm);
    for (let i = 0; i < this.shapes.length; i++) {
      const shape = this.shapes[i];
      if (lastWindowEnd(shape, at) === -Infinity) continue;
      const p = paneStart(shape, at);
      this.panes.addAnomaly(this.panes.pane(this.key(deviceId), i, p), typeIndex);
      this.panes.addAnomaly(this.panes.pane(this.fleet(), i, p), typeIndex);
    }
  }

  /**
   * Input arrived at `at` (the log accepted a reading then), whether or not its readings are in this batch: a stream
   * whose engine is behind is not idle, so its watermark does not follow the clock past readings still to come.
   */
  noteInput(at: number): void {
    if (at > this.lastInputAt) this.lastInputAt = at;
  }

  /** Moves the watermark to `now` and returns the windows that changed or became final since the last call, as objects. */
  advance(now: number): WindowResult[] {
    this.moveWatermark(now);
    return windowObjects(this.emit());
  }

  /** Step one of advance(): the new watermark (anomalies raised by it can still be counted before emit()). */
  moveWatermark(now: number): number {
    const byEvents = this.maxEventTime - this.latenessMs;
    // Before the first reading no window holds data: the clock would only make a replayed recording late.
    const idle = now - this.lastInputAt > this.latenessMs && this.maxEventTime > -Infinity;
    const next = Math.max(this.wm, byEvents, idle ? now - this.latenessMs : -Infinity);
    this.moved = this.moved || next > this.wm;
    this.wm = next;
    this.now = now;
    return next;
  }

  /**
   * Step two: merge anew the fleet panes a repeated ts left behind (add() keeps the others up to date), emit changed
   * and newly final windows, evict old panes.
   */
  emit(): PackedWindows {
    const moved = this.moved;
    this.moved = false;
    const { panes } = this;
    for (let i = 0; i < this.shapes.length; i++) {
      const shape = this.shapes[i];
      this.remergeFleet(i);
      // forEach, not for…of: no [id, key] entry allocated per key.
      this.keys.forEach((d, id) => {
        // A key with no new data and nothing to show has work only once the watermark reaches its dueAt: with a
        // large fleet of devices that report every few batches, most keys of a batch (bench engine-fleet --every).
        if (panes.changedCount(d, i) === 0 && panes.pendingFrom(d, i) === Infinity && (!moved || this.wm < panes.dueAt(d, i))) return;
        const starts = this.windowsToEmit(i, id, d, moved);
        this.cursor = -1;
        for (let j = 0; j < starts.length; j++) this.result(i, id, d, starts.times[j]);
        if (moved) this.evict(i, id, d);
        else panes.updateDueAt(d, i, shape, this.wm);
      });
    }
    this.emittedWm = this.wm;
    return this.packer.take();
  }

  /** A batch's windows (emit()) that were committed and not handed over: their arrays are filled again. */
  recycle(windows: PackedWindows): void {
    this.packer.recycle(windows);
  }

  /**
   * Merges anew from the device panes the fleet panes of shape `i` whose last a reading may have lowered
   * (raisesFleetLast): rare, as it visits every key.
   */
  private remergeFleet(i: number): void {
    const starts = this.remerge[i];
    if (starts.size === 0) return;
    const { panes } = this;
    const fleet = this.fleet();
    const agg = this.scratch;
    for (const p of starts) {
      agg.reset();
      for (const d of this.keys.values()) { // keys visited by value: no [id, key] entry allocated per key
        if (d === fleet) continue;
        const s = panes.find(d, i, p);
        if (s >= 0) mergePane(agg, panes.data(s), panes.at(s), panes.byType(s));
      }
      panes.write(panes.find(fleet, i, p), agg);
    }
    starts.clear();
  }

  /** The slot of FLEET, added if new. */
  private fleet(): number {
    if (this.fleetKey < 0) this.fleetKey = this.key(FLEET);
    return this.fleetKey;
  }

  /** The slot of key `id`, added if new. */
  private key(id: string): number {
    let d = this.keys.get(id);
    if (d === undefined) {
      d = this.panes.addKey();
      this.keys.set(id, d);
    }
    return d;
  }

  /** Whether a key's open windows wait for a refresh ('slide'): not with 'batch' (always shown), nor a device's with 'final'. */
  private refreshesOpen(id: string): boolean {
    return !this.everyBatch && (!this.devicesFinalOnly || id === FLEET);
  }

  /**
   * The windows of shape `i` of key `d` (`id`) to emit in this batch. A key's open windows (holding data, not shown
   * final yet) are not kept: they are the windows holding one of its panes that end above the watermark of the last
   * emit. The returned list is reused by the next call: read it before calling again.
   */
  private windowsToEmit(i: number, id: string, d: number, moved: boolean): TimeList {
    const { panes, starts } = this;
    starts.clear();
    const shape = this.shapes[i];
    const { lengthMs, slideMs } = shape;
    const quiet = panes.changedCount(d, i) === 0; // the key got nothing this batch: what waits for a refresh is shown now
    const showOpen = !this.devicesFinalOnly || id === FLEET; // openWindowRefresh 'final': a device's open windows wait
    // The first pane of the first window of the last changed pane: panes are listed by start, so these ascend, and a
    // key of thousands of panes is walked once (its windows' first panes too, from there).
    let at = -1;
    for (let s = panes.first(d, i); s >= 0; s = panes.next(s)) {
      if (!panes.isChanged(s)) continue;
      const p = panes.startOf(s);
      // The windows containing pane p (windowStartsContaining(shape, p, paneMs), without the array), ascending.
      const first = firstContaining(shape, p, shape.paneMs);
      const last = lastContaining(shape, p);
      at = panes.firstFrom(d, i, first * slideMs, at);
      let from = at;
      for (let j = first; j <= last; j++) {
        const w = j * slideMs;
        if (this.everyBatch) starts.add(w); // every window the batch changed, as they are
        // Final already: the watermark passed it in this batch (a changed pane's windows were open before it moved).
        if (w + lengthMs <= this.wm) starts.add(w);
        else if (showOpen) {
          from = panes.firstFrom(d, i, w, from);
          if (!panes.settledBefore(from, w + lengthMs)) starts.add(w); // its first data: shown at once
        }
      }
      if (first <= last && showOpen) starts.add(last * slideMs); // the newest: shown at once
      if (p < panes.pendingFrom(d, i) && this.refreshesOpen(id)) panes.setPendingFrom(d, i, p);
      this.changes.changed(i, id, p);
    }
    panes.settle(d, i); // the next reading marks its pane changed again
    const pendingFrom = panes.pendingFrom(d, i);
    if (pendingFrom !== Infinity && (quiet || this.flushing || this.now >= panes.refreshAt(d, i))) {
      // Refresh every open window holding a pane changed since the last refresh.
      this.addWindowsHolding(i, d, Math.max(pendingFrom, this.emittedWm), Infinity);
      panes.setPendingFrom(d, i, Infinity);
      panes.setRefreshAt(d, i, this.now + slideMs);
    }
    if (moved) this.addWindowsHolding(i, d, this.emittedWm, this.wm); // the open windows the watermark passed
    return starts;
  }

  /** Adds to this.starts the windows of shape `i` holding a pane of key `d` whose end is above `above` and at most `atMost`. */
  private addWindowsHolding(i: number, d: number, above: number, atMost: number): void {
    const shape = this.shapes[i];
    for (let s = this.panes.first(d, i); s >= 0; s = this.panes.next(s)) {
      const p = this.panes.startOf(s);
      const first = Math.max(firstContaining(shape, p, shape.paneMs), lastEndingBy(shape, above) + 1);
      const last = Math.min(lastContaining(shape, p), lastEndingBy(shape, atMost));
      for (let j = first; j <= last; j++) this.starts.add(j * shape.slideMs);
    }
  }

  /** Emits the window of shape `i` of key `d` (`deviceId`) at `start` (into the batch's packed windows). */
  private result(i: number, deviceId: string, d: number, start: number): void {
    const { panes } = this;
    const shape = this.shapes[i];
    const agg = this.scratch; // its figures are copied out below
    agg.reset();
    const end = start + shape.lengthMs;
    // The key's panes in [start, end), oldest first, from where the key's last window began if not after this one's
    // start: windows mostly come in ascending order, so that a key of thousands of panes is walked once, not per window.
    const from = panes.firstFrom(d, i, start, this.cursor);
    this.cursor = from;
    for (let s = from; s >= 0 && panes.startOf(s) < end; s = panes.next(s)) mergePane(agg, panes.data(s), panes.at(s), panes.byType(s));
    this.packer.add(deviceId, shape.lengthMs, shape.slideMs, start, end, end <= this.wm, agg);
  }

  /** Drops the panes of shape `i` of key `d` that no open window needs any more, and the key once it holds none. */
  private evict(i: number, id: string, d: number): void {
    const { panes } = this;
    const shape = this.shapes[i];
    for (let s = panes.first(d, i); s >= 0; ) {
      const p = panes.startOf(s);
      s = panes.next(s);
      if (lastWindowEnd(shape, p) <= this.wm) {
        panes.forget(d, i, p);
        this.changes.evicted(i, id, p);
      }
    }
    if (panes.size(d, i) === 0) panes.resetShape(d, i);
    if (!panes.isEmpty(d)) panes.updateDueAt(d, i, shape, this.wm);
    else {
      this.keys.delete(id);
      panes.removeKey(d);
      if (d === this.fleetKey) this.fleetKey = -1;
    }
  }
}
