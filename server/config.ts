import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv } from 'ajv';
import defaults from '../config/default.json' with { type: 'json' };
import schema from '../config/schema.json' with { type: 'json' };
import type { DetectorConfig } from './engine/detectors/types.ts';
import { optionValue } from './cli-args.ts';
import { checkBrokerUrl, checkCluster, checkDriverMemory, checkHostName, checkStoreUrl, checkThresholds, checkUsers, checkWindows } from './config-checks.ts';
import { configError, schemaAt, SECRET_FIELDS, valueAt, type Source } from './config-errors.ts';
import { ThermostreamError } from './errors.ts';
import { redactUrl } from './url.ts';
import { listGiven } from './cluster/supervisor.ts';
import { OVERRIDES } from './config-flags.ts';

export interface WindowSpec {
  readonly lengthMs: number;
  readonly slideMs: number;
}

export interface Config {
  readonly host: string;
  readonly http: { readonly port: number; readonly apiToken: string | null; readonly sseHeartbeatMs: number; readonly compress: boolean };
  readonly mqtt: {
    readonly port: number;
    readonly forwardTelemetry: boolean;
    /** -1 = no TLS listener. */
    readonly tlsPort: number;
    readonly tls: { readonly certFile: string; readonly keyFile: string };
    readonly websocket: boolean;
    /** The largest MQTT packet a connection may send (a larger one closes it); null: see mqttMaxPacketBytes(); 0: no limit. */
    readonly maxPacketBytes: number | null;
  };
  readonly auth: {
    readonly mode: 'none' | 'registry';
    readonly users: readonly { readonly username: string; readonly password: string; readonly deviceId?: string }[];
  };
  readonly iothub: { readonly hostName: string };
  readonly dataDir: string;
  readonly batchIntervalMs: number;
  /** How often what became durable goes to the batch side as a block of the open batch, processed at once (0: only at the batch's time). */
  readonly blockIntervalMs: number;
  readonly windows: readonly WindowSpec[];
  readonly allowedLatenessMs: number;
  readonly timeMode: 'event' | 'processing';
  /** How often an open window's partial result is rewritten: at most once per slide (default), or every batch. */
  readonly openWindowRefresh: 'slide' | 'batch' | 'final';
  /** worker: cut decoding, the telemetry job and the store's commit run in a worker thread; main: on the main thread. */
  readonly batchThread: 'worker' | 'main';
  /** How far (%) a heap may grow past its live data before a full collection (server/heap.ts); 0: V8's own choice. */
  readonly heapGrowthPercent: number;
  readonly ingest: {
    readonly maxPayloadBytes: number;
    readonly maxClockSkewMs: number;
    readonly deadLetterPayloadChars: number;
    readonly maxBacklog: number;
    readonly segmentBytes: number;
    readonly fsync: boolean;
    readonly retainMs: number;
  };
  readonly retention: {
    readonly windowsMs: number;
    readonly deadLettersMs: number;
    readonly lateReadingsMs: number;
    readonly anomaliesMs: number;
  };
  readonly onlineAfterMs: number;
  readonly recentReadings: { readonly perDevice: number; readonly maxAgeMs: number };
  readonly jobs: {
    readonly dirs: readonly string[];
    readonly maxRunning: number;
    readonly driverMemory: string;
    readonly stopTimeoutMs: number;
    readonly logLines: number;
    readonly retainFinished: number;
  };
  readonly dedupe: {
    readonly messageIds: number;
    readonly idleEvictMs: number;
  };
  readonly broker: {
    readonly url: string;
    readonly clientId: string;
    readonly username: string;
    readonly password: string;
    readonly topics: readonly string[];
    readonly shareGroup: string;
    readonly keepaliveSec: number;
    readonly connectTimeoutMs: number;
    readonly maxPending: number;
    /** Hold QoS 1 PUBACKs until the batch is committed; null = on when the store is shared (see ackAfterCommit()). */
    readonly ackAfterCommit: boolean | null;
  };
  readonly detectors: DetectorConfig;
  /** url "" = SQLite in dataDir; postgres://… = PostgreSQL. */
  readonly store: { readonly url: string };
  readonly cluster: {
    readonly instanceId: string;
    /** Every instance's id ([] = this instance owns every device). */
    readonly instances: readonly string[];
  };
}

/** Whether PUBACKs wait for the commit: broker.ackAfterCommit, or by default whenever the store is shared. */
export function ackAfterCommit(config: Config): boolean {
  if (config.broker.ackAfterCommit !== null) return config.broker.ackAfterCommit;
  return config.store.url !== '';
}

/** A setting that comes from the command line or the environment, as text, with where it came from. */
interface Override {
  path: string[];
  raw: string;
  source: string;
}

/** Flags that take no value (`--flag` means true; `--flag=false` is accepted too). */
const BOOLEAN_FLAGS = new Set(['--broker-ack-after-commit']);

