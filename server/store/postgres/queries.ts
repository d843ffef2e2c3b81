import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import type { Anomaly } from '../../engine/detectors/index.ts';
import { FLEET, type WindowResult } from '../../engine/event-time.ts';
import type { DeadLetter } from '../../ingest/index.ts';
import { byUpdate, FLEET_COLUMNS, mergeFleet, type FleetPartialRow } from '../fleet.ts';
import { ANOMALY_COLUMNS, anomaliesTo, WINDOW_COLUMNS, windowFromRow, type WindowRow } from '../sqlite/queries.ts';
import type { BatchRow, DeviceRow, LateReading, Store, StoredAnomaly, UpdatedAnomaly, UpdatedWindow } from '../types.ts';
import { FILTERED_SCAN } from '../types.ts';

export type PgQueries = Pick<
  Store,
  | 'windows' | 'fleetWindows' | 'anomalies' | 'devices' | 'device' | 'deadLetters' | 'rejectionCounts' | 'rejectionsByDevice' | 'lateCount' | 'lateReadings'
  | 'batchesAfter' | 'batchCommittedAt' | 'windowsUpdatedSince' | 'anomaliesUpdatedSince' | 'openAnomalies' | 'probeWrite'
>;

const DEVICE_COLUMNS = `device_id AS "deviceId", first_seen AS "firstSeen", last_seen AS "lastSeen", readings,
  last_temperature AS "lastTemperature"`;

