import { anyCounted, byTypeRecord, meanWithin, stddev, type Aggregate } from './aggregate.ts';
import { ANOMALY_TYPES, type AnomalyType } from './detectors/index.ts';
import { FLEET, type WindowResult } from './event-time.ts';

/**
 * A device window's numbers, in the order of the windows table's columns: lengthMs, slideMs, start, end, count, avg,
 * min, max, stddev, first, last, humidityCount, humidityAvg, humidityMin, humidityMax, humidityStddev, humidityFirst,
 * humidityLast, anomalies (FIGURES of them); then final (0 or 1); then where its anomalies by type begin in the
 * packed windows' `types` (−1: none, as for most windows). A figure that is null is NaN here: no window figure is NaN
 * otherwise.
 */
const FIGURES = 19;
const FINAL = FIGURES;
const TYPES_AT = FIGURES + 1;
const TYPES: readonly AnomalyType[] = ANOMALY_TYPES;
const WIDTH = TYPES_AT + 1;

/** Device windows per chunk of numbers (≈ 690 KB). */
const CHUNK = 4096;
/** Whole chunks a packer keeps for its next batches (recycle()). */
const SPARE_CHUNKS = 4;

/**
 * A batch's window results as the engine emits them, the store commits them and the main thread receives them: the
 * device windows as columns of numbers, in chunks of CHUNK windows handed between threads without a copy, and their
 * ids; the fleet windows, a few per batch and carrying the sums a shared store merges, as objects. A large fleet's
 * batch has 100,000 device windows and more: as objects they were the batch thread's garbage and, cloned to the main
 * thread (the broker's), ≈ 10 µs each to receive (bench window-transfer). They are made into objects only where one
 * is read (a live stream's subscriber, tests).
 */
export interface PackedWindows {
  deviceIds: string[];
  /** WIDTH numbers per device window, CHUNK windows per array; the last array holds just the rest. */
  chunks: Float64Array[];
  /**
   * The anomalies by type of the device windows with any, TYPES.length counts each: kept aside, since most windows
   * have none (as columns of every window they were 7 of its 27 numbers).
   */
  types: number[];
  fleet: WindowResult[];
}

const orNull = (x: number): number | null => (Number.isNaN(x) ? null : x);

/**
 * Writes one quantity's seven figures at `o` (count, avg, min, max, stddev, first, last; NaN for none): the one place
 * they are computed, for the temperature and for the humidity.
 */
function writeFigures(n: Float64Array, o: number, count: number, sum: number, sumSq: number, min: number, max: number, first: number, last: number): void {
  const any = count > 0;
  n[o] = count;
  n[o + 1] = any ? meanWithin(sum, count, min, max) : NaN;
  n[o + 2] = any ? min : NaN;
  n[o + 3] = any ? max : NaN;
  // Equal readings (a stuck sensor) have no spread: sumSq / n − mean² leaves a rounding residue of ~1e-13 (2e-7 °C).
  n[o + 4] = any ? (min === max ? 0 : stddev(count, sum, sumSq)) : NaN;
  n[o + 5] = any ? first : NaN;
  n[o + 6] = any ? last : NaN;
}

/** Writes a window's numbers at `o` from its aggregate, its anomalies by type (if any) to `types`. */
function writeWindow(
  n: Float64Array, o: number, types: number[], lengthMs: number, slideMs: number, start: number, end: number, final: boolean, a: Aggregate,
): void {
  n[o] = lengthMs;
  n[o + 1] = slideMs;
  n[o + 2] = start;
  n[o + 3] = end;
  writeFigures(n, o + 4, a.count, a.sum, a.sumSq, a.min, a.max, a.first, a.last);
  writeFigures(n, o + 11, a.humidityCount, a.humiditySum, a.humiditySumSq, a.humidityMin, a.humidityMax, a.humidityFirst, a.humidityLast);
  n[o + 18] = a.anomalies;
  n[o + FINAL] = final ? 1 : 0;
  writeTypes(n, o, types, a.byType);
}

/** A window's anomalies by type (null: none) kept aside in `types`, if it has any; where they are, at TYPES_AT. */
function writeTypes(n: Float64Array, o: number, types: number[], byType: ArrayLike<number> | null): void {
  if (!anyCounted(byType)) return void (n[o + TYPES_AT] = -1);
  n[o + TYPES_AT] = types.length;
  for (let i = 0; i < TYPES.length; i++) types.push(byType[i]);
}

