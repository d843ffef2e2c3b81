import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../config.ts';
import type { ClockState, PaneDelta, PaneRow, WindowResult } from '../engine/event-time.ts';
import type { DedupeDelta, DedupeRow, DedupeState, MessageIdRow } from '../engine/dedupe.ts';
import { ANOMALY_TYPES, type Anomaly, type AnomalyType, type DetectorRow } from '../engine/detectors/index.ts';
import type { DeadLetter, Reading } from '../ingest/index.ts';
import { ANOMALY_COLUMNS, createApiQueries, WINDOW_COLUMNS, windowFromRow, type ApiQueries, type WindowRow } from './queries.ts';

export type { BatchRow, UpdatedAnomaly, UpdatedWindow } from './queries.ts';
import { migrate } from './migrate.ts';
import { dbCorrupt, dbNoSpace } from './errors.ts';

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
  windows: readonly WindowResult[];
  /** New anomalies, and interval anomalies closed in this batch (same identity: the row is updated). */
  anomalies: readonly Anomaly[];
  devices: readonly DeviceDelta[];
  deadLetters: readonly DeadLetter[];
  late: readonly Reading[];
  committedAt: number;
  checkpoint: Checkpoint;
  panes: PaneDelta;
  detectors: readonly DetectorRow[];
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

/** Newest first; `before` is the cursor: the (ts, deviceId, type) of the last item of the previous page. */
export interface AnomalyQuery {
  deviceId?: string;
  type?: AnomalyType;
  from: number;
  to: number;
  limit: number;
  before?: { ts: number; deviceId: string; type: string };
}

export interface StoreDeps {
  /** Fault injection for tests: runs inside the batch transaction, after the outputs, before the checkpoint. */
  beforeCheckpoint?: (out: BatchOutput) => void;
}

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

export interface DeviceQuery {
  /** Only devices whose id sorts after this one (the previous page's last). */
  after?: string;
  limit?: number;
}

export interface Store extends ApiQueries {
  readonly file: string;
  commitBatch(out: BatchOutput): void;
  /** The last committed checkpoint with its operator state, or null on a fresh data dir. */
  recover(): RecoveredState | null;
  /** Retention: deletes final windows, dead letters and late readings older than configured; returns rows deleted. */
  prune(now: number): number;
  /** --fresh: forgets the computed windows and the job's state, keeping the log offset, devices and dedupe. */
  resetJob(): void;
  windows(q: WindowQuery): WindowResult[];
  anomalies(q: AnomalyQuery): Anomaly[];
  devices(q?: DeviceQuery): DeviceRow[];
  device(deviceId: string): DeviceRow | null;
  deadLetters(q: DeadLetterQuery): (DeadLetter & { id: number })[];
  rejectionCounts(): { deviceId: string; reason: string; count: number }[];
  lateCount(): number;
  close(): Promise<void>;
}

export const DB_FILE = 'thermostream.db';

/** The anomaly_counts text of a window without anomalies (most of them): every type, 0, in ANOMALY_TYPES order. */
const NO_ANOMALIES_JSON = JSON.stringify(Object.fromEntries(ANOMALY_TYPES.map((t) => [t, 0])));

/** JSON.stringify(byType), without stringifying when every count is 0 (summarize builds byType in ANOMALY_TYPES order). */
function anomalyCountsJson(byType: Record<AnomalyType, number>): string {
  for (const t of ANOMALY_TYPES) if (byType[t] !== 0) return JSON.stringify(byType);
  return NO_ANOMALIES_JSON;
}

/**
 * Opens (or creates) the database and checks it: a damaged file (truncated, overwritten) is refused with
 * TS_ERR_DB_CORRUPT naming it, rather than failing at some later batch. quick_check reads every page once.
 */
function openDatabase(file: string, dir: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    // FULL: a committed checkpoint survives a power cut too. Log segments are deleted once a checkpoint covers them,
    // so a checkpoint that could roll back would leave records nobody can replay. One fsync per batch is cheap.
    db.pragma('synchronous = FULL');
    const problems = db.pragma('quick_check(5)', { simple: false }) as { quick_check: string }[];
    if (problems.length !== 1 || problems[0].quick_check !== 'ok') {
      throw dbCorrupt(file, `quick_check: ${problems.map((p) => p.quick_check).join('; ')}`);
    }
    migrate(db, file);
    return db;
  } catch (err) {
    db?.close();
    throw dbNoSpace(err, file, dir);
  }
}

