import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { ThermostreamError } from '../../errors.ts';
import { lazy } from '../../../simulator/lazy.ts';
import { isUnavailable } from './errors.ts';

const pgLib = lazy<typeof pg>('pg');

/**
 * The instance's lock: a session-level advisory lock that one process holds on a connection of its own for as long
 * as it runs, as Kafka fences a second consumer with the same group.instance.id. A second process with the instance
 * id is refused at start-up; the lock goes with the connection, so a stopped or killed (SIGKILL) process frees it.
 *
 * Batches commit on other connections (the pool, the batch thread's): each commit checks, in its transaction and
 * after the instance's transaction lock, that the lock is held by this process's connection (known by its
 * application_name, a random token). A new holder takes that transaction lock once before it reads the checkpoint,
 * so a commit that passed its check before the old holder's connection closed is either committed by then or gone.
 */
const KEY = "hashtextextended('thermostream instance lock ' || $1, 0)";
/** The key as pg_locks shows an advisory lock taken with one bigint: classid its high half, objid its low half. */
const HOLDERS = `
  SELECT a.application_name AS name, host(a.client_addr) AS addr, a.backend_start AS since, l.pid
  FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND ((l.classid::bigint << 32) | l.objid::bigint) = ${KEY}`;
/** The transaction-level lock every commit of the instance takes first (index.ts). */
export const COMMIT_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('thermostream instance ' || $1, 0))";

const RETRY_MS = [250, 500, 1000, 2000];
/** The lock connection's TCP keep-alives (s): a silent peer is given up after idle + count × interval, 25 s. */
const KEEPALIVE = { idle: 10, interval: 5, count: 3 };

interface Holder {
  name: string | null;
  addr: string | null;
  since: Date | null;
  pid: number;
}

export interface InstanceLock {
  /** The application_name of the connection that holds (or held) the lock: how commits know it is this process's. */
  readonly token: string;
  /** Releases the lock (closes its connection) and stops taking it again. */
  close(): Promise<void>;
}

/** Checks, inside a commit's transaction, that the process holding `token` holds the instance's lock. */
export async function checkInstanceLock(c: pg.ClientBase, url: string, instanceId: string, token: string): Promise<void> {
  const holders = (await c.query({ name: 'ts_instance_lock_holders', text: HOLDERS, values: [instanceId] })).rows as Holder[];
  if (holders.some((h) => h.name === token)) return;
  if (holders.length === 0) throw lockLost(url, instanceId);
  throw lockTaken(url, instanceId, holders[0]);
}

/**
 * Takes the instance's lock, or refuses with TS_ERR_INSTANCE_IN_USE naming who holds it. While the process runs, a
 * lost lock connection is opened again and the lock taken again (its commits wait meanwhile: TS_ERR_STORE_UNAVAILABLE);
 * a connection of ours the server still counts as alive (a broken network) is ended first.
 */