export interface CliOptions {
  config: Config;
  demo: boolean;
  fresh: boolean;
  /** Cut damaged blocks out of the ingest log instead of refusing to start (TS_ERR_LOG_CORRUPT). */
  repair: boolean;
  /** Start although cluster.instances differs from the list recorded in the data dir (server/cluster/membership.ts). */
  rebalance: boolean;
  /** --instances N: run N instance processes (server/cluster/supervisor.ts); null = run one server here. */
  instances: number | null;
  help: boolean;
  /** Said at start-up: a config file holding secrets that others may read (looseSecrets). */
  warnings: string[];
}


/** Options that are on when given (not configuration keys): they take no value. */
const SWITCHES = new Set(['--demo', '--fresh', '--repair', '--rebalance', '--help', '-h']);

/**
 * Parses argv (without node and script) and the environment into a validated, frozen config. With `only` (keys such
 * as "mqtt.tlsPort"), a tool that uses a few settings reads just those from the environment and the config file, and
 * so is not refused for a bad value of another (the server's THERMOSTREAM_HTTP_PORT); the rest keep their defaults.
 */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv, only?: readonly string[]): CliOptions {
  let demo = false;
  let fresh = false;
  let repair = false;
  let help = false;
  let rebalance = false;
  let instances: number | null = null;
  let configFile = env.THERMOSTREAM_CONFIG;
  const fromFlags: Override[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (SWITCHES.has(name) && inline !== undefined) {
      // `--rebalance=false` would otherwise rebalance: these take no value.
      throw new ThermostreamError('TS_ERR_CLI_ARG', `option ${name} takes no value (got ${JSON.stringify(arg)}): give ${name} alone, or leave it out`);
    }
    if (name === '--demo') demo = true;
    else if (name === '--fresh') fresh = true;
    else if (name === '--repair') repair = true;
    else if (name === '--rebalance') rebalance = true;
    else if (name === '--help' || name === '-h') help = true;
    else if (BOOLEAN_FLAGS.has(name)) {
      fromFlags.push({ path: OVERRIDES.find((o) => o.flag === name)!.path, raw: inline ?? 'true', source: name });
    } else if (name === '--instances') {
      const value = inline ?? optionValue(name, argv[++i]);
      if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 64) {
        throw new ThermostreamError('TS_ERR_CLI_ARG', `option --instances needs a number of instances from 1 to 64, got ${JSON.stringify(value)}`);
      }
      instances = Number(value);
    } else {
      const known = name === '--config' || OVERRIDES.some((o) => o.flag === name);
      if (!known) throw new ThermostreamError('TS_ERR_CLI_ARG', `unknown option ${JSON.stringify(arg)} (see --help)`);
      const value = inline ?? optionValue(name, argv[++i]);
      if (name === '--config') configFile = value;
      else fromFlags.push({ path: OVERRIDES.find((o) => o.flag === name)!.path, raw: value, source: name });
    }
  }
  const fromEnv: Override[] = [];
  for (const o of OVERRIDES) {
    if (only !== undefined && !only.includes(o.path.join('.'))) continue;
    const raw = env[o.env];
    if (raw !== undefined && raw !== '') fromEnv.push({ path: o.path, raw, source: `env ${o.env}` });
  }
  const read = configFile === undefined ? {} : readConfigFile(configFile);
  const warnings = configFile === undefined ? [] : looseSecrets(configFile, read);
  const fileConfig = only === undefined ? read : pick(read, only);
  if (instances !== null) {
    const given = [...fromEnv, ...fromFlags].filter((o) => o.path.join('.') === 'cluster.instances').pop();
    const list = given !== undefined ? coerce(given.raw, given.path) : (fileConfig as { cluster?: { instances?: unknown } })?.cluster?.instances;
    if (Array.isArray(list) && list.length > 0) throw listGiven(list.map(String));
  }
  return { config: resolveConfig(fileConfig, [...fromEnv, ...fromFlags], configFile), demo, fresh, repair, rebalance, instances, help, warnings };
}

/** Only the given keys of a config file (one that is not an object is left to be refused as it is). */
function pick(file: unknown, keys: readonly string[]): unknown {
  if (!isPlainObject(file)) return file;
  const picked: Record<string, unknown> = {};
  for (const key of keys) {
    const value = valueAt(file, key.split('.'));
    if (value !== undefined) setPath(picked, key.split('.'), value);
  }
  return picked;
}

/**
 * A config file that holds secrets (the API token, a password: of a user, of the external broker, in a URL) and that
 * every user of the machine may read or write: a warning naming them and the chmod that keeps them, as Mosquitto says
 * of a world-readable password file. Group bits are left alone (a file of root's that the service's group reads is
 * right). Not on Windows, whose files have no such mode bits.
 */
