/** What config/schema.json cannot say about a configuration: checks across keys and values, each naming the key. */
import defaults from '../config/default.json' with { type: 'json' };
import type { Config, WindowSpec } from './config.ts';
import { flagOf } from './config-flags.ts';
import { brokerUrlParts } from './broker/url.ts';
import { gcd } from './engine/windows.ts';
import { ThermostreamError } from './errors.ts';
import { driverMemoryProblem } from './jobs/request.ts';
import { storeUrlProblem } from './store/url.ts';
import { defaultHostName, hostNameProblem, redactUrl } from './url.ts';

/** Per dirty pane a batch emits length/slide windows, each merging length/pane panes: keep that product sane. */
export const MAX_WINDOW_WORK = 10_000;

/** What the schema cannot say about windows: no shape twice, and a bounded cost per reading. */
export function checkWindows(windows: readonly WindowSpec[]): void {
  windows.forEach((w, i) => {
    const same = windows.findIndex((o) => o.lengthMs === w.lengthMs && o.slideMs === w.slideMs);
    if (same !== i) {
      throw new ThermostreamError('TS_ERR_CONFIG_INVALID', `invalid configuration: windows[${i}] = ${JSON.stringify(w)}: the same window as windows[${same}]`);
    }
    const pane = gcd(w.lengthMs, w.slideMs);
    const perReading = Math.ceil(w.lengthMs / w.slideMs);
    const work = perReading * (w.lengthMs / pane);
    if (work > MAX_WINDOW_WORK) {
      throw new ThermostreamError(
        'TS_ERR_CONFIG_INVALID',
        `invalid configuration: windows[${i}] = ${JSON.stringify(w)}: a reading falls in ${perReading} windows of ` +
          `${w.lengthMs / pane} panes each (pane = gcd(length, slide) = ${pane} ms); keep windows × panes ≤ ${MAX_WINDOW_WORK} ` +
          '(a longer slide, or a length that is a multiple of it)',
      );
    }
  });
}

/** store.url beyond the schema's pattern: a URL with a host and a database; named without its password. */
export function checkStoreUrl(url: string, from: string | undefined): void {
  const problem = storeUrlProblem(url);
  if (problem === null) return;
  throw new ThermostreamError(
    'TS_ERR_CONFIG_INVALID',
    `invalid configuration: store.url = ${JSON.stringify(redactUrl(url))}${from ? ` (from ${from})` : ''}: ${problem}`,
  );
}

/** broker.url beyond the schema's pattern: a host, no path; named without its password, with where it came from. */
export function checkBrokerUrl(url: string, from: string | undefined): void {
  if (url === '') return;
  const problem = brokerUrlParts(url);
  if (typeof problem !== 'string') return;
  throw new ThermostreamError(
    'TS_ERR_CONFIG_INVALID',
    `invalid configuration: broker.url = ${JSON.stringify(redactUrl(url))}${from ? ` (from ${from})` : ''}: ${problem}`,
  );
}

/** jobs.driverMemory beyond the schema's pattern: within the heap limits a request's driverMemory must keep. */
export function checkDriverMemory(driverMemory: string, from: string | undefined): void {
  const problem = driverMemoryProblem(driverMemory);
  if (problem === undefined) return;
  throw new ThermostreamError(
    'TS_ERR_CONFIG_INVALID',
    `invalid configuration: jobs.driverMemory = ${JSON.stringify(driverMemory)}${from ? ` (from ${from})` : ''}: ${problem}`,
  );
}

/** iothub.hostName goes into every connection string and SAS token: a host name a device can dial, or empty. */
export function checkHostName(hostName: string, from: string | undefined): void {
  const problem = hostName === '' ? undefined : hostNameProblem(hostName);
  if (problem === undefined) return;
  throw new ThermostreamError(
    'TS_ERR_CONFIG_INVALID',
    `invalid configuration: iothub.hostName = ${JSON.stringify(hostName)}${from ? ` (from ${from})` : ''}: ${problem}`,
  );
}

