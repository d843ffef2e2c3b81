/**
 * Every error Thermostream raises on purpose has a code; docs/ERRORS.md tables them.
 * Messages name the offending key and value.
 */
export const ErrorCodes = {
  TS_ERR_CONFIG_INVALID: 'invalid configuration value',
  TS_ERR_CONFIG_FILE: 'configuration file cannot be read or parsed',
  TS_ERR_CLI_ARG: 'unknown or malformed command-line argument',
  TS_ERR_LISTEN: 'a port cannot be bound',
  TS_ERR_DATA_DIR_LOCKED: 'another server is running on the data dir',
  TS_ERR_DATA_DIR: 'the data dir cannot be created or written',
  TS_ERR_CHECKPOINT_MISMATCH: 'the checkpoint belongs to another job definition',
  TS_ERR_LOG_GAP: 'the ingest log lacks records the checkpoint has not consumed',
  TS_ERR_QUERY_PARAM: 'invalid query parameter',
  TS_ERR_BAD_REQUEST: 'invalid request body or header',
  TS_ERR_NOT_FOUND: 'no such resource (device, route)',
  TS_ERR_METHOD_NOT_ALLOWED: 'the path has routes, but not for this HTTP method',
  TS_ERR_INTERNAL: 'an error the server did not expect (a bug), answered as HTTP 500',
  TS_ERR_UNAUTHORIZED: 'a write route was called without the API token',
  TS_ERR_API_TOKEN_REQUIRED: 'HTTP listens beyond loopback without http.apiToken',
  TS_ERR_HOST_NOT_ALLOWED: 'without http.apiToken, a request addressed to a name that is not this machine\'s',
  TS_ERR_JOB_REQUEST: 'invalid job (Livy batch) request',
  TS_ERR_JOB_FILE: 'the job file is not a file inside the jobs directories',
  TS_ERR_JOB_NOT_FOUND: 'no job with that id',
  TS_ERR_JOB_BUILTIN: 'the built-in telemetry job cannot be deleted',
  TS_ERR_JOB_LIMIT: 'too many jobs running',
  TS_ERR_JOB_CLOSED: 'the server is shutting down',
  TS_ERR_BROKER_CONNECT: 'the external broker cannot be reached or refuses the subscription',
  TS_ERR_SCHEMA_NEWER: 'the database was written by a newer Thermostream',
  TS_ERR_INSECURE_BIND: 'a non-loopback address is bound while the broker accepts anyone',
  TS_ERR_TLS: 'the TLS certificate or key cannot be read or generated',
  TS_ERR_DEVICE_NOT_FOUND: 'no such device in the registry',
  TS_ERR_DEVICE_EXISTS: 'a device with this id is already registered',
  TS_ERR_NO_REGISTRY: 'the data dir has no device registry (registry.db)',
  TS_ERR_DEVICE_NOT_CONNECTED: 'the device is not connected (or not subscribed to direct methods)',
  TS_ERR_METHOD_TIMEOUT: 'the device did not answer a direct method in time',
  TS_ERR_STORAGE_FULL: 'the data dir has no room: writes wait (running) or the start is refused',
  TS_ERR_LOG_CORRUPT: 'an ingest-log block is damaged (not a torn tail): start with --repair or restore',
  TS_ERR_DB_CORRUPT: 'the SQLite database file is damaged: restore it or recover it with sqlite3',
  TS_ERR_STORE_UNREACHABLE: 'the PostgreSQL store (store.url) cannot be reached or refuses the connection at start-up',
  TS_ERR_STORE_UNAVAILABLE: 'the connection to the PostgreSQL store is lost: the batch is held and committed again',
  TS_ERR_INSTANCE_IN_USE: 'another process runs under this instance id on the shared store (it holds the instance\'s lock)',
  TS_ERR_INSTANCE_CONFLICT: 'another process commits under this instance id to the shared store',
  TS_ERR_LOG_MISSING: 'the ingest log is gone while the checkpoint has consumed records (acknowledged readings may be lost)',
  TS_ERR_CLUSTER_CHANGED: 'cluster.instances (or the instance id) differs from what this data dir recorded: start with --rebalance',
  TS_ERR_SUPERVISOR: '--instances cannot run: a required option is missing or conflicts',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class ThermostreamError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ThermostreamError';
    this.code = code;
  }
}

/** A ThermostreamError answered over HTTP with its own status (the API's error handler uses statusCode). */
export class HttpError extends ThermostreamError {
  readonly statusCode: number;
  constructor(statusCode: number, code: ErrorCode, message: string) {
    super(code, message);
    this.statusCode = statusCode;
  }
}

/** Reasons a reading is rejected into the dead-letter table (stable strings: they are API values). */
export const RejectReasons = [
  'bad_topic',
  'payload_too_large',
  'not_json',
  'not_object',
  'missing_temperature',
  'non_finite_temperature',
  'out_of_range',
  'wrong_type',
  'bad_timestamp',
  'future_timestamp',
  'device_mismatch',
  'not_authorized',
  'unsupported_content',
  'internal_error',
] as const;

export type RejectReason = (typeof RejectReasons)[number];

/**
 * A listen() failure, named by what was being bound and the flag that changes it: the port's flag, or --host when
 * the address is at fault (not this machine's, or a name that does not resolve), where another port would not help.
 */
export function listenError(what: string, flag: string, host: string, port: number, err: unknown): ThermostreamError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  const where = `${what} cannot listen on ${host}:${port}`;
  if (code === 'EADDRNOTAVAIL') {
    return new ThermostreamError('TS_ERR_LISTEN', `${where}: address not available: ${host} is not an address of this machine (choose another with --host)`);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new ThermostreamError('TS_ERR_LISTEN', `${where}: ${code}: the host name ${host} does not resolve (choose another with --host)`);
  }
  const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : code;
  return new ThermostreamError('TS_ERR_LISTEN', `${where}: ${why} (choose another with ${flag}, 0 = any free port)`);
}
