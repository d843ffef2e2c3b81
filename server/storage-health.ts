import { statfsSync } from 'node:fs';
import type { Clock } from './clock.ts';

/** The parts that write to the data dir. */
export type StoragePart = 'log' | 'database';

/** What `/api/v1/stats` (storage), `/readyz` and `/metrics` report about the data dir's writability. */
export interface StorageStatus {
  /** false while a write is failing for want of space: acknowledgements are held and the write is retried. */
  ok: boolean;
  /** TS_ERR_STORAGE_FULL (or TS_ERR_STORE_UNAVAILABLE: PostgreSQL unreachable) while not ok. */
  code: string | null;
  /** The first failing part's message (names the path, the errno, the free and the needed space). */
  error: string | null;
  /** ISO 8601: when the writes started failing. */
  since: string | null;
  /** The failing parts, e.g. ['log'] or ['log', 'database']. */
  failing: StoragePart[];
  /** Retries since the failure started. */
  retries: number;
}

interface Failure {
  code: string;
  message: string;
  since: number;
  retries: number;
}

/** True for the errors a full file system or an exhausted quota gives: worth waiting for, not fatal. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL';
}

/**
 * SQLite reports some writes a full disk refused as I/O errors (extending the WAL index gives SQLITE_IOERR_SHMSIZE,
 * a failed fsync SQLITE_IOERR_FSYNC): on a file system with less than 16 MiB free they are taken as a full disk too.
 */
export function isNoSpaceIn(err: unknown, dir: string): boolean {
  if (isNoSpace(err)) return true;
  const code = String((err as { code?: unknown } | null)?.code);
  return code.startsWith('SQLITE_IOERR') && (freeBytes(dir) ?? Infinity) < 16 * 1024 * 1024;
}

/** Free bytes for an unprivileged writer on the file system holding `path`, or null if it cannot be asked. */
export function freeBytes(path: string): number | null {
  try {
    const s = statfsSync(path);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * Shared state of the data dir's writability. A part whose write fails for want of space reports it here (said once
 * in the server's log, naming the path, the free space and what is needed), retries on its own, and reports the
 * first write that succeeds again. While any part fails, ingest holds every acknowledgement (devices keep their
 * readings and resend them), and the state is visible in the stats.
 */
export class StorageHealth {
  private readonly failures = new Map<StoragePart, Failure>();
  /** Read on the hot path (per acknowledgement): a plain field. */
  ok = true;

  constructor(
    private readonly clock: Clock,
    private readonly log: (message: string) => void = (m) => console.error(m),
  ) {}

  /**
   * A write of `part` to `path` (in the data dir `dir`) failed for want of space; `neededBytes` is what the failed
   * write needs at least, `keepFreeBytes` what the part needs to run on comfortably.
   */
  failed(part: StoragePart, dir: string, path: string, err: Error, neededBytes: number, keepFreeBytes: number): void {
    const f = this.failures.get(part);
    if (f !== undefined) {
      f.retries++;
      return;
    }
    const free = freeBytes(dir);
    const errno = (err as NodeJS.ErrnoException).code ?? 'ENOSPC';
    const what = part === 'log' ? 'the ingest log' : 'the database';
    const message =
      `storage full: cannot write ${what} ${path} (${errno}: ${err.message}); ` +
      `${free === null ? 'free space unknown' : `${formatBytes(free)} free`} in the data dir ${dir}, ` +
      `at least ${formatBytes(neededBytes)} needed for the pending write and ${formatBytes(keepFreeBytes)} to run on. ` +
      'Acknowledgements are held (devices keep and resend their readings); retrying until there is room ' +
      '[TS_ERR_STORAGE_FULL]';
    this.failures.set(part, { code: 'TS_ERR_STORAGE_FULL', message, since: this.clock.now(), retries: 0 });
    this.ok = false;
    this.log(`thermostream: ${message}`);
  }

  /**
   * The database is a server (PostgreSQL) and the connection to it is lost: like a full disk, acknowledgements are
   * held and the write is retried; `message` names the server (without its password).
   */
  unavailable(part: StoragePart, message: string): void {
    const f = this.failures.get(part);
    if (f !== undefined) {
      f.retries++;
      return;
    }
    const full = `${message}. Acknowledgements are held (devices keep and resend their readings); the batch is committed again until it answers [TS_ERR_STORE_UNAVAILABLE]`;
    this.failures.set(part, { code: 'TS_ERR_STORE_UNAVAILABLE', message: full, since: this.clock.now(), retries: 0 });
    this.ok = false;
    this.log(`thermostream: ${full}`);
  }

  /** A write of `part` succeeded: if it was failing, it has recovered (said once). */
  recovered(part: StoragePart): void {
    if (this.ok) return;
    const f = this.failures.get(part);
    if (f === undefined) return;
    this.failures.delete(part);
    this.ok = this.failures.size === 0;
    const seconds = ((this.clock.now() - f.since) / 1000).toFixed(1);
    const what = part === 'log' ? 'the ingest log' : 'the database';
    this.log(`thermostream: storage writable again: ${what} resumed after ${seconds} s and ${f.retries} retries`);
  }

  status(): StorageStatus {
    const first = this.failures.values().next().value as Failure | undefined;
    return {
      ok: this.ok,
      code: first?.code ?? null,
      error: first?.message ?? null,
      since: first === undefined ? null : new Date(first.since).toISOString(),
      failing: [...this.failures.keys()],
      retries: [...this.failures.values()].reduce((n, f) => n + f.retries, 0),
    };
  }
}

/** The delay before retry number `retries` (from 0): 50 ms doubling up to 2 s. */
export function retryDelay(retries: number): number {
  return Math.min(2000, 50 * 2 ** Math.min(retries, 6));
}
