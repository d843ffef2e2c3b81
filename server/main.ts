import { fileURLToPath } from 'node:url';
import { createApi } from './api/index.ts';
import { createBroker } from './broker/index.ts';
import { parseCli, USAGE, type Config } from './config.ts';
import { systemClock, type Clock } from './engine/clock.ts';
import { createEngine } from './engine/index.ts';
import { ThermostreamError } from './errors.ts';
import { createIngest } from './ingest/index.ts';
import { createStore } from './store/index.ts';
import { createFleet } from '../simulator/index.ts';

export interface Thermostream {
  readonly config: Config;
  readonly httpUrl: string;
  readonly mqttUrl: string;
  readonly dbFile: string;
  /** Shuts every stage down in reverse order; the engine commits what it had received. */
  close(): Promise<void>;
}

/** Wires the stages together: store ← engine ← ingest ← broker, and the API over them. Touches no process state. */
export async function startThermostream(config: Config, clock: Clock = systemClock): Promise<Thermostream> {
  const closers: (() => Promise<void>)[] = [];
  try {
    const store = await createStore(config);
    closers.push(() => store.close());
    const ingest = await createIngest(config, { clock });
    closers.push(() => ingest.close());
    const engine = await createEngine(config, { clock, ingest, store });
    closers.push(() => engine.close());
    const broker = await createBroker({ host: config.host, port: config.mqtt.port }, { onPublish: ingest.onPublish });
    closers.push(() => broker.close());
    const api = await createApi(config, { clock, store, engine, ingest });
    closers.push(() => api.close());
    return { config, httpUrl: api.url, mqttUrl: broker.url, dbFile: store.file, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }

  async function closeAll(): Promise<void> {
    while (closers.length > 0) await closers.pop()!();
  }
}

const DEMO_DEVICES = 20;

/** The built-in fleet of `npm run demo`: runs until stopped; returns its stop function. */
function startDemoFleet(mqttUrl: string): () => Promise<void> {
  const fleet = createFleet({ url: mqttUrl, devices: DEMO_DEVICES, rate: 2 * DEMO_DEVICES, seed: 1, qos: 1 });
  const done = fleet.run().catch((err) => console.error(`thermostream: demo fleet failed: ${(err as Error).message}`));
  return async () => {
    fleet.stop();
    await done;
  };
}

async function runCli(): Promise<void> {
  let options;
  try {
    options = parseCli(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ThermostreamError) {
      console.error(`thermostream: ${err.message} [${err.code}]`);
      process.exit(2);
    }
    throw err;
  }
  if (options.help) {
    console.log(USAGE);
    return;
  }
  let app: Thermostream;
  try {
    app = await startThermostream(options.config);
  } catch (err) {
    if (err instanceof ThermostreamError) {
      console.error(`thermostream: ${err.message} [${err.code}]`);
      process.exit(1);
    }
    throw err;
  }
  console.log(`thermostream: dashboard  ${app.httpUrl}/`);
  console.log(`thermostream: HTTP API   ${app.httpUrl}/api/v1/  (health ${app.httpUrl}/healthz)`);
  console.log(`thermostream: MQTT       ${app.mqttUrl}  (publish to devices/{deviceId}/telemetry)`);
  console.log(`thermostream: data       ${app.dbFile}`);

  const stops: (() => Promise<void>)[] = [() => app.close()];
  if (options.demo) {
    stops.unshift(startDemoFleet(app.mqttUrl));
    console.log(`thermostream: demo fleet of ${DEMO_DEVICES} simulated thermostats publishing; open ${app.httpUrl}/`);
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`thermostream: ${signal}, shutting down`);
    for (const stop of stops) await stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runCli().catch((err) => {
    console.error('thermostream: fatal:', err);
    process.exit(1);
  });
}
