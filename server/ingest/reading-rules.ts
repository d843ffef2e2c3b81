/** What a reading's fields must meet (DESIGN.md's payload contract), shared by both decode paths. */

/** The zone: `Z`, or an offset `+01:00`, `+0100` or `+01` (ISO 8601 writes a whole hour's offset as ±hh too). */
export const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Epoch ms of text that starts with a date YYYY-MM-DD (the form checked by the caller's pattern), or NaN when that
 * day does not exist: Date.parse rolls 2026-02-30 over to 2 March instead of refusing it.
 */
export function parseIsoDate(text: string): number {
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
  if (days === undefined || day < 1 || day > days) return NaN;
  // Date.parse reads ±hh:mm and ±hhmm but not ±hh alone: a time (longer than a date) ending in ±hh gets its :00.
  const sign = text.charCodeAt(text.length - 3);
  return Date.parse(text.length > 10 && (sign === 43 || sign === 45) ? `${text}:00` : text);
}

function digitsAt(text: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) n = n * 10 + text.charCodeAt(i) - 48;
  return n;
}
/** The range a temperature sensor can report (°C); beyond it a value is an encoding error, not an anomaly. */
export const TEMPERATURE_RANGE = [-273.15, 1000] as const;
/** IoT Hub's limit for a message id. */
export const MAX_MESSAGE_ID = 128;
/** Epoch milliseconds that a Date can hold. */
export const MAX_EPOCH_MS = 8.64e15;

/**
 * A numeric ts from 946,684,800 up to 4,102,444,800 is a time of 2000–2099 in epoch seconds, a common mistake; read
 * as the contract's milliseconds it would be a reading of January 1970, which no thermostat sends. Such a reading is
 * refused, naming the mistake, rather than accepted as hopelessly late.
 */
export function looksLikeEpochSeconds(ts: number): boolean {
  return ts >= 946_684_800 && ts < 4_102_444_800;
}
