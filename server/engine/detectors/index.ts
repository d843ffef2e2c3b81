/**
 * The anomaly detectors composed per device, as the telemetry job composes windows: each reading (in event-time
 * order per device) goes through threshold, spike/dip, rate of change, stuck and drift; each watermark move checks
 * dropouts. Per-device state is plain numbers, in a slot of one pool (slot-pool.ts), saved as one blob per device in
 * the checkpoint of the batch that changed it (so a restart neither forgets a baseline nor raises an anomaly twice).
 *
 * Readings before a baseline: threshold flags from the first reading; every other detector stays silent until the
 * device has sent `warmupReadings` readings (default 20), and spike/dip also until its history holds that many.
 */
import type { Reading } from '../../ingest/reading.ts';
import { DRIFT_WIDTH, DriftState } from './drift.ts';
import { DROPOUT_GAPS, DROPOUT_WIDTH, DropoutState } from './dropout.ts';
import { History, historyWidth } from './history.ts';
import { LazyRows, type Rows } from '../rows.ts';
import { RATE_WIDTH, RateState } from './rate.ts';
import { defineSlots, SlotPool, Slots } from '../slot-pool.ts';
import { StateOut } from './slots.ts';
import { SPIKE_WIDTH, SpikeState } from './spike.ts';
import { STUCK_WIDTH, StuckState } from './stuck.ts';
import { checkThreshold, ownLimits } from './threshold.ts';
import type { Anomaly, DetectorConfig, ThresholdLimits } from './types.ts';

export { ANOMALY_TYPES, INTERVAL_TYPES, TYPE_INDEX, type Anomaly, type AnomalyType, type DetectorConfig } from './types.ts';

/** One device's detector state as the checkpoint keeps it. */
export interface DetectorRow {
  deviceId: string;
  state: Uint8Array;
}

const STATE_VERSION = 1;
/** Weight of one reading in the long-run mean absolute residual (the noise floor of the spike scale). */
const NOISE_ALPHA = 1 / 32;

/**
 * Views of a device's state: its own doubles, then each detector's, in its slot of the pool (slots.ts). The detectors
 * hold one and point it at the device in hand (point()).
 */
class DeviceDetectors extends Slots {
  declare n: number;
  declare lastTs: number;
  declare noise: number;
  /** Smallest change seen between consecutive readings (the sensor's resolution): a floor of the noise scale. */
  declare resolution: number;
  declare lastValue: number;
  /** Arrival of the device's newest reading: in processing-time mode its silence is measured by it. */
  declare lastArrival: number;
  /** 1 while the device is listed as changed since the last delta. */
  declare dirty: number;
  /** The device the views are at, and its slot. */
  deviceId = '';
  slot = -1;
  readonly spike = new SpikeState();
  readonly rate = new RateState();
  readonly stuck = new StuckState();
  readonly drift = new DriftState();
  readonly dropout: DropoutState;
  readonly history: History;

  constructor(
    private readonly pool: SlotPool,
    history: History,
    dropout: DropoutState,
  ) {
    super();
    this.history = history;
    this.dropout = dropout;
  }

  /** Points the views at `slot`, the state of `deviceId`. */
  point(deviceId: string, slot: number): this {
    this.deviceId = deviceId;
    this.slot = slot;
    const a = this.pool.data(slot);
    const o = this.pool.offset(slot);
    this.view(a, o);
    this.spike.view(a, o + SPIKE_AT);
    this.rate.view(a, o + RATE_AT);
    this.stuck.view(a, o + STUCK_AT);
    this.drift.view(a, o + DRIFT_AT);
    this.dropout.view(a, o + DROPOUT_AT);
    this.history.view(a, o + HISTORY_AT);
    this.history.compact = this.pool.int16s(slot);
    this.dropout.compact = this.pool.int32s(slot);
    return this;
  }

  /** Makes the state the views are at a new device's. */
  reset(): void {
    this.a.fill(0, this.o, this.o + this.pool.width);
    this.n = this.dirty = 0;
    this.lastTs = this.lastArrival = -Infinity;
    this.noise = this.lastValue = NaN;
    this.resolution = Infinity;
    this.spike.reset();
    this.rate.reset();
    this.stuck.reset();
    this.drift.reset();
    this.dropout.reset();
    this.history.reset();
  }

  /** The state as doubles, written to `out` (emptied first), for the checkpoint. */
  save(out: StateOut): void {
    out.length = 0;
    out.push(STATE_VERSION);
    out.copy(this.a, this.o, 5); // n, lastTs, noise, resolution, lastValue: the first five slots
    out.push(this.history.size);
    this.history.saveTo(out);
    this.spike.save(out);
    this.rate.save(out);
    this.stuck.save(out);
    this.drift.save(out);
    this.dropout.save(out);
    // Last, so a state saved before it loads with fresh statistics. Without it a restart judged the next readings
    // against a median and MAD refreshed at the restart rather than the cached ones the uninterrupted run used.
    this.history.saveCacheTo(out);
    out.push(this.lastArrival); // after it: a state saved before loads with none (no dropout until the next reading)
  }

