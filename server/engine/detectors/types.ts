/**
 * What every anomaly detector shares: the anomaly types, the record a detector emits, and the configuration.
 * Detectors are pure per-device state machines on the event-time axis; the telemetry job composes them.
 */

/** Stable strings (API values, column values). The index is the slot in the per-window counts. */
export const ANOMALY_TYPES = ['threshold', 'spike', 'dip', 'stuck', 'drift', 'rate', 'dropout'] as const;
export type AnomalyType = (typeof ANOMALY_TYPES)[number];
export const TYPE_INDEX: Readonly<Record<AnomalyType, number>> = Object.fromEntries(
  ANOMALY_TYPES.map((t, i) => [t, i]),
) as Record<AnomalyType, number>;

/** Interval anomalies have a start and, once closed, an end; the others are one reading. */
export const INTERVAL_TYPES: readonly AnomalyType[] = ['stuck', 'drift', 'dropout'];

/**
 * One anomaly. An interval anomaly's identity is (deviceId, type, ts): it is emitted when it opens (end null) and
 * again when it closes (end set), and the store keeps one row. Each point anomaly is a row of its own, even when
 * several share (deviceId, type, ts) (the store numbers them: StoredAnomaly).
 */
export interface Anomaly {
  deviceId: string;
  type: AnomalyType;
  /** Event time the anomaly is dated at: the reading's ts, or an interval's start (a dropout: when the device was due). */
  ts: number;
  /** How far past its threshold, in the detector's own unit (robust z-score, CUSUM statistic, multiples of the interval…). */
  score: number;
  /** The reading's value (°C); for drift the smoothed value; null for a dropout. */
  value: number | null;
  /** What the detector expected instead (°C; for a dropout the learned interval in ms). */
  expected: number | null;
  /** The limit the value crossed, in the same unit as value/expected. */
  threshold: number | null;
  /** Interval anomalies: first and last event time; end is null while it lasts. Point anomalies: both null. */
  start: number | null;
  end: number | null;
  /** Event time at which it was detected: the reading that revealed it, or the watermark (dropout). */
  detectedAt: number;
  /**
   * An interval found and closed by the same reading (a dropout the watermark had not reached when the device came
   * back): never reported open, so it counts in the windows now. Other closed intervals were counted as they opened.
   */
  raisedClosed?: true;
}

export interface ThresholdLimits {
  readonly min: number;
  readonly max: number;
}

export interface DetectorConfig {
  /** Readings a device must have sent before its statistical detectors flag anything. */
  readonly warmupReadings: number;
  readonly threshold: ThresholdLimits & { readonly enabled: boolean; readonly devices: Readonly<Record<string, Partial<ThresholdLimits>>> };
  readonly spike: { readonly enabled: boolean; readonly history: number; readonly sensitivity: number; readonly minScale: number };
  readonly stuck: { readonly enabled: boolean; readonly minReadings: number; readonly runFactor: number; readonly tolerance: number };
  readonly drift: {
    readonly enabled: boolean;
    readonly memoryReadings: number;
    readonly memoryMs: number;
    readonly slack: number;
    readonly threshold: number;
  };
  readonly rate: { readonly enabled: boolean; readonly maxPerMinute: number };
  readonly dropout: { readonly enabled: boolean; readonly factor: number; readonly minSilenceMs: number };
}

/** The per-device baseline the statistical detectors share, learned from the device's own readings. */
export interface Baseline {
  /** Readings seen in event-time order. */
  readonly n: number;
  /** Rolling median of the recent history, °C. */
  readonly median: number;
  /** Robust noise scale (°C, ≥ spike.minScale): max(1.4826·MAD of the history, long-run mean absolute residual). */
  readonly scale: number;
}