/** One entry per user name: of two, the broker would take the last one's password and refuse the first's. */
export function checkUsers(users: Config['auth']['users'], from: string | undefined): void {
  users.forEach((u, i) => {
    const same = users.findIndex((o) => o.username === u.username);
    if (same === i) return;
    const where = `${from ? ` (from ${from})` : ''}: the same user name as auth.users[${same}]`;
    throw new ThermostreamError('TS_ERR_CONFIG_INVALID', `invalid configuration: auth.users[${i}].username = ${JSON.stringify(u.username)}${where}`);
  });
}

/** Threshold limits, global and per device (a device may override one side): min must stay below max. */
export function checkThresholds(t: Config['detectors']['threshold']): void {
  const bad = (key: string, min: number, max: number): never => {
    throw new ThermostreamError('TS_ERR_CONFIG_INVALID', `invalid configuration: ${key}: min ${min} is not below max ${max}`);
  };
  if (!(t.min < t.max)) bad('detectors.threshold', t.min, t.max);
  for (const [id, own] of Object.entries(t.devices)) {
    const min = own.min ?? t.min;
    const max = own.max ?? t.max;
    if (!(min < max)) bad(`detectors.threshold.devices.${id}`, min, max);
  }
}

/**
 * What the schema cannot say about the instance list: it names this instance, and partitioning by it needs every
 * instance to see every device's messages (an external broker, each instance subscribed to all of them).
 */
export function checkCluster(config: Config, from: string | undefined): void {
  const { instanceId, instances } = config.cluster;
  if (instances.length === 0) return;
  const bad = (why: string): never => {
    throw new ThermostreamError('TS_ERR_CONFIG_INVALID', `invalid configuration: cluster.instances = ${JSON.stringify(instances)}${from ? ` (from ${from})` : ''}: ${why}`);
  };
  if (!instances.includes(instanceId)) bad(`it must contain this instance's id, cluster.instanceId = ${JSON.stringify(instanceId)}`);
  if (config.broker.url === '') {
    bad('several instances need an external broker (broker.url, --broker): devices connected to one embedded broker would reach only one instance');
  }
  if (config.broker.shareGroup !== '') {
    bad(
      `with broker.shareGroup = ${JSON.stringify(config.broker.shareGroup)} the broker hands each message to one instance, which drops ` +
        'it if another instance owns the device: either subscribe every instance to all telemetry (no shareGroup, cluster.instances set) ' +
        'or let the broker partition ($share with a hash strategy, cluster.instances = [])',
    );
  }
}

/**
 * Settings the server takes but that do not do what they seem to, said at start-up: windows whose slide is longer
 * than their length leave gaps whose readings count in no window of that shape (the engine allows such hopping
 * windows, but in a config file it is mostly lengthMs and slideMs swapped); settings of the connection to an external
 * broker without one (externalOnly); a share group, right only with a broker that keeps each device on one member.
 */
export function configWarnings(config: Config): string[] {
  const gaps = config.windows.flatMap((w, i) =>
    w.slideMs > w.lengthMs
      ? [
          `windows[${i}] = ${JSON.stringify(w)}: slideMs is longer than lengthMs, so readings in the last ` +
            `${w.slideMs - w.lengthMs} ms of every ${w.slideMs} ms count in no window of this shape ` +
            '(a tumbling window has slideMs = lengthMs; were the two swapped?)',
        ]
      : [],
  );
  // README, External broker: a broker that deals a device's messages round robin (Mosquitto) splits its state.
  const share = config.broker.shareGroup !== '' && config.broker.url !== ''
    ? [`broker.shareGroup = ${JSON.stringify(config.broker.shareGroup)}: each device's windows, detectors and dedupe are right only if ` +
        'the broker gives all of a device\'s messages to one member of the group (EMQX\'s hash_clientid or hash_topic); with ' +
        'round robin (Mosquitto) each instance counts a part of every device: use cluster.instances instead (README, Several instances)']
    : [];
  // Blocks are meant to spread a batch's decoding and window work over its interval (Spark's block interval likewise).
  const { blockIntervalMs: block, batchIntervalMs: batch } = config;
  const blocks = block >= batch
    ? [`blockIntervalMs = ${block} (--block-interval) is not below batchIntervalMs = ${batch} (--batch-interval): at most one block ` +
        'of a batch\'s readings is processed before the batch\'s time, so its work is not spread over the interval; use a fraction ' +
        'of the batch interval (default 50), or 0 to do all of a batch\'s work at its time']
    : [];
  return [...gaps, ...externalOnly(config), ...share, ...blocks, ...hostNameUnset(config)];
}

