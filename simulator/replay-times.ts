/**
 * --replay: a recording's times as the server takes them (ISO 8601 with a zone, or epoch milliseconds) — read in the
 * zone --ts-zone names, from the unit --ts-unit names, or (replay-ts-format.ts) as --ts-format writes them — and what
 * the run says before it starts of the times the server would refuse as they are.
 */
import { looksLikeEpochSeconds } from '../server/ingest/reading-rules.ts';
import { invalidOption } from './errors.ts';
import type { ReplayInput } from './replay-fields.ts';
import { formatsOf, isDayOrMonthFirst, readTsFormat } from './replay-ts-format.ts';
import type { Reading } from './reading.ts';

/** A zone: a fixed offset (minutes east of UTC) or an IANA name, whose offset depends on the date. */
export type Zone = { offset: number } | { name: string; format: Intl.DateTimeFormat; offsets: Map<number, number> };

const OFFSET = /^([+-])(\d{2})(?::?(\d{2}))?$/;

/** --ts-zone's zone: UTC (or Z), an offset (+01:00, -0500), or an IANA name, whose offsets Intl knows. */
export function parseZone(text: string): Zone {
  if (text === 'UTC' || text === 'Z') return { offset: 0 };
  const m = OFFSET.exec(text);
  if (m !== null && Number(m[2]) <= 14 && Number(m[3] ?? 0) < 60) return { offset: (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0)) };
  try {
    const format = new Intl.DateTimeFormat('en-US', { timeZone: text, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    if (m === null) return { name: text, format, offsets: new Map() };
  } catch {
    // not a zone Intl knows
  }
  throw invalidOption('ts-zone', text, 'UTC, an offset such as +01:00 or -0500, or an IANA time zone such as Europe/Berlin');
}

/** ISO 8601 date and time without a zone: `2024-03-01 10:00:00`, `2024-03-01T10:00`, `…:00.250`. */
const ZONELESS = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)$/;

/**
 * A time with a zone, written otherwise than ISO 8601's `2024-03-01T10:00:00+00:00` as exports write it: a space for
 * the T (as RFC 3339 allows, and pandas writes), a space before the zone, or the zone as UTC or GMT (ThingSpeak's and
 * MySQL's `2024-03-01 10:00:00 UTC`).
 */