/** The anomalies by type of the window at `o`. */
function typesOf(n: Float64Array, o: number, types: readonly number[]): Record<AnomalyType, number> {
  const at = n[o + TYPES_AT];
  return at < 0 ? byTypeRecord(null) : byTypeRecord(types, at);
}

function readWindow(deviceId: string, n: Float64Array, o: number, types: readonly number[]): WindowResult {
  return {
    deviceId,
    lengthMs: n[o],
    slideMs: n[o + 1],
    start: n[o + 2],
    end: n[o + 3],
    final: n[o + FINAL] === 1,
    count: n[o + 4],
    avg: orNull(n[o + 5]),
    min: orNull(n[o + 6]),
    max: orNull(n[o + 7]),
    stddev: orNull(n[o + 8]),
    first: orNull(n[o + 9]),
    last: orNull(n[o + 10]),
    humidityCount: n[o + 11],
    humidityAvg: orNull(n[o + 12]),
    humidityMin: orNull(n[o + 13]),
    humidityMax: orNull(n[o + 14]),
    humidityStddev: orNull(n[o + 15]),
    humidityFirst: orNull(n[o + 16]),
    humidityLast: orNull(n[o + 17]),
    anomalies: n[o + 18],
    anomaliesByType: typesOf(n, o, types),
  };
}

const scratch = new Float64Array(WIDTH);
const scratchTypes: number[] = [];

/** A window's result from its aggregate, as an object (fleet windows, the store's reads). */
export function windowResult(deviceId: string, lengthMs: number, slideMs: number, start: number, end: number, final: boolean, a: Aggregate): WindowResult {
  scratchTypes.length = 0;
  writeWindow(scratch, 0, scratchTypes, lengthMs, slideMs, start, end, final, a);
  return readWindow(deviceId, scratch, 0, scratchTypes);
}

/** Collects a batch's window results packed, as the engine emits them (EventTimeWindows). */
export class WindowPacker {
  private deviceIds: string[] = [];
  private chunks: Float64Array[] = [];
  private types: number[] = [];
  private fleet: WindowResult[] = [];
  /**
   * Whole chunks to fill again: a batch's windows live from its end to its commit, long enough to outlive the young
   * generation, so that new chunks each batch were old garbage (≈ 2 MB a batch at 10,000 devices).
   */
  private readonly spare: Float64Array[] = [];

  add(deviceId: string, lengthMs: number, slideMs: number, start: number, end: number, final: boolean, a: Aggregate): void {
    if (deviceId === FLEET) {
      const r = windowResult(deviceId, lengthMs, slideMs, start, end, final, a);
      // The raw sums a shared store keeps as this instance's partial of the fleet window (merged exactly on read).
      const { sum, sumSq, firstTs, lastTs, humiditySum, humiditySumSq, humidityFirstTs, humidityLastTs } = a;
      r.sums = { sum, sumSq, firstTs, lastTs, humiditySum, humiditySumSq, humidityFirstTs, humidityLastTs };
      this.fleet.push(r);
      return;
    }
    writeWindow(this.slot(deviceId), (this.deviceIds.length - 1) % CHUNK * WIDTH, this.types, lengthMs, slideMs, start, end, final, a);
  }

  /** A window as it is (packWindows). */
  addResult(w: WindowResult): void {
    if (w.deviceId === FLEET) return void this.fleet.push(w);
    const n = this.slot(w.deviceId);
    const o = (this.deviceIds.length - 1) % CHUNK * WIDTH;
    const figures = [w.lengthMs, w.slideMs, w.start, w.end, w.count, w.avg, w.min, w.max, w.stddev, w.first, w.last, w.humidityCount,
      w.humidityAvg, w.humidityMin, w.humidityMax, w.humidityStddev, w.humidityFirst, w.humidityLast, w.anomalies];
    figures.forEach((x, j) => (n[o + j] = x ?? NaN));
    n[o + FINAL] = w.final ? 1 : 0;
    writeTypes(n, o, this.types, TYPES.map((t) => w.anomaliesByType[t]));
  }

