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

/** Tables keyed by the batch that wrote a row first since version 11: devices and the checkpoint's state. */
const BY_FIRST_BATCH = ['devices', 'panes', 'dedupe', 'dedupe_ids', 'detector_state'] as const;

const columnsOf = (db: Database.Database, table: string): string[] =>
  db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[];

/**
 * Renames `table` (when it exists) to `prefix_table`, for SCHEMA to create it anew. Its indexes are dropped: renamed
 * with the table they would keep their names, so SCHEMA's CREATE INDEX IF NOT EXISTS would skip them and the new
 * table would have none once the old one is dropped.
 */
function setAside(db: Database.Database, table: string, prefix: string): void {
  if (columnsOf(db, table).length === 0) return;
  const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL").pluck().all(table) as string[];
  for (const name of indexes) db.exec(`DROP INDEX ${name}`);
  db.exec(`ALTER TABLE ${table} RENAME TO ${prefix}_${table}`);
}

/**
 * Copies the rows of the table set aside as `prefix_table` into the new `table` (the columns both have, plus those of
 * `fill` given as SQL expressions), and drops it. `orderBy`, the new table's key: rows sorted once are appended to
 * its B-tree, where rows in the old key's order would each land somewhere else (a million windows: 24 → 6.7 s).
 */
function moveRows(db: Database.Database, table: string, prefix: string, fill: Readonly<Record<string, string>> = {}, orderBy = ''): void {
  const old = columnsOf(db, `${prefix}_${table}`);
  if (old.length === 0) return;
  const cols = columnsOf(db, table).filter((c) => !(c in fill) && old.includes(c));
  const names = [...Object.keys(fill), ...cols].join(', ');
  const order = orderBy === '' ? '' : ` ORDER BY ${orderBy}`;
  db.exec(`INSERT INTO ${table} (${names}) SELECT ${[...Object.values(fill), ...cols].join(', ')} FROM ${prefix}_${table}${order}`);
  db.exec(`DROP TABLE ${prefix}_${table}`);
}

/** Steps around SCHEMA for the upgrade from version v to v + 1, where statements alone are not enough. */
const UPGRADES: Record<number, { before?(db: Database.Database): void; after(db: Database.Database): void }> = {
  // 4 → 5: the instance tables are recreated with instance_id in their key; their rows become instance 'main's.
  // Fleet windows become partial aggregates: sum = avg·count and sum of squares = (stddev² + avg²)·count (exact up
  // to rounding), first and last dated at the window's start and end.
  4: {
    before(db) {
      for (const t of INSTANCE_TABLES) setAside(db, t, 'v4');
    },
    after(db) {
      for (const t of INSTANCE_TABLES) moveRows(db, t, 'v4', { instance_id: `'${MIGRATED_INSTANCE}'` });
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
  // 5 → 6: panes are recreated keyed by start before key (a table's key cannot be altered in place).
  5: {
    before: (db) => setAside(db, 'panes', 'v5'),
    after: (db) => moveRows(db, 'panes', 'v5'),
  },
  // 6 → 7: windows are recreated keyed by shape and start before device, copying the whole table once. After SCHEMA,
  // not before: from version 4 the 4 → 5 step first moves the fleet rows out of windows.
  6: {
    after(db) {
      setAside(db, 'windows', 'v6');
      db.exec(SCHEMA);
      moveRows(db, 'windows', 'v6', {}, 'length_ms, slide_ms, start, device_id');
    },
  },
  // 8 → 9: anomalies are recreated with n in their key; every old row is the only one of its (device, type, ts).
  8: {
    before: (db) => setAside(db, 'anomalies', 'v8'),
    after: (db) => moveRows(db, 'anomalies', 'v8', { n: '0' }),
  },
  // 9 → 10: dead letters are recreated with a BLOB payload (ids kept: they are the API's cursors); a text payload
  // becomes its UTF-8 bytes.
  9: {
    before: (db) => setAside(db, 'dead_letters', 'v9'),
    after: (db) => moveRows(db, 'dead_letters', 'v9', { payload: 'CAST(payload AS BLOB)' }),
  },
  // 10 → 11: devices and the state tables are recreated with first_batch in their key; their rows get first_batch 0.
  10: {
    before(db) {
      for (const t of BY_FIRST_BATCH) setAside(db, t, 'v10');
    },
    after(db) {
      for (const t of BY_FIRST_BATCH) moveRows(db, t, 'v10'); // read in the old key's order, which is the new one's at first_batch 0
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
  const upgrading = version > 0 && version < SCHEMA_VERSION;
  const started = Date.now();
  // A large database's tables are copied (docs/OPERATIONS.md): say why the start waits, and when it is done.
  if (upgrading) console.log(`thermostream: database   ${file}: upgrading schema version ${version} to ${SCHEMA_VERSION}, in one transaction…`);
  db.transaction(() => {
    for (const [table, column, type] of ADDED_COLUMNS) {
      const columns = columnsOf(db, table);
      if (columns.length > 0 && !columns.includes(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
    for (let v = version; v > 0 && v < SCHEMA_VERSION; v++) {
      if (MIGRATIONS[v]) db.exec(MIGRATIONS[v]);
      UPGRADES[v]?.before?.(db);
    }
    db.exec(SCHEMA);
    for (let v = version; v > 0 && v < SCHEMA_VERSION; v++) UPGRADES[v]?.after(db);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
  if (upgrading) console.log(`thermostream: database   upgraded to schema version ${SCHEMA_VERSION} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