  load(bytes: Uint8Array): void {
    const a = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    if (a[0] !== STATE_VERSION) throw new Error(`detector state of ${this.deviceId}: unknown version ${a[0]}`);
    [, this.n, this.lastTs, this.noise, this.resolution, this.lastValue] = a;
    const size = a[6];
    this.history.load(a.subarray(7, 7 + size));
    let i = 7 + size;
    i = this.spike.load(a, i);
    i = this.rate.load(a, i);
    i = this.stuck.load(a, i);
    i = this.drift.load(a, i);
    i = this.dropout.load(a, i);
    if (i + 3 <= a.length) i = this.history.loadCache(a, i);
    if (i < a.length) this.lastArrival = a[i];
  }
}

const DEVICE_WIDTH = defineSlots(DeviceDetectors, ['n', 'lastTs', 'noise', 'resolution', 'lastValue', 'lastArrival', 'dirty']);
/** Where each detector's state begins in a device's slot, and the history's (the ring of its values last). */
const SPIKE_AT = DEVICE_WIDTH;
const RATE_AT = SPIKE_AT + SPIKE_WIDTH;
const STUCK_AT = RATE_AT + RATE_WIDTH;
const DRIFT_AT = STUCK_AT + STUCK_WIDTH;
const DROPOUT_AT = DRIFT_AT + DRIFT_WIDTH;
const HISTORY_AT = DROPOUT_AT + DROPOUT_WIDTH;

export class Detectors {
  /** Each device's slot in the pool, in the order the devices came. */
  private readonly devices = new Map<string, number>();
  private readonly pool: SlotPool;
  /** The views through which every device's state is read and written, pointed at one device at a time. */
  private readonly view: DeviceDetectors;
  /** The devices changed since the last delta: their ids and slots. */
  private readonly changedIds: string[] = [];
  private readonly changedSlots: number[] = [];
  /** Threshold limits of the devices configured with their own; the others have the global ones. */
  private readonly limits: Map<string, ThresholdLimits>;
  /** A device's state on its way to the store: one array for all (rows.ts: read before the next row). */
  private readonly scratch = new StateOut();

  /**
   * `byArrival` (timeMode "processing"): the watermark follows arrival times while each device's readings keep its
   * own clock, so a device's silence is the watermark's distance from its last arrival. Measured against its last
   * ts instead, a device whose clock is behind the server's by more than a few of its intervals was overdue at once.
   */
  constructor(
    private readonly config: DetectorConfig,
    private readonly byArrival = false,
  ) {
    this.pool = new SlotPool(HISTORY_AT + historyWidth(config.spike.history));
    this.view = new DeviceDetectors(this.pool, new History(config.spike.history, new SlotPool(config.spike.history)), new DropoutState(new SlotPool(DROPOUT_GAPS)));
    this.limits = ownLimits(config.threshold);
  }

  private touch(d: DeviceDetectors): void {
    if (d.dirty === 0) {
      d.dirty = 1;
      this.changedIds.push(d.deviceId);
      this.changedSlots.push(d.slot);
    }
  }

  /** The views pointed at the device's state (a new device's if it has none yet). */
  private device(id: string): DeviceDetectors {
    const s = this.devices.get(id);
    if (s !== undefined) return this.view.point(id, s);
    const slot = this.pool.take();
    this.devices.set(id, slot);
    const d = this.view.point(id, slot);
    d.reset();
    return d;
  }

  restore(rows: Rows<DetectorRow>): void {
    rows.forEach((row) => this.device(row.deviceId).load(row.state));
  }

  /**
   * Device states changed since the last call, for the checkpoint committed with the batch: rows made as the store
   * reads them, of the states as they are then (rows.ts), so to be read before the next reading.
   */
  takeDelta(): Rows<DetectorRow> {
    const ids = this.changedIds.splice(0);
    const slots = this.changedSlots.splice(0);
    const d = this.view;
    for (let i = 0; i < ids.length; i++) d.point(ids[i], slots[i]).dirty = 0;
    const out = this.scratch;
    return new LazyRows(ids.length, (i) => {
      d.point(ids[i], slots[i]).save(out);
      return { deviceId: ids[i], state: new Uint8Array(out.a.buffer, 0, out.length * 8) };
    });
  }

