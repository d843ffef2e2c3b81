import { ThermostreamError } from '../../errors.ts';

/** Node's socket errors that mean the server is not (or no longer) reachable. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * True when an error means the connection to PostgreSQL was lost or refused, so the statement may be retried on a
 * new one: socket errors, pg's "Connection terminated", SQLSTATE class 08 (connection exception), 57P01–57P03
 * (administrator or crash shutdown, cannot connect now) and 53300 (too many connections).
 */
export function isUnavailable(err: unknown): boolean {
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  // TS_ERR_STORE_UNAVAILABLE: the instance's lock is lost for now (instance-lock.ts); the batch waits for it.
  if (code === 'TS_ERR_STORE_UNAVAILABLE') return true;
  if (SOCKET_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300') return true;
  const message = err instanceof Error ? err.message : '';
  // pg's own timeouts (query_timeout, connectionTimeoutMillis): the connection is dropped; the commit is retried.
  return /Connection terminated|connection error|Client was closed|not queryable|Query read timeout|timeout exceeded when trying to connect/i.test(message);
}

/** PostgreSQL cannot be reached (or refuses us) at start-up: stop with what to check. */
export function storeUnreachable(url: string, err: unknown): ThermostreamError {
  const e = err as { code?: string; message?: string };
  // pg's words when the server asks for a password (SCRAM) and the URL gives none (README's examples may have none).
  const user = decodeURIComponent(new URL(url).username);
  const detail = /client password must be a string/.test(e.message ?? '')
    ? `PostgreSQL asks for ${user ? `the password of user ${JSON.stringify(user)}` : 'a password'} and store.url has none ` +
      '(postgres://user:password@host:port/database, or the PGPASSWORD environment variable)'
    : `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
  // 42501 (insufficient_privilege): the user got in but may not create or use the store's tables. Most often the
  // schema public of a database the user does not own: PostgreSQL 15 and newer take CREATE there from the owner only.
  const who = user ? JSON.stringify(user) : 'this user';
  const hint =
    e.code === '42501'
      ? `The user ${who} lacks a privilege the store needs: it creates its tables in the database's schema public at ` +
        `the first start, which needs CREATE there (PostgreSQL 15 and newer give it to the database's owner only): ` +
        `make ${who} the owner (createdb -O, or ALTER DATABASE … OWNER TO), or GRANT CREATE ON SCHEMA public TO it, ` +
        'or set store.url to "" for SQLite'
      : 'Check that PostgreSQL runs and accepts connections there, that the user, password and database exist ' +
        '(createdb), or set store.url to "" for SQLite';
  return new ThermostreamError('TS_ERR_STORE_UNREACHABLE', `cannot use the PostgreSQL store at ${url} (store.url): ${detail}. ${hint}`);
}

/** A commit failure with our code where one fits (PostgreSQL's own errors otherwise, with its SQLSTATE). */
export function pgFatal(url: string, err: unknown): Error {
  const e = err as { code?: string; message?: string };
  if (err instanceof ThermostreamError) return err;
  return new Error(`the PostgreSQL store at ${url} failed: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`);
}

/** Another process committed under this instance id since this one recovered: both cannot go on. */
export function instanceConflict(url: string, instanceId: string, committed: number, batch: number): ThermostreamError {
  return new ThermostreamError(
    'TS_ERR_INSTANCE_CONFLICT',
    `another process runs as instance ${instanceId} on ${url}: the store's checkpoint of ${instanceId} is at batch ` +
      `${committed}, this process is committing batch ${batch}. Nothing of this batch was written; this process stops. ` +
      'Give every running instance its own --instance-id',
  );
}
