import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Anomaly } from '../../engine/detectors/index.ts';
import { FLEET, type WindowResult } from '../../engine/event-time.ts';
import { anomalyCountsFrom, windowCount } from '../../engine/window-pack.ts';
import { byUpdate, FLEET_COLUMNS, mergeFleet, type FleetPartialRow } from '../fleet.ts';
import type { DeadLetter } from '../../ingest/index.ts';
import type { AnomalyQuery, BatchOutput, BatchRow, DeadLetterQuery, DeviceQuery, DeviceRow, FleetWindowKey, LateQuery, LateReading, Store, StoredAnomaly, UpdatedAnomaly, UpdatedWindow, WindowQuery } from '../types.ts';
import { FILTERED_SCAN } from '../types.ts';

/** Starts a device's window query looks up one by one before it skips to the starts the shape has (deviceWindows). */
const ALIGNED_STEPS = 4096;

/** The windows table's columns under WindowResult's names (anomaly_counts as JSON text, final as 0/1). */
export const WINDOW_COLUMNS = `device_id AS "deviceId", length_ms AS "lengthMs", slide_ms AS "slideMs", start, "end", count, avg, min, max,
  stddev, first, last, humidity_count AS "humidityCount", humidity_avg AS "humidityAvg", humidity_min AS "humidityMin",
  humidity_max AS "humidityMax", humidity_stddev AS "humidityStddev", humidity_first AS "humidityFirst",
  humidity_last AS "humidityLast", anomalies, anomaly_counts AS "anomalyCounts", final`;

export type WindowRow = Omit<WindowResult, 'final' | 'anomaliesByType'> & { final: number; anomalyCounts: string };

export function windowFromRow<R extends WindowRow>({ anomalyCounts, ...w }: R): Omit<R, 'anomalyCounts' | 'final'> & WindowResult {
  return { ...w, anomaliesByType: anomalyCountsFrom(anomalyCounts), final: w.final === 1 };
}

/** The anomalies table's columns under Anomaly's names. */
export const ANOMALY_COLUMNS =
  'device_id AS "deviceId", type, ts, n, score, value, expected, threshold, start, "end", detected_at AS "detectedAt"';

/** The read side of the SQLite store: every query the HTTP API and the SSE stream make, synchronous inside. */
export type SqliteQueries = Pick<
  Store,
  | 'windows' | 'fleetWindows' | 'anomalies' | 'devices' | 'device' | 'deadLetters' | 'rejectionCounts' | 'rejectionsByDevice' | 'lateCount' | 'lateReadings'
  | 'batchesAfter' | 'batchCommittedAt' | 'windowsUpdatedSince' | 'anomaliesUpdatedSince' | 'openAnomalies' | 'probeWrite'
> & {
  /** Writes batch_log's row; called inside the batch transaction. */
  logBatch(out: BatchOutput): void;
  /** Deletes batch_log rows of batches committed before `before`; called inside the retention transaction. */
  pruneBatchLog(before: number): number;
};

/**
 * The end of an anomalies query's range of ts, narrowed to the cursor's (the rows after it are all at or before its
 * ts): the index range then starts at the cursor, where a page used to walk down from `to` past every page before it.
 */
export function anomaliesTo(q: AnomalyQuery): number {
  return q.before === undefined ? q.to : Math.min(q.to, q.before.ts + 1);
}

