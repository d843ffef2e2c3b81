import type Database from 'better-sqlite3';
import { ThermostreamError } from '../../errors.ts';
import { formatBytes, freeBytes, isNoSpaceIn } from '../../storage-health.ts';

const CORRUPT = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

/** True for SQLite's "the file is damaged" errors. */
export function isCorrupt(err: unknown): boolean {
  return CORRUPT.has(String((err as { code?: unknown } | null)?.code));
}

/** Which SQLite file of the data dir: the results' database, or the device registry. */
export interface DbFile {
  file: string;
  /** How messages name it. */
  what: string;
  /** What to restore from a backup. */
  restore: string;
}

/** The results' database: restored with the ingest log it belongs with. */
export const resultsDb = (file: string): DbFile => ({
  file,
  what: 'the database',
  restore: 'Stop the server and restore the data directory from a backup (the database and the log/ directory together)',
});

/** A damaged database file, named, with what the operator can do. */
export function dbCorrupt(db: DbFile, detail: string): ThermostreamError {
  const { file } = db;
  return new ThermostreamError(
    'TS_ERR_DB_CORRUPT',
    `${db.what} ${file} is damaged (${detail}). Nothing was changed. ${db.restore}; or keep the damaged file for ` +
      `inspection (mv ${file} ${file}.damaged, and its -wal file) and try \`sqlite3 ${file}.damaged .recover | ` +
      `sqlite3 ${file}\`, then start again.`,
  );
}

/**
 * Refuses a damaged file (truncated, overwritten) with TS_ERR_DB_CORRUPT naming it, rather than failing at some later
 * statement. quick_check reads every page once.
 */
export function checkIntact(handle: Database.Database, db: DbFile): void {
  const problems = handle.pragma('quick_check(5)', { simple: false }) as { quick_check: string }[];
  if (problems.length !== 1 || problems[0].quick_check !== 'ok') {
    throw dbCorrupt(db, `quick_check: ${problems.map((p) => p.quick_check).join('; ')}`);
  }
}

/** SQLite errors with a code of ours where one fits: a damaged file, or no room to open the database. */
export function dbError(err: unknown, db: DbFile): Error {
  if (isCorrupt(err)) return dbCorrupt(db, `${(err as { code: string }).code}: ${(err as Error).message}`);
  return err as Error;
}

/** The database cannot even be opened for want of space (SQLite may say "disk I/O error"): a clear refusal at start-up. */
export function dbNoSpace(err: unknown, file: string, dir: string): Error {
  if (!isNoSpaceIn(err, dir)) return dbError(err, resultsDb(file));
  const free = freeBytes(dir);
  return new ThermostreamError(
    'TS_ERR_STORAGE_FULL',
    `cannot open the database ${file}: the file system is full (${(err as Error).message}; ` +
      `${free === null ? 'free space unknown' : `${formatBytes(free)} free`} in the data dir ${dir}). ` +
      'Make room (at least 64 MiB) and start again.',
  );
}
