import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { createApi, createSseHub, dashboardMissing } from './api/index.ts';
import { checkExposure } from './api/auth.ts';
import { loadServerCertificate } from './broker/certs.ts';
import { checkSafeBind, createBroker } from './broker/index.ts';
import { createExternalBroker } from './broker/external.ts';
import { mqttMaxPacketBytes } from './broker/packet-limit.ts';
import { endQuietlyOnEpipe } from './output-closed.ts';
import { ackAfterCommit, parseCli, type Config } from './config.ts';
import { configWarnings, hostNamePortWarning } from './config-checks.ts';
import { USAGE } from './usage.ts';
import { checkMembership, checkSharedMembership } from './cluster/membership.ts';
import { createPartition } from './cluster/partition.ts';
import { runSupervisor, type Supervisor } from './cluster/supervisor.ts';
import { systemClock, type Clock } from './clock.ts';
import { checkJob, createEngine } from './engine/index.ts';
import { ThermostreamError, type ErrorCode } from './errors.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { createIngest, ingestLogDir } from './ingest/index.ts';
import { createJobRunner, describeTelemetryJob } from './jobs/index.ts';
import { createRegistry, defaultHostName } from './registry/index.ts';
import { removeEndpoint, writeEndpoint } from './registry/endpoint.ts';
import { openStore, type StoreDeps } from './store/index.ts';
import { SyncRecord } from './ingest/sync-record.ts';
import { parseFaults } from './faults.ts';
import { applyHeapGrowth } from './heap.ts';
import { StorageHealth } from './storage-health.ts';
import { StopSignals } from './stop-signals.ts';
import { DEMO_OPTIONS, startDemoFleet } from '../simulator/demo.ts';

export interface Thermostream {
  readonly config: Config;
  readonly httpUrl: string;
  readonly mqttUrl: string;
  /** External broker mode: the topic filters subscribed to there; null with the embedded broker. */
  readonly mqttSubscriptions: readonly string[] | null;
  /** MQTT over TLS (mqtts://…), or null when mqtt.tlsPort is -1. */
  readonly mqttsUrl: string | null;
  /** MQTT over WebSocket (ws://…/mqtt), or null when mqtt.websocket is off. */
  readonly wsUrl: string | null;
  /** The generated CA devices must trust for TLS, or null (configured certificate, or TLS off). */
  readonly caFile: string | null;
  /** Start-up warnings of the stages (the TLS certificate's, the devices CLI's record), printed with the configuration's. */
  readonly warnings: readonly string[];
  /** HostName in the registry's connection strings. */
  readonly hostName: string;
  /** The SQLite file, or the PostgreSQL URL without its password. */
  readonly dbFile: string;
  /** The HTTP app, for inject() in tests. */
  readonly http: FastifyInstance;
  /** Shuts every stage down in reverse order; the engine commits what it had received. */
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  /** Discard the computed windows and window state first (after a change of the job definition). */
  fresh?: boolean;
  /** Cut damaged blocks out of the ingest log (reported on stderr) instead of refusing to start. */
  repair?: boolean;
  /** Start although cluster.instances differs from the list the data dir recorded (devices move between instances). */
  rebalance?: boolean;
  /** Durability is gone (the log cannot write): the caller must stop the process. */
  onFatal?: (err: Error) => void;
  /** THERMOSTREAM_FAULT's value (server/faults.ts): fault injection for the crash and backpressure tests. */
  faults?: string;
  /** Where the broker's refusals (connections, publishes, subscriptions) are logged; default stderr. */
  log?: (line: string) => void;
  /** Aborted (SIGINT during start-up): the start gives up at its next stage, closes what it opened and rejects with its reason. */
  signal?: AbortSignal;
}

/** The external broker session's subscriptions as last acknowledged, relative to the data dir. */
export const BROKER_SESSION_FILE = 'broker-session.json';

/** Where power-cut-record keeps its side file, relative to the data dir. */
export const SYNC_RECORD_FILE = 'log-sync.json';