export async function claimInstanceLock(
  options: pg.ClientConfig,
  url: string,
  instanceId: string,
  log: (line: string) => void,
): Promise<InstanceLock> {
  let token = `thermostream ${randomBytes(6).toString('hex')} pid ${process.pid}`;
  let client: pg.Client | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let reported = '';

  /** One attempt: connected and locked, or the holder when another process has it. */
  async function take(): Promise<Holder | null> {
    const c = new (pgLib().Client)({ ...options, application_name: token });
    c.on('error', () => lost(c)); // a connection lost while idle: the error would otherwise kill the process
    try {
      await c.connect();
      // The token set here, not by the connection's options: an application_name in store.url would override those,
      // and every process would carry the same one. Keep-alives from the server's side: a holder whose machine died
      // or was cut off sends no FIN, and its lock would stay until the OS's keep-alive gave up (over two hours).
      await c.query(
        `SELECT set_config('application_name', $1, false), set_config('tcp_keepalives_idle', '${KEEPALIVE.idle}', false),
          set_config('tcp_keepalives_interval', '${KEEPALIVE.interval}', false), set_config('tcp_keepalives_count', '${KEEPALIVE.count}', false)`,
        [token],
      );
      const r = await c.query(`SELECT pg_try_advisory_lock(${KEY}) AS locked, current_setting('application_name') AS name`, [instanceId]);
      token = r.rows[0].name as string; // as PostgreSQL keeps it
      if (r.rows[0].locked === true) {
        client = c;
        c.on('end', () => lost(c));
        return null;
      }
      const holder = ((await c.query(HOLDERS, [instanceId])).rows as Holder[])[0];
      if (holder === undefined) {
        // Released between the two statements: try again.
        await c.end().catch(() => {});
        return take();
      }
      // Our own earlier connection, which the server has not seen break yet: ended, then taken at the next attempt.
      if (holder.name === token) await c.query('SELECT pg_terminate_backend($1)', [holder.pid]);
      await c.end().catch(() => {});
      return holder;
    } catch (err) {
      await c.end().catch(() => {});
      throw err;
    }
  }

  function lost(c: pg.Client): void {
    if (client !== c) return;
    client = null;
    c.end().catch(() => {});
    if (closed) return;
    log(`store: the connection holding instance ${instanceId}'s lock on ${url} closed: batches wait until it is taken again`);
    schedule();
  }

  function schedule(): void {
    if (closed || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void again();
    }, RETRY_MS[Math.min(attempt++, RETRY_MS.length - 1)]);
    timer.unref();
  }

  async function again(): Promise<void> {
    let why: string;
    try {
      const holder = await take();
      if (holder === null) {
        attempt = 0;
        reported = '';
        if (closed) await client?.end().catch(() => {});
        else log(`store: instance ${instanceId}'s lock on ${url} taken again`);
        return;
      }
      why = holder.name === token ? 'held by its old connection, ended now' : `held by another process (${describe(holder)})`;
    } catch (err) {
      if (!isUnavailable(err)) log(`store: instance ${instanceId}'s lock on ${url}: ${(err as Error).message}`);
      why = 'PostgreSQL unavailable';
    }
    if (why !== reported && !why.startsWith('PostgreSQL')) log(`store: instance ${instanceId}'s lock on ${url} cannot be taken again: ${why}`);
    reported = why;
    schedule();
  }

  const holder = await take();
  if (holder !== null) throw inUse(url, instanceId, holder);
  // Commits of a process that held the lock until just now finish before this one reads the checkpoint.
  const held = client as pg.Client | null;
  try {
    await held!.query('BEGIN');
    await held!.query(COMMIT_LOCK, [instanceId]);
    await held!.query('COMMIT');
  } catch (err) {
    closed = true;
    client = null;
    await held?.end().catch(() => {});
    throw err;
  }
  return {
    get token() {
      return token;
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}

function describe(h: Holder): string {
  const parts = [h.name === null ? `PostgreSQL process ${h.pid}` : `connection "${h.name}" (PostgreSQL process ${h.pid})`];
  if (h.addr !== null) parts.push(`from ${h.addr}`);
  if (h.since !== null) parts.push(`since ${h.since.toISOString()}`);
  return parts.join(' ');
}

/** Start-up: another process runs as this instance. */
export function inUse(url: string, instanceId: string, holder: Holder): ThermostreamError {
  return new ThermostreamError(
    'TS_ERR_INSTANCE_IN_USE',
    `instance ${instanceId} is in use on ${url}: another process holds its lock there (${describe(holder)}). Two ` +
      'processes under one instance id would count its devices twice and overwrite each other\'s checkpoint. Stop the ' +
      'other process first (its lock is released when it exits, also when it is killed; when its machine died or was ' +
      `cut off, once PostgreSQL's keep-alives give its connection up, about ${KEEPALIVE.idle + KEEPALIVE.count * KEEPALIVE.interval} s, or at once with ` +
      `SELECT pg_terminate_backend(${holder.pid})), or give this one its own --instance-id (cluster.instanceId). Nothing of ` +
      'this instance was written (the schema is migrated first)',
  );
}

/** Running: the lock's connection closed and the lock is not taken again yet; the batch is held (transient). */
function lockLost(url: string, instanceId: string): ThermostreamError {
  return new ThermostreamError(
    'TS_ERR_STORE_UNAVAILABLE',
    `this process's lock on instance ${instanceId} is lost (its connection to ${url} closed): the batch waits until it is taken again`,
  );
}

/** Running: this process lost the lock and another process took it: this one must stop. */
function lockTaken(url: string, instanceId: string, holder: Holder): ThermostreamError {
  return new ThermostreamError(
    'TS_ERR_INSTANCE_CONFLICT',
    `another process runs as instance ${instanceId} on ${url}: this process lost its lock (its connection closed) and ` +
      `${describe(holder)} holds it now. Nothing of this batch was written; this process stops. Give every running ` +
      'instance its own --instance-id',
  );
}
