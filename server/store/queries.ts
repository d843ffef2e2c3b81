import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Anomaly } from '../engine/detectors/index.ts';
import type { WindowResult } from '../engine/event-time.ts';
import type { BatchOutput } from './index.ts';

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

/** Read queries of the HTTP API beyond the basic ones, and the batch log the SSE stream resumes from. */
export interface ApiQueries {
  /** Writes batch_log's row; called inside the batch transaction. */
  logBatch(out: BatchOutput): void;
  /** Deletes batch_log rows of batches committed before `before`; called inside the retention transaction. */
  pruneBatchLog(before: number): number;
  /** Committed batches after `batch`, oldest first, at most `limit`. */
  batchesAfter(batch: number, limit: number): BatchRow[];
  /** The commit time of `batch`, or null if it is not (or no longer) in batch_log. */
  batchCommittedAt(batch: number): number | null;
  /** Windows last written at or after `since` (ms), by updated_at then (deviceId, lengthMs, slideMs, start). */
  windowsUpdatedSince(since: number, limit: number): UpdatedWindow[];
  /** Anomalies last written at or after `since` (ms), by updated_at then (deviceId, type, ts). */
  anomaliesUpdatedSince(since: number, limit: number): UpdatedAnomaly[];
  /** A device's open interval anomalies (stuck, drift, dropout not yet over), newest first. */
  openAnomalies(deviceId: string, limit: number): Anomaly[];
  /** A real write (one row, its own transaction) and a file created in the data directory; throws if either fails. */
  probeWrite(now: number): void;
}

/** The windows table's columns under WindowResult's names (anomaly_counts as JSON text, final as 0/1). */
export const WINDOW_COLUMNS = `device_id AS deviceId, length_ms AS lengthMs, slide_ms AS slideMs, start, end, count, avg, min, max,
  stddev, first, last, humidity_count AS humidityCount, humidity_avg AS humidityAvg, humidity_min AS humidityMin,
  humidity_max AS humidityMax, humidity_stddev AS humidityStddev, humidity_first AS humidityFirst,
  humidity_last AS humidityLast, anomalies, anomaly_counts AS anomalyCounts, final`;

export type WindowRow = Omit<WindowResult, 'final' | 'anomaliesByType'> & { final: number; anomalyCounts: string };

export function windowFromRow<R extends WindowRow>({ anomalyCounts, ...w }: R): Omit<R, 'anomalyCounts' | 'final'> & WindowResult {
  return { ...w, anomaliesByType: JSON.parse(anomalyCounts), final: w.final === 1 };
}

/** The anomalies table's columns under Anomaly's names. */
export const ANOMALY_COLUMNS = 'device_id AS deviceId, type, ts, score, value, expected, threshold, start, end, detected_at AS detectedAt';

export function createApiQueries(db: Database.Database, dir: string): ApiQueries {
  const insertBatch = db.prepare(`
    INSERT OR REPLACE INTO batch_log (batch, committed_at, records, late, duplicates, rejected, windows_updated, watermark, log_offset)
    VALUES (@batch, @committedAt, @records, @late, @duplicates, @rejected, @windowsUpdated, @watermark, @logOffset)`);
  const deleteBatches = db.prepare('DELETE FROM batch_log WHERE committed_at < ?');
  const selectBatches = db.prepare(`
    SELECT batch, committed_at AS committedAt, records, late, duplicates, rejected, windows_updated AS windowsUpdated,
      watermark, log_offset AS logOffset
    FROM batch_log WHERE batch > ? ORDER BY batch LIMIT ?`);
  const selectCommittedAt = db.prepare('SELECT committed_at FROM batch_log WHERE batch = ?').pluck();
  const selectUpdated = db.prepare(`
    SELECT ${WINDOW_COLUMNS}, updated_at AS updatedAt FROM windows WHERE updated_at >= ?
    ORDER BY updated_at, device_id, length_ms, slide_ms, start LIMIT ?`);
  const selectAnomaliesUpdated = db.prepare(`
    SELECT ${ANOMALY_COLUMNS}, updated_at AS updatedAt FROM anomalies WHERE updated_at >= ?
    ORDER BY updated_at, device_id, type, ts LIMIT ?`);
  const selectOpenAnomalies = db.prepare(`
    SELECT ${ANOMALY_COLUMNS} FROM anomalies WHERE device_id = ? AND start IS NOT NULL AND end IS NULL
    ORDER BY ts DESC LIMIT ?`);
  const probe = db.prepare('INSERT OR REPLACE INTO health_probe (id, at) VALUES (1, ?)');
  const probeDir = join(dir, '.write-probe');

  return {
    logBatch(out) {
      const w = out.checkpoint.watermark;
      insertBatch.run({
        batch: out.checkpoint.batches,
        committedAt: out.committedAt,
        records: out.records ?? 0,
        late: out.late.length,
        duplicates: out.duplicates ?? 0,
        rejected: out.deadLetters.length,
        windowsUpdated: out.windows.length,
        watermark: Number.isFinite(w) ? w : null,
        logOffset: out.checkpoint.logOffset,
      });
    },
    pruneBatchLog: (before) => deleteBatches.run(before).changes,
    batchesAfter: (batch, limit) => selectBatches.all(batch, limit) as BatchRow[],
    batchCommittedAt: (batch) => (selectCommittedAt.get(batch) as number | undefined) ?? null,
    windowsUpdatedSince: (since, limit) =>
      (selectUpdated.all(since, limit) as (WindowRow & { updatedAt: number })[]).map(windowFromRow),
    anomaliesUpdatedSince: (since, limit) => selectAnomaliesUpdated.all(since, limit) as UpdatedAnomaly[],
    openAnomalies: (deviceId, limit) => selectOpenAnomalies.all(deviceId, limit) as Anomaly[],
    probeWrite(now) {
      probe.run(now);
      // The running connection keeps writing to files it has open even when the directory refuses new files (a
      // read-only remount, permissions, a full disk): the ingest log's next segment and a restart would fail.
      rmSync(probeDir, { recursive: true, force: true }); // left over from a crash
      mkdirSync(probeDir);
      rmdirSync(probeDir);
    },
  };
}