/**
 * Wires the stages together — store, then recovery from its checkpoint, ingest (replaying the log after it),
 * engine, broker, API — and touches no process state.
 */
export async function startThermostream(config: Config, options: StartOptions = {}): Promise<Thermostream> {
  const clock = options.clock ?? systemClock;
  const closers: (() => Promise<void>)[] = [];
  const stillWanted = () => options.signal?.throwIfAborted();
  // Before anything binds or opens: beyond loopback, neither the broker nor the write routes are open to anyone.
  if (config.broker.url === '') checkSafeBind(config.host, config.auth);
  checkExposure(config);
  try {
    stillWanted();
    const lock = lockDataDir(config.dataDir); // before anything in the data dir is opened
    closers.push(async () => lock.release());
    const faults = parseFaults(options.faults);
    const store = await openStore(config, { beforeCheckpoint: faults?.beforeCheckpoint });
    closers.push(() => store.close());
    if (options.fresh) await store.resetJob();
    let recovered = await store.recover();
    stillWanted();
    checkJob(recovered, config, store.file);
    const { instanceId, instances } = config.cluster;
    const partition = createPartition(instances, instanceId);
    const known = async () => (await store.devices()).map((d) => d.deviceId);
    const membership = { instanceId, instances: [...instances] };
    await checkSharedMembership(store, membership, options.rebalance ?? false);
    const rebalanced = await checkMembership(config.dataDir, membership, known, options.rebalance ?? false);
    if (rebalanced !== null) console.error(`thermostream: ${rebalanced}`);
    await store.recordClusterList(instances, options.rebalance ?? false);
    if (options.rebalance && recovered !== null) {
      // The devices that moved away get no reading here any more: their detectors would never close their open
      // interval anomalies (and would raise a dropout for each). Closed at their last reading, as --fresh does.
      const released = await store.releaseDevices((id) => partition.owns(id));
      if (released.length > 0) {
        recovered = await store.recover(); // without their detector state, as the batch thread's store reads it
        console.error(`thermostream: --rebalance: the detector state of the ${released.length} devices that moved away is forgotten and their open interval anomalies are closed at their last reading`);
      }
    }
    const onFatal = options.onFatal ?? ((err: Error) => { throw err; });
    // One view of the data dir's writability: a full disk under the log or the database holds every acknowledgement.
    const health = new StorageHealth(clock);
    const external = config.broker.url !== '';
    const ingest = await createIngest(config, {
      clock,
      replayAfter: recovered?.checkpoint.logOffset ?? 0,
      health,
      repair: options.repair,
      onFatal,
      syncRecord: faults?.syncRecord ? new SyncRecord(join(config.dataDir, SYNC_RECORD_FILE)) : undefined,
      partition,
      // Devices of the embedded broker wait for their PUBACK: holding it for a whole batch would cap each connection.
      ackAfterCommit: external && ackAfterCommit(config),
    });
    closers.push(() => ingest.close());
    stillWanted(); // the log replayed
    if (ingest.tornTail !== null) console.error(`thermostream: ${ingest.tornTail}`);
    for (const line of ingest.repairs) console.error(`thermostream: ${line}`);
    if (options.repair) console.error(`thermostream: --repair: ${ingest.repairs.length} log repair(s)`);
    const engine = await createEngine(config, { clock, ingest, store, recovered, onFatal, health, slowBatchMs: faults?.slowBatchMs, faults: options.faults });
    closers.push(() => engine.close());
    stillWanted();
    const jobs = createJobRunner(config, {
      clock,
      logDir: ingestLogDir(config),
      logEndOffset: () => ingest.stats().logEndOffset,
      telemetryLog: () => describeTelemetryJob(config, engine.stats()),
    });
    closers.push(() => jobs.close());
    const registry = createRegistry(config.dataDir, { clock });
    closers.push(async () => registry.close());
    const tls = !external && config.mqtt.tlsPort >= 0 ? loadServerCertificate(config.mqtt.tls, config.dataDir, clock.now(), config.iothub.hostName) : undefined;
    // External broker mode: no embedded broker (so no TLS/WebSocket listeners, twins or methods); Thermostream
    // subscribes at the user's broker and acknowledges each message once it is durable.
    const broker = external
      ? await createExternalBroker(config.broker, {
          onPublish: ingest.onPublish,
          sessionFile: join(config.dataDir, BROKER_SESSION_FILE),
          log: (message) => console.error(`thermostream: MQTT  ${message}`),
        })
      : await createBroker(
          {
            host: config.host, port: config.mqtt.port, tlsPort: config.mqtt.tlsPort, tls, auth: config.auth, hostName: config.iothub.hostName,
            maxPacketBytes: mqttMaxPacketBytes(config),
          },
          {
            onPublish: ingest.onPublish,
            onRefused: ingest.onRefused,
            registry,
            clock,
            log: options.log ?? ((line) => console.warn(`thermostream: broker: ${line}`)),
            forward: config.mqtt.forwardTelemetry ? undefined : (topic) => !topic.startsWith('devices/'),
            fastPath: ingest.publishSink,
          },
        );
    closers.push(() => broker.close());
    stillWanted();
    const embedded = 'hub' in broker ? broker : null;
    const hostName = defaultHostName(config.iothub.hostName, embedded?.tlsPort ?? null);
    // For the devices CLI, which may not be given the flags this server was (--mqtts-port 0 above all).
    const warnings = [...(tls?.warnings ?? [])];
    try {
      writeEndpoint(config.dataDir, { iothubHostName: config.iothub.hostName, mqttsPort: embedded?.tlsPort ?? -1 });
    } catch (err) {
      // A convenience for the devices CLI: without a record (a stale one goes) it takes the configured port.
      removeEndpoint(config.dataDir);
      warnings.push(`cannot record this server's HostName for the devices CLI (${(err as Error).message}): give the CLI --mqtts-port or --host-name`);
    }
    const hub = createSseHub(config, { store, clock });
    closers.push(() => hub.close());
    engine.onBatch(hub.publish, { deviceWindows: hub.wantsDeviceWindows });
    const iothub = embedded && { registry, hub: embedded.hub!, hostName, security: () => embedded.stats() };
    const api = await createApi(config, { clock, store, engine, ingest, broker, hub, jobs, ...(iothub && { iothub }) });
    closers.push(() => api.close());
    if (embedded && config.mqtt.websocket) embedded.attachWebSocket(api.server);
    stillWanted();
    // Shutting down, an acknowledgement is either sent for a reading that is durable (and then processed), or the
    // reading was never taken (and the device resends it): stop the input, let the engine process everything
    // durable (releasing held acknowledgements), let the acknowledgements reach the clients, then disconnect.
    // Running jobs are stopped before the engine (they read the log the engine's stages own). The HTTP server stops
    // listening at once, but finishes closing only after the broker has closed the MQTT connections upgraded from it
    // (WebSocket).
    let closing: Promise<void> | undefined;
    const close = async (): Promise<void> => {
      await hub.close(); // ends the event streams, which would otherwise keep the HTTP server open
      const apiClosed = api.close();
      await jobs.close();
      broker.stopListening();
      ingest.stopAccepting();
      await engine.close();
      await broker.close();
      await apiClosed;
      await ingest.close();
      registry.close();
      await store.close();
      lock.release();
    };
    return {
      config,
      httpUrl: api.url,
      mqttUrl: broker.url,
      mqttSubscriptions: 'subscriptions' in broker ? broker.subscriptions : null,
      mqttsUrl: embedded?.tlsUrl ?? null,
      wsUrl: embedded && config.mqtt.websocket ? `${api.url.replace(/^http/, 'ws')}/mqtt` : null,
      caFile: tls?.caFile ?? null,
      warnings,
      hostName,
      dbFile: store.file,
      http: api.app,
      close: () => (closing ??= close()), // a second call waits for the first
    };
  } catch (err) {
    await closeAll();
    throw err;
  }

  async function closeAll(): Promise<void> {
    while (closers.length > 0) await closers.pop()!();
  }
}

