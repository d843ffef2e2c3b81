/**
 * Every error Thermostream raises on purpose has a code; docs/ERRORS.md tables them.
 * Messages name the offending key and value.
 */
export const ErrorCodes = {
  TS_ERR_CONFIG_INVALID: 'invalid configuration value',
  TS_ERR_CONFIG_FILE: 'configuration file cannot be read or parsed',
  TS_ERR_CLI_ARG: 'unknown or malformed command-line argument',
  TS_ERR_LISTEN: 'a port cannot be bound',
  TS_ERR_CHECKPOINT_MISMATCH: 'the checkpoint belongs to another job definition',
  TS_ERR_LOG_GAP: 'the ingest log lacks records the checkpoint has not consumed',
  TS_ERR_QUERY_PARAM: 'invalid query parameter',
  TS_ERR_STORAGE_FULL: 'the data dir has no room: writes wait (running) or the start is refused',
  TS_ERR_LOG_CORRUPT: 'an ingest-log block is damaged (not a torn tail): start with --repair or restore',
  TS_ERR_DB_CORRUPT: 'the SQLite database file is damaged: restore it or recover it with sqlite3',
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
  'internal_error',
] as const;

export type RejectReason = (typeof RejectReasons)[number];

/** A listen() failure, named by what was being bound and the flag that changes it. */
export function listenError(what: string, flag: string, host: string, port: number, err: unknown): ThermostreamError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : code;
  return new ThermostreamError('TS_ERR_LISTEN', `${what} cannot listen on ${host}:${port}: ${why} (choose another with ${flag}, 0 = any free port)`);
}
