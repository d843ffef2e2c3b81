import type Database from 'better-sqlite3';
import { ThermostreamError } from '../../errors.ts';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './schema.ts';

/** Columns added to existing tables since version 1, as [table, column, type]: added where a table lacks them. */
const ADDED_COLUMNS: readonly (readonly [string, string, string])[] = [
  ['dedupe', 'last_seen', 'REAL'], // version 3; null = last activity unknown (counted from the next start)
];

/** The instance every row of a version-4 database belongs to after the upgrade (the default cluster.instanceId). */
export const MIGRATED_INSTANCE = 'main';

/** Tables keyed by instance since version 5. */
const INSTANCE_TABLES = ['checkpoint', 'panes', 'dedupe', 'dedupe_ids', 'detector_state', 'batch_log'] as const;

const columnsOf = (db: Database.Database, table: string): string[] =>
  db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[];

/** Steps around SCHEMA for the upgrade from version v to v + 1, where statements alone are not enough. */
const UPGRADES: Record<number, { before(db: Database.Database): void; after(db: Database.Database): void }> = {
  // 4 → 5: the instance tables are recreated with instance_id in their key; their rows become instance 'main's.
  // Fleet windows become partial aggregates: sum = avg·count and sum of squares = (stddev² + avg²)·count (exact up
  // to rounding), first and last dated at the window's start and end.
  4: {
    before(db) {
      for (const t of INSTANCE_TABLES) if (columnsOf(db, t).length > 0) db.exec(`ALTER TABLE ${t} RENAME TO v4_${t}`);
    },
    after(db) {
      for (const t of INSTANCE_TABLES) {
        const old = columnsOf(db, `v4_${t}`);
        if (old.length === 0) continue;
        const cols = columnsOf(db, t).filter((c) => c !== 'instance_id' && old.includes(c));
        db.exec(`INSERT INTO ${t} (instance_id, ${cols.join(', ')}) SELECT '${MIGRATED_INSTANCE}', ${cols.join(', ')} FROM v4_${t}`);
        db.exec(`DROP TABLE v4_${t}`);
      }
      db.exec(`
        INSERT INTO fleet_windows
        SELECT '${MIGRATED_INSTANCE}', length_ms, slide_ms, start, end, count, coalesce(avg * count, 0),
          coalesce((stddev * stddev + avg * avg) * count, 0), min, max, first, CASE WHEN count > 0 THEN start END,
          last, CASE WHEN count > 0 THEN end - 1 END, humidity_count, coalesce(humidity_avg * humidity_count, 0),
          coalesce((humidity_stddev * humidity_stddev + humidity_avg * humidity_avg) * humidity_count, 0),
          humidity_min, humidity_max, humidity_first, CASE WHEN humidity_count > 0 THEN start END,
          humidity_last, CASE WHEN humidity_count > 0 THEN end - 1 END, anomalies, anomaly_counts, final, updated_at
        FROM windows WHERE device_id = '*';
        DELETE FROM windows WHERE device_id = '*';`);
    },
  },
};

/**
 * Brings a database of any earlier version to SCHEMA_VERSION in one transaction; refuses one written by a newer
 * Thermostream (its tables may mean something this version does not know).
 */
export function migrate(db: Database.Database, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new ThermostreamError(
      'TS_ERR_SCHEMA_NEWER',
      `${file} has schema version ${version}, newer than this Thermostream's ${SCHEMA_VERSION}: run the newer version, or start with another --data-dir`,
    );
  }
  db.transaction(() => {
    for (const [table, column, type] of ADDED_COLUMNS) {
      const columns = columnsOf(db, table);
      if (columns.length > 0 && !columns.includes(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
    for (let v = version; v > 0 && v < SCHEMA_VERSION; v++) {
      if (MIGRATIONS[v]) db.exec(MIGRATIONS[v]);
      UPGRADES[v]?.before(db);
    }
    db.exec(SCHEMA);
    for (let v = version; v > 0 && v < SCHEMA_VERSION; v++) UPGRADES[v]?.after(db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}
