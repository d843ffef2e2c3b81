import type { ClockState, PaneDelta, PaneRow, WindowResult } from '../engine/event-time.ts';
import type { DedupeDelta, DedupeState } from '../engine/dedupe.ts';
import type { Anomaly, AnomalyType, DetectorRow } from '../engine/detectors/index.ts';
import type { Rows } from '../engine/rows.ts';
import type { PackedWindows } from '../engine/window-pack.ts';
import type { DeadLetter, Reading } from '../ingest/index.ts';

/** A stream filtered by device resumes from the store only while the fleet wrote at most this many times its limit since. */
export const FILTERED_SCAN = 10;

/** Per-device figures of one batch, folded into the devices table. */
export interface DeviceDelta {
  deviceId: string;
  firstSeen: number;
  lastSeen: number;
  readings: number;
  lastTemperature: number;
  lastTs: number;
}

/** The state that lets a restart continue exactly where this batch left off. */
export interface Checkpoint extends ClockState {
  /** The last ingest-log offset this batch consumed. */
  logOffset: number;
  /** The job's definition (window shapes, time mode) as JSON; null after --fresh until the next batch. */
  job: string | null;
  batches: number;
}

/** Everything one batch writes: its outputs and the checkpoint covering them commit in one transaction. */
export interface BatchOutput {
  /** The window results, packed (engine/window-pack.ts): device windows as columns, fleet windows as objects. */
  windows: PackedWindows;
  /** New anomalies, and interval anomalies closed in this batch (same identity: the row is updated). */
  anomalies: readonly Anomaly[];
  devices: readonly DeviceDelta[];
  deadLetters: readonly DeadLetter[];
  late: readonly Reading[];
  /**
   * The watermark the late readings were behind: the one before the batch moved it (it moves once, at the batch's
   * end). Absent: the checkpoint's.
   */
  lateWatermark?: number;
  committedAt: number;
  checkpoint: Checkpoint;
  /** The checkpoint's state: rows made as the store reads them (engine/rows.ts), read before the job goes on. */
  panes: PaneDelta;
  detectors: Rows<DetectorRow>;
  dedupe: DedupeDelta;
  /** Figures of the batch for its row in batch_log (the SSE stream's replay); 0 when absent. */
  records?: number;
  duplicates?: number;
}

export interface RecoveredState {
  checkpoint: Checkpoint;
  panes: PaneRow[];
  detectors: DetectorRow[];
  dedupe: DedupeState;
}

/** Newest first; `before` is the cursor: the (ts, deviceId, type, n) of the last item of the previous page. */
export interface AnomalyQuery {
  deviceId?: string;
  type?: AnomalyType;
  from: number;
  to: number;
  limit: number;
  before?: { ts: number; deviceId: string; type: string; n: number };
}

/**
 * An anomaly as stored: n numbers a device's point anomalies of one type at one ts (0, 1, … in the order they were
 * found; readings of one message without ts share its arrival time); an interval anomaly's is 0.
 */
export type StoredAnomaly = Anomaly & { n: number };

export interface StoreDeps {
  /** Fault injection for tests: runs inside the batch transaction, after the outputs, before the checkpoint. */
  beforeCheckpoint?: (out: BatchOutput) => void;
  /**
   * PostgreSQL: the token of the instance's lock that another store of this process holds (the main thread's, for
   * the batch thread's store): this store takes no lock of its own and commits only while that one holds it.
   */
  instanceLock?: string;
}

/** deviceId '*' (FLEET): the fleet-wide windows, merged over every instance's partial aggregates. */
export interface WindowQuery {
  deviceId: string;
  lengthMs: number;
  slideMs: number;
  from: number;
  to: number;
  limit: number;
}

export interface DeviceRow {
  deviceId: string;
  firstSeen: number;
  lastSeen: number;
  readings: number;
  lastTemperature: number;
}

export interface DeadLetterQuery {
  deviceId?: string;
  reason?: string;
  /** Only dead letters with a smaller id (the previous page's last). */
  beforeId?: number;
  limit: number;
}

export interface LateQuery {
  deviceId?: string;
  /** Only late readings with a smaller id (the previous page's last). */
  beforeId?: number;
  limit: number;
}

/** A reading that came behind the watermark: kept, in no window. */
export interface LateReading {
  id: number;
  deviceId: string;
  ts: number;
  arrival: number;
  temperature: number;
  humidity: number | null;
  seq: number | null;
  /** The watermark it was behind. */
  watermark: number;
}

export interface DeviceQuery {
  /** Only devices whose id sorts after this one (the previous page's last). */
  after?: string;
  limit?: number;
}

/** An instance's list as the shared store recorded it. */
export interface ClusterList {
  instanceId: string;
  instances: string[];
}

/** A committed batch's row in batch_log, as the SSE stream replays it. */
export interface BatchRow {
  batch: number;
  committedAt: number;
  records: number;
  late: number;
  duplicates: number;
  rejected: number;
  windowsUpdated: number;
  watermark: number | null;
  logOffset: number;
}

/** A window row with the commit time of the batch that last wrote it. */
export type UpdatedWindow = WindowResult & { updatedAt: number };

/** An anomaly row with the commit time of the batch that last wrote it. */
export type UpdatedAnomaly = Anomaly & { updatedAt: number };

/** A fleet window's key, for reading its merged value. */
export interface FleetWindowKey {
  lengthMs: number;
  slideMs: number;
  start: number;
}

