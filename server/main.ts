import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApi } from './api/index.ts';
import { createBroker } from './broker/index.ts';
import { parseCli, USAGE, type Config } from './config.ts';
import { systemClock, type Clock } from './clock.ts';
import { checkJob, createEngine } from './engine/index.ts';
import { ThermostreamError } from './errors.ts';
import { createIngest } from './ingest/index.ts';
import { createStore, type StoreDeps } from './store/index.ts';
import { SyncRecord } from './ingest/sync-record.ts';
import { StorageHealth } from './storage-health.ts';
import { DEMO_OPTIONS, startDemoFleet } from '../simulator/demo.ts';

export interface Thermostream {
  readonly config: Config;
  readonly httpUrl: string;
  readonly mqttUrl: string;
  readonly dbFile: string;
  /** Shuts every stage down in reverse order; the engine commits what it had received. */
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  /** Discard the computed windows and window state first (after a change of the job definition). */
  fresh?: boolean;
  /** Cut damaged blocks out of the ingest log (reported on stderr) instead of refusing to start. */
  repair?: boolean;
  /** Durability is gone (the log cannot write): the caller must stop the process. */
  onFatal?: (err: Error) => void;
  faults?: Faults;
}

/** Fault injection for tests, from THERMOSTREAM_FAULT (see docs/OPERATIONS.md). */
export interface Faults {
  beforeCheckpoint?: StoreDeps['beforeCheckpoint'];
  slowBatchMs?: number;
  /** power-cut-record: keep a side file of what the ingest log has synced (data dir, log-sync.json). */
  syncRecord?: boolean;
}

/** Where power-cut-record keeps its side file, relative to the data dir. */
export const SYNC_RECORD_FILE = 'log-sync.json';

/**
 * Wires the stages together — store, then recovery from its checkpoint, ingest (replaying the log after it),
 * engine, broker, API — and touches no process state.
 */
export async function startThermostream(config: Config, options: StartOptions = {}): Promise<Thermostream> {
  const clock = options.clock ?? systemClock;
  const closers: (() => Promise<void>)[] = [];
  try {
    const store = await createStore(config, { beforeCheckpoint: options.faults?.beforeCheckpoint });
    closers.push(() => store.close());
    if (options.fresh) store.resetJob();
    const recovered = store.recover();
    checkJob(recovered, config, store.file);
    const onFatal = options.onFatal ?? ((err: Error) => { throw err; });
    // One view of the data dir's writability: a full disk under the log or the database holds every acknowledgement.
    const health = new StorageHealth(clock);
    const ingest = await createIngest(config, {
      clock,
      replayAfter: recovered?.checkpoint.logOffset ?? 0,
      health,
      repair: options.repair,
      onFatal,
      syncRecord: options.faults?.syncRecord ? new SyncRecord(join(config.dataDir, SYNC_RECORD_FILE)) : undefined,
    });
    closers.push(() => ingest.close());
    for (const line of ingest.repairs) console.error(`thermostream: ${line}`);
    if (options.repair) console.error(`thermostream: --repair: ${ingest.repairs.length} log segment(s) repaired`);
    const engine = await createEngine(config, { clock, ingest, store, recovered, onFatal, health, slowBatchMs: options.faults?.slowBatchMs });
    closers.push(() => engine.close());
    const broker = await createBroker(
      { host: config.host, port: config.mqtt.port },
      { onPublish: ingest.onPublish, forward: config.mqtt.forwardTelemetry ? undefined : (topic) => !topic.startsWith('devices/') },
    );
    closers.push(() => broker.close());
    const api = await createApi(config, { clock, store, engine, ingest });
    closers.push(() => api.close());
    // Shutting down, an acknowledgement is either sent for a reading that is durable (and then processed), or the
    // reading was never taken (and the device resends it): stop the input, let the engine process everything
    // durable (releasing held acknowledgements), let the acknowledgements reach the clients, then disconnect.
    const close = async (): Promise<void> => {
      await api.close();
      broker.stopListening();
      ingest.stopAccepting();
      await engine.close();
      await broker.close();
      await ingest.close();
      await store.close();
    };
    return { config, httpUrl: api.url, mqttUrl: broker.url, dbFile: store.file, close };
  } catch (err) {
    await closeAll();
    throw err;
  }

  async function closeAll(): Promise<void> {
    while (closers.length > 0) await closers.pop()!();
  }
}