export async function createStore(config: Pick<Config, 'dataDir' | 'retention'>, deps: StoreDeps = {}): Promise<Store> {
  const dir = resolve(config.dataDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, DB_FILE);
  const db = openDatabase(file, dir);

  // ON CONFLICT DO UPDATE rewrites the row in place; INSERT OR REPLACE would delete it and re-insert it, touching the
  // primary key and both indexes twice. Positional parameters: no object per row.
  const upsertWindow = db.prepare(`
    INSERT INTO windows (device_id, length_ms, slide_ms, start, end, count, avg, min, max, stddev, first, last,
      humidity_count, humidity_avg, humidity_min, humidity_max, humidity_stddev, humidity_first, humidity_last,
      anomalies, anomaly_counts, final, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (device_id, length_ms, slide_ms, start) DO UPDATE SET
      end = excluded.end, count = excluded.count, avg = excluded.avg, min = excluded.min, max = excluded.max,
      stddev = excluded.stddev, first = excluded.first, last = excluded.last,
      humidity_count = excluded.humidity_count, humidity_avg = excluded.humidity_avg,
      humidity_min = excluded.humidity_min, humidity_max = excluded.humidity_max,
      humidity_stddev = excluded.humidity_stddev, humidity_first = excluded.humidity_first,
      humidity_last = excluded.humidity_last, anomalies = excluded.anomalies,
      anomaly_counts = excluded.anomaly_counts, final = excluded.final, updated_at = excluded.updated_at`);
  const upsertAnomaly = db.prepare(`
    INSERT OR REPLACE INTO anomalies (device_id, type, ts, score, value, expected, threshold, start, end, detected_at, updated_at)
    VALUES (@deviceId, @type, @ts, @score, @value, @expected, @threshold, @start, @end, @detectedAt, @updatedAt)`);
  const upsertDetector = db.prepare('INSERT OR REPLACE INTO detector_state (device_id, state) VALUES (@deviceId, @state)');
  const upsertDevice = db.prepare(`
    INSERT INTO devices (device_id, first_seen, last_seen, readings, last_temperature, last_ts)
    VALUES (@deviceId, @firstSeen, @lastSeen, @readings, @lastTemperature, @lastTs)
    ON CONFLICT (device_id) DO UPDATE SET
      first_seen = min(first_seen, excluded.first_seen),
      last_seen = max(last_seen, excluded.last_seen),
      readings = readings + excluded.readings,
      last_temperature = CASE WHEN excluded.last_ts >= last_ts THEN excluded.last_temperature ELSE last_temperature END,
      last_ts = max(last_ts, excluded.last_ts)`);
  const insertDeadLetter = db.prepare(`
    INSERT INTO dead_letters (received_at, device_id, topic, reason, detail, payload, payload_bytes)
    VALUES (@receivedAt, @deviceId, @topic, @reason, @detail, @payload, @payloadBytes)`);
  const countRejection = db.prepare(`
    INSERT INTO rejections (device_id, reason, count) VALUES (?, ?, 1)
    ON CONFLICT (device_id, reason) DO UPDATE SET count = count + 1`);
  const insertLate = db.prepare(`
    INSERT INTO late_readings (device_id, ts, arrival, temperature, humidity, seq, watermark)
    VALUES (?, ?, ?, ?, ?, ?, ?)`);

  const upsertPane = db.prepare(
    'INSERT OR REPLACE INTO panes (length_ms, slide_ms, key, start, state) VALUES (?, ?, ?, ?, ?)',
  );
  const deletePane = db.prepare(
    'DELETE FROM panes WHERE length_ms = @lengthMs AND slide_ms = @slideMs AND key = @key AND start = @start',
  );
  const upsertDedupe = db.prepare(
    'INSERT OR REPLACE INTO dedupe (device_id, max_seq, max_ts, seen, last_seen) VALUES (?, ?, ?, ?, ?)',
  );
  const deleteDedupe = db.prepare('DELETE FROM dedupe WHERE device_id = ?');
  const upsertDedupeIds = db.prepare(
    'INSERT OR REPLACE INTO dedupe_ids (device_id, ids, last_seen) VALUES (@deviceId, @ids, @lastSeen)',
  );
  const deleteDedupeIds = db.prepare('DELETE FROM dedupe_ids WHERE device_id = ?');
  const writeCheckpoint = db.prepare(`
    INSERT OR REPLACE INTO checkpoint (id, log_offset, job, watermark, max_event_time, batches, updated_at)
    VALUES (1, @logOffset, @job, @watermark, @maxEventTime, @batches, @updatedAt)`);
  // SQLite has no Infinity in REAL columns that survives every client: store "none yet" as NULL.
  const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

  const queries = createApiQueries(db, dir);
  const commit = db.transaction((out: BatchOutput) => {
    for (const w of out.windows) {
      upsertWindow.run(
        w.deviceId, w.lengthMs, w.slideMs, w.start, w.end, w.count, w.avg, w.min, w.max, w.stddev, w.first, w.last,
        w.humidityCount, w.humidityAvg, w.humidityMin, w.humidityMax, w.humidityStddev, w.humidityFirst, w.humidityLast,
        w.anomalies, anomalyCountsJson(w.anomaliesByType), w.final ? 1 : 0, out.committedAt,
      );
    }
    for (const a of out.anomalies) upsertAnomaly.run({ ...a, score: finiteOrNull(a.score) ?? 0, updatedAt: out.committedAt });
    for (const d of out.devices) upsertDevice.run(d);
    for (const dl of out.deadLetters) {
      insertDeadLetter.run(dl);
      countRejection.run(dl.deviceId ?? '', dl.reason);
    }
    for (const r of out.late) {
      insertLate.run(r.deviceId, r.ts, r.arrival, r.temperature, r.humidity ?? null, r.seq ?? null, out.checkpoint.watermark);
    }
    queries.logBatch(out);
    deps.beforeCheckpoint?.(out);
    for (const p of out.panes.upserts) upsertPane.run(p.lengthMs, p.slideMs, p.key, p.start, p.state);
    for (const p of out.panes.deletes) deletePane.run(p);
    for (const d of out.detectors) upsertDetector.run(d);
    for (const d of out.dedupe.seqs) upsertDedupe.run(d.deviceId, d.maxSeq, finiteOrNull(d.maxTs), d.seen, finiteOrNull(d.lastSeen));
    for (const id of out.dedupe.evictedSeqs) deleteDedupe.run(id);
    for (const d of out.dedupe.messageIds) upsertDedupeIds.run({ ...d, lastSeen: finiteOrNull(d.lastSeen) });
    for (const id of out.dedupe.evictedMessageIds) deleteDedupeIds.run(id);
    const c = out.checkpoint;
    writeCheckpoint.run({
      ...c,
      watermark: finiteOrNull(c.watermark),
      maxEventTime: finiteOrNull(c.maxEventTime),
      updatedAt: out.committedAt,
    });
  });

  const selectCheckpoint = db.prepare(
    'SELECT log_offset AS logOffset, job, watermark, max_event_time AS maxEventTime, batches FROM checkpoint WHERE id = 1',
  );
  const selectPanes = db.prepare('SELECT length_ms AS lengthMs, slide_ms AS slideMs, key, start, state FROM panes');
  const selectDetectors = db.prepare('SELECT device_id AS deviceId, state FROM detector_state');
  const selectDedupe = db.prepare(
    'SELECT device_id AS deviceId, max_seq AS maxSeq, max_ts AS maxTs, seen, last_seen AS lastSeen FROM dedupe',
  );
  const selectDedupeIds = db.prepare('SELECT device_id AS deviceId, ids, last_seen AS lastSeen FROM dedupe_ids');
  type Nullable<T, K extends keyof T> = Omit<T, K> & { [P in K]: number | null };
  const pruneWindows = db.prepare('DELETE FROM windows WHERE end < ? AND final = 1');
  const pruneDeadLetters = db.prepare('DELETE FROM dead_letters WHERE received_at < ?');
  const pruneLate = db.prepare('DELETE FROM late_readings WHERE arrival < ?');
  // Open interval anomalies (end NULL) are kept until they close.
  const pruneAnomalies = db.prepare('DELETE FROM anomalies WHERE ts < ? AND NOT (start IS NOT NULL AND end IS NULL)');
  const { windowsMs, deadLettersMs, lateReadingsMs, anomaliesMs } = config.retention;
  const prune = db.transaction((now: number) => {
    let deleted = 0;
    if (windowsMs > 0) {
      deleted += pruneWindows.run(now - windowsMs).changes;
      queries.pruneBatchLog(now - windowsMs); // not counted: bookkeeping of the SSE resume, not results
    }
    if (deadLettersMs > 0) deleted += pruneDeadLetters.run(now - deadLettersMs).changes;
    if (lateReadingsMs > 0) deleted += pruneLate.run(now - lateReadingsMs).changes;
    if (anomaliesMs > 0) deleted += pruneAnomalies.run(now - anomaliesMs).changes;
    return deleted;
  });
  const resetJob = db.transaction(() => {
    db.exec("DELETE FROM windows; DELETE FROM panes; DELETE FROM detector_state; UPDATE checkpoint SET job = NULL, watermark = NULL, max_event_time = NULL");
  });

  const selectWindows = db.prepare(`
    SELECT * FROM (
      SELECT ${WINDOW_COLUMNS}
      FROM windows
      WHERE device_id = @deviceId AND length_ms = @lengthMs AND slide_ms = @slideMs AND start >= @from AND start < @to
      ORDER BY start DESC LIMIT @limit
    ) ORDER BY start ASC`);
  const selectAnomalies = db.prepare(`
    SELECT ${ANOMALY_COLUMNS}
    FROM anomalies
    WHERE (@deviceId IS NULL OR device_id = @deviceId) AND (@type IS NULL OR type = @type) AND ts >= @from AND ts < @to
      AND (@beforeTs IS NULL OR (ts, device_id, type) < (@beforeTs, @beforeDevice, @beforeType))
    ORDER BY ts DESC, device_id DESC, type DESC LIMIT @limit`);
  const selectDevices = db.prepare(`
    SELECT device_id AS deviceId, first_seen AS firstSeen, last_seen AS lastSeen, readings,
      last_temperature AS lastTemperature
    FROM devices WHERE device_id > @after ORDER BY device_id LIMIT @limit`);
  const selectDevice = db.prepare(`
    SELECT device_id AS deviceId, first_seen AS firstSeen, last_seen AS lastSeen, readings,
      last_temperature AS lastTemperature
    FROM devices WHERE device_id = ?`);
  const selectDeadLetters = db.prepare(`
    SELECT id, received_at AS receivedAt, device_id AS deviceId, topic, reason, detail, payload,
      payload_bytes AS payloadBytes
    FROM dead_letters
    WHERE (@deviceId IS NULL OR device_id = @deviceId) AND (@reason IS NULL OR reason = @reason) AND id < @beforeId
    ORDER BY id DESC LIMIT @limit`);
  const selectRejections = db.prepare(
    'SELECT device_id AS deviceId, reason, count FROM rejections ORDER BY device_id, reason',
  );
  const selectLateCount = db.prepare('SELECT count(*) AS n FROM late_readings').pluck();

  return {
    file,
    commitBatch: (out) => commit(out),
    recover() {
      const c = selectCheckpoint.get() as (Omit<Checkpoint, 'watermark' | 'maxEventTime'> & { watermark: number | null; maxEventTime: number | null }) | undefined;
      if (c === undefined) return null;
      return {
        checkpoint: { ...c, watermark: c.watermark ?? -Infinity, maxEventTime: c.maxEventTime ?? -Infinity },
        panes: selectPanes.all() as PaneRow[],
        detectors: selectDetectors.all() as DetectorRow[],
        dedupe: {
          seqs: (selectDedupe.all() as Nullable<DedupeRow, 'maxTs' | 'lastSeen'>[]).map((d) => ({
            ...d,
            maxTs: d.maxTs ?? -Infinity,
            lastSeen: d.lastSeen ?? -Infinity,
          })),
          messageIds: (selectDedupeIds.all() as Nullable<MessageIdRow, 'lastSeen'>[]).map((d) => ({
            ...d,
            lastSeen: d.lastSeen ?? -Infinity,
          })),
        },
      };
    },
    prune: (now) => prune(now),
    resetJob: () => resetJob(),
    windows: (q) =>
      (selectWindows.all(q) as WindowRow[]).map(windowFromRow),
    anomalies: (q) =>
      selectAnomalies.all({
        deviceId: q.deviceId ?? null,
        type: q.type ?? null,
        from: q.from,
        to: q.to,
        limit: q.limit,
        beforeTs: q.before?.ts ?? null,
        beforeDevice: q.before?.deviceId ?? null,
        beforeType: q.before?.type ?? null,
      }) as Anomaly[],
    ...queries,
    devices: (q = {}) => selectDevices.all({ after: q.after ?? '', limit: q.limit ?? -1 }) as DeviceRow[],
    device: (deviceId) => (selectDevice.get(deviceId) as DeviceRow | undefined) ?? null,
    deadLetters: (q) =>
      selectDeadLetters.all({
        deviceId: q.deviceId ?? null,
        reason: q.reason ?? null,
        beforeId: q.beforeId ?? Number.MAX_SAFE_INTEGER,
        limit: q.limit,
      }) as (DeadLetter & {
        id: number;
      })[],
    rejectionCounts: () => selectRejections.all() as { deviceId: string; reason: string; count: number }[],
    lateCount: () => selectLateCount.get() as number,
    async close() {
      db.close();
    },
  };
}
