/**
 * Coded errors of the DStream engine (tabled in docs/ENGINE.md). Every message names the offending value.
 */
export const DStreamErrorCodes = {
  /** A duration (batch interval, window length or slide, timeout) is not a positive number of milliseconds,
   *  or a window length/slide is not a multiple of the parent stream's slide (the batch interval). */
  TS_ERR_DURATION: 'TS_ERR_DURATION',
  /** A non-duration argument is invalid (print count, queue, port, directory…). */
  TS_ERR_ARGUMENT: 'TS_ERR_ARGUMENT',
  /** The operation is not allowed in the context's current state (define after start, start twice…). */
  TS_ERR_CONTEXT_STATE: 'TS_ERR_CONTEXT_STATE',
  /** `start()` was called while no output operation is registered: nothing would be computed. */
  TS_ERR_NO_OUTPUT: 'TS_ERR_NO_OUTPUT',
  /** `union`/`join` of streams with different slide durations or from different contexts. */
  TS_ERR_INCOMPATIBLE_STREAMS: 'TS_ERR_INCOMPATIBLE_STREAMS',
  /** A transformation or output operation threw (or rejected) while a batch was processed; `cause` holds it. */
  TS_ERR_BATCH_FAILED: 'TS_ERR_BATCH_FAILED',
} as const;

export type DStreamErrorCode = (typeof DStreamErrorCodes)[keyof typeof DStreamErrorCodes];

export class DStreamError extends Error {
  readonly code: DStreamErrorCode;
  constructor(code: DStreamErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DStreamError';
    this.code = code;
  }
}

/** Renders an offending value for a message: strings quoted, everything else as JS prints it. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === undefined || value === null) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export function invalidDuration(what: string, value: unknown): DStreamError {
  return new DStreamError(
    DStreamErrorCodes.TS_ERR_DURATION,
    `${what} must be a positive whole number of milliseconds, got ${showValue(value)}`,
  );
}

export function notAMultiple(what: string, value: number, of: string, ofValue: number): DStreamError {
  return new DStreamError(
    DStreamErrorCodes.TS_ERR_DURATION,
    `${what} ${value} ms is not a multiple of ${of} ${ofValue} ms`,
  );
}

export function invalidArgument(what: string, value: unknown, expected: string): DStreamError {
  return new DStreamError(
    DStreamErrorCodes.TS_ERR_ARGUMENT,
    `${what} must be ${expected}, got ${showValue(value)}`,
  );
}

export function contextState(action: string, state: string): DStreamError {
  return new DStreamError(
    DStreamErrorCodes.TS_ERR_CONTEXT_STATE,
    `cannot ${action}: the streaming context is ${state}`,
  );
}
