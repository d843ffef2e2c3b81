/**
 * Pure thermostat model: one room, one heater, one sensor.
 *
 * Room temperature T follows Newton cooling towards the outdoor temperature plus heater power while the heater is on:
 *   dT/dt = -loss · (T − outdoor(t)) + (heating ? power : 0)        [°C per hour]
 * The thermostat switches with hysteresis around its setpoint (on below setpoint − h/2, off above setpoint + h/2),
 * with an optional night setback. A setpoint held remotely (hold(), the twin's desired setpoint on the azure transport)
 * replaces the schedule and adds cooling and a fast recovery stage (see hold()). The outdoor temperature has a diurnal sine (coldest ~03:00, warmest ~15:00 UTC).
 * The sensor adds a calibration offset and Gaussian noise, then quantises to 0.1 °C.
 *
 * Time is passed in (simulated epoch ms); nothing here reads the clock or Math.random.
 */
import { createRandom, deriveSeed, type Random } from './random.ts';

export interface DeviceParams {
  deviceId: string;
  /** Daytime setpoint, °C. */
  setpoint: number;
  /** Hysteresis band width, °C. */
  hysteresis: number;
  /** Night setback (23:00–06:00 UTC), °C subtracted from the setpoint; 0 = none. */
  setback: number;
  /** Heat loss coefficient, 1/h. */
  lossPerHour: number;
  /** Heater power, °C/h. */
  heatPerHour: number;
  outdoorMean: number;
  outdoorAmplitude: number;
  /** Relative humidity at the setpoint, %RH. */
  humidityBase: number;
  /** Sensor noise standard deviation, °C. */
  noiseSd: number;
  /** Sensor calibration offset, °C. */
  calibration: number;
  /** Initial room temperature, °C. */
  initialTemperature: number;
}

export interface Sample {
  /** Measured temperature, °C, quantised to 0.1. */
  temperature: number;
  /** Measured relative humidity, %RH, quantised to 0.1. */
  humidity: number;
  /** True room temperature (before the sensor), °C. */
  room: number;
  /** Heater state at this instant. */
  heating: boolean;
}

export interface Thermostat {
  readonly params: DeviceParams;
  /** Advances the room to `tMs` (monotonic; earlier times are treated as "now") and reads the sensor. */
  sample(tMs: number): Sample;
  /**
   * A setpoint set remotely (the twin's desired `setpoint`, °C), held from the next sample on: it replaces the daily
   * schedule (no night setback), the HVAC heats or cools at its recovery rate until the room reaches it, then keeps
   * it with hysteresis, heating or cooling.
   */
  hold(setpoint: number): void;
  /** The held setpoint, if any. */
  readonly held: number | undefined;
}

const HOUR_MS = 3_600_000;
/** Largest integration step, ms: small against the heater cycle (minutes), cheap for sparse readings. */
const MAX_STEP_MS = 15_000;
/** Step while recovering to a held setpoint: small against the recovery rate (0.5 °C per 5 s). */
const RECOVERY_STEP_MS = 5_000;
/**
 * The HVAC's recovery stage (forced air, °C per hour = 6 °C per minute): after a remote setpoint change the room air
 * reaches the new setpoint within a minute of simulated time for changes up to ~6 °C.
 */
export const RECOVERY_PER_HOUR = 360;

/** Per-device parameters, all derived from the fleet seed and the device id. */
export function deviceParams(seed: number, deviceId: string): DeviceParams {
  const rng = createRandom(deriveSeed(seed, `params:${deviceId}`));
  const setpoint = round(rng.range(19, 23), 0.5);
  const outdoorMean = rng.range(-2, 12);
  const lossPerHour = rng.range(0.15, 0.4);
  // Enough power to beat the coldest night with margin, so every device actually cycles.
  const heatPerHour = lossPerHour * (setpoint + 3 - (outdoorMean - 6)) * rng.range(1.5, 2.5);
  return {
    deviceId,
    setpoint,
    hysteresis: rng.range(0.4, 1.0),
    setback: rng.chance(0.5) ? round(rng.range(1.5, 3), 0.5) : 0,
    lossPerHour,
    heatPerHour,
    outdoorMean,
    outdoorAmplitude: rng.range(2, 6),
    humidityBase: rng.range(32, 55),
    noiseSd: rng.range(0.03, 0.1),
    calibration: rng.range(-0.3, 0.3),
    initialTemperature: setpoint + rng.range(-1.5, 1),
  };
}

