/**
 * Fleet options: defaults, validation (errors name the CLI option and the value), frozen result.
 * The CLI and createFleet() share this, so a library user gets the same checks as a command-line user.
 */
import { readFileSync } from 'node:fs';
import { ANOMALY_TYPES, type AnomalyType } from './anomalies.ts';
import { ErrorCodes, invalidOption, SimulatorError } from './errors.ts';
import { DEVICE_ID_PATTERN, deviceIds as defaultDeviceIds, zonedTime } from './reading.ts';
import { loadRecording, type Recording } from './replay.ts';
import { replayInput, type ReplayInputOptions } from './replay-fields.ts';
import { checkScenarioDevices, loadScenario, validateScenario, type Scenario } from './scenario.ts';
import { transports } from './transport.ts';
import { loadConnectionStrings } from './transports/azure-credentials.ts';

/** `fields`, `tsZone`, `tsFormat`, `tsUnit`: how to read a --replay recording made elsewhere (replay-fields.ts). */
export interface FleetOptions extends ReplayInputOptions {
  /** Broker URL (mqtt://, mqtts://, ws://, wss://). Without it nothing is published. */
  url?: string;
  /** Transport name; default "mqtt". */
  transport?: string;
  /** Number of devices; default 10. */
  devices?: number;
  /** Device id prefix; default "thermostat-" (ids thermostat-0001, …). */
  devicePrefix?: string;
  /** Total readings per second over the fleet; default 10. */
  rate?: number;
  /** Wall-clock seconds to run (rate × duration readings). */
  duration?: number;
  /** Total readings to generate. */
  count?: number;
  /** PRNG seed; default 1. */
  seed?: number;
  /** Simulated time of the first reading (ISO 8601 or epoch ms). Default: live, so the last reading is "now". */
  start?: string | number;
  /** Simulated seconds per wall-clock second; default 1. */
  speedup?: number;
  /** MQTT QoS; default 1. */
  qos?: number;
  /** Readings per MQTT message (1 = one JSON object, >1 = JSON arrays); default 1. */
  batchSize?: number;
  /** MQTT connections; default one per device up to 100. */
  connections?: number;
  /** Unacknowledged publishes per connection; default 200. */
  maxInFlight?: number;
  /** Seconds to wait for all connections; default 10. */
  connectTimeout?: number;
  /** Seconds to wait for outstanding acknowledgements at the end; default 10. */
  drainTimeout?: number;
  /** Random anomalies per device per simulated hour; default 0. */
  anomalies?: number;
  anomalyTypes?: AnomalyType[];
  /** Scenario file path, or the scenario itself. */
  scenario?: string | Scenario;
  /** Ground-truth JSONL path. */
  truth?: string;
  /** Readings JSONL path. */
  out?: string;
  /** A recording to publish instead of simulated readings: JSON lines (as `out` writes them) or CSV with a header. */
  replay?: string;
  /** Fraction of readings sent late (0–1); default 0. */
  lateFraction?: number;
  /** Largest delay of a late reading, seconds; default 5. */
  maxDelay?: number;
  /** Fraction of readings sent twice (0–1); default 0. */
  duplicateFraction?: number;
  /** Fraction of readings followed by a malformed message (0–1); default 0. */
  badFraction?: number;
  username?: string;
  password?: string;
  /** Client id prefix for shared connections; default "thermostream-sim-<pid>-". */
  clientIdPrefix?: string;
  /** azure: file of device connection strings (one per line, or JSON); the devices are the file's. */
  connectionStrings?: string;
  /** azure: server base URL (http://host:port) whose registry creates or lists the devices. */
  registry?: string;
  /** azure: bearer token for the registry (the server's http.apiToken). */
  apiToken?: string;
  /** azure: PEM file of the CA to trust (the server's generated data/tls/ca.pem). */
  ca?: string;
}

