/**
 * The registry's SQLite file: where it is in a data dir, its tables, and how it is opened (private to its owner,
 * checked, in WAL mode, shared with the devices CLI).
 */
import { chmodSync, closeSync, existsSync, openSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { checkIntact, dbError, type DbFile } from '../store/sqlite/errors.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS devices (
  device_id TEXT PRIMARY KEY,
  generation_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
  primary_key TEXT NOT NULL,
  secondary_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  status_updated_at INTEGER NOT NULL,
  desired TEXT NOT NULL DEFAULT '{}',
  desired_version INTEGER NOT NULL DEFAULT 1,
  reported TEXT NOT NULL DEFAULT '{}',
  reported_version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS cloud_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
  message_id TEXT NOT NULL,
  body BLOB NOT NULL,
  properties TEXT NOT NULL,
  enqueued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS cloud_messages_device ON cloud_messages (device_id, seq);
CREATE TABLE IF NOT EXISTS session_subscriptions (
  device_id TEXT NOT NULL REFERENCES devices(device_id) ON DELETE CASCADE,
  topic TEXT NOT NULL,
  qos INTEGER NOT NULL,
  PRIMARY KEY (device_id, topic)
);
`;

/** The registry's database file in a data dir. */
export const registryFile = (dataDir: string): string => resolve(join(dataDir, 'registry.db'));

/**
 * Opens (or creates) the registry's file. A damaged one is refused with TS_ERR_DB_CORRUPT naming it (exit code 3, as
 * for the results' database), not as a bare SqliteError.
 */
export function openRegistryDb(file: string): Database.Database {
  const named: DbFile = { file, what: 'the device registry', restore: 'Restore it from a backup of the data dir' };
  let db: Database.Database | undefined;
  try {
    keepPrivate(file);
    db = new Database(file);
    // The devices CLI may write while the server runs (and open the file while the server writes it).
    db.pragma('busy_timeout = 5000');
    checkIntact(db, named);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.exec(SCHEMA);
    return db;
  } catch (err) {
    db?.close();
    throw dbError(err, named);
  }
}

/**
 * The registry holds every device's keys: it is readable by its owner only (0600), as the TLS keys are, whatever the
 * umask. SQLite gives its -wal and -shm files the database file's mode; those of a registry made before this rule
 * (0644) are tightened too. A file of another user that cannot be changed is left as it is.
 */
function keepPrivate(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600)); // the mode applies only when this creates the file
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if (existsSync(f) && (statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
    } catch {
      // not its owner: SQLite's open says what is wrong if the file cannot be used
    }
  }
}