/**
 * The broker.* settings other than its url configure the server's own connection to an external broker: with the
 * embedded one (no broker.url) they do nothing. Those set to other than their defaults are named.
 */
function externalOnly(config: Config): string[] {
  if (config.broker.url !== '') return [];
  const given = (Object.keys(defaults.broker) as (keyof typeof defaults.broker)[]).filter(
    (k) => k !== 'url' && JSON.stringify(config.broker[k]) !== JSON.stringify(defaults.broker[k]),
  );
  if (given.length === 0) return [];
  const named = given.map((k) => {
    const flag = flagOf(['broker', k]);
    return `broker.${k}${flag === undefined ? '' : ` (${flag})`}`;
  });
  const one = given.length === 1;
  const why = given.some((k) => k !== 'ackAfterCommit') ? [`${one ? 'it is a setting' : 'they are settings'} of the server's connection to that broker`] : [];
  if (given.includes('ackAfterCommit')) why.push('devices of the embedded broker are acknowledged once their readings are in the ingest log');
  return [`${named.join(', ')} ${one ? 'does' : 'do'} nothing without an external broker (--broker): ${why.join('; ')}`];
}

/**
 * Connection strings and the start-up line name iothub.hostName, else `localhost`: where nothing listens when the
 * server is bound to one other address (`--host 192.168.1.10`), so every IoT Hub device would fail at its first dial.
 */
function hostNameUnset(config: Config): string[] {
  const { host } = config;
  const everywhereOrLocal = ['', '0.0.0.0', '::', '::1', 'localhost'].includes(host.toLowerCase()) || host.startsWith('127.');
  if (everywhereOrLocal || config.iothub.hostName !== '' || config.mqtt.tlsPort < 0 || config.broker.url !== '') return [];
  const { tlsPort } = config.mqtt;
  const port = tlsPort === 0 || tlsPort === 8883 ? '' : `:${tlsPort}`; // 0: the port is known once listening
  const name = `${host.includes(':') ? `[${host}]` : host}${port}`;
  return [
    `host = ${JSON.stringify(host)} with iothub.hostName empty: the TLS listener is on ${host} only, but connection strings and ` +
      `the MQTT TLS line name HostName=${defaultHostName('', tlsPort)}, where nothing listens; set iothub.hostName (--config) to "${name}" or a ` +
      'name that reaches it (docs/IOTHUB.md, step 2: the generated certificate is then issued for it)',
  ];
}

/**
 * iothub.hostName without a port sends devices (the SDKs, the connection strings) to port 8883: said at start-up when
 * the TLS listener is elsewhere, since nothing fails until a device dials (right only behind a proxy on 8883).
 */
export function hostNamePortWarning(hostName: string, tlsPort: number): string | null {
  const hasPort = hostName.startsWith('[') ? /\]:\d+$/.test(hostName) : hostName.split(':').length === 2;
  if (hostName === '' || hasPort || tlsPort === 8883) return null;
  return `iothub.hostName = ${JSON.stringify(hostName)} names no port, so devices dial it on 8883, but the TLS listener is on ${tlsPort}: ` +
    `set iothub.hostName to "${hostName.includes(':') ? `[${hostName}]` : hostName}:${tlsPort}", unless a proxy or port forward on 8883 reaches it`;
}
