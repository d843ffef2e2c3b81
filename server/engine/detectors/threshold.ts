/**
 * Threshold: a reading outside the configured [min, max] (global, or per device). Needs no baseline, so it flags
 * from a device's first reading; it has no state of its own.
 */
import type { Anomaly, DetectorConfig, ThresholdLimits } from './types.ts';

/**
 * The limits of the devices configured with their own, completed with the global ones where one is left out. Any
 * other device is judged by the global limits (`config` itself): no limits object per device.
 */
export function ownLimits(config: DetectorConfig['threshold']): Map<string, ThresholdLimits> {
  return new Map(Object.entries(config.devices).map(([id, own]) => [id, { min: own?.min ?? config.min, max: own?.max ?? config.max }]));
}

export function checkThreshold(deviceId: string, ts: number, x: number, limits: ThresholdLimits, out: Anomaly[]): void {
  if (x >= limits.min && x <= limits.max) return;
  const threshold = x > limits.max ? limits.max : limits.min;
  out.push({
    deviceId, type: 'threshold', ts, score: decimalDifference(x, threshold), value: x, expected: null, threshold,
    start: null, end: null, detectedAt: ts,
  });
}

/** Digits after the point in a number's shortest form: 50.3 → 1, 50 → 0, 1.5e-7 → 8. */
function decimals(n: number): number {
  const [mantissa, exponent = '0'] = String(n).split('e');
  return Math.max(0, (mantissa.split('.')[1]?.length ?? 0) - Number(exponent));
}

/**
 * |x − limit| to the decimals of its operands, which it has exactly: the binary difference carries noise
 * (50.3 − 50 is 0.29999999999999716), and the score is shown as the 0.3 °C it is.
 */
function decimalDifference(x: number, limit: number): number {
  return Number(Math.abs(x - limit).toFixed(Math.min(100, Math.max(decimals(x), decimals(limit)))));
}
