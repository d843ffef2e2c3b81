/** What config/schema.json cannot say about a configuration: checks across keys and values, each naming the key. */
import type { Config, WindowSpec } from './config.ts';
import { brokerUrlParts } from './broker/url.ts';
import { gcd } from './engine/windows.ts';
import { ThermostreamError } from './errors.ts';
import { storeUrlProblem } from './store/url.ts';
import { hostNameProblem, redactUrl } from './url.ts';

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
