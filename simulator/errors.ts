/** Coded errors of the simulator (documented in docs/SIMULATOR.md). */
export const ErrorCodes = {
  /** An option has an invalid value; the message names the option and the value. CLI exit code 2. */
  SIM_INVALID_OPTION: 'SIM_INVALID_OPTION',
  /** A scenario file cannot be read or does not match the format. CLI exit code 2. */
  SIM_INVALID_SCENARIO: 'SIM_INVALID_SCENARIO',
  /** Not every connection reached the broker within the connect timeout. CLI exit code 1. */
  SIM_CONNECT_FAILED: 'SIM_CONNECT_FAILED',
  /** The azure transport cannot list or create its devices in the registry (--registry). CLI exit code 1. */
  SIM_REGISTRY_FAILED: 'SIM_REGISTRY_FAILED',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class SimulatorError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'SimulatorError';
    this.code = code;
  }
}

export function invalidOption(option: string, value: unknown, expected: string): SimulatorError {
  return new SimulatorError(
    ErrorCodes.SIM_INVALID_OPTION,
    `invalid value for --${option}: ${JSON.stringify(value)} (expected ${expected})`,
  );
}

/** Node's codes for a server certificate that no trusted CA signed. */
const UNTRUSTED_CERT = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

/** Node's messages for those codes: the Azure IoT SDK passes on the text only (UnauthorizedError, no code). */
const UNTRUSTED_CERT_TEXT = /unable to verify the first certificate|self[- ]signed certificate|unable to get local issuer certificate/;

/** A connection error's message, with the way out when the server's certificate is not trusted (its generated CA). */
export function connectionErrorText(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  const code = (error as { code?: unknown })?.code;
  const untrusted = typeof code === 'string' ? UNTRUSTED_CERT.has(code) : UNTRUSTED_CERT_TEXT.test(message);
  return untrusted
    ? `${message} (trust the server's CA: --ca data/tls/ca.pem from its data directory, or NODE_EXTRA_CA_CERTS)`
    : message;
}