/** The read side of the PostgreSQL store: the same queries as SQLite's, as named (prepared) statements. */
export function createPgQueries(pool: pg.Pool, dir: string, instanceId: string): PgQueries {
  const rows = async <T>(name: string, text: string, values: unknown[]): Promise<T[]> =>
    (await pool.query({ name: `ts_${name}`, text, values })).rows as T[];
  const probeDir = join(dir, '.write-probe');
  // A list filtered by device is its own statement, `device_id = $1`, which the index by device serves; a prepared
  // `($1 IS NULL OR device_id = $1)` gets a generic plan after a few runs that cannot use it (sqlite/queries.ts).
  const device = (deviceId: string | undefined): string => (deviceId === undefined ? '$1::text IS NULL' : 'device_id = $1');
  const named = (name: string, deviceId: string | undefined): string => (deviceId === undefined ? name : `${name}_device`);
  /** The replay's reads of some devices (the fleet's windows, `*`, are read apart): a condition on $3, and its value. */
  const ofDevices = (deviceIds: readonly string[] | undefined) =>
    deviceIds === undefined ? { name: '', where: '', values: [] } : { name: '_of', where: ' AND device_id = ANY($3)', values: [deviceIds] };

  return {
    async windows(q) {
      if (q.deviceId === FLEET) {
        const partials = await rows<FleetPartialRow>('fleet_range', `
          SELECT ${FLEET_COLUMNS} FROM fleet_windows
          WHERE length_ms = $1 AND slide_ms = $2 AND start IN (
            SELECT DISTINCT start FROM fleet_windows
            WHERE length_ms = $1 AND slide_ms = $2 AND start >= $3 AND start < $4
            ORDER BY start DESC LIMIT $5)
          ORDER BY start, instance_id`, [q.lengthMs, q.slideMs, clamp(q.from), clamp(q.to), q.limit]);
        return mergeFleet(partials).map(({ updatedAt: _, ...w }) => w);
      }
      const r = await rows<WindowRow>('windows', `
        SELECT * FROM (
          SELECT ${WINDOW_COLUMNS} FROM windows
          WHERE device_id = $1 AND length_ms = $2 AND slide_ms = $3 AND start >= $4 AND start < $5
          ORDER BY start DESC LIMIT $6
        ) w ORDER BY start ASC`, [q.deviceId, q.lengthMs, q.slideMs, clamp(q.from), clamp(q.to), q.limit]);
      return r.map(windowFromRow);
    },
    async fleetWindows(keys) {
      if (keys.length === 0) return [];
      const partials = await rows<FleetPartialRow>('fleet_keys', `
        SELECT ${FLEET_COLUMNS} FROM fleet_windows f
        JOIN unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS k(l, s, st)
          ON f.length_ms = k.l AND f.slide_ms = k.s AND f.start = k.st
        ORDER BY length_ms, slide_ms, start, instance_id`,
      [keys.map((k) => k.lengthMs), keys.map((k) => k.slideMs), keys.map((k) => k.start)]);
      return mergeFleet(partials).map(({ updatedAt: _, ...w }) => w);
    },
    anomalies: (q) =>
      rows<StoredAnomaly>(named('anomalies', q.deviceId), `
        SELECT ${ANOMALY_COLUMNS} FROM anomalies
        WHERE ${device(q.deviceId)} AND ($2::text IS NULL OR type = $2) AND ts >= $3 AND ts < $4
          AND ($5::float8 IS NULL OR (ts, device_id, type, n) < ($5, $6::text, $7::text, $9::integer))
        ORDER BY ts DESC, device_id DESC, type DESC, n DESC LIMIT $8`,
      [q.deviceId ?? null, q.type ?? null, q.from, anomaliesTo(q), q.before?.ts ?? null, q.before?.deviceId ?? null, q.before?.type ?? null, q.limit, q.before?.n ?? null]),
    devices: (q = {}) =>
      rows<DeviceRow>('devices', `SELECT ${DEVICE_COLUMNS} FROM devices WHERE device_id > $1 ORDER BY device_id LIMIT $2`,
        [q.after ?? '', q.limit ?? null]),
    device: async (deviceId) =>
      (await rows<DeviceRow>('device', `SELECT ${DEVICE_COLUMNS} FROM devices WHERE device_id = $1`, [deviceId]))[0] ?? null,
    deadLetters: (q) =>
      rows<DeadLetter & { id: number }>(named('dead_letters', q.deviceId), `
        SELECT id, received_at AS "receivedAt", device_id AS "deviceId", topic, reason, detail, payload,
          payload_bytes AS "payloadBytes"
        FROM dead_letters
        WHERE ${device(q.deviceId)} AND ($2::text IS NULL OR reason = $2) AND id < $3
        ORDER BY id DESC LIMIT $4`,
      [q.deviceId ?? null, q.reason ?? null, q.beforeId ?? Number.MAX_SAFE_INTEGER, q.limit]),
    rejectionCounts: (deviceId) =>
      rows('rejections_device', 'SELECT device_id AS "deviceId", reason, count FROM rejections WHERE device_id = $1 ORDER BY reason', [deviceId]),
    rejectionsByDevice: (q) =>
      rows('rejections_by_device', `SELECT device_id AS "deviceId", reason, count FROM rejections
        WHERE device_id IN (SELECT DISTINCT device_id FROM rejections WHERE device_id > $1 ORDER BY device_id LIMIT $2)
        ORDER BY device_id, reason`, [q.after ?? '', q.limit]),
    lateCount: async () => (await rows<{ n: number }>('late_count', 'SELECT count(*) AS n FROM late_readings', []))[0].n,
    lateReadings: (q) =>
      rows<LateReading>(named('late_readings', q.deviceId), `
        SELECT id, device_id AS "deviceId", ts, arrival, temperature, humidity, seq, watermark FROM late_readings
        WHERE ${device(q.deviceId)} AND id < $2 ORDER BY id DESC LIMIT $3`,
      [q.deviceId ?? null, q.beforeId ?? Number.MAX_SAFE_INTEGER, q.limit]),
    batchesAfter: (batch, limit) =>
      rows<BatchRow>('batches_after', `
        SELECT batch, committed_at AS "committedAt", records, late, duplicates, rejected, windows_updated AS "windowsUpdated",
          watermark, log_offset AS "logOffset"
        FROM batch_log WHERE instance_id = $1 AND batch > $2 ORDER BY batch LIMIT $3`, [instanceId, batch, limit]),
    batchCommittedAt: async (batch) =>
      (await rows<{ at: number }>('batch_at', 'SELECT committed_at AS at FROM batch_log WHERE instance_id = $1 AND batch = $2',
        [instanceId, batch]))[0]?.at ?? null,
    async windowsUpdatedSince(since, limit, deviceIds) {
      // Of some devices (a stream filtered by device): statements of their own, `device_id = ANY($3)`.
      const of = ofDevices(deviceIds);
      const withFleet = deviceIds === undefined || deviceIds.includes(FLEET);
      const withDevices = deviceIds === undefined || deviceIds.some((id) => id !== FLEET);
      const countAll = async (cap: number) => Number((await rows<{ n: string }>('windows_updated_count', `
        SELECT count(*) AS n FROM (SELECT 1 FROM windows WHERE updated_at >= $1 LIMIT $2) d`, [since, cap]))[0].n);
      // As on SQLite: some devices' windows may be found by scanning everyone's since, so that is bounded first.
      if (deviceIds !== undefined && withDevices && (await countAll((limit + 1) * FILTERED_SCAN + 1)) > (limit + 1) * FILTERED_SCAN) return null;
      // Counted on updated_at's indexes up to a cap before any row is read: too many is answered at once.
      const [{ n }] = !withDevices ? [{ n: '0' }] : await rows<{ n: string }>(`windows_updated_count${of.name}`, `
        SELECT count(*) AS n FROM (SELECT 1 FROM windows WHERE updated_at >= $1${of.where} LIMIT $2) d`, [since, limit + 1, ...of.values]);
      const [{ n: f }] = !withFleet ? [{ n: '0' }] : await rows<{ n: string }>('fleet_updated_count', `
        SELECT count(*) AS n FROM (SELECT DISTINCT length_ms, slide_ms, start FROM fleet_windows WHERE updated_at >= $1 LIMIT $2) f`, [since, limit + 1]);
      if (Number(n) + Number(f) > limit) return null;
      const devices = !withDevices ? [] : (await rows<WindowRow & { updatedAt: number }>(`windows_updated${of.name}`, `
        SELECT ${WINDOW_COLUMNS}, updated_at AS "updatedAt" FROM windows WHERE updated_at >= $1${of.where}
        ORDER BY updated_at, device_id, length_ms, slide_ms, start LIMIT $2`, [since, limit, ...of.values])).map(windowFromRow);
      const fleet = !withFleet ? [] : mergeFleet(await rows<FleetPartialRow>('fleet_updated', `
        SELECT ${FLEET_COLUMNS}
        FROM (SELECT DISTINCT length_ms, slide_ms, start FROM fleet_windows WHERE updated_at >= $1) u
        JOIN fleet_windows f USING (length_ms, slide_ms, start)
        ORDER BY length_ms, slide_ms, start, instance_id`, [since]));
      return [...devices, ...fleet].sort(byUpdate) as UpdatedWindow[];
    },
    anomaliesUpdatedSince(since, limit, deviceIds) {
      const of = ofDevices(deviceIds);
      return rows<UpdatedAnomaly>(`anomalies_updated${of.name}`, `
        SELECT ${ANOMALY_COLUMNS}, updated_at AS "updatedAt" FROM anomalies WHERE updated_at >= $1${of.where}
        ORDER BY updated_at, device_id, type, ts, n LIMIT $2`, [since, limit, ...of.values]);
    },
    openAnomalies: (deviceId, limit) =>
      rows<Anomaly>('open_anomalies', `
        SELECT ${ANOMALY_COLUMNS} FROM anomalies WHERE device_id = $1 AND start IS NOT NULL AND "end" IS NULL
        ORDER BY ts DESC LIMIT $2`, [deviceId, limit]),
    async probeWrite(now) {
      await pool.query({
        name: 'ts_probe',
        text: 'INSERT INTO health_probe (instance_id, at) VALUES ($1, $2) ON CONFLICT (instance_id) DO UPDATE SET at = excluded.at',
        values: [instanceId, now],
      });
      // The ingest log stays in the data dir: it must accept new files too.
      rmSync(probeDir, { recursive: true, force: true });
      mkdirSync(probeDir);
      rmdirSync(probeDir);
    },
  };
}

/** Query bounds beyond BIGINT (the API passes ±8.64e15 and tests ±Infinity) are clamped to it. */
function clamp(x: number): number {
  return Math.max(-9.2e18, Math.min(9.2e18, x));
}
