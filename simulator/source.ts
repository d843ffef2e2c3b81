/**
 * The fleet's reading schedule: slot n (0, 1, 2, …) belongs to device n mod D and is due at wall offset n / rate s,
 * with simulated time start + n · speedup / rate s. Pure and deterministic: the same options give the same readings
 * whether they are published, written to a file, or inspected by a test.
 */
import { createAnomalyInjector, noAnomalies, type AnomalyEvent, type AnomalyInjector, type AnomalyType, type TruthRecord } from './anomalies.ts';
import { createThermostat, deviceParams, type Sample, type Thermostat } from './model.ts';
import type { Reading } from './reading.ts';

export interface SourceOptions {
  seed: number;
  deviceIds: readonly string[];
  /** Readings per second over the whole fleet. */
  rate: number;
  /** Simulated seconds per wall-clock second. */
  speedup: number;
  /** Simulated time of slot 0, epoch ms. */
  startMs: number;
  /** Random anomalies per device per simulated hour. */
  anomalyRate: number;
  anomalyTypes: readonly AnomalyType[];
  events: readonly AnomalyEvent[];
  onTruth?: (record: TruthRecord) => void;
}

export interface Source {
  /** Next slot to generate. */
  readonly position: number;
  /** Wall-clock offset (ms from the start of the run) at which slot n is due. */
  dueAtMs(n: number): number;
  /** Simulated time of slot n, epoch ms. */
  simTimeMs(n: number): number;
  /** Generates the next slot: a reading, or undefined when its device is in a dropout. */
  next(): Reading | undefined;
  /** The model sample behind the last slot (clean values, heater state), for tests. */
  readonly lastSample: Sample | undefined;
  readonly anomalies: Readonly<Record<AnomalyType, number>>;
  /** Closes active anomalies (writing their ground truth). */
  finish(): void;
  /**
   * Holds a device's model at `setpoint` °C (a remote setpoint) from the next slot on; returns that slot's simulated
   * time (epoch ms), when it takes effect. False for an unknown device.
   */
  hold(deviceId: string, setpoint: number): number | false;
}

interface Device {
  id: string;
  model: Thermostat;
  anomalies: AnomalyInjector;
  seq: number;
}

export function createSource(o: SourceOptions): Source {
  const counts = noAnomalies();
  const onTruth = o.onTruth ?? (() => {});
  const devices: Device[] = o.deviceIds.map((id) => ({
    id,
    model: createThermostat(deviceParams(o.seed, id), o.seed),
    anomalies: createAnomalyInjector({
      seed: o.seed,
      deviceId: id,
      ratePerHour: o.anomalyRate,
      types: o.anomalyTypes,
      events: o.events.filter((e) => e.deviceId === id).sort((a, b) => a.atMs - b.atMs),
      onTruth,
      onStart: (type) => counts[type]++,
    }),
    seq: 0,
  }));
  const byId = new Map(devices.map((d) => [d.id, d]));
  let position = 0;
  let lastSample: Sample | undefined;
  const simMsPerSlot = (1000 * o.speedup) / o.rate;

  return {
    get position() {
      return position;
    },
    dueAtMs: (n) => (n * 1000) / o.rate,
    simTimeMs: (n) => o.startMs + Math.floor(n * simMsPerSlot),
    next() {
      const n = position++;
      const device = devices[n % devices.length] as Device;
      const ts = o.startMs + Math.floor(n * simMsPerSlot);
      const sample = device.model.sample(ts);
      lastSample = sample;
      const temperature = device.anomalies.apply(ts, sample.temperature);
      if (temperature === undefined) return undefined;
      const seq = ++device.seq;
      device.anomalies.emitted(seq);
      return { deviceId: device.id, ts, temperature, humidity: sample.humidity, seq };
    },
    get lastSample() {
      return lastSample;
    },
    anomalies: counts,
    finish() {
      for (const d of devices) d.anomalies.finish();
    },
    hold(deviceId, setpoint) {
      const device = byId.get(deviceId);
      if (device === undefined) return false;
      device.model.hold(setpoint);
      return o.startMs + Math.floor(position * simMsPerSlot);
    },
  };
}
