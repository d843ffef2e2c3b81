/**
 * Scenario files (--scenario file.json): scheduled anomalies plus optional random-anomaly settings.
 *
 *   { "anomalies": 2, "anomalyTypes": ["spike", "stuck"],
 *     "events": [ { "device": "thermostat-0002", "type": "stuck", "at": 600, "duration": 300 },
 *                 { "device": 3, "type": "spike", "at": "2026-11-24T10:05:00Z", "magnitude": 9 } ] }
 *
 * `device`: an id, or a 1-based index into the fleet. `at`: seconds after the simulated start, or an ISO time.
 * `duration`: simulated seconds (stuck, drift, dropout). `magnitude`: °C (spike, dip, drift).
 */
import { readFileSync } from 'node:fs';
import { ANOMALY_TYPES, type AnomalyEvent, type AnomalyType } from './anomalies.ts';
import { ErrorCodes, SimulatorError } from './errors.ts';
import { zonedTime } from './reading.ts';

export interface ScenarioEvent {
  device: string | number;
  type: AnomalyType;
  /** Seconds after the simulated start, or an ISO 8601 time. */
  at: number | string;
  duration?: number;
  magnitude?: number;
}

export interface Scenario {
  anomalies?: number;
  anomalyTypes?: AnomalyType[];
  events?: ScenarioEvent[];
}

const KEYS = new Set(['anomalies', 'anomalyTypes', 'events']);
const EVENT_KEYS = new Set(['device', 'type', 'at', 'duration', 'magnitude']);

function fail(where: string, message: string): never {
  throw new SimulatorError(ErrorCodes.SIM_INVALID_SCENARIO, `invalid scenario ${where}: ${message}`);
}

export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    fail(path, (error as Error).message);
  }
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\uFEFF/, '')); // a UTF-8 byte order mark (Windows editors write one) is not JSON
  } catch (error) {
    fail(path, `not JSON (${(error as Error).message})`);
  }
  return validateScenario(value, path);
}

export function validateScenario(value: unknown, where = 'object'): Scenario {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, 'expected a JSON object');
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (!KEYS.has(key)) fail(where, `unknown key "${key}"`);
  if (v.anomalies !== undefined && !(typeof v.anomalies === 'number' && v.anomalies >= 0 && Number.isFinite(v.anomalies))) {
    fail(where, `"anomalies" must be a number >= 0, got ${JSON.stringify(v.anomalies)}`);
  }
  if (v.anomalyTypes !== undefined) {
    if (!Array.isArray(v.anomalyTypes)) fail(where, '"anomalyTypes" must be an array');
    for (const t of v.anomalyTypes) {
      if (!ANOMALY_TYPES.includes(t as AnomalyType)) fail(where, `unknown anomaly type ${JSON.stringify(t)}`);
    }
  }
  if (v.events !== undefined) {
    if (!Array.isArray(v.events)) fail(where, '"events" must be an array');
    v.events.forEach((e: unknown, i: number) => {
      const at = `${where} events[${i}]`;
      if (typeof e !== 'object' || e === null) fail(at, 'expected an object');
      const ev = e as Record<string, unknown>;
      for (const key of Object.keys(ev)) if (!EVENT_KEYS.has(key)) fail(at, `unknown key "${key}"`);
      if (!(typeof ev.device === 'string' || (typeof ev.device === 'number' && Number.isInteger(ev.device) && ev.device >= 1))) {
        fail(at, `"device" must be an id or a 1-based index, got ${JSON.stringify(ev.device)}`);
      }
      if (!ANOMALY_TYPES.includes(ev.type as AnomalyType)) fail(at, `unknown "type" ${JSON.stringify(ev.type)}`);
      const okAt = (typeof ev.at === 'number' && ev.at >= 0) || (typeof ev.at === 'string' && !Number.isNaN(zonedTime(ev.at)));
      if (!okAt) fail(at, `"at" must be seconds >= 0 or an ISO time with a zone (2026-11-24T10:05:00Z), got ${JSON.stringify(ev.at)}`);
      if (ev.duration !== undefined && !(typeof ev.duration === 'number' && ev.duration >= 0)) {
        fail(at, `"duration" must be seconds >= 0, got ${JSON.stringify(ev.duration)}`);
      }
      if (ev.magnitude !== undefined && !(typeof ev.magnitude === 'number' && Number.isFinite(ev.magnitude))) {
        fail(at, `"magnitude" must be a number, got ${JSON.stringify(ev.magnitude)}`);
      }
    });
  }
  return v as Scenario;
}

