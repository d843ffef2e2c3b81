/**
 * Per-reading anomaly rules. Pure and cheap: they run on the hot path once per reading.
 * For now one rule, a reading outside the plausible indoor range; the analytics step adds statistical detectors.
 */
export const PLAUSIBLE_MIN_C = -20;
export const PLAUSIBLE_MAX_C = 50;

export type AnomalyType = 'out_of_range';

export function detectAnomaly(temperature: number): AnomalyType | null {
  return temperature < PLAUSIBLE_MIN_C || temperature > PLAUSIBLE_MAX_C ? 'out_of_range' : null;
}