  /** The chunk the next device window goes to (its place: the last of the chunk's windows). */
  private slot(deviceId: string): Float64Array {
    if (this.deviceIds.length % CHUNK === 0) this.chunks.push(this.spare.pop() ?? new Float64Array(CHUNK * WIDTH));
    this.deviceIds.push(deviceId);
    return this.chunks[this.chunks.length - 1];
  }

  /**
   * The windows added since the last take; the next ones go to other arrays (these may be handed over). The last chunk
   * is cut to the windows in it (a copy; the whole one is filled again): a live stream keeps recent batches, most of
   * them small.
   */
  take(): PackedWindows {
    const rest = this.deviceIds.length % CHUNK;
    if (rest > 0) {
      const whole = this.chunks[this.chunks.length - 1];
      this.chunks[this.chunks.length - 1] = whole.slice(0, rest * WIDTH);
      this.keep(whole);
    }
    const p = { deviceIds: this.deviceIds, chunks: this.chunks, types: this.types, fleet: this.fleet };
    this.deviceIds = [];
    this.chunks = [];
    this.types = [];
    this.fleet = [];
    return p;
  }

  /** Windows taken from this packer that nobody reads any more (committed, not handed over): their chunks are filled again. */
  recycle(p: PackedWindows): void {
    for (const c of p.chunks) this.keep(c);
  }

  private keep(chunk: Float64Array): void {
    // A chunk handed to another thread is detached (length 0); a cut one is not whole.
    if (chunk.length === CHUNK * WIDTH && this.spare.length < SPARE_CHUNKS) this.spare.push(chunk);
  }
}

/** Window objects packed (a store's tests, tools): device windows' figures as they are, fleet windows kept whole. */
export function packWindows(windows: readonly WindowResult[]): PackedWindows {
  const packer = new WindowPacker();
  for (const w of windows) packer.addResult(w);
  return packer.take();
}

/** The arrays to hand over with a batch's windows (a transfer list). */
export const windowBuffers = (p: PackedWindows): ArrayBuffer[] => p.chunks.map((c) => c.buffer as ArrayBuffer);

export const windowCount = (p: PackedWindows): number => p.deviceIds.length + p.fleet.length;

/** The device windows as objects (the fleet windows are p.fleet). */
export function unpackDeviceWindows(p: PackedWindows): WindowResult[] {
  return p.deviceIds.map((id, i) => readWindow(id, p.chunks[Math.floor(i / CHUNK)], (i % CHUNK) * WIDTH, p.types));
}

/** Every window as objects: the device windows, then the fleet's. */
export const windowObjects = (p: PackedWindows): WindowResult[] => [...unpackDeviceWindows(p), ...p.fleet];

/**
 * A window's anomaly counts as the stores keep them (anomaly_counts): the types with a count, `{}` for a window without
 * anomalies (most of them). Every type, 0 where none, took ≈ 75 of a windows row's ≈ 370 bytes.
 */
export function anomalyCountsJson(byType: Record<string, number>): string {
  let json = '';
  for (const t of TYPES) if ((byType[t] ?? 0) !== 0) json += `${json === '' ? '' : ','}"${t}":${byType[t]}`;
  return `{${json}}`;
}

/** anomaly_counts back as anomaliesByType: every type, 0 where none (rows written before also list the zeros). */
export function anomalyCountsFrom(json: string): Record<AnomalyType, number> {
  const stored = JSON.parse(json) as Partial<Record<AnomalyType, number>>;
  const out = {} as Record<AnomalyType, number>;
  for (const t of TYPES) out[t] = stored[t] ?? 0;
  return out;
}

/**
 * Device window i as the windows table's row values: device_id, the figures (null for none), anomaly_counts, final,
 * updated_at.
 */
export function windowRowValues(p: PackedWindows, i: number, updatedAt: number): unknown[] {
  const n = p.chunks[Math.floor(i / CHUNK)];
  const o = (i % CHUNK) * WIDTH;
  const row: unknown[] = [p.deviceIds[i]];
  for (let j = 0; j < FIGURES; j++) row.push(orNull(n[o + j]));
  row.push(anomalyCountsJson(typesOf(n, o, p.types)), n[o + FINAL], updatedAt);
  return row;
}
