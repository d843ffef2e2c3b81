import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type pg from 'pg';
import type { Config } from '../../config.ts';
import type { DedupeRow, MessageIdRow } from '../../engine/dedupe.ts';
import type { DetectorRow } from '../../engine/detectors/index.ts';
import type { PaneRow } from '../../engine/event-time.ts';
import { ThermostreamError } from '../../errors.ts';
import { lazy } from '../../../simulator/lazy.ts';
import { redactUrl } from '../../url.ts';
import type { Checkpoint, Store, StoreDeps } from '../types.ts';
import { createPgQueries } from './queries.ts';
import { migratePg } from './migrate.ts';
import { commitStatements } from './commit.ts';
import { instanceConflict, isUnavailable, pgFatal, storeUnreachable } from './errors.ts';
import { checkInstanceLock, claimInstanceLock, COMMIT_LOCK, type InstanceLock } from './instance-lock.ts';

type PgConfig = Pick<Config, 'dataDir' | 'retention' | 'store' | 'cluster'>;

/** The client library, loaded by the first PostgreSQL store (a server on SQLite never does). */
const pgLib = lazy<typeof pg>('pg');

/** BIGINT (int8) columns and count(*) as numbers: every value we store is below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (v: string) => Number(v) : pgLib().types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const CONNECT_TIMEOUT_MS = 10_000;
const QUERY_TIMEOUT_MS = 120_000;

/**
 * The open interval anomalies (stuck, drift, dropout: end NULL) of devices whose detectors this instance forgets —
 * all of its devices ($2 NULL, --fresh) or those in $2 (--rebalance, the devices that moved away) — closed at the
 * device's last reading (a dropout, due after it, at its start): nothing would close them afterwards. Only those this
 * instance wrote, by its last commit at the latest, at a reading it saw at the latest (its newest event time): the
 * devices table and the anomalies are shared, and a moved device's new owner may have opened one of its own since.
 */
const CLOSE_OPEN_INTERVALS = `
  WITH mine AS (SELECT updated_at, floor(max_event_time)::bigint AS max_ts FROM checkpoint WHERE instance_id = $1)
  UPDATE anomalies a SET "end" = GREATEST(a.start, LEAST(
      COALESCE((SELECT d.last_ts FROM devices d WHERE d.device_id = a.device_id), a.start),
      COALESCE((SELECT max_ts FROM mine), 9223372036854775807)))
  WHERE a.start IS NOT NULL AND a."end" IS NULL
    AND a.updated_at <= COALESCE((SELECT updated_at FROM mine), a.updated_at)
    AND a.device_id IN (
      SELECT device_id FROM detector_state WHERE instance_id = $1 AND ($2::text[] IS NULL OR device_id = ANY($2::text[])))`;

/**
 * The shared store: PostgreSQL through `pg`. A batch is one transaction of one multi-row statement per table
 * (unnest of column arrays), named so that each connection prepares it once. Several instances share the database:
 * each reads and writes its own checkpoint, panes, detector and dedupe state (instance_id), and the fleet windows
 * are partials per instance merged at read time.
 */