export interface ResolvedOptions {
  readonly url: string | undefined;
  readonly transport: string;
  readonly deviceIds: readonly string[];
  readonly rate: number;
  /** Readings to generate; Infinity = until stop(). */
  readonly total: number;
  readonly duration: number | undefined;
  readonly count: number | undefined;
  readonly seed: number;
  readonly startMs: number | undefined;
  readonly speedup: number;
  readonly qos: 0 | 1;
  readonly batchSize: number;
  readonly connections: number;
  readonly maxInFlight: number;
  readonly connectTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly anomalies: number;
  readonly anomalyTypes: readonly AnomalyType[];
  readonly scenario: Scenario;
  readonly truth: string | undefined;
  readonly out: string | undefined;
  readonly lateFraction: number;
  readonly maxDelayMs: number;
  readonly duplicateFraction: number;
  readonly badFraction: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly clientIdPrefix: string;
  /** azure: connection strings by device id (from --connection-strings). */
  readonly connectionStrings: ReadonlyMap<string, string> | undefined;
  readonly registry: string | undefined;
  readonly apiToken: string | undefined;
  readonly ca: string | undefined;
  /** --replay: the recording whose records are published, in its order, instead of simulated readings. */
  readonly replay: Recording | undefined;
  /** True when readings are published (a URL, or the azure transport, which can dial its connection strings). */
  readonly publishes: boolean;
}

export const DEFAULTS = {
  transport: 'mqtt',
  devices: 10,
  devicePrefix: 'thermostat-',
  rate: 10,
  seed: 1,
  speedup: 1,
  qos: 1,
  batchSize: 1,
  maxConnections: 100,
  maxInFlight: 200,
  connectTimeout: 10,
  drainTimeout: 10,
  anomalies: 0,
  maxDelay: 5,
} as const;

function num(name: string, v: unknown, ok: (x: number) => boolean, expected: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw invalidOption(name, v, expected);
  return v;
}

const int = (x: number) => Number.isInteger(x);
const fraction = (name: string, v: number | undefined) => (v === undefined ? 0 : num(name, v, (x) => x >= 0 && x <= 1, 'a fraction from 0 to 1'));

/**
 * Options the azure transport has no use for (one SDK client per device, signed in with the key of its connection
 * string) are refused, naming the option, rather than silently ignored.
 */
function checkAzureOptions(o: FleetOptions, url: string | undefined): void {
  const signIn = 'each device signs in with the key of its connection string';
  const unused: [string, boolean, string][] = [
    ['connections', o.connections !== undefined, 'with --transport azure (one SDK client per device)'],
    ['username', o.username !== undefined, `with --transport azure (${signIn})`],
    ['password', o.password !== undefined, `with --transport azure (${signIn})`],
    ['api-token', o.apiToken !== undefined && o.registry === undefined, 'without --registry (the token is for its requests)'],
    ['device-prefix', o.devicePrefix !== undefined && o.connectionStrings !== undefined, "with --connection-strings (the devices are the file's)"],
    ['ca', o.ca !== undefined && url !== undefined && /^(mqtt|tcp|ws):/.test(url), 'with a --url without TLS (mqtt://, ws://)'],
  ];
  for (const [name, given, why] of unused) {
    if (given) throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `option --${name} does nothing ${why}: leave it out`);
  }
}

