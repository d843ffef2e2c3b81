import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
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

/** SEAM(anomalies): an open anomaly of a device, once the analytics step keeps an anomalies table. */
export interface OpenAnomaly {
  deviceId: string;
  type: string;
  ts: number;
  score: number;
  [field: string]: unknown;
}

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
  /**
   * SEAM(anomalies): open anomalies of a device. There is no anomalies table yet (the analytics step adds it and
   * replaces this body); until then, none.
   */
  openAnomalies(deviceId: string, limit: number): OpenAnomaly[];
  /** A real write (one row, its own transaction) and a file created in the data directory; throws if either fails. */
  probeWrite(now: number): void;
}

const WINDOW_COLUMNS = `device_id AS deviceId, length_ms AS lengthMs, slide_ms AS slideMs, start, end, count, avg, min, max,
  stddev, last, humidity_avg AS humidityAvg, humidity_min AS humidityMin, humidity_max AS humidityMax, anomalies, final`;

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
      (selectUpdated.all(since, limit) as (Omit<UpdatedWindow, 'final'> & { final: number })[]).map((w) => ({
        ...w,
        final: w.final === 1,
      })),
    openAnomalies: () => [],
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
