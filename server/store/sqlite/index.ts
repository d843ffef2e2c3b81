import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Config } from '../../config.ts';
import { FLEET, type PaneRow } from '../../engine/event-time.ts';
import type { DedupeRow, MessageIdRow } from '../../engine/dedupe.ts';
import type { DetectorRow } from '../../engine/detectors/index.ts';
import { isNoSpaceIn } from '../../storage-health.ts';
import { FLEET_INSERT_COLUMNS, partialValues } from '../fleet.ts';
import { windowRowValues } from '../../engine/window-pack.ts';
import type { BatchOutput, Checkpoint, Store, StoreDeps } from '../types.ts';
import { createSqliteQueries } from './queries.ts';
import { migrate } from './migrate.ts';
import { checkIntact, dbError, dbNoSpace, resultsDb } from './errors.ts';

export const DB_FILE = 'thermostream.db';

/** Opens (or creates) the database and checks it (checkIntact) before it is migrated. */
function openDatabase(file: string, dir: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    // FULL: a committed checkpoint survives a power cut too. Log segments are deleted once a checkpoint covers them,
    // so a checkpoint that could roll back would leave records nobody can replay. One fsync per batch is cheap.
    db.pragma('synchronous = FULL');
    // SQLite's own default page cache, 2 MB a connection (better-sqlite3 builds SQLite with 16 MB). At 100,000 devices
    // a batch dirties ≈ 50 MB of pages spread over its tables, more than either holds: the larger cache saved no
    // commit time and cost ≈ 35 MB of peak RSS (docs/BENCHMARKS.md); the smaller one spills more pages to the WAL.
    db.pragma('cache_size = -2000');
    checkIntact(db, resultsDb(file));
    migrate(db, file);
    return db;
  } catch (err) {
    db?.close();
    throw dbNoSpace(err, file, dir);
  }
}

type SqliteConfig = Pick<Config, 'dataDir' | 'retention'> & { cluster?: { instanceId: string } };