export function resolveOptions(o: FleetOptions): ResolvedOptions {
  const transport = o.transport ?? DEFAULTS.transport;
  if (!Object.hasOwn(transports, transport)) {
    throw invalidOption('transport', transport, `one of ${Object.keys(transports).join(', ')}`);
  }
  const url = o.url;
  if (url !== undefined && !/^(mqtts?|tcp|ssl|wss?):\/\/[^/]/.test(url)) {
    throw invalidOption('url', url, 'mqtt://host:port, mqtts://, ws:// or wss://');
  }
  const azure = transport === 'azure';
  if (!azure) {
    for (const [name, v] of [['connection-strings', o.connectionStrings], ['registry', o.registry], ['api-token', o.apiToken]] as const) {
      if (v !== undefined) throw invalidOption(name, v, 'only with --transport azure');
    }
    // The mqtt transport trusts --ca on a TLS --url (the server's generated CA for its mqtts:// listener).
    if (o.ca !== undefined && (url === undefined || /^(mqtt|tcp|ws):/.test(url))) {
      const why = url === undefined ? 'without --url (nothing is published)' : 'with a --url without TLS (mqtt://, ws://)';
      throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `option --ca does nothing ${why}: leave it out`);
    }
    // [MQTT-3.1.2-22]: no password without a user name. mqtt.js refused it only when connecting, after
    // --connect-timeout, as a connection failure (exit code 1). The password itself is not echoed.
    if (o.password !== undefined && o.username === undefined) {
      throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, 'option --password needs --username (MQTT sends a password only with a user name)');
    }
  }
  if (azure && o.connectionStrings === undefined && o.registry === undefined) {
    throw new SimulatorError(
      ErrorCodes.SIM_INVALID_OPTION,
      "--transport azure needs its devices: --registry http://host:port (the server's registry creates them) or --connection-strings FILE",
    );
  }
  if (azure) checkAzureOptions(o, url);
  if (o.ca !== undefined) {
    // Read once here, so that a wrong path is an option error (exit code 2) naming --ca, before anything connects.
    try {
      readFileSync(o.ca);
    } catch (error) {
      throw invalidOption('ca', o.ca, `a readable PEM file; ${(error as Error).message}`);
    }
  }
  if (azure && o.connectionStrings !== undefined && o.registry !== undefined) {
    throw invalidOption('connection-strings', o.connectionStrings, 'either --connection-strings FILE or --registry http://host:port, not both');
  }
  if (o.registry !== undefined && !/^https?:\/\/[^/]/.test(o.registry)) {
    throw invalidOption('registry', o.registry, 'the server\'s HTTP base URL, http://host:port');
  }
  const connectionStrings = o.connectionStrings === undefined ? undefined : loadConnectionStrings(o.connectionStrings);
  const input = replayInput(o);
  const replay = o.replay === undefined ? undefined : loadReplay(o, input);
  const devices = replay?.deviceIds.length ?? num(
    'devices',
    o.devices ?? connectionStrings?.size ?? DEFAULTS.devices,
    (x) => int(x) && x >= 1 && x <= (connectionStrings?.size ?? 1_000_000),
    connectionStrings === undefined ? 'an integer from 1 to 1000000' : `an integer from 1 to ${connectionStrings.size} (the connection strings in the file)`,
  );
  const prefix = o.devicePrefix ?? DEFAULTS.devicePrefix;
  const ids = replay?.deviceIds ?? (connectionStrings === undefined ? defaultDeviceIds(prefix, devices) : [...connectionStrings.keys()].slice(0, devices));
  if (!ids.every((id) => DEVICE_ID_PATTERN.test(id))) {
    throw invalidOption('device-prefix', prefix, 'characters A-Z a-z 0-9 . _ : - only, ids at most 128 long');
  }
  const rate = num('rate', o.rate ?? DEFAULTS.rate, (x) => x > 0 && x <= 10_000_000, 'readings/s > 0, at most 10000000');
  const duration = o.duration === undefined ? undefined : num('duration', o.duration, (x) => x > 0, 'seconds > 0');
  const count = o.count === undefined ? undefined : num('count', o.count, (x) => int(x) && x >= 1, 'an integer >= 1');
  const total = Math.min(count ?? Infinity, duration === undefined ? Infinity : Math.max(1, Math.round(duration * rate)), replay?.records.length ?? Infinity);
  const seed = num('seed', o.seed ?? DEFAULTS.seed, (x) => int(x) && x >= 0 && x <= 0xffffffff, 'an integer from 0 to 4294967295');
  let startMs: number | undefined;
  if (o.start !== undefined) {
    startMs = typeof o.start === 'number' ? o.start : zonedTime(o.start);
    if (!Number.isFinite(startMs)) {
      throw invalidOption('start', o.start, 'an ISO 8601 time with a zone, Z or an offset, such as 2026-11-24T10:00:00Z');
    }
    if (startMs < 0) throw invalidOption('start', o.start, 'a time from 1970 on (the server refuses earlier readings)');
  }
  const speedup = num('speedup', o.speedup ?? DEFAULTS.speedup, (x) => x > 0 && x <= 1_000_000, 'a factor > 0, at most 1000000');
  if (speedup > 1 && total === Infinity && startMs === undefined) {
    throw invalidOption('speedup', speedup, 'with --duration or --count (an endless live run cannot run ahead of the clock)');
  }
  const qos = num('qos', o.qos ?? DEFAULTS.qos, (x) => (azure ? x === 1 : x === 0 || x === 1), azure ? '1 with --transport azure (the SDK sends QoS 1)' : '0 or 1') as 0 | 1;
  const batchSize = num('batch-size', o.batchSize ?? DEFAULTS.batchSize, (x) => int(x) && x >= 1 && x <= 10_000, 'an integer from 1 to 10000');
  const connections = num(
    'connections',
    // A replay goes over one connection unless told otherwise: the server then takes the records in the file's order.
    o.connections ?? (replay !== undefined ? 1 : Math.min(devices, DEFAULTS.maxConnections)),
    (x) => int(x) && x >= 1,
    'an integer >= 1',
  );
  const maxInFlight = num('max-inflight', o.maxInFlight ?? DEFAULTS.maxInFlight, (x) => int(x) && x >= 1 && x <= 65_000, 'an integer from 1 to 65000');
  const connectTimeout = num('connect-timeout', o.connectTimeout ?? DEFAULTS.connectTimeout, (x) => x > 0, 'seconds > 0');
  const drainTimeout = num('drain-timeout', o.drainTimeout ?? DEFAULTS.drainTimeout, (x) => x >= 0, 'seconds >= 0');

  let scenario: Scenario = {};
  if (typeof o.scenario === 'string') scenario = loadScenario(o.scenario);
  else if (o.scenario !== undefined) scenario = validateScenario(o.scenario);
  checkScenarioDevices(scenario, ids, typeof o.scenario === 'string' ? o.scenario : 'object');
  const anomalies = num('anomalies', o.anomalies ?? scenario.anomalies ?? DEFAULTS.anomalies, (x) => x >= 0, 'anomalies per device per hour >= 0');
  const anomalyTypes = o.anomalyTypes ?? scenario.anomalyTypes ?? [...ANOMALY_TYPES];
  for (const t of anomalyTypes) {
    if (!ANOMALY_TYPES.includes(t)) throw invalidOption('anomaly-types', t, `some of ${ANOMALY_TYPES.join(',')}`);
  }
  const maxDelay = num('max-delay', o.maxDelay ?? DEFAULTS.maxDelay, (x) => x >= 0, 'seconds >= 0');

  if (azure && (o.badFraction ?? 0) > 0) {
    throw invalidOption('bad-fraction', o.badFraction, '0 with --transport azure (the SDK chooses the topic)');
  }
  const publishes = url !== undefined || azure;
  if (!publishes && o.out === undefined) {
    throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, 'give --url, the broker to publish to, or --out FILE.jsonl to only write the readings to a file');
  }
  if (!publishes && total === Infinity) {
    throw invalidOption('out', o.out, 'with --count or --duration when there is no --url (the run must end)');
  }

  return Object.freeze({
    url,
    transport,
    deviceIds: Object.freeze(ids),
    rate,
    total,
    duration,
    count,
    seed,
    startMs,
    speedup,
    qos,
    batchSize,
    connections,
    maxInFlight,
    connectTimeoutMs: connectTimeout * 1000,
    drainTimeoutMs: drainTimeout * 1000,
    anomalies,
    anomalyTypes: Object.freeze([...anomalyTypes]),
    scenario,
    truth: o.truth,
    out: o.out,
    lateFraction: fraction('late-fraction', o.lateFraction),
    maxDelayMs: maxDelay * 1000,
    duplicateFraction: fraction('duplicate-fraction', o.duplicateFraction),
    badFraction: fraction('bad-fraction', o.badFraction),
    username: o.username,
    password: o.password,
    clientIdPrefix: o.clientIdPrefix ?? `thermostream-sim-${process.pid}-`,
    connectionStrings,
    registry: o.registry,
    apiToken: o.apiToken,
    ca: o.ca,
    replay,
    publishes,
  });
}

