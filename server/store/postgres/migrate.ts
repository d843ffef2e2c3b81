import type pg from 'pg';
import { ThermostreamError } from '../../errors.ts';
import { PG_MIGRATIONS, PG_SCHEMA, PG_SCHEMA_VERSION } from './schema.ts';

/** Held for the migration's transaction: instances starting together migrate one after the other. */
const MIGRATION_LOCK = 0x7453_0001;

/**
 * Creates the schema in an empty database, or brings one of an earlier version to PG_SCHEMA_VERSION, in one
 * transaction; refuses a database written by a newer Thermostream. Returns the version found (0: empty).
 */
export async function migratePg(pool: pg.Pool, url: string): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const found = Number((await client.query('SELECT coalesce(max(version), 0) AS v FROM schema_version')).rows[0].v);
    if (found > PG_SCHEMA_VERSION) {
      throw new ThermostreamError(
        'TS_ERR_SCHEMA_NEWER',
        `the PostgreSQL database ${url} has schema version ${found}, newer than this Thermostream's ${PG_SCHEMA_VERSION}: ` +
          'run the newer version, or point store.url at another database',
      );
    }
    for (let v = found; v > 0 && v < PG_SCHEMA_VERSION; v++) if (PG_MIGRATIONS[v]) await client.query(PG_MIGRATIONS[v]);
    await client.query(PG_SCHEMA);
    if (found < PG_SCHEMA_VERSION) await client.query('INSERT INTO schema_version (version) VALUES ($1)', [PG_SCHEMA_VERSION]);
    await client.query('COMMIT');
    return found;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