/** The index in the fleet of an event's device (a 1-based index or an id), -1 when it is not in the fleet. */
function deviceIndex(e: ScenarioEvent, deviceIds: readonly string[]): number {
  if (typeof e.device === 'string') return deviceIds.indexOf(e.device);
  return e.device >= 1 && e.device <= deviceIds.length ? e.device - 1 : -1;
}

/**
 * Every event's device must be in the fleet: checked with the options, before anything connects (or --registry
 * creates devices), naming the file and the fleet. The events are resolved (scenarioEvents) only after it.
 */
export function checkScenarioDevices(s: Scenario, deviceIds: readonly string[], where: string): void {
  (s.events ?? []).forEach((e, i) => {
    if (deviceIndex(e, deviceIds) < 0) {
      const fleet = deviceIds.length === 1 ? `its one device is ${deviceIds[0]}` : `its ${deviceIds.length} devices are ${deviceIds[0]} … ${deviceIds[deviceIds.length - 1]}`;
      fail(`${where} events[${i}]`, `device ${JSON.stringify(e.device)} is not in the fleet (${fleet})`);
    }
  });
}

/**
 * Events of a run of known length that come after their device's last reading cannot happen (an event starts at its
 * device's first reading at or after `at`): said before the run, as the summary would only say "anomalies none". An
 * ISO `at` is judged only with --start (otherwise the start is the clock's at the run).
 */
export function scenarioWarning(
  s: Scenario,
  run: { total: number; rate: number; speedup: number; startMs: number | undefined; deviceIds: readonly string[] },
): string | null {
  if (run.total === Infinity) return null;
  const devices = run.deviceIds.length;
  const after = (s.events ?? []).flatMap((e, i) => {
    const k = deviceIndex(e, run.deviceIds);
    // Slot n is device n mod D's, at n / rate s of wall time (source.ts): its last slot is the largest n < total.
    const last = run.total - 1 - ((run.total - 1 - k) % devices);
    const lastMs = last < k ? -Infinity : (last * 1000 * run.speedup) / run.rate;
    const atMs = typeof e.at === 'number' ? e.at * 1000 : run.startMs === undefined ? -Infinity : zonedTime(e.at) - run.startMs;
    if (!(atMs > lastMs)) return [];
    const when = lastMs === -Infinity ? 'which sends no reading in the run' : `whose last reading is ${+(lastMs / 1000).toFixed(3)} s of simulated time after the start`;
    return [`events[${i}] (at ${JSON.stringify(e.at)}, ${run.deviceIds[k]} ${when})`];
  });
  if (after.length === 0) return null;
  return `--scenario: ${after.join(', ')} come after their device's last reading: ` +
    'they will not happen (lengthen the run with --count or --duration, or move them)';
}

/** Resolves scenario events (their devices checked by checkScenarioDevices) against the fleet's ids and simulated start. */
export function scenarioEvents(s: Scenario, deviceIds: readonly string[], startMs: number): AnomalyEvent[] {
  return (s.events ?? []).map((e) => {
    const deviceId = deviceIds[deviceIndex(e, deviceIds)];
    const atMs = typeof e.at === 'number' ? startMs + e.at * 1000 : zonedTime(e.at);
    return {
      deviceId,
      type: e.type,
      atMs,
      durationMs: e.duration === undefined ? undefined : e.duration * 1000,
      magnitude: e.magnitude,
    };
  });
}