/** Options that make readings up, which a recording's own readings leave no room for. */
const NOT_WITH_REPLAY = [
  ['devices', 'devices'], ['device-prefix', 'devicePrefix'], ['seed', 'seed'], ['start', 'start'], ['speedup', 'speedup'],
  ['anomalies', 'anomalies'], ['anomaly-types', 'anomalyTypes'], ['scenario', 'scenario'], ['truth', 'truth'], ['out', 'out'],
  ['bad-fraction', 'badFraction'], ['connection-strings', 'connectionStrings'],
] as const;

function loadReplay(o: FleetOptions, input: ReturnType<typeof replayInput>): Recording {
  for (const [name, key] of NOT_WITH_REPLAY) {
    if (o[key] !== undefined) {
      throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `--${name} cannot be used with --replay: the recording has its own devices, times and values`);
    }
  }
  if (o.url === undefined && o.transport !== 'azure') {
    throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, '--replay needs --url, the broker to publish the recording to');
  }
  const recording = loadRecording(o.replay!, input);
  // The azure transport gives every message a messageId; over plain MQTT only seq or messageId tells a resend apart.
  const anonymous = recording.records.filter((r) => r.recorded?.seq === undefined && r.recorded?.messageId === undefined).length;
  if ((o.duplicateFraction ?? 0) > 0 && o.transport !== 'azure' && anonymous > 0) {
    throw new SimulatorError(
      ErrorCodes.SIM_INVALID_OPTION,
      `--duplicate-fraction cannot be used with this --replay over MQTT: ${anonymous} of its records ${anonymous === 1 ? 'has' : 'have'} neither seq nor messageId, so the server could not tell their duplicates from new readings`,
    );
  }
  // The azure transport's message id names the whole batch (its $.mid outranks a record's own messageId), and a
  // duplicate goes out later, in another batch under another id: only seq still tells it apart.
  const unnumbered = recording.records.filter((r) => r.recorded?.seq === undefined).length;
  if ((o.duplicateFraction ?? 0) > 0 && o.transport === 'azure' && (o.batchSize ?? 1) > 1 && unnumbered > 0) {
    throw new SimulatorError(
      ErrorCodes.SIM_INVALID_OPTION,
      `--duplicate-fraction cannot be used with this --replay over --transport azure with --batch-size > 1: ${unnumbered} of its records ${unnumbered === 1 ? 'has' : 'have'} no seq, and a duplicate goes in another batch, under another message id, so the server could not tell it from a new reading`,
    );
  }
  return recording;
}

