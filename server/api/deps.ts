import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Engine } from '../engine/index.ts';
import type { Ingest } from '../ingest/index.ts';
import type { JobRunner } from '../jobs/index.ts';
import type { RegistryRouteDeps } from './routes/registry.ts';
import type { Store } from '../store/index.ts';
import type { SseHub } from './sse-hub.ts';

/** What the routes read: every stage, none of them written to except through its own interface. */
export interface ApiDeps {
  config: Config;
  clock: Clock;
  store: Store;
  engine: Engine;
  ingest: Ingest;
  /** For /readyz (listening) and /metrics (connected clients). */
  broker: { readonly listening: boolean; readonly connectedClients: number };
  hub: SseHub;
  /** User streaming jobs (Livy batches); without it /livy and /api/v1/jobs are not served. */
  jobs?: JobRunner;
  /** The device registry and the IoT Hub dialect (absent: no /api/v1/registry routes). */
  iothub?: RegistryRouteDeps;
}
