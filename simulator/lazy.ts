import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/**
 * A package loaded at its first use rather than with the module that needs it. The server carries the simulator (for
 * its demo) and uses this too (the simulator imports nothing from the server): PostgreSQL's client, node-forge (a
 * first TLS certificate) and the simulator's MQTT and Azure IoT clients took ≈ 20 MB of RSS and 7 MB of heap at
 * start-up in a process that used none of them, as most do.
 */
export function lazy<T>(name: string): () => T {
  let m: T | undefined;
  return () => (m ??= load(name) as T);
}