  /** One reading that is not late. Hot path: a map lookup, a few multiply-adds; objects only for anomalies. */
  onReading(r: Reading, out: Anomaly[]): void {
    const c = this.config;
    const d = this.device(r.deviceId);
    const ts = r.ts;
    const x = r.temperature;
    if (c.threshold.enabled) checkThreshold(d.deviceId, ts, x, this.limits.get(d.deviceId) ?? c.threshold, out);
    if (this.byArrival && r.arrival > d.lastArrival) {
      d.lastArrival = r.arrival;
      this.touch(d);
    }
    if (ts < d.lastTs) return; // out of order for this device: the windows count it, the detectors judge series in order
    this.touch(d);
    d.lastTs = ts;
    d.n++;
    const armed = d.n > c.warmupReadings;
    const id = d.deviceId;
    // A detector disabled (a restart with enabled false) while its interval is open still closes it, raising nothing
    // new: left open, the interval would be listed as ongoing for good.
    if (c.dropout.enabled || d.dropout.open) {
      const before = out.length;
      d.dropout.onReading(id, ts, c.dropout.factor, c.dropout.minSilenceMs, armed && c.dropout.enabled, out);
      if (out.length > before) d.drift.rebase(id, ts, c.drift.slack, c.spike.minScale, out); // back from a dropout
    }

    // Spike / dip: judge x against the history before x joins it.
    const h = d.history;
    const sp = c.spike;
    let candidate = false;
    let scale = sp.minScale;
    if (h.size > 0) {
      h.maybeRefresh();
      scale = this.scale(d);
      let z = (x - h.median) / scale;
      if (armed && h.size >= Math.min(h.capacity, c.warmupReadings) && Math.abs(z) > sp.sensitivity) {
        h.refresh(); // judge an extreme reading against fresh statistics
        scale = this.scale(d);
        z = (x - h.median) / scale;
        candidate = sp.enabled && Math.abs(z) > sp.sensitivity;
      }
      if (d.spike.pending) {
        // Back: near where the series was just before the candidate (the last accepted reading, when the candidate
        // jumped away from it by more than the sensitivity) or near the median it was judged against — not merely unremarkable against a median that has moved since. (After a step the
        // median is stale for a while: every reading of the new level is a candidate, and a spike among them still
        // comes back to that level.)
        const jump = Math.abs(d.spike.value - d.rate.refValue);
        const back =
          (jump > sp.sensitivity * d.spike.scale && Math.abs(x - d.rate.refValue) * 2 < jump) ||
          (!candidate && Math.abs(x - d.spike.median) * 2 < Math.abs(d.spike.value - d.spike.median));
        if (back) d.spike.confirm(id, sp.sensitivity, ts, out);
        else {
          // The previous candidate did not come back: a step, not a spike. Judge its rate.
          if (c.rate.enabled) d.rate.check(id, d.spike.ts, d.spike.value, sp.sensitivity * d.spike.scale, c.rate.maxPerMinute, armed, ts, out);
          d.spike.clear();
        }
      }
      if (candidate) d.spike.hold(ts, x, h.median, scale, z);
      else {
        const dev = Math.abs(x - h.median);
        d.noise = d.noise === d.noise ? d.noise + NOISE_ALPHA * (dev - d.noise) : dev;
      }
    }
    const step = Math.abs(x - d.lastValue);
    if (step > 1e-9 && step < d.resolution) d.resolution = step;
    d.lastValue = x;
    h.push(x);
    if (!candidate && c.rate.enabled) d.rate.check(id, ts, x, sp.sensitivity * scale, c.rate.maxPerMinute, armed, ts, out);
    let stuck = false;
    if (c.stuck.enabled || d.stuck.flagged === 1) {
      const was = d.stuck.flagged;
      d.stuck.onReading(id, ts, x, c.stuck.tolerance, c.stuck.minReadings, c.stuck.runFactor, armed && c.stuck.enabled, out);
      stuck = d.stuck.flagged === 1;
      if (was === 1 && !stuck) d.drift.rebase(id, ts, c.drift.slack, c.spike.minScale, out);
    }
    if (c.drift.enabled && !candidate && !stuck) {
      const dr = c.drift;
      const interval = d.dropout.interval;
      const memory = interval > 0 ? Math.max(dr.memoryReadings, dr.memoryMs / interval) : dr.memoryReadings;
      d.drift.onReading(id, ts, x, memory, dr.slack, dr.threshold, sp.minScale, armed, out);
    } else if (!c.drift.enabled && d.drift.alarm !== 0) d.drift.rebase(id, ts, c.drift.slack, sp.minScale, out);
  }

  private scale(d: DeviceDetectors): number {
    const a = 1.4826 * d.history.mad;
    const b = d.noise === d.noise ? 1.2533 * d.noise : 0;
    let m = a > b ? a : b;
    if (d.resolution > m && d.resolution !== Infinity) m = d.resolution;
    return m > this.config.spike.minScale ? m : this.config.spike.minScale;
  }

  /** The watermark moved: devices silent past their expected interval get a dropout. */
  tick(watermark: number, out: Anomaly[]): void {
    const c = this.config;
    if (!c.dropout.enabled || !Number.isFinite(watermark)) return;
    this.devices.forEach((slot, id) => {
      const d = this.view.point(id, slot);
      // By arrival: the watermark on the device's own clock, as far past its last reading as past its last arrival.
      const wm = this.byArrival ? watermark - d.lastArrival + d.dropout.lastTs : watermark;
      if (!Number.isFinite(wm)) return; // restored from before arrivals were kept: judged from its next reading on
      const before = out.length;
      d.dropout.tick(id, wm, c.dropout.factor, c.dropout.minSilenceMs, d.n > c.warmupReadings, out);
      if (out.length > before) this.touch(d);
    });
  }
}
