import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Pages the write-ahead log may hold before a committing connection checkpoints it itself (SQLite's
 * wal_autocheckpoint; its default is 1,000). Set on every connection: with the checkpointer running it is only the
 * fallback that bounds the log if the checkpointer falls behind; without it (a store that never commits a batch),
 * the occasional write checkpoints as SQLite would.
 */
export const WAL_FALLBACK_PAGES = 65_536;

/** Bytes the log file is cut back to once a checkpoint has emptied it (SQLite's journal_size_limit). */
export const WAL_KEEP_BYTES = 64 << 20;

/** How long the checkpointer sleeps when the log had (almost) nothing left to copy. */
const IDLE_MS = 100;
/** Frames left over that count as nothing to copy. */
const IDLE_FRAMES = 64;
/** How long it waits after a checkpoint failed (busy, or a full disk). */
const RETRY_MS = 1000;

/*
 * The thread's code, as a CommonJS script (eval: no file to find beside a bundle). It copies committed pages from
 * the log into the database (PRAGMA wal_checkpoint(PASSIVE): it never waits for, nor blocks, the writer or the
 * readers) until stopped through the shared flag.
 */
const THREAD = `
const { workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const stop = new Int32Array(workerData.flag);
const db = new Database(workerData.file);
try {
  db.pragma('busy_timeout = 1000');
  db.pragma('synchronous = FULL');
  while (Atomics.load(stop, 0) === 0) {
    let wait = workerData.idleMs;
    try {
      const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
      if (r.log - r.checkpointed >= workerData.idleFrames) wait = 0;
    } catch {
      wait = workerData.retryMs; // busy, or the disk is full: the writer's fallback covers it meanwhile; try again
    }
    if (wait > 0) Atomics.wait(stop, 0, 0, wait);
  }
} finally {
  db.close();
}
`;

export interface Checkpointer {
  /** Stops the thread after its current checkpoint; resolves once it has closed its connection. */
  stop(): Promise<void>;
}

/**
 * Checkpoints the database's write-ahead log on a thread of its own. A batch commit appends its pages to the log and
 * syncs it; copying them into the database file and syncing that (the checkpoint) is the other half of the write,
 * which SQLite otherwise does inside the commit that crosses wal_autocheckpoint — on the batch's thread, every batch
 * once a batch writes more than 1,000 pages (a fleet of 100,000 devices: ≈ 27,000). Here it runs beside the next
 * batch on the other core. A checkpoint never makes a committed transaction less durable: the log is synced first.
 * A checkpoint that fails (a full disk) is tried again a second later; `onError` hears of a thread that failed
 * altogether (the writer's fallback then checkpoints, as without this thread).
 */
export function startCheckpointer(file: string, onError: (err: Error) => void): Checkpointer {
  const flag = new SharedArrayBuffer(4);
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(THREAD, { eval: true, name: 'sqlite-checkpoint', workerData: { driver, file, flag, idleMs: IDLE_MS, idleFrames: IDLE_FRAMES, retryMs: RETRY_MS } });
  worker.unref(); // a store left open does not keep the process alive for it
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('error', (err) => onError(new Error(`the SQLite checkpoint thread failed: ${err.message}`)));
  return {
    async stop() {
      const stop = new Int32Array(flag);
      Atomics.store(stop, 0, 1);
      Atomics.notify(stop, 0);
      worker.ref(); // waited for now: the process stays up until it has closed its connection
      await exited;
    },
  };
}