/**
 * The simulated time of the first reading of a run that starts at t0. Live time: the run's simulated time ends at
 * the present, so no reading is ever in the future.
 */
export function simulatedStartMs(o: ResolvedOptions, t0: number): number {
  if (o.startMs !== undefined) return o.startMs;
  if (o.total === Infinity) return t0;
  const spanMs = (o.total * 1000) / o.rate;
  return o.publishes ? t0 - Math.max(0, o.speedup - 1) * spanMs : t0 - o.speedup * spanMs;
}

/**
 * A run's readings carry dates from 1970 on (the server refuses earlier ones) within what a Date holds: a run of
 * more readings than fit (--count 1e20 at 10/s goes back 3e11 years) is refused, naming what sets its length.
 */
export function checkSimulatedTime(o: ResolvedOptions, t0: number): void {
  if (o.replay !== undefined || o.total === Infinity) return;
  const firstMs = simulatedStartMs(o, t0);
  const lastMs = firstMs + (o.speedup * (o.total - 1) * 1000) / o.rate;
  if (firstMs >= 0 && lastMs <= MAX_DATE_MS) return;
  const [option, value] = o.count === o.total ? ['count', o.count] : ['duration', o.duration];
  const years = ((lastMs - firstMs) / (365.25 * 86_400_000)).toPrecision(3);
  throw invalidOption(
    option,
    value,
    `a run whose simulated time fits from 1970 on: ${o.total} readings at --rate ${o.rate}${o.speedup === 1 ? '' : ` × --speedup ${o.speedup}`} span ${years} years, from ${firstMs < 0 ? 'before 1970' : new Date(firstMs).toISOString()} to ${lastMs > MAX_DATE_MS ? 'past the year 275760' : new Date(lastMs).toISOString()}`,
  );
}

/** The latest time a Date holds. */
const MAX_DATE_MS = 8.64e15;