/** The embedded store: one SQLite file in the data dir, every write synchronous (a batch is one transaction). */
export async function createSqliteStore(config: SqliteConfig, deps: StoreDeps = {}): Promise<Store> {
  const dir = resolve(config.dataDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, DB_FILE);
  const db = openDatabase(file, dir);
  const instanceId = config.cluster?.instanceId ?? 'main';

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
  const upsertFleet = db.prepare(`
    INSERT OR REPLACE INTO fleet_windows (${FLEET_INSERT_COLUMNS.join(', ')})
    VALUES (${FLEET_INSERT_COLUMNS.map(() => '?').join(', ')})`);
  // An interval anomaly's row is written as it opens and again as it closes; a point anomaly is a new row, numbered
  // after those of its device, type and ts (schema version 9).
  const upsertInterval = db.prepare(`
    INSERT OR REPLACE INTO anomalies (device_id, type, ts, n, score, value, expected, threshold, start, end, detected_at, updated_at)
    VALUES (@deviceId, @type, @ts, 0, @score, @value, @expected, @threshold, @start, @end, @detectedAt, @updatedAt)`);
  const insertPoint = db.prepare(`
    INSERT INTO anomalies (device_id, type, ts, n, score, value, expected, threshold, start, end, detected_at, updated_at)
    VALUES (@deviceId, @type, @ts,
      (SELECT coalesce(max(n) + 1, 0) FROM anomalies WHERE device_id = @deviceId AND type = @type AND ts = @ts),
      @score, @value, @expected, @threshold, @start, @end, @detectedAt, @updatedAt)`);
  // A device's rows (devices, detector and dedupe state) and panes: a new row is keyed by this batch (first_batch,
  // schema version 11), an existing one is found by its unique index and updated where it is. (Not moved: an UPDATE
  // that may set a key column deletes and inserts every row it updates, and rewrites its index entries. So rows from
  // before version 11, at first_batch 0, stay where the upgrade put them.)
  const upsertDetector = db.prepare(`
    INSERT INTO detector_state (instance_id, device_id, first_batch, state) VALUES (?, ?, ?, ?)
    ON CONFLICT (instance_id, device_id) DO UPDATE SET state = excluded.state`);
  const upsertDevice = db.prepare(`
    INSERT INTO devices (device_id, first_batch, first_seen, last_seen, readings, last_temperature, last_ts)
    VALUES (?, ?, ?, ?, ?, ?, ?)
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

  const upsertPane = db.prepare(`
    INSERT INTO panes (instance_id, length_ms, slide_ms, key, start, first_batch, state) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (instance_id, length_ms, slide_ms, start, key) DO UPDATE SET state = excluded.state`);
  const deletePane = db.prepare(
    'DELETE FROM panes WHERE instance_id = ? AND length_ms = ? AND slide_ms = ? AND key = ? AND start = ?',
  );
  const upsertDedupe = db.prepare(`
    INSERT INTO dedupe (instance_id, device_id, first_batch, max_seq, max_ts, seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (instance_id, device_id) DO UPDATE SET
      max_seq = excluded.max_seq, max_ts = excluded.max_ts, seen = excluded.seen, last_seen = excluded.last_seen`);
  const deleteDedupe = db.prepare('DELETE FROM dedupe WHERE instance_id = ? AND device_id = ?');
  const upsertDedupeIds = db.prepare(`
    INSERT INTO dedupe_ids (instance_id, device_id, first_batch, ids, last_seen) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (instance_id, device_id) DO UPDATE SET ids = excluded.ids, last_seen = excluded.last_seen`);
  const deleteDedupeIds = db.prepare('DELETE FROM dedupe_ids WHERE instance_id = ? AND device_id = ?');
  const writeCheckpoint = db.prepare(`
    INSERT OR REPLACE INTO checkpoint (instance_id, log_offset, job, watermark, max_event_time, batches, updated_at)
    VALUES (@instanceId, @logOffset, @job, @watermark, @maxEventTime, @batches, @updatedAt)`);
  // SQLite has no Infinity in REAL columns that survives every client: store "none yet" as NULL.
  const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

  const queries = createSqliteQueries(db, dir, instanceId);
  const commit = db.transaction((out: BatchOutput) => {
    for (let i = 0; i < out.windows.deviceIds.length; i++) upsertWindow.run(windowRowValues(out.windows, i, out.committedAt));
    for (const w of out.windows.fleet) upsertFleet.run(partialValues(instanceId, w, out.committedAt));
    for (const a of out.anomalies) {
      (a.start === null ? insertPoint : upsertInterval).run({ ...a, score: finiteOrNull(a.score) ?? 0, updatedAt: out.committedAt });
    }
    const batch = out.checkpoint.batches; // first_batch of the rows this batch creates (schema version 11)
    for (const d of out.devices) upsertDevice.run(d.deviceId, batch, d.firstSeen, d.lastSeen, d.readings, d.lastTemperature, d.lastTs);
    for (const dl of out.deadLetters) {
      insertDeadLetter.run(dl);
      countRejection.run(dl.deviceId ?? '', dl.reason);
    }
    const lateWatermark = out.lateWatermark ?? out.checkpoint.watermark;
    for (const r of out.late) {
      insertLate.run(r.deviceId, r.ts, r.arrival, r.temperature, r.humidity ?? null, r.seq ?? null, lateWatermark);
    }
    queries.logBatch(out);
    deps.beforeCheckpoint?.(out);
    // The state rows are made as they are read here (engine/rows.ts); a row's bytes are bound (copied) at once.
    out.panes.upserts.forEach((p) => upsertPane.run(instanceId, p.lengthMs, p.slideMs, p.key, p.start, batch, p.state));
    out.panes.deletes.forEach((p) => deletePane.run(instanceId, p.lengthMs, p.slideMs, p.key, p.start));
    out.detectors.forEach((d) => upsertDetector.run(instanceId, d.deviceId, batch, d.state));
    out.dedupe.seqs.forEach((d) => {
      upsertDedupe.run(instanceId, d.deviceId, batch, d.maxSeq, finiteOrNull(d.maxTs), d.seen, finiteOrNull(d.lastSeen));
    });
    for (const id of out.dedupe.evictedSeqs) deleteDedupe.run(instanceId, id);
    for (const d of out.dedupe.messageIds) upsertDedupeIds.run(instanceId, d.deviceId, batch, d.ids, finiteOrNull(d.lastSeen));
    for (const id of out.dedupe.evictedMessageIds) deleteDedupeIds.run(instanceId, id);
    const c = out.checkpoint;
    writeCheckpoint.run({
      instanceId,
      logOffset: c.logOffset,
      job: c.job,
      batches: c.batches,
      watermark: finiteOrNull(c.watermark),
      maxEventTime: finiteOrNull(c.maxEventTime),
      updatedAt: out.committedAt,
    });
  });

  const selectCheckpoint = db.prepare(
    'SELECT log_offset AS logOffset, job, watermark, max_event_time AS maxEventTime, batches FROM checkpoint WHERE instance_id = ?',
  );
  const selectPanes = db.prepare('SELECT length_ms AS lengthMs, slide_ms AS slideMs, key, start, state FROM panes WHERE instance_id = ?');
  const selectDetectors = db.prepare('SELECT device_id AS deviceId, state FROM detector_state WHERE instance_id = ?');
  const selectDedupe = db.prepare(
    'SELECT device_id AS deviceId, max_seq AS maxSeq, max_ts AS maxTs, seen, last_seen AS lastSeen FROM dedupe WHERE instance_id = ?',
  );
  const selectDedupeIds = db.prepare('SELECT device_id AS deviceId, ids, last_seen AS lastSeen FROM dedupe_ids WHERE instance_id = ?');
  type Nullable<T, K extends keyof T> = Omit<T, K> & { [P in K]: number | null };
  // Results are kept for their retention from when they were computed (updated_at, the commit time), not from their
  // event time: a replayed recording of last year is kept as long as today's readings.
  const pruneWindows = db.prepare('DELETE FROM windows WHERE updated_at < ? AND final = 1');
  const pruneFleet = db.prepare('DELETE FROM fleet_windows WHERE updated_at < ? AND final = 1');
  const pruneDeadLetters = db.prepare('DELETE FROM dead_letters WHERE received_at < ?');
  const pruneLate = db.prepare('DELETE FROM late_readings WHERE arrival < ?');
  // Open interval anomalies (end NULL) are kept until they close.
  const pruneAnomalies = db.prepare('DELETE FROM anomalies WHERE updated_at < ? AND NOT (start IS NOT NULL AND end IS NULL)');
  const { windowsMs, deadLettersMs, lateReadingsMs, anomaliesMs } = config.retention;
  const prune = db.transaction((now: number) => {
    let deleted = 0;
    if (windowsMs > 0) {
      deleted += pruneWindows.run(now - windowsMs).changes;
      deleted += pruneFleet.run(now - windowsMs).changes;
      queries.pruneBatchLog(now - windowsMs); // not counted: bookkeeping of the SSE resume, not results
    }
    if (deadLettersMs > 0) deleted += pruneDeadLetters.run(now - deadLettersMs).changes;
    if (lateReadingsMs > 0) deleted += pruneLate.run(now - lateReadingsMs).changes;
    if (anomaliesMs > 0) deleted += pruneAnomalies.run(now - anomaliesMs).changes;
    return deleted;
  });
  // The detectors this instance forgets — of all its devices (--fresh) or of those that moved away (--rebalance) — would
  // close their open interval anomalies: they are closed at the device's last reading (a dropout, due after it, at
  // its start), not left open for good; only those this instance wrote (by its last commit), at a reading it saw (by
  // its newest event time), as in the shared PostgreSQL store. @devices: null, or the devices as a JSON array.
  const closeOpenAnomalies = db.prepare(`
    UPDATE anomalies SET end = max(start, min(
        coalesce((SELECT last_ts FROM devices d WHERE d.device_id = anomalies.device_id), start),
        coalesce((SELECT CAST(max_event_time AS INTEGER) FROM checkpoint WHERE instance_id = @instanceId), 9223372036854775807)))
    WHERE start IS NOT NULL AND end IS NULL
      AND updated_at <= coalesce((SELECT updated_at FROM checkpoint WHERE instance_id = @instanceId), updated_at)
      AND device_id IN (
        SELECT device_id FROM detector_state WHERE instance_id = @instanceId AND (@devices IS NULL OR device_id IN (SELECT value FROM json_each(@devices))))`);
  const resetJob = db.transaction(() => {
    closeOpenAnomalies.run({ instanceId, devices: null });
    db.exec('DELETE FROM windows');
    for (const t of ['fleet_windows', 'panes', 'detector_state']) db.prepare(`DELETE FROM ${t} WHERE instance_id = ?`).run(instanceId);
    db.prepare('UPDATE checkpoint SET job = NULL, watermark = NULL, max_event_time = NULL WHERE instance_id = ?').run(instanceId);
  });
  const deleteDetector = db.prepare('DELETE FROM detector_state WHERE instance_id = ? AND device_id = ?');
  const releaseDevices = db.transaction((owns: (deviceId: string) => boolean): string[] => {
    const held = db.prepare('SELECT device_id FROM detector_state WHERE instance_id = ?').pluck().all(instanceId) as string[];
    const moved = held.filter((id) => !owns(id));
    if (moved.length === 0) return [];
    const list = JSON.stringify(moved);
    closeOpenAnomalies.run({ instanceId, devices: list });
    for (const id of moved) deleteDetector.run(instanceId, id); // one by one, by its unique index (an IN list scanned the table)
    return moved;
  });

  return {
    kind: 'sqlite',
    file,
    instanceId,
    instanceLock: null, // the data dir's lock (server.lock) is the instance's
    releaseDevices: async (owns) => releaseDevices(owns),
    async commitBatch(out) {
      commit(out);
    },
    async recover() {
      const c = selectCheckpoint.get(instanceId) as (Omit<Checkpoint, 'watermark' | 'maxEventTime'> & { watermark: number | null; maxEventTime: number | null }) | undefined;
      if (c === undefined) return null;
      return {
        checkpoint: { ...c, watermark: c.watermark ?? -Infinity, maxEventTime: c.maxEventTime ?? -Infinity },
        panes: selectPanes.all(instanceId) as PaneRow[],
        detectors: selectDetectors.all(instanceId) as DetectorRow[],
        dedupe: {
          seqs: (selectDedupe.all(instanceId) as Nullable<DedupeRow, 'maxTs' | 'lastSeen'>[]).map((d) => ({
            ...d,
            maxTs: d.maxTs ?? -Infinity,
            lastSeen: d.lastSeen ?? -Infinity,
          })),
          messageIds: (selectDedupeIds.all(instanceId) as Nullable<MessageIdRow, 'lastSeen'>[]).map((d) => ({
            ...d,
            lastSeen: d.lastSeen ?? -Infinity,
          })),
        },
      };
    },
    prune: async (now) => prune(now),
    resetJob: async () => resetJob(),
    ...queries,
    clusterLists: async () => [],
    recordClusterList: async () => {},
    transient: (err) => (isNoSpaceIn(err, dir) ? 'no-space' : null),
    fatal: (err) => dbError(err, resultsDb(file)),
    async close() {
      db.close();
    },
  };
}
