import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';

/**
 * The rule for every external program a test needs (a browser, Mosquitto, PostgreSQL): an explicit path from the
 * environment first; else the system's binary when present (Debian's, which .ci/run installs); else a real one
 * that comes through npm; and where npm has none, the closest real substitute, named in the test's title. Nothing
 * is mocked, and the test output says which one ran.
 *
 * THERMOSTREAM_SYSTEM_ROOT moves the system lookup under another root (default `/`): pointing it at a path that
 * does not exist (`THERMOSTREAM_SYSTEM_ROOT=/nonexistent npm test`) runs the tests as on a machine where only
 * `npm install` was done.
 */
export function systemBinary(path: string): string | null {
  const full = join(process.env.THERMOSTREAM_SYSTEM_ROOT ?? '/', path);
  try {
    accessSync(full, constants.X_OK);
    return full;
  } catch {
    return null;
  }
}

/** A program a test runs, and where it came from (for the test output). */
export interface Found {
  path: string;
  source: string;
}