/**
 * Where results, checkpoints and operator state live: SQLite (embedded, one file in the data dir) or PostgreSQL
 * (shared by several instances). Every method is asynchronous because PostgreSQL is; SQLite does its work
 * synchronously inside (a batch commit is one synchronous transaction) and returns settled promises.
 *
 * Instance-aware: the checkpoint, panes, detector and dedupe state and batch_log belong to `instanceId`; per-device
 * results (windows, devices, anomalies, dead letters, late readings) to the device (one instance owns a device);
 * fleet windows are partial aggregates per instance, merged exactly by every read.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** What the store is, for messages: the SQLite file, or the PostgreSQL URL without its password. */
  readonly file: string;
  readonly instanceId: string;
  /** PostgreSQL: the token of the instance's lock this process holds (StoreDeps.instanceLock for its other stores); SQLite: null. */
  readonly instanceLock: string | null;
  /** Outputs and checkpoint in one transaction. The caller awaits one commit before starting the next. */
  commitBatch(out: BatchOutput): Promise<void>;
  /** This instance's last committed checkpoint with its operator state, or null when it has none. */
  recover(): Promise<RecoveredState | null>;
  /** Retention: deletes final windows, dead letters and late readings older than configured; returns rows deleted. */
  prune(now: number): Promise<number>;
  /**
   * --fresh: forgets the computed windows and this instance's job state, keeping the log offset, devices and dedupe;
   * its devices' open interval anomalies are closed at their last reading (nothing would close them afterwards).
   */
  resetJob(): Promise<void>;
  /**
   * --rebalance: forgets this instance's detector state of the devices it holds some for and no longer `owns`, and
   * closes their open interval anomalies at their last reading, as resetJob does (its detectors would have closed
   * them; the new owner's start afresh). Returns those devices.
   */
  releaseDevices(owns: (deviceId: string) => boolean): Promise<string[]>;
  windows(q: WindowQuery): Promise<WindowResult[]>;
  /** The merged fleet windows of these keys (those that exist), by (lengthMs, slideMs, start). */
  fleetWindows(keys: readonly FleetWindowKey[]): Promise<WindowResult[]>;
  anomalies(q: AnomalyQuery): Promise<StoredAnomaly[]>;
  devices(q?: DeviceQuery): Promise<DeviceRow[]>;
  device(deviceId: string): Promise<DeviceRow | null>;
  deadLetters(q: DeadLetterQuery): Promise<(DeadLetter & { id: number })[]>;
  /** A device's rejected messages, counted by reason. */
  rejectionCounts(deviceId: string): Promise<{ deviceId: string; reason: string; count: number }[]>;
  /**
   * The rejection counts of the first `limit` devices by id after `after` (default: from the first), every reason of
   * each; the messages whose topic named no valid device (counted under '') are not among them.
   */
  rejectionsByDevice(q: { after?: string; limit: number }): Promise<{ deviceId: string; reason: string; count: number }[]>;
  lateCount(): Promise<number>;
  /** Late readings, newest first (by id). */
  lateReadings(q: LateQuery): Promise<LateReading[]>;
  /** This instance's committed batches after `batch`, oldest first, at most `limit`. */
  batchesAfter(batch: number, limit: number): Promise<BatchRow[]>;
  /** The commit time of this instance's `batch`, or null if it is not (or no longer) in batch_log. */
  batchCommittedAt(batch: number): Promise<number | null>;
  /**
   * Windows last written at or after `since` (ms), by updated_at then (deviceId, lengthMs, slideMs, start); null,
   * with no row read, when there are more than `limit`. With `deviceIds`, only theirs (`*`: the fleet's windows), and
   * null too when the whole fleet wrote more than FILTERED_SCAN × (`limit` + 1) device windows since (finding theirs among
   * them is a scan of everyone's).
   */
  windowsUpdatedSince(since: number, limit: number, deviceIds?: readonly string[]): Promise<UpdatedWindow[] | null>;
  /** Anomalies last written at or after `since` (ms), by updated_at then (deviceId, type, ts, n); only `deviceIds`' when given. */
  anomaliesUpdatedSince(since: number, limit: number, deviceIds?: readonly string[]): Promise<UpdatedAnomaly[]>;
  /** A device's open interval anomalies (stuck, drift, dropout not yet over), newest first. */
  openAnomalies(deviceId: string, limit: number): Promise<Anomaly[]>;
  /** A real write (one row, its own transaction) and a directory created (and removed) in the data directory; rejects if either fails. */
  probeWrite(now: number): Promise<void>;
  /**
   * The instance lists that the instances sharing this store last started with (server/cluster/membership.ts),
   * this one's included. SQLite is one instance's own store: none (its data dir's cluster.json is the record).
   */
  clusterLists(): Promise<ClusterList[]>;
  /** Records this instance's list; `forgetOthers` (--rebalance) also drops the records of instances not in it. */
  recordClusterList(instances: readonly string[], forgetOthers: boolean): Promise<void>;
  /**
   * A commit failed: what the engine should do. 'no-space' (a full disk under SQLite) and 'unavailable' (the
   * connection to PostgreSQL is lost) are waited out, committing the same batch again; null: fatal.
   */
  transient(err: unknown): 'no-space' | 'unavailable' | null;
  /** The error to stop with when a commit fails fatally (with a code of ours where one fits). */
  fatal(err: unknown): Error;
  close(): Promise<void>;
}
