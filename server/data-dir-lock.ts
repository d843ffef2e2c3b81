// One server per data dir. Two servers on one dir would append to one ingest log under the same offsets and commit
// over each other's checkpoint, silently breaking exactly-once; the second one is refused instead (as Kafka's log
// dirs and PostgreSQL's data directory are).
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ThermostreamError } from './errors.ts';
import { formatBytes, freeBytes, isNoSpaceIn } from './storage-health.ts';

/** The lock file in the data dir: an empty SQLite database whose exclusive lock the running server holds. */
const LOCK_FILE = 'server.lock';

export interface DataDirLock {
  release(): void;
}

/**
 * Takes the data dir's lock or refuses with TS_ERR_DATA_DIR_LOCKED. The lock is SQLite's file lock on `server.lock`
 * (an open exclusive transaction, never committed): the operating system drops it when the process ends however it
 * ends, SIGKILL and power cuts included, so there is never a stale lock to clean up. Held per process; a second
 * server in the same process is refused too.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const dir = prepareDataDir(dataDir);
  const file = join(dir, LOCK_FILE);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: 0 });
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db?.close();
    if (isNoSpaceIn(err, dir)) throw lockNoSpace(dir, `cannot create or lock ${file}: ${(err as Error).message}`);
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw dataDirError(dir, `cannot create or lock ${file}: ${(err as Error).message}`);
    throw new ThermostreamError(
      'TS_ERR_DATA_DIR_LOCKED',
      `another Thermostream server is running on the data dir ${dir} (it holds ${file}): stop it first, or give this one its own --data-dir`,
    );
  }
  const held = db;
  return {
    release() {
      if (held.open) held.close(); // closing rolls the transaction back, which ends the lock
    },
  };
}

/**
 * Makes the data dir (and its missing parents) and checks that it can be written, or refuses with TS_ERR_DATA_DIR
 * naming it; returns its absolute path. Used by the server and by the devices CLI's add.
 */
export function prepareDataDir(dataDir: string): string {
  const dir = resolve(dataDir);
  try {
    makeDir(dir);
    // An existing lock file can be locked without writing (a read-only file system, a directory without write
    // permission): the databases beside it would then fail to open with SQLite's bare SQLITE_CANTOPEN.
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw dataDirError(dir, (err as Error).message);
  }
  return dir;
}

/**
 * mkdir -p, one level at a time. Node 20's recursive mkdirSync loops forever where the parent exists but mkdir says
 * ENOENT (under /proc), and says ENOENT where the real cause is EROFS; a plain mkdir of each level says what it is.
 */
function makeDir(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && statSync(dir).isDirectory()) return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw err;
    makeDir(dirname(dir));
    try {
      mkdirSync(dir); // once more: the parent exists now
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'ENOENT') throw again;
      throw new Error(`${(again as Error).message} (its parent exists: this file system makes no directories there)`);
    }
  }
}

/** A data dir that cannot be made or written (a file in its place, no permission): said before anything is opened. */
export function dataDirError(dir: string, cause: string): ThermostreamError {
  return new ThermostreamError(
    'TS_ERR_DATA_DIR',
    `cannot use the data dir ${dir} (dataDir, --data-dir): ${cause}. Make it a directory this user can write, or give another with --data-dir`,
  );
}

/** A full file system under the data dir: said as the database's own refusal at start-up says it (a writable dir). */
function lockNoSpace(dir: string, cause: string): ThermostreamError {
  const free = freeBytes(dir);
  return new ThermostreamError(
    'TS_ERR_STORAGE_FULL',
    `cannot lock the data dir ${dir}: the file system is full (${cause}; ` +
      `${free === null ? 'free space unknown' : `${formatBytes(free)} free`} in the data dir ${dir}). Make room (at least 64 MiB) and start again.`,
  );
}