/** What auth.mode none means, and (an easy slip) that configured users are then not asked for. */
function authNone(users: number): string {
  const ignored = users === 0 ? '' : `; the ${users} auth.users are not asked for: they apply with auth.mode "registry"`;
  return ` (anyone on this machine may publish; --auth registry to require device keys${ignored})`;
}

/**
 * The exit code of each error that stops the server (docs/OPERATIONS.md, Exit codes). 2: the configuration must change
 * (or --fresh); 3: the data dir is damaged and an operator must act (restarting will not help); 1: a failure a restart
 * may cure (a port in use, PostgreSQL starting later, the other process with this instance id gone). Every code the
 * docs give an exit code is listed, 1 included: test/docs.test.ts holds the docs to this table.
 */
export const EXIT_CODES: Readonly<Partial<Record<ErrorCode, 1 | 2 | 3>>> = Object.freeze({
  TS_ERR_CONFIG_INVALID: 2,
  TS_ERR_CONFIG_FILE: 2,
  TS_ERR_CLI_ARG: 2, // found after parsing too (broker.url)
  TS_ERR_CHECKPOINT_MISMATCH: 2,
  TS_ERR_API_TOKEN_REQUIRED: 2,
  TS_ERR_INSECURE_BIND: 2,
  TS_ERR_CLUSTER_CHANGED: 2,
  TS_ERR_SUPERVISOR: 2,
  TS_ERR_LOG_CORRUPT: 3,
  TS_ERR_DB_CORRUPT: 3,
  TS_ERR_LOG_MISSING: 3,
  TS_ERR_LOG_GAP: 3,
  TS_ERR_LISTEN: 1,
  TS_ERR_DATA_DIR: 1,
  TS_ERR_DATA_DIR_LOCKED: 1,
  TS_ERR_STORE_UNREACHABLE: 1,
  TS_ERR_STORAGE_FULL: 1,
  TS_ERR_BROKER_CONNECT: 1,
  TS_ERR_SCHEMA_NEWER: 1,
  TS_ERR_TLS: 1,
  TS_ERR_INSTANCE_IN_USE: 1,
  TS_ERR_INSTANCE_CONFLICT: 1,
});

