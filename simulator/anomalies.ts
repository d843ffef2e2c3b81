/**
 * Anomaly injection on top of the model's sensor readings, with ground truth.
 *
 * - spike / dip: one reading jumps up / down by `magnitude` °C.
 * - stuck: the sensor repeats its last value for `duration`.
 * - drift: an offset grows linearly from 0 to ±`magnitude` °C over `duration`, then disappears (recalibration).
 * - dropout: the device sends nothing for `duration` (its seq does not advance).
 *
 * Random anomalies start with probability rate × Δt per reading (a Poisson process in simulated time, one anomaly at a
 * time per device); scenario events start at a fixed simulated time. All randomness comes from the seed.
 */
import { createRandom, deriveSeed, type Random } from './random.ts';
import { round } from './model.ts';

export const ANOMALY_TYPES = ['spike', 'dip', 'stuck', 'drift', 'dropout'] as const;
export type AnomalyType = (typeof ANOMALY_TYPES)[number];

/** A count per anomaly type, every one 0. */
export const noAnomalies = (): Record<AnomalyType, number> => Object.fromEntries(ANOMALY_TYPES.map((t) => [t, 0])) as Record<AnomalyType, number>;

/** A scheduled anomaly (from a scenario file), times in simulated epoch ms. */
export interface AnomalyEvent {
  deviceId: string;
  type: AnomalyType;
  atMs: number;
  /** Simulated duration, ms (ignored for spike/dip). */
  durationMs?: number;
  /** °C: spike/dip jump, drift final offset (sign kept); ignored for stuck/dropout. */
  magnitude?: number;
}

/** One ground-truth line (--truth file). Times are ISO 8601 UTC; start/end are the first/last affected reading. */
export interface TruthRecord {
  deviceId: string;
  type: AnomalyType;
  start: string;
  end: string;
  /** Temperatures actually emitted while the anomaly was active (empty for dropout). */
  values: number[];
  /** Sequence numbers of those readings (empty for dropout). */
  seqs: number[];
  /** spike/dip: jump (°C, signed); drift: final offset (°C, signed); stuck: the stuck value; dropout: readings skipped. */
  magnitude: number;
  /** True when the anomaly was cut short by the end of the run. */
  truncated?: boolean;
}

/** Default simulated durations, ms: long enough to see at a glance on the dashboard, short enough for a demo. */
const DURATION_MS: Record<AnomalyType, [number, number]> = {
  spike: [0, 0],
  dip: [0, 0],
  stuck: [120_000, 600_000],
  drift: [600_000, 1_800_000],
  dropout: [60_000, 300_000],
};

interface Active {
  type: AnomalyType;
  startMs: number;
  endMs: number;
  magnitude: number;
  first?: number;
  last?: number;
  values: number[];
  seqs: number[];
  skipped: number;
}

export interface AnomalyInjectorOptions {
  seed: number;
  deviceId: string;
  /** Random anomalies per device per simulated hour; 0 = none. */
  ratePerHour: number;
  types: readonly AnomalyType[];
  /** Scenario events for this device, sorted by atMs. */
  events: readonly AnomalyEvent[];
  onTruth: (record: TruthRecord) => void;
  onStart: (type: AnomalyType) => void;
}

export interface AnomalyInjector {
  /**
   * Applies the active anomaly to a reading at simulated time tMs whose clean value is `temperature`.
   * Returns the temperature to emit, or undefined when the device is silent (dropout).
   */
  apply(tMs: number, temperature: number): number | undefined;
  /** Records the seq that the reading just emitted got (called after apply returned a value). */
  emitted(seq: number): void;
  /** Ends any active anomaly at the end of the run. */
  finish(): void;
}

export function createAnomalyInjector(o: AnomalyInjectorOptions): AnomalyInjector {
  const rng: Random = createRandom(deriveSeed(o.seed, `anomalies:${o.deviceId}`));
  let active: Active | undefined;
  let eventIndex = 0;
  let lastMs: number | undefined;
  let lastEmitted: number | undefined;
  let pendingSeqFor: Active | undefined;

  function begin(type: AnomalyType, tMs: number, durationMs?: number, magnitude?: number): Active {
    const [lo, hi] = DURATION_MS[type];
    const duration = durationMs ?? (hi > 0 ? Math.round(rng.range(lo, hi)) : 0);
    let mag = magnitude ?? 0;
    if (magnitude === undefined) {
      if (type === 'spike') mag = round(rng.range(6, 15), 0.1);
      else if (type === 'dip') mag = -round(rng.range(6, 15), 0.1);
      else if (type === 'drift') mag = round(rng.range(2, 5), 0.1) * (rng.chance(0.5) ? 1 : -1);
    } else if (type === 'dip') {
      mag = -Math.abs(magnitude);
    } else if (type === 'spike') {
      mag = Math.abs(magnitude);
    }
    o.onStart(type);
    return { type, startMs: tMs, endMs: tMs + duration, magnitude: mag, values: [], seqs: [], skipped: 0 };
  }

  function end(a: Active, truncated: boolean): void {
    const first = a.first ?? a.startMs;
    const last = a.last ?? first;
    const magnitude = a.type === 'dropout' ? a.skipped : a.type === 'stuck' ? (a.values[0] ?? 0) : a.magnitude;
    const record: TruthRecord = {
      deviceId: o.deviceId,
      type: a.type,
      start: new Date(first).toISOString(),
      end: new Date(last).toISOString(),
      values: a.values,
      seqs: a.seqs,
      magnitude,
    };
    if (truncated) record.truncated = true;
    o.onTruth(record);
  }

  return {
    apply(tMs, temperature) {
      const dtMs = lastMs === undefined ? 0 : Math.max(0, tMs - lastMs);
      lastMs = tMs;
      // A one-reading anomaly (spike/dip) is over once its reading has been emitted.
      const oneShot = active !== undefined && (active.type === 'spike' || active.type === 'dip');
      if (active !== undefined && (tMs > active.endMs || (oneShot && active.values.length > 0))) {
        end(active, false);
        active = undefined;
      }
      if (active === undefined) {
        const event = o.events[eventIndex];
        if (event !== undefined && event.atMs <= tMs) {
          eventIndex++;
          active = begin(event.type, tMs, event.durationMs, event.magnitude);
        } else if (o.ratePerHour > 0 && o.types.length > 0 && rng.chance((o.ratePerHour * dtMs) / 3_600_000)) {
          active = begin(rng.pick(o.types), tMs);
        }
      }
      if (active === undefined) {
        lastEmitted = temperature;
        return temperature;
      }
      const a = active;
      a.first ??= tMs;
      a.last = tMs;
      if (a.type === 'dropout') {
        a.skipped++;
        return undefined;
      }
      let value: number;
      switch (a.type) {
        case 'spike':
        case 'dip':
          value = round(temperature + a.magnitude, 0.1);
          break;
        case 'stuck':
          value = a.values[0] ?? lastEmitted ?? temperature;
          break;
        case 'drift': {
          const span = Math.max(1, a.endMs - a.startMs);
          value = round(temperature + (a.magnitude * (tMs - a.startMs)) / span, 0.1);
          break;
        }
      }
      a.values.push(value);
      pendingSeqFor = a;
      lastEmitted = value;
      return value;
    },
    emitted(seq) {
      if (pendingSeqFor !== undefined) {
        pendingSeqFor.seqs.push(seq);
        pendingSeqFor = undefined;
      }
    },
    finish() {
      if (active !== undefined) {
        end(active, (active.last ?? active.startMs) < active.endMs);
        active = undefined;
      }
    },
  };
}