const SPACED = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?) ?(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$/i;

/** The units --ts-unit names: a recording's numeric times in epoch seconds, milliseconds, microseconds or nanoseconds. */
export type TsUnit = 's' | 'ms' | 'us' | 'ns';
const TS_UNITS: Record<TsUnit, string> = { s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds' };
export const isTsUnit = (u: string): u is TsUnit => Object.hasOwn(TS_UNITS, u);
export const tsUnitName = (u: TsUnit): string => TS_UNITS[u];

/** A numeric time in `unit` as epoch ms, rounded to the millisecond. */
function toEpochMs(ts: number, unit: TsUnit): number {
  return Math.round(unit === 's' ? ts * 1000 : unit === 'us' ? ts / 1e3 : unit === 'ns' ? ts / 1e6 : ts);
}

/**
 * The unit a numeric time of 2000–2099 is in, by its size (1.7e9 seconds, 1.7e12 ms, 1.7e15 µs, 1.7e18 ns), or null:
 * what the warnings name and --ts-unit is checked against, never what a record is read as.
 */
export function apparentTsUnit(ts: unknown): TsUnit | null {
  if (typeof ts !== 'number') return null;
  if (looksLikeEpochSeconds(ts)) return 's';
  for (const [unit, scale] of [['ms', 1e3], ['us', 1e6], ['ns', 1e9]] as const) if (looksLikeEpochSeconds(ts / scale)) return unit;
  return null;
}

/**
 * The record's ts as --ts-zone and --ts-unit say to read it (a zoneless time gets its zone; seconds become ms). A time
 * with a zone written otherwise (SPACED) gets ISO 8601's form: the same time, in the form the server takes (it refuses
 * the others).
 */
export function convertTs(o: Record<string, unknown>, input: ReplayInput): string | undefined {
  const ts = o.ts;
  if (input.tsFormat !== undefined && (typeof ts === 'string' || typeof ts === 'number')) {
    // --ts-format (and --ts-zone, which it needs): every ts is written so, and one that is not is refused.
    const wall = readTsFormat(input.tsFormat, String(ts).trim());
    if (typeof wall === 'string') return wall;
    o.ts = zoned(input.tsZone!, wall.date, wall.time);
  } else if (typeof ts === 'number' && input.tsUnit !== 'ms' && Number.isFinite(ts)) o.ts = toEpochMs(ts, input.tsUnit);
  else if (typeof ts === 'string') {
    const spaced = SPACED.exec(ts);
    if (spaced !== null) o.ts = `${spaced[1]}T${spaced[2]}${/^(UTC|GMT)$/i.test(spaced[3]) ? 'Z' : spaced[3]}`;
    const m = input.tsZone === undefined ? null : ZONELESS.exec(ts.trim());
    if (m !== null) o.ts = zoned(input.tsZone!, m[1], m[2]);
  }
  return undefined;
}

/**
 * The wall time with the zone's offset at it, as ±hh:mm (Z for UTC). An offset with seconds (a local mean time, such
 * as Monrovia's -00:44:30 until 1972), which ±hh:mm cannot say and the server takes no other way, gives the time in
 * UTC instead, its fraction of a second as written.
 */
function zoned(zone: Zone, date: string, time: string): string {
  const wall = Date.parse(`${date}T${time}Z`);
  const offset = 'offset' in zone ? zone.offset * 60_000 : cachedOffset(zone, wall);
  if (offset % 60_000 !== 0) {
    const utc = new Date(Math.floor(wall / 1000) * 1000 - offset).toISOString().slice(0, 19);
    return `${utc}${/\.\d+$/.exec(time)?.[0] ?? ''}Z`;
  }
  const minutes = offset / 60_000;
  if (minutes === 0) return `${date}T${time}Z`;
  const a = Math.abs(minutes);
  return `${date}T${time}${minutes < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** A quarter hour of wall time: the slots the offsets are cached by. */
const SLOT_MS = 900_000;

/**
 * Most zones' offsets change at whole or half hours of wall time, so one lookup per quarter hour serves every record
 * in it (a lookup takes 16 µs). Not all: a local mean time ended at 12:03:58 (New York, 1883) or skipped 44 min 30 s
 * (Monrovia, 1972). A slot is cached only when its first and last moments have the same offset; one with a change in
 * it (NaN) is looked up record by record. (Two changes within a quarter hour, back and forth, no zone has had.)
 */
function cachedOffset(zone: Extract<Zone, { name: string }>, wall: number): number {
  const slot = Math.floor(wall / SLOT_MS);
  let offset = zone.offsets.get(slot);
  if (offset === undefined) {
    const first = wallOffset(zone.format, slot * SLOT_MS);
    offset = first === wallOffset(zone.format, (slot + 1) * SLOT_MS - 1) ? first : NaN;
    zone.offsets.set(slot, offset);
  }
  return Number.isNaN(offset) ? wallOffset(zone.format, wall) : offset;
}

/**
 * The offset (ms, whole seconds) of an IANA zone at a wall time (its digits read as UTC), as java.time and Temporal's
 * "compatible" read one: a time that a change to winter time repeats is the first (summer-time) one; a time that the
 * change to summer time skips is moved forward by the gap.
 */
function wallOffset(format: Intl.DateTimeFormat, wall: number): number {
  if (!Number.isFinite(wall)) return 0; // no such date: sent with Z, the server refuses it as no date
  const at = (t: number) => {
    const p = Object.fromEntries(format.formatToParts(new Date(t)).map((x) => [x.type, Number(x.value)]));
    return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - (t - (((t % 1000) + 1000) % 1000));
  };
  const before = at(wall - 86_400_000);
  const after = at(wall + 86_400_000);
  const fits = [before, after].filter((o) => at(wall - o) === o);
  return fits.length === 0 ? before : Math.max(...fits);
}

const isZoneless = (ts: unknown): boolean => typeof ts === 'string' && ZONELESS.test(ts.trim());
/** A numeric ts the size of epoch seconds, µs or ns: the server refuses it as it is, --ts-unit would read it. */
const inOtherUnit = (ts: unknown): boolean => {
  const unit = apparentTsUnit(ts);
  return unit !== null && unit !== 'ms';
};
/** Epoch ms before 2000 (and not epoch seconds, which the server refuses): a time of 1970 to the server. */
const isCount = (ts: unknown): boolean => typeof ts === 'number' && ts >= 0 && ts < Date.UTC(2000, 0, 1) && !looksLikeEpochSeconds(ts);

/** Whether an option would read this ts, which the server refuses as it is (timestampWarnings names the option). */
export const optionReadsTs = (ts: unknown): boolean => isZoneless(ts) || inOtherUnit(ts) || isDayOrMonthFirst(ts);

/**
 * What the run should say before it starts about times the server will refuse that an option would have read: times
 * without a zone (--ts-zone) and numbers that look like epoch seconds, µs or ns (--ts-unit); and numbers it takes as times of
 * 1970, which are counts.
 */
export function timestampWarnings(file: string, records: readonly Reading[]): string[] {
  const zoneless = records.filter((r) => isZoneless(r.recorded?.ts));
  const otherUnit = records.filter((r) => inOtherUnit(r.recorded?.ts));
  const of = (some: readonly Reading[]) => `${some.length.toLocaleString('en-US')} of its ${records.length.toLocaleString('en-US')} records ${some.length === 1 ? 'has' : 'have'}`;
  const first = (some: readonly Reading[]) => `line ${some[0].line}: ${JSON.stringify(some[0].recorded?.ts)}`;
  const warnings: string[] = [];
  if (zoneless.length > 0) {
    warnings.push(`--replay ${file}: ${of(zoneless)} a ts without a zone (${first(zoneless)}), which the server refuses (bad_timestamp): say which zone the recording's times are in with --ts-zone (UTC, +01:00, Europe/Berlin)`);
  }
  const dayOrMonth = records.filter((r) => isDayOrMonthFirst(r.recorded?.ts));
  if (dayOrMonth.length > 0) {
    const [dayFirst, monthFirst] = formatsOf(String(dayOrMonth[0].recorded?.ts));
    warnings.push(
      `--replay ${file}: ${of(dayOrMonth)} a ts whose day and month could be either way round (${first(dayOrMonth)}), which the server refuses (bad_timestamp): ` +
        `say how it is written with --ts-format ${JSON.stringify(dayFirst)} (day first) or ${JSON.stringify(monthFirst)} (month first), and its zone with --ts-zone (UTC, +01:00, Europe/Berlin)`,
    );
  }
  if (otherUnit.length > 0) {
    const unit = apparentTsUnit(otherUnit[0].recorded?.ts)!;
    warnings.push(`--replay ${file}: ${of(otherUnit)} a numeric ts that looks like epoch ${TS_UNITS[unit]} (${first(otherUnit)}), which the server refuses (${unit === 'us' ? 'future_timestamp' : 'bad_timestamp'}): if the recording's times are in ${TS_UNITS[unit]}, say so with --ts-unit ${unit}`);
  }
  // A count (a reading number, an Arduino's millis()) mapped as ts: the server takes it, as a time of 1970.
  const counts = records.filter((r) => isCount(r.recorded?.ts));
  if (counts.length > 0) {
    const ts = counts[0].recorded?.ts as number; // as sent: the file's, or --ts-unit's reading of it
    warnings.push(
      `--replay ${file}: ${of(counts)} a numeric ts before 2000 (line ${counts[0].line}: ${String(counts[0].tsAsRecorded ?? ts)}, ${new Date(ts).toISOString()} as the epoch milliseconds the server takes it for): ` +
        'a count from the start of a log (a reading number, millis()) is no time: map ts to a column of times, or leave it out (the server dates each record at its arrival)',
    );
  }
  return warnings;
}