export function looseSecrets(file: string, config: unknown): string[] {
  if (process.platform === 'win32') return [];
  const secrets: string[] = [];
  const walk = (v: unknown, path: string, key: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`, key));
    else if (isPlainObject(v)) for (const [k, x] of Object.entries(v)) walk(x, path === '' ? k : `${path}.${k}`, k);
    else if (typeof v === 'string' && v !== '' && SECRET_FIELDS.has(key)) secrets.push(path);
    else if (typeof v === 'string' && v.includes('://') && redactUrl(v) !== v) secrets.push(`${path} (its password)`);
  };
  walk(config, '', '');
  if (secrets.length === 0) return [];
  let mode: number;
  try {
    mode = statSync(resolve(file)).mode & 0o777;
  } catch {
    return []; // read a moment ago; gone now, nothing to say
  }
  if ((mode & 0o007) === 0) return [];
  return [
    `config file ${file} holds ${secrets.join(', ')} and every user of this machine may ${mode & 0o004 ? 'read' : 'write'} it ` +
      `(mode ${mode.toString(8).padStart(4, '0')}): chmod o-rwx ${file}`,
  ];
}

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch (err) {
    throw new ThermostreamError('TS_ERR_CONFIG_FILE', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    // A UTF-8 byte order mark (Windows editors write one) is not JSON; RFC 8259 lets a parser ignore it.
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new ThermostreamError('TS_ERR_CONFIG_FILE', `config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

const ajv = new Ajv({ allErrors: true });
// What a pattern asks for, in words: a refusal says it instead of the regular expression (configError).
ajv.addKeyword('x-expected');
const validate = ajv.compile(schema);

/**
 * Merges defaults < file < overrides and validates the result against config/schema.json.
 * Throws TS_ERR_CONFIG_INVALID naming the key, the value and where it came from (the flag, the variable, or
 * `fileName`, the --config file, for a key the file sets and nothing overrides).
 */
export function resolveConfig(file: unknown, overrides: readonly Override[] = [], fileName?: string): Config {
  const flagsAndEnv = new Map<string, string>();
  const from: Source = (path) => {
    // An item of a list a flag gave (cluster.instances[1] of --cluster-instances a,,b) came from that flag.
    for (let n = path.length; n > 0; n--) {
      const source = flagsAndEnv.get(path.slice(0, n).join('.'));
      if (source !== undefined) return source;
    }
    return fileName !== undefined && valueAt(file, path) !== undefined ? fileName : undefined;
  };
  if (typeof file !== 'object' || file === null || Array.isArray(file)) {
    throw new ThermostreamError('TS_ERR_CONFIG_INVALID', `config must be a JSON object, got ${JSON.stringify(file)}`);
  }
  const merged = merge(structuredClone(defaults), file) as Record<string, unknown>;
  for (const o of overrides) {
    setPath(merged, o.path, coerce(o.raw, o.path));
    flagsAndEnv.set(o.path.join('.'), o.source);
  }
  if (!validate(merged)) throw configError(validate.errors ?? [], merged, from, fileName);
  checkWindows((merged as unknown as Config).windows);
  checkThresholds((merged as unknown as Config).detectors.threshold);
  checkUsers((merged as unknown as Config).auth.users, from(['auth', 'users']));
  checkStoreUrl((merged as unknown as Config).store.url, from(['store', 'url']));
  checkBrokerUrl((merged as unknown as Config).broker.url, from(['broker', 'url']));
  checkHostName((merged as unknown as Config).iothub.hostName, from(['iothub', 'hostName']));
  checkCluster(merged as unknown as Config, from(['cluster', 'instances']));
  checkDriverMemory((merged as unknown as Config).jobs.driverMemory, from(['jobs', 'driverMemory']));
  return deepFreeze(merged) as unknown as Config;
}

/** Flags and env vars are text; numbers are parsed where the schema wants an integer, and left as text if they don't parse, so validation names the raw value. */
function coerce(raw: string, path: string[]): unknown {
  const node = schemaAt(path);
  const types: unknown[] = ([] as unknown[]).concat(node?.type);
  if (types.includes('integer') && /^-?\d+(\.\d+)?$/.test(raw.trim())) return Number(raw);
  // An empty item (a,,b or a trailing comma) is kept for validation to name: dropped, a typo went unsaid.
  if (node?.type === 'array') return raw.trim() === '' ? [] : raw.split(',').map((s) => s.trim());
  if (types.includes('boolean') && (raw === 'true' || raw === 'false')) return raw === 'true';
  // A key whose default is null (broker.ackAfterCommit: decided by the other settings) can be set back to it.
  if (types.includes('null') && raw === 'null') return null;
  return raw;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node: any = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key];
  }
  node[path[path.length - 1]] = value;
}

function merge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