export function outdoorTemperature(p: DeviceParams, tMs: number): number {
  const hour = (tMs % (24 * HOUR_MS)) / HOUR_MS;
  return p.outdoorMean + p.outdoorAmplitude * Math.sin((2 * Math.PI * (hour - 9)) / 24);
}

export function effectiveSetpoint(p: DeviceParams, tMs: number): number {
  const hour = (tMs % (24 * HOUR_MS)) / HOUR_MS;
  const night = hour >= 23 || hour < 6;
  return night ? p.setpoint - p.setback : p.setpoint;
}

export function createThermostat(params: DeviceParams, seed: number): Thermostat {
  const noise: Random = createRandom(deriveSeed(seed, `noise:${params.deviceId}`));
  let room = params.initialTemperature;
  let heating = room < params.setpoint;
  let lastMs: number | undefined;
  let humidityDrift = 0;
  // Set by hold(): the remote setpoint, the cooling stage, and the recovery direction (+1 heat, −1 cool, 0 done).
  let held: number | undefined;
  let cooling = false;
  let recovering = 0;

  function control(tMs: number): void {
    if (held !== undefined) return controlHeld(held);
    const target = effectiveSetpoint(params, tMs);
    const half = params.hysteresis / 2;
    if (heating && room > target + half) heating = false;
    else if (!heating && room < target - half) heating = true;
  }

  /** Heat-and-cool control around a held setpoint (the heat-only control above is the model without one). */
  function controlHeld(target: number): void {
    if (recovering !== 0 && (room - target) * recovering >= 0) recovering = 0;
    const half = params.hysteresis / 2;
    if (heating && room > target + half) heating = false;
    else if (!heating && room < target - half) heating = true;
    if (cooling && room < target - half) cooling = false;
    else if (!cooling && room > target + half) cooling = true;
    if (heating && cooling) cooling = false;
  }

  function hvacPerHour(): number {
    if (recovering !== 0) return recovering * RECOVERY_PER_HOUR;
    return heating ? params.heatPerHour : cooling ? -params.heatPerHour : 0;
  }

  function advance(tMs: number): void {
    if (lastMs === undefined) {
      lastMs = tMs;
      control(tMs);
      return;
    }
    while (lastMs < tMs) {
      const stepMs = Math.min(recovering !== 0 ? RECOVERY_STEP_MS : MAX_STEP_MS, tMs - lastMs);
      const h = stepMs / HOUR_MS;
      const dT = -params.lossPerHour * (room - outdoorTemperature(params, lastMs)) + hvacPerHour();
      room += dT * h;
      // Recovery stops at the setpoint instead of overshooting it within a step.
      if (recovering !== 0 && held !== undefined && (room - held) * recovering > 0) room = held;
      lastMs += stepMs;
      control(lastMs);
    }
  }

  return {
    params,
    sample(tMs) {
      advance(tMs);
      const temperature = round(room + params.calibration + noise.normal(0, params.noiseSd), 0.1);
      // Humidity: slow random walk around the base; warmer air holds more water, so RH falls ~3 %/°C.
      humidityDrift = clamp(humidityDrift + noise.normal(0, 0.05), -5, 5);
      const rh = params.humidityBase + humidityDrift - 3 * (room - params.setpoint) + noise.normal(0, 0.3);
      return { temperature, humidity: round(clamp(rh, 5, 95), 0.1), room, heating };
    },
    hold(setpoint) {
      held = setpoint;
      recovering = Math.abs(room - setpoint) <= params.hysteresis / 2 ? 0 : Math.sign(setpoint - room);
      heating = recovering > 0;
      cooling = recovering < 0;
    },
    get held() {
      return held;
    },
  };
}

/** Rounds to a multiple of `step` without binary-fraction residue (21.4, not 21.400000000000002). */
export function round(x: number, step: number): number {
  const inv = Math.round(1 / step);
  return Math.round(x * inv) / inv;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