export function createSqliteQueries(db: Database.Database, dir: string, instanceId: string): SqliteQueries {
  /**
   * A list query in two forms, for one device (`device_id = @deviceId`, which the table's index by device serves)
   * and for every device. One statement with `(@deviceId IS NULL OR device_id = @deviceId)` never uses that index:
   * SQLite plans it without the value, so it walks the whole table newest first until `limit` rows of the device
   * turn up (all of it, on the main thread, for a device with few or none).
   */
  const byDevice = (sql: (device: string) => string) => {
    const one = db.prepare(sql('device_id = @deviceId'));
    const all = db.prepare(sql('1'));
    return (deviceId: string | undefined): Database.Statement => (deviceId === undefined ? all : one);
  };
  const insertBatch = db.prepare(`
    INSERT OR REPLACE INTO batch_log (instance_id, batch, committed_at, records, late, duplicates, rejected, windows_updated, watermark, log_offset)
    VALUES (@instanceId, @batch, @committedAt, @records, @late, @duplicates, @rejected, @windowsUpdated, @watermark, @logOffset)`);
  const deleteBatches = db.prepare('DELETE FROM batch_log WHERE committed_at < ?');
  const selectBatches = db.prepare(`
    SELECT batch, committed_at AS committedAt, records, late, duplicates, rejected, windows_updated AS windowsUpdated,
      watermark, log_offset AS logOffset
    FROM batch_log WHERE instance_id = ? AND batch > ? ORDER BY batch LIMIT ?`);
  const selectCommittedAt = db.prepare('SELECT committed_at FROM batch_log WHERE instance_id = ? AND batch = ?').pluck();
  const selectUpdated = db.prepare(`
    SELECT ${WINDOW_COLUMNS}, updated_at AS updatedAt FROM windows WHERE updated_at >= ?
    ORDER BY updated_at, device_id, length_ms, slide_ms, start LIMIT ?`);
  // Every instance's partial of the fleet windows any partial of which was written since (found by updated_at's
  // index, then each window's partials by the key).
  const selectFleetUpdated = db.prepare(`
    SELECT ${FLEET_COLUMNS} FROM (SELECT DISTINCT length_ms, slide_ms, start FROM fleet_windows WHERE updated_at >= ?) u
    JOIN fleet_windows f USING (length_ms, slide_ms, start)
    ORDER BY length_ms, slide_ms, start, instance_id`);
  // How many windows were written since, counted on updated_at's indexes up to a cap, before any row is read.
  const countUpdated = db.prepare('SELECT count(*) FROM (SELECT 1 FROM windows WHERE updated_at >= @since LIMIT @cap)').pluck();
  const countFleetUpdated = db.prepare(`
    SELECT count(*) FROM (SELECT DISTINCT length_ms, slide_ms, start FROM fleet_windows WHERE updated_at >= @since LIMIT @cap)`).pluck();
  const selectAnomaliesUpdated = db.prepare(`
    SELECT ${ANOMALY_COLUMNS}, updated_at AS updatedAt FROM anomalies WHERE updated_at >= ?
    ORDER BY updated_at, device_id, type, ts, n LIMIT ?`);
  // The same of some devices (a stream filtered by device, its ids a JSON array): statements of their own, as for
  // the lists filtered by device, so that the unfiltered ones keep their plans.
  const OF_DEVICES = 'device_id IN (SELECT value FROM json_each(@ids))';
  const selectUpdatedOf = db.prepare(`
    SELECT ${WINDOW_COLUMNS}, updated_at AS updatedAt FROM windows WHERE updated_at >= @since AND ${OF_DEVICES}
    ORDER BY updated_at, device_id, length_ms, slide_ms, start LIMIT @limit`);
  const countUpdatedOf = db.prepare(`SELECT count(*) FROM (SELECT 1 FROM windows WHERE updated_at >= @since AND ${OF_DEVICES} LIMIT @cap)`).pluck();
  const selectAnomaliesUpdatedOf = db.prepare(`
    SELECT ${ANOMALY_COLUMNS}, updated_at AS updatedAt FROM anomalies WHERE updated_at >= @since AND ${OF_DEVICES}
    ORDER BY updated_at, device_id, type, ts, n LIMIT @limit`);
  const selectOpenAnomalies = db.prepare(`
    SELECT ${ANOMALY_COLUMNS} FROM anomalies WHERE device_id = ? AND start IS NOT NULL AND end IS NULL
    ORDER BY ts DESC LIMIT ?`);
  // A device's newest `limit` windows with start in [first, last], newest first. The table is keyed by shape and
  // start before device (schema version 7), so a device's windows are looked up start by start, newest first, until
  // `limit` are found: each aligned start k·slide (selectAligned), which is the cheapest where the shape has windows
  // at every start; or each start the shape has, found by the key (selectSkipping), which crosses a stretch without
  // windows (a device replayed from last year among live ones) in one step. The CTE's rows come in the order they are
  // made and CROSS JOIN keeps it the outer loop; an ORDER BY here, or around it, would make SQLite walk every start of
  // the range first.
  const selectAligned = db.prepare(`
    WITH RECURSIVE s(k) AS (
      SELECT @last WHERE @last >= @first
      UNION ALL SELECT k - @slideMs FROM s WHERE k - @slideMs >= @first)
    SELECT ${WINDOW_COLUMNS}
    FROM s CROSS JOIN windows w
    WHERE w.length_ms = @lengthMs AND w.slide_ms = @slideMs AND w.start = s.k AND w.device_id = @deviceId
    LIMIT @limit`);
  const selectSkipping = db.prepare(`
    WITH RECURSIVE s(k) AS (
      SELECT (SELECT start FROM windows WHERE length_ms = @lengthMs AND slide_ms = @slideMs AND start >= @first AND start <= @last
              ORDER BY start DESC LIMIT 1)
      UNION ALL
      SELECT (SELECT start FROM windows WHERE length_ms = @lengthMs AND slide_ms = @slideMs AND start >= @first AND start < s.k
              ORDER BY start DESC LIMIT 1)
      FROM s WHERE s.k IS NOT NULL)
    SELECT ${WINDOW_COLUMNS}
    FROM s CROSS JOIN windows w
    WHERE s.k IS NOT NULL AND w.length_ms = @lengthMs AND w.slide_ms = @slideMs AND w.start = s.k AND w.device_id = @deviceId
    LIMIT @limit`);
  const firstStart = db.prepare('SELECT min(start) FROM windows WHERE length_ms = ? AND slide_ms = ?').pluck();
  const lastStart = db.prepare('SELECT max(start) FROM windows WHERE length_ms = ? AND slide_ms = ?').pluck();
  // The last `limit` fleet windows in [from, to), every instance's partial of each.
  const selectFleet = db.prepare(`
    SELECT ${FLEET_COLUMNS} FROM fleet_windows
    WHERE length_ms = @lengthMs AND slide_ms = @slideMs AND start IN (
      SELECT DISTINCT start FROM fleet_windows
      WHERE length_ms = @lengthMs AND slide_ms = @slideMs AND start >= @from AND start < @to
      ORDER BY start DESC LIMIT @limit)
    ORDER BY start, instance_id`);
  const selectFleetKey = db.prepare(`
    SELECT ${FLEET_COLUMNS} FROM fleet_windows WHERE length_ms = ? AND slide_ms = ? AND start = ? ORDER BY instance_id`);
  const selectAnomalies = byDevice((device) => `
    SELECT ${ANOMALY_COLUMNS}
    FROM anomalies
    WHERE ${device} AND (@type IS NULL OR type = @type) AND ts >= @from AND ts < @to
      AND (@beforeTs IS NULL OR (ts, device_id, type, n) < (@beforeTs, @beforeDevice, @beforeType, @beforeN))
    ORDER BY ts DESC, device_id DESC, type DESC, n DESC LIMIT @limit`);
  const selectDevices = db.prepare(`
    SELECT device_id AS deviceId, first_seen AS firstSeen, last_seen AS lastSeen, readings,
      last_temperature AS lastTemperature
    FROM devices WHERE device_id > @after ORDER BY device_id LIMIT @limit`);
  const selectDevice = db.prepare(`
    SELECT device_id AS deviceId, first_seen AS firstSeen, last_seen AS lastSeen, readings,
      last_temperature AS lastTemperature
    FROM devices WHERE device_id = ?`);
  // The payload is a BLOB (version 10); the CAST also reads a row that another tool wrote as text as its bytes.
  const selectDeadLetters = byDevice((device) => `
    SELECT id, received_at AS receivedAt, device_id AS deviceId, topic, reason, detail,
      CAST(payload AS BLOB) AS payload, payload_bytes AS payloadBytes
    FROM dead_letters
    WHERE ${device} AND (@reason IS NULL OR reason = @reason) AND id < @beforeId
    ORDER BY id DESC LIMIT @limit`);
  const selectRejections = db.prepare('SELECT device_id AS deviceId, reason, count FROM rejections WHERE device_id = ? ORDER BY reason');
  const selectRejectionsByDevice = db.prepare(`
    SELECT device_id AS deviceId, reason, count FROM rejections
    WHERE device_id IN (SELECT DISTINCT device_id FROM rejections WHERE device_id > @after ORDER BY device_id LIMIT @limit)
    ORDER BY device_id, reason`);
  const selectLateCount = db.prepare('SELECT count(*) AS n FROM late_readings').pluck();
  const selectLate = byDevice((device) => `
    SELECT id, device_id AS deviceId, ts, arrival, temperature, humidity, seq, watermark FROM late_readings
    WHERE ${device} AND id < @beforeId ORDER BY id DESC LIMIT @limit`);
  const probe = db.prepare('INSERT OR REPLACE INTO health_probe (id, at) VALUES (1, ?)');
  const probeDir = join(dir, '.write-probe');

  /** The newest `limit` windows in [from, to), oldest first; the walk is bounded by the starts the shape has at all. */
  function deviceWindows(q: WindowQuery): WindowResult[] {
    const lo = firstStart.get(q.lengthMs, q.slideMs) as number | null;
    if (lo === null) return [];
    const hi = lastStart.get(q.lengthMs, q.slideMs) as number;
    const s = q.slideMs;
    const first = Math.max(lo, Math.ceil(q.from / s) * s);
    const last = Math.min(hi, Math.ceil(q.to / s) * s - s);
    const shape = { deviceId: q.deviceId, lengthMs: q.lengthMs, slideMs: s };
    // The newest ALIGNED_STEPS starts one by one, then on by the starts the shape has.
    const below = last - (ALIGNED_STEPS + 1) * s;
    let rows = selectAligned.all({ ...shape, first: Math.max(first, below + s), last, limit: q.limit }) as WindowRow[];
    if (rows.length < q.limit && below >= first) {
      rows = rows.concat(selectSkipping.all({ ...shape, first, last: below, limit: q.limit - rows.length }) as WindowRow[]);
    }
    return rows.reverse().map(windowFromRow);
  }

  const windows = (q: WindowQuery): WindowResult[] =>
    q.deviceId === FLEET ? mergeFleet(selectFleet.all(q) as FleetPartialRow[]).map(({ updatedAt: _, ...w }) => w) : deviceWindows(q);

  return {
    logBatch(out) {
      const w = out.checkpoint.watermark;
      insertBatch.run({
        instanceId,
        batch: out.checkpoint.batches,
        committedAt: out.committedAt,
        records: out.records ?? 0,
        late: out.late.length,
        duplicates: out.duplicates ?? 0,
        rejected: out.deadLetters.length,
        windowsUpdated: windowCount(out.windows),
        watermark: Number.isFinite(w) ? w : null,
        logOffset: out.checkpoint.logOffset,
      });
    },
    pruneBatchLog: (before) => deleteBatches.run(before).changes,
    batchesAfter: async (batch, limit) => selectBatches.all(instanceId, batch, limit) as BatchRow[],
    batchCommittedAt: async (batch) => (selectCommittedAt.get(instanceId, batch) as number | undefined) ?? null,
    async windowsUpdatedSince(since, limit, deviceIds) {
      const ids = deviceIds === undefined ? undefined : JSON.stringify(deviceIds);
      const withFleet = deviceIds === undefined || deviceIds.includes(FLEET);
      const withDevices = deviceIds === undefined || deviceIds.some((id) => id !== FLEET);
      const cap = limit + 1;
      // Some devices' windows are found by scanning everyone's since (no index by device and update): bounded first.
      if (ids !== undefined && withDevices && (countUpdated.get({ since, cap: cap * FILTERED_SCAN + 1 }) as number) > cap * FILTERED_SCAN) return null;
      const count = !withDevices ? 0 : ((ids === undefined ? countUpdated.get({ since, cap }) : countUpdatedOf.get({ since, ids, cap })) as number);
      if (count + (withFleet ? (countFleetUpdated.get({ since, cap }) as number) : 0) > limit) return null;
      const rows = !withDevices ? [] : ids === undefined ? selectUpdated.all(since, limit) : selectUpdatedOf.all({ since, ids, limit });
      const devices = (rows as (WindowRow & { updatedAt: number })[]).map(windowFromRow);
      const fleet = withFleet ? mergeFleet(selectFleetUpdated.all(since) as FleetPartialRow[]) : [];
      return [...devices, ...fleet].sort(byUpdate) as UpdatedWindow[];
    },
    anomaliesUpdatedSince: async (since, limit, deviceIds) =>
      (deviceIds === undefined
        ? selectAnomaliesUpdated.all(since, limit)
        : selectAnomaliesUpdatedOf.all({ since, ids: JSON.stringify(deviceIds), limit })) as UpdatedAnomaly[],
    openAnomalies: async (deviceId, limit) => selectOpenAnomalies.all(deviceId, limit) as Anomaly[],
    async probeWrite(now) {
      probe.run(now);
      // The running connection keeps writing to files it has open even when the directory refuses new files (a
      // read-only remount, permissions, a full disk): the ingest log's next segment and a restart would fail.
      rmSync(probeDir, { recursive: true, force: true }); // left over from a crash
      mkdirSync(probeDir);
      rmdirSync(probeDir);
    },
    windows: async (q) => windows(q),
    async fleetWindows(keys: readonly FleetWindowKey[]) {
      const rows: FleetPartialRow[] = [];
      for (const k of keys) rows.push(...(selectFleetKey.all(k.lengthMs, k.slideMs, k.start) as FleetPartialRow[]));
      return mergeFleet(rows).map(({ updatedAt: _, ...w }) => w);
    },
    anomalies: async (q: AnomalyQuery) =>
      selectAnomalies(q.deviceId).all({
        deviceId: q.deviceId ?? null,
        type: q.type ?? null,
        from: q.from,
        to: anomaliesTo(q),
        limit: q.limit,
        beforeTs: q.before?.ts ?? null,
        beforeDevice: q.before?.deviceId ?? null,
        beforeType: q.before?.type ?? null,
        beforeN: q.before?.n ?? null,
      }) as StoredAnomaly[],
    devices: async (q: DeviceQuery = {}) => selectDevices.all({ after: q.after ?? '', limit: q.limit ?? -1 }) as DeviceRow[],
    device: async (deviceId) => (selectDevice.get(deviceId) as DeviceRow | undefined) ?? null,
    deadLetters: async (q: DeadLetterQuery) =>
      selectDeadLetters(q.deviceId).all({
        deviceId: q.deviceId ?? null,
        reason: q.reason ?? null,
        beforeId: q.beforeId ?? Number.MAX_SAFE_INTEGER,
        limit: q.limit,
      }) as (DeadLetter & { id: number })[],
    rejectionCounts: async (deviceId) => selectRejections.all(deviceId) as { deviceId: string; reason: string; count: number }[],
    rejectionsByDevice: async (q) =>
      selectRejectionsByDevice.all({ after: q.after ?? '', limit: q.limit }) as { deviceId: string; reason: string; count: number }[],
    lateCount: async () => selectLateCount.get() as number,
    lateReadings: async (q: LateQuery) =>
      selectLate(q.deviceId).all({ deviceId: q.deviceId ?? null, beforeId: q.beforeId ?? Number.MAX_SAFE_INTEGER, limit: q.limit }) as LateReading[],
  };
}
