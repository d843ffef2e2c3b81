import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a server on a data dir gives devices as their HostName, recorded there at each start so that the devices CLI,
 * which reads the same data dir, prints the connection strings the server's registry API gives: its iothub.hostName
 * and the TLS port it listens on (the real one when it was started with 0; -1: no TLS listener). The server may have
 * been given them by flags the CLI never sees.
 */
export interface Endpoint {
  iothubHostName: string;
  mqttsPort: number;
}

export const endpointFile = (dataDir: string): string => join(dataDir, 'endpoint.json');

export function writeEndpoint(dataDir: string, endpoint: Endpoint): void {
  const file = endpointFile(dataDir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(endpoint)}\n`);
  renameSync(`${file}.tmp`, file); // a reader sees the old record or the new one, never half of one
}

/** Best effort: a record that could not be written anew must not be read as this start's. */
export function removeEndpoint(dataDir: string): void {
  try {
    rmSync(endpointFile(dataDir), { force: true });
  } catch {
    // the CLI names a record it cannot read, and ignores it
  }
}

/** The record, or null when no server has started on the data dir since it was written; throws naming a bad one. */
export function readEndpoint(dataDir: string): Endpoint | null {
  const file = endpointFile(dataDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const e = value as Partial<Endpoint> | null;
  if (typeof e?.iothubHostName !== 'string' || !Number.isInteger(e.mqttsPort) || e.mqttsPort! < -1 || e.mqttsPort! > 65_535) {
    throw new Error(`${file} is not a server's record of its HostName: ${text.slice(0, 100)}`);
  }
  return { iothubHostName: e.iothubHostName, mqttsPort: e.mqttsPort! };
}
