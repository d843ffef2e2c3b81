import { ThermostreamError } from '../../errors.ts';
import { formatBytes, freeBytes, isNoSpaceIn } from '../../storage-health.ts';

const CORRUPT = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

/** True for SQLite's "the file is damaged" errors. */
export function isCorrupt(err: unknown): boolean {
  return CORRUPT.has(String((err as { code?: unknown } | null)?.code));
}

/** A damaged database file, named, with what the operator can do. */
export function dbCorrupt(file: string, detail: string): ThermostreamError {
  return new ThermostreamError(
    'TS_ERR_DB_CORRUPT',
    `the database ${file} is damaged (${detail}). Nothing was changed. Stop the server and restore the data ` +
      'directory from a backup (the database and the log/ directory together); or keep the damaged file for ' +
      `inspection (mv ${file} ${file}.damaged, and its -wal file) and try \`sqlite3 ${file}.damaged .recover | ` +
      `sqlite3 ${file}\`, then start again.`,
  );
}

/** SQLite errors with a code of ours where one fits: a damaged file, or no room to open the database. */
export function dbError(err: unknown, file: string): Error {
  if (isCorrupt(err)) return dbCorrupt(file, `${(err as { code: string }).code}: ${(err as Error).message}`);
  return err as Error;
}

/** The database cannot even be opened for want of space (SQLite may say "disk I/O error"): a clear refusal at start-up. */
export function dbNoSpace(err: unknown, file: string, dir: string): Error {
  if (!isNoSpaceIn(err, dir)) return dbError(err, file);
  const free = freeBytes(dir);
  return new ThermostreamError(
    'TS_ERR_STORAGE_FULL',
    `cannot open the database ${file}: the file system is full (${(err as Error).message}; ` +
      `${free === null ? 'free space unknown' : `${formatBytes(free)} free`} in the data dir ${dir}). ` +
      'Make room (at least 64 MiB) and start again.',
  );
}
