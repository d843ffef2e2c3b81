/**
 * Threshold: a reading outside the configured [min, max] (global, or per device). Needs no baseline, so it flags
 * from a device's first reading; it has no state of its own.
 */
import type { Anomaly, DetectorConfig, ThresholdLimits } from './types.ts';

/** The limits for one device: its own where configured, the global ones otherwise. */
export function limitsFor(config: DetectorConfig['threshold'], deviceId: string): ThresholdLimits {
  const own = config.devices[deviceId];
  return { min: own?.min ?? config.min, max: own?.max ?? config.max };
}

export function checkThreshold(deviceId: string, ts: number, x: number, limits: ThresholdLimits, out: Anomaly[]): void {
  if (x >= limits.min && x <= limits.max) return;
  const threshold = x > limits.max ? limits.max : limits.min;
  out.push({
    deviceId, type: 'threshold', ts, score: Math.abs(x - threshold), value: x, expected: null, threshold,
    start: null, end: null, detectedAt: ts,
  });
}