export async function createPostgresStore(config: PgConfig, deps: StoreDeps = {}): Promise<Store> {
  const url = redactUrl(config.store.url);
  const instanceId = config.cluster.instanceId;
  const dir = resolve(config.dataDir);
  mkdirSync(dir, { recursive: true });
  const connection = {
    connectionString: config.store.url,
    types: TYPES,
    // A half-open connection (a partition, no RST) must fail, not hang a commit forever with acknowledgements held:
    // connecting and each statement are bounded (a batch of 160,000 window rows commits in about 10 s on a busy
    // 2-core machine), and TCP keep-alive notices a dead peer between batches.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
  const pool = new (pgLib().Pool)({ ...connection, max: 4, application_name: `thermostream ${instanceId}` });
  // An idle connection that breaks (the server restarts) is dropped; the pool opens a new one for the next query.
  pool.on('error', (err) => console.error(`thermostream: store: idle connection to ${url} lost: ${err.message}`));
  // Taken before anything of the instance is read: a second process with this instance id is refused here.
  let lock: InstanceLock | null = null;
  try {
    await migratePg(pool, url);
    if (deps.instanceLock === undefined) lock = await claimInstanceLock(connection, url, instanceId, (line) => console.error(`thermostream: ${line}`));
  } catch (err) {
    await pool.end().catch(() => {});
    if (err instanceof ThermostreamError) throw err;
    throw storeUnreachable(url, err);
  }
  const lockToken = lock?.token ?? deps.instanceLock!;

  const statements = commitStatements(instanceId);
  /** The batch whose last commit failed with the connection lost: its COMMIT may have gone through. */
  let unsure: unknown = null;

  async function transaction<T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // The instance's lock lost (a ThermostreamError): this connection is fine.
      if (isUnavailable(err) && !(err instanceof ThermostreamError)) broken = err as Error;
      else await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release(broken);
    }
  }

  const one = async <T>(name: string, text: string, values: unknown[]): Promise<T | undefined> =>
    (await pool.query({ name: `ts_${name}`, text, values })).rows[0] as T | undefined;
  const all = async <T>(name: string, text: string, values: unknown[]): Promise<T[]> =>
    (await pool.query({ name: `ts_${name}`, text, values })).rows as T[];
  type Nullable<T, K extends keyof T> = Omit<T, K> & { [P in K]: number | null };
  const { windowsMs, deadLettersMs, lateReadingsMs, anomaliesMs } = config.retention;

  return {
    kind: 'postgres',
    file: url,
    instanceId,
    instanceLock: lockToken,
    async commitBatch(out) {
      const retry = unsure === out;
      unsure = null;
      try {
        await transaction(async (c) => {
          // This instance's checkpoint, locked: the previous batch must be the last one committed under this id.
          // The same batch again after a lost connection: its checkpoint there means the COMMIT had gone through.
          // Anything else: another process runs with this instance id, and both would lose or double readings.
          // The advisory lock orders this instance id's transactions even before its checkpoint row exists (a
          // second process's first batch then sees the first one's checkpoint, not nothing). Then the instance's
          // lock (instance-lock.ts) must be this process's: a second process is refused at start-up, but the lock's
          // connection may have closed since, and another process taken it.
          await c.query({ name: 'ts_instance_lock', text: COMMIT_LOCK, values: [instanceId] });
          await checkInstanceLock(c, url, instanceId, lockToken);
          const r = await c.query({ name: 'ts_checkpoint_lock', text: 'SELECT batches, log_offset FROM checkpoint WHERE instance_id = $1 FOR UPDATE', values: [instanceId] });
          const last = r.rows[0] as { batches: number; log_offset: number } | undefined;
          const k = out.checkpoint;
          if (retry && last !== undefined && last.batches === k.batches && last.log_offset === k.logOffset) return;
          if (last !== undefined && last.batches !== k.batches - 1) throw instanceConflict(url, instanceId, last.batches, k.batches);
          await statements.outputs(c, out);
          deps.beforeCheckpoint?.(out);
          await statements.state(c, out);
        });
      } catch (err) {
        // The connection lost: the COMMIT may have gone through. The instance's lock lost (a ThermostreamError): nothing
        // of this attempt was sent, but an earlier attempt's doubt stands until a retry reads the checkpoint.
        if (isUnavailable(err)) unsure = err instanceof ThermostreamError ? (retry ? out : null) : out;
        throw err;
      }
    },
    async recover() {
      const c = await one<Nullable<Checkpoint, 'watermark' | 'maxEventTime'>>('recover_checkpoint', `
        SELECT log_offset AS "logOffset", job, watermark, max_event_time AS "maxEventTime", batches
        FROM checkpoint WHERE instance_id = $1`, [instanceId]);
      if (c === undefined) return null;
      const [panes, detectors, seqs, ids] = await Promise.all([
        all<PaneRow>('recover_panes', 'SELECT length_ms AS "lengthMs", slide_ms AS "slideMs", key, start, state FROM panes WHERE instance_id = $1', [instanceId]),
        all<DetectorRow>('recover_detectors', 'SELECT device_id AS "deviceId", state FROM detector_state WHERE instance_id = $1', [instanceId]),
        all<Nullable<DedupeRow, 'maxTs' | 'lastSeen'>>('recover_dedupe', `
          SELECT device_id AS "deviceId", max_seq AS "maxSeq", max_ts AS "maxTs", seen, last_seen AS "lastSeen"
          FROM dedupe WHERE instance_id = $1`, [instanceId]),
        all<Nullable<MessageIdRow, 'lastSeen'>>('recover_dedupe_ids',
          'SELECT device_id AS "deviceId", ids, last_seen AS "lastSeen" FROM dedupe_ids WHERE instance_id = $1', [instanceId]),
      ]);
      return {
        checkpoint: { ...c, watermark: c.watermark ?? -Infinity, maxEventTime: c.maxEventTime ?? -Infinity },
        panes,
        detectors,
        dedupe: {
          seqs: seqs.map((d) => ({ ...d, maxTs: d.maxTs ?? -Infinity, lastSeen: d.lastSeen ?? -Infinity })),
          messageIds: ids.map((d) => ({ ...d, lastSeen: d.lastSeen ?? -Infinity })),
        },
      };
    },
    prune: (now) =>
      transaction(async (c) => {
        let deleted = 0;
        const run = async (text: string, before: number): Promise<number> => (await c.query(text, [before])).rowCount ?? 0;
        if (windowsMs > 0) {
          deleted += await run('DELETE FROM windows WHERE updated_at < $1 AND final = 1', now - windowsMs);
          deleted += await run('DELETE FROM fleet_windows WHERE updated_at < $1 AND final = 1', now - windowsMs);
          await run('DELETE FROM batch_log WHERE committed_at < $1', now - windowsMs);
        }
        if (deadLettersMs > 0) deleted += await run('DELETE FROM dead_letters WHERE received_at < $1', now - deadLettersMs);
        if (lateReadingsMs > 0) deleted += await run('DELETE FROM late_readings WHERE arrival < $1', now - lateReadingsMs);
        if (anomaliesMs > 0) {
          deleted += await run('DELETE FROM anomalies WHERE updated_at < $1 AND NOT (start IS NOT NULL AND "end" IS NULL)', now - anomaliesMs);
        }
        return deleted;
      }),
    resetJob: () =>
      transaction(async (c) => {
        await c.query(CLOSE_OPEN_INTERVALS, [instanceId, null]);
        await c.query('DELETE FROM windows');
        for (const t of ['fleet_windows', 'panes', 'detector_state']) await c.query(`DELETE FROM ${t} WHERE instance_id = $1`, [instanceId]);
        await c.query('UPDATE checkpoint SET job = NULL, watermark = NULL, max_event_time = NULL WHERE instance_id = $1', [instanceId]);
      }),
    releaseDevices: (owns) =>
      transaction(async (c) => {
        const held = (await c.query('SELECT device_id FROM detector_state WHERE instance_id = $1', [instanceId])).rows as { device_id: string }[];
        const moved = held.map((r) => r.device_id).filter((id) => !owns(id));
        if (moved.length === 0) return [];
        await c.query(CLOSE_OPEN_INTERVALS, [instanceId, moved]);
        await c.query('DELETE FROM detector_state WHERE instance_id = $1 AND device_id = ANY($2::text[])', [instanceId, moved]);
        return moved;
      }),
    ...createPgQueries(pool, dir, instanceId),
    async clusterLists() {
      const rows = await all<{ instanceId: string; instances: string }>('cluster_lists', 'SELECT instance_id AS "instanceId", instances FROM cluster_lists ORDER BY instance_id', []);
      return rows.map((r) => ({ instanceId: r.instanceId, instances: JSON.parse(r.instances) as string[] }));
    },
    recordClusterList: (instances, forgetOthers) =>
      transaction(async (c) => {
        if (forgetOthers) await c.query('DELETE FROM cluster_lists WHERE NOT (instance_id = ANY($1::text[]))', [[instanceId, ...instances]]);
        await c.query(
          'INSERT INTO cluster_lists (instance_id, instances) VALUES ($1, $2) ON CONFLICT (instance_id) DO UPDATE SET instances = excluded.instances',
          [instanceId, JSON.stringify(instances)],
        );
      }),
    transient: (err) => (isUnavailable(err) ? 'unavailable' : null),
    fatal: (err) => pgFatal(url, err),
    async close() {
      if (pool.ended) return;
      await pool.end();
      await lock?.close(); // last: the instance is this process's until its connections are closed
    },
  };
}