/**
 * THERMOSTREAM_FAULT, for crash and backpressure tests only:
 *   crash-before-checkpoint:N  SIGKILL inside the N-th batch transaction that has window results, after the outputs
 *                              are written and before the checkpoint is
 *   slow-batch:MS              every batch waits MS ms (asynchronously) before it runs: a slow sink
 *   db-full:MS                 every batch transaction with window results fails with SQLITE_FULL (and rolls back)
 *                              for MS ms from the first one: a full disk under the database only
 *   power-cut-record           keeps {dataDir}/log-sync.json: each log segment's fdatasync'ed length and whether its
 *                              directory entry was synced, so a test can cut the log to what a power cut leaves
 */
function faultsFromEnv(spec: string | undefined): Faults | undefined {
  if (!spec) return undefined;
  const [name, arg] = spec.split(':');
  const n = Number(arg);
  if (name === 'crash-before-checkpoint' && n >= 1) {
    let seen = 0;
    return {
      beforeCheckpoint(out) {
        if (out.windows.length > 0 && ++seen >= n) process.kill(process.pid, 'SIGKILL');
      },
    };
  }
  if (name === 'slow-batch' && n >= 0) return { slowBatchMs: n };
  if (name === 'db-full' && n >= 0) {
    let since: number | undefined;
    return {
      beforeCheckpoint(out) {
        if (out.windows.length === 0) return;
        since ??= Date.now();
        if (Date.now() - since < n) throw Object.assign(new Error('database or disk is full (injected)'), { code: 'SQLITE_FULL' });
      },
    };
  }
  if (name === 'power-cut-record' && arg === undefined) return { syncRecord: true };
  throw new ThermostreamError('TS_ERR_CONFIG_INVALID', `THERMOSTREAM_FAULT = ${JSON.stringify(spec)}: unknown fault`);
}

/** 2: fix the configuration; 3: the data dir is damaged, an operator must act (restarting will not help); else 1. */
function exitCode(err: Error): number {
  if (!(err instanceof ThermostreamError)) return 1;
  if (err.code === 'TS_ERR_CHECKPOINT_MISMATCH') return 2;
  if (err.code === 'TS_ERR_LOG_CORRUPT' || err.code === 'TS_ERR_DB_CORRUPT') return 3;
  return 1;
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
    app = await startThermostream(options.config, {
      fresh: options.fresh,
      repair: options.repair,
      faults: faultsFromEnv(process.env.THERMOSTREAM_FAULT),
      onFatal(err) {
        const code = err instanceof ThermostreamError ? ` [${err.code}]` : '';
        console.error(`thermostream: fatal: ${err.message}${code}`);
        process.exit(exitCode(err));
      },
    });
  } catch (err) {
    if (err instanceof ThermostreamError) {
      console.error(`thermostream: ${err.message} [${err.code}]`);
      process.exit(exitCode(err));
    }
    throw err;
  }
  console.log(`thermostream: dashboard  ${app.httpUrl}/`);
  console.log(`thermostream: HTTP API   ${app.httpUrl}/api/v1/  (health ${app.httpUrl}/healthz)`);
  console.log(`thermostream: MQTT       ${app.mqttUrl}  (publish to devices/{deviceId}/telemetry)`);
  console.log(`thermostream: data       ${app.dbFile}`);

  const stops: (() => Promise<void>)[] = [() => app.close()];
  if (options.demo) {
    stops.unshift(await startDemoFleet(app.mqttUrl));
    console.log(`thermostream: demo fleet of ${DEMO_OPTIONS.devices} simulated thermostats publishing; open ${app.httpUrl}/`);
  }

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) {
      // A second signal while shutting down: stop now. Nothing acknowledged is lost (the log has it); the batch in
      // progress is simply done again after the restart.
      console.error(`thermostream: ${signal} again, exiting without finishing the shutdown`);
      process.exit(1);
    }
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
