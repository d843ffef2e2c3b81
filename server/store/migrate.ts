import type Database from 'better-sqlite3';
import { ThermostreamError } from '../errors.ts';
import { MIGRATIONS, SCHEMA, SCHEMA_VERSION } from './schema.ts';

/** Columns added to existing tables since version 1, as [table, column, type]: added where a table lacks them. */
const ADDED_COLUMNS: readonly (readonly [string, string, string])[] = [
  ['dedupe', 'last_seen', 'REAL'], // version 3; null = last activity unknown (counted from the next start)
];

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
    for (let v = version; v > 0 && v < SCHEMA_VERSION; v++) if (MIGRATIONS[v]) db.exec(MIGRATIONS[v]);
    for (const [table, column, type] of ADDED_COLUMNS) {
      const columns = db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[];
      if (columns.length > 0 && !columns.includes(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}
