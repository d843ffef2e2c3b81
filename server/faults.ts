import { windowCount } from './engine/window-pack.ts';
import { ThermostreamError } from './errors.ts';
import type { StoreDeps } from './store/index.ts';

/** Fault injection for tests, from THERMOSTREAM_FAULT (see docs/OPERATIONS.md). */
export interface Faults {
  beforeCheckpoint?: StoreDeps['beforeCheckpoint'];
  slowBatchMs?: number;
  /** power-cut-record: keep a side file of what the ingest log has synced (data dir, log-sync.json). */
  syncRecord?: boolean;
}

/**
 * THERMOSTREAM_FAULT, for crash and backpressure tests only:
 *   crash-before-checkpoint:N  SIGKILL inside the N-th batch transaction that has window results, after the outputs
 *                              are written and before the checkpoint is
 *   slow-batch:MS              every batch waits MS ms (asynchronously) before it runs: a slow sink
 *   db-full:MS                 every batch transaction with window results fails with SQLITE_FULL (and rolls back)
 *                              for MS ms from the first one: a full disk under the database only
 *   commit-error:N             the N-th batch transaction that has window results fails with an I/O error (and rolls
 *                              back): a batch that cannot be committed, which stops the server
 *   power-cut-record           keeps {dataDir}/log-sync.json: each log segment's fdatasync'ed length and whether its
 *                              directory entry was synced, so a test can cut the log to what a power cut leaves
 */
export function parseFaults(spec: string | undefined): Faults | undefined {
  if (!spec) return undefined;
  const [name, arg] = spec.split(':');
  const n = Number(arg);
  if (name === 'crash-before-checkpoint' && n >= 1) {
    let seen = 0;
    return {
      beforeCheckpoint(out) {
        if (windowCount(out.windows) > 0 && ++seen >= n) process.kill(process.pid, 'SIGKILL');
      },
    };
  }
  if (name === 'slow-batch' && n >= 0) return { slowBatchMs: n };
  if (name === 'db-full' && n >= 0) {
    let since: number | undefined;
    return {
      beforeCheckpoint(out) {
        if (windowCount(out.windows) === 0) return;
        since ??= Date.now();
        if (Date.now() - since < n) throw Object.assign(new Error('database or disk is full (injected)'), { code: 'SQLITE_FULL' });
      },
    };
  }
  if (name === 'commit-error' && n >= 1) {
    let seen = 0;
    return {
      beforeCheckpoint(out) {
        if (windowCount(out.windows) > 0 && ++seen === n) throw Object.assign(new Error('disk I/O error (injected)'), { code: 'SQLITE_IOERR' });
      },
    };
  }
  if (name === 'power-cut-record' && arg === undefined) return { syncRecord: true };
  throw new ThermostreamError('TS_ERR_CONFIG_INVALID', `THERMOSTREAM_FAULT = ${JSON.stringify(spec)}: unknown fault`);
}