/** EXIT_CODES' code for the error; 1 for any other (an error without a code, a bug). */
export function exitCode(err: Error): number {
  return err instanceof ThermostreamError ? (EXIT_CODES[err.code] ?? 1) : 1;
}

/**
 * The server's command line. `signals` were taken before the server's modules loaded (server/start.ts): a signal
 * during the start gives it up (or, once it is done, stops the server) and exits as a later one does.
 */
export async function runCli(signals: StopSignals): Promise<void> {
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
  if (options.demo && options.config.auth.mode !== 'none') {
    // The demo fleet publishes without credentials; it would only collect refusals.
    console.error('thermostream: --demo publishes without credentials: use it with auth.mode "none" (the default) [TS_ERR_CLI_ARG]');
    process.exit(2);
  }
  if (options.instances !== null) {
    // The supervisor forwards the signals to its instances, and a stop that is no signal (the output's reader gone,
    // `npm start -- --instances 2 | head -1`) stops them as SIGTERM does.
    let supervisor: Supervisor | null = null;
    signals.release((signal) => (supervisor === null ? process.exit(0) : supervisor.stop(signal)));
    try {
      supervisor = await runSupervisor(options.instances, options.config, process.argv.slice(2));
    } catch (err) {
      if (!(err instanceof ThermostreamError)) throw err;
      console.error(`thermostream: ${err.message} [${err.code}]`);
      process.exit(exitCode(err));
    }
    return;
  }
  applyHeapGrowth(options.config.heapGrowthPercent);
  // Under --instances: the supervisor's IPC channel closes when it is gone (even killed with SIGKILL): stop too,
  // rather than run on as an orphan that a new supervisor would duplicate.
  if (process.send !== undefined) process.on('disconnect', () => void signals.stop('the supervisor exited'));
  let app: Thermostream;
  try {
    // The stop is registered as soon as the start is done, before a signal waiting for the start goes on.
    const started = startThermostream(options.config, {
      fresh: options.fresh,
      repair: options.repair,
      rebalance: options.rebalance,
      faults: process.env.THERMOSTREAM_FAULT,
      signal: signals.signal,
      onFatal(err) {
        const code = err instanceof ThermostreamError ? ` [${err.code}]` : '';
        console.error(`thermostream: fatal: ${err.message}${code}`);
        process.exit(exitCode(err));
      },
    }).then((running) => {
      signals.onStop(() => running.close());
      return running;
    });
    signals.whileStarting(started);
    app = await started;
  } catch (err) {
    if (err === signals.signal.reason) return; // given up for a signal: its stop exits
    if (err instanceof ThermostreamError) {
      console.error(`thermostream: ${err.message} [${err.code}]`);
      process.exit(exitCode(err));
    }
    throw err;
  }
  if (signals.signal.aborted) return; // a signal came as the start finished: it is stopping the server
  // The handlers were in place before the endpoint lines, which supervisors and scripts wait for before they may
  // signal: a SIGTERM right after them finds its handler, not the default action (killed without the graceful stop).
  const missing = dashboardMissing();
  if (missing === null) console.log(`thermostream: dashboard  ${app.httpUrl}/`);
  else console.warn(`thermostream: dashboard  unavailable: ${missing}`);
  console.log(`thermostream: HTTP API   ${app.httpUrl}/api/v1/  (docs ${app.httpUrl}/docs, health ${app.httpUrl}/healthz)`);
  if (app.mqttSubscriptions === null) {
    console.log(`thermostream: MQTT       ${app.mqttUrl}  (publish to devices/{deviceId}/telemetry)`);
  } else {
    console.log(`thermostream: MQTT       external broker ${app.mqttUrl}  (subscribed to ${app.mqttSubscriptions.join(', ')})`);
  }
  if (app.mqttsUrl !== null) console.log(`thermostream: MQTT TLS   ${app.mqttsUrl}  (IoT Hub devices: HostName=${app.hostName})`);
  if (app.caFile !== null) console.log(`thermostream: TLS CA     ${app.caFile}  (devices must trust it)`);
  if (app.wsUrl !== null) console.log(`thermostream: MQTT WS    ${app.wsUrl}`);
  if (app.mqttSubscriptions !== null) console.log('thermostream: auth       the external broker\'s (--auth and the device registry apply to the embedded broker only)');
  else console.log(`thermostream: auth       ${app.config.auth.mode}${app.config.auth.mode === 'none' ? authNone(app.config.auth.users.length) : ''}`);
  console.log(`thermostream: data       ${app.dbFile}${app.config.store.url === '' ? '' : ` (instance ${app.config.cluster.instanceId}, ingest log in ${app.config.dataDir})`}`);
  const { instanceId, instances } = app.config.cluster;
  if (instances.length > 0) console.log(`thermostream: instance   ${instanceId} of ${instances.join(', ')} (keeps the devices rendezvous hashing assigns it)`);
  const hostNameWarning = app.mqttsUrl === null ? null : hostNamePortWarning(app.config.iothub.hostName, Number(new URL(app.mqttsUrl).port));
  for (const line of [...options.warnings, ...configWarnings(app.config), ...(hostNameWarning === null ? [] : [hostNameWarning]), ...app.warnings]) console.warn(`thermostream: warning    ${line}`);

  if (options.demo) {
    signals.onStop(await startDemoFleet(app.mqttUrl));
    console.log(`thermostream: demo fleet of ${DEMO_OPTIONS.devices} simulated thermostats publishing; open ${app.httpUrl}/`);
  }
}

/** Runs the command line, a crash said in one line. */
export function main(signals: StopSignals): void {
  runCli(signals).catch((err) => {
    console.error('thermostream: fatal:', err);
    process.exit(1);
  });
}

// Run as `node --import tsx server/main.ts`: the signals are taken once the modules have loaded (server/start.ts,
// what npm start runs, takes them before).
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const signals = new StopSignals();
  endQuietlyOnEpipe(() => void signals.stop('SIGTERM'));
  main(signals);
}
