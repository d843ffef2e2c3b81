/**
 * --replay of a recording made elsewhere (a building-management export, a public dataset, IoT Hub's routing to
 * storage): what its columns (or JSON keys, or paths into them) are called in our terms (--fields), the names of the
 * columns of a file without a header (--columns), the device of a recording of one (--device), the zone its zoneless
 * times are in (--ts-zone), how they are written when not as ISO 8601 (--ts-format, replay-ts-format.ts) and the unit
 * of its numeric times (--ts-unit). Nothing is guessed from the values: without these options a record goes out as
 * recorded (a zoned time written otherwise than ISO 8601, 2024-03-01 10:00:00 UTC, goes as ISO 8601; replay.ts reads
 * a header of semicolons as a decimal-comma CSV), and the run says before it starts which records the server will
 * refuse and which option would say what they mean.
 */
import { looksLikeEpochSeconds } from '../server/ingest/reading-rules.ts';
import { ErrorCodes, invalidOption, SimulatorError } from './errors.ts';
import { formatsOf, isDayOrMonthFirst, parseTsFormat, readTsFormat, type TsFormat } from './replay-ts-format.ts';
import { DEVICE_ID_PATTERN, type Reading } from './reading.ts';

/** Our fields a recording's column can be mapped to (DESIGN.md "Readings", and messageId, which the server takes). */
export const FIELDS = ['deviceId', 'ts', 'temperature', 'humidity', 'seq', 'messageId'] as const;

/** How to read a recording: the options above, checked. */
export interface ReplayInput {
  /** The recording's name for each of our fields it names otherwise (theirs → ours). */
  readonly fields: ReadonlyMap<string, string>;
  /** The zone of zoneless times; undefined: they go as recorded (and the server refuses them). */
  readonly tsZone: Zone | undefined;
  /** How its times are written when not ISO 8601 (replay-ts-format.ts); they are then in tsZone. */
  readonly tsFormat: TsFormat | undefined;
  /** The unit of numeric times: "s" sends them as epoch ms; "ms" (the default) as recorded. */
  readonly tsUnit: TsUnit;
  /** The device of every record (a recording of one device, without a deviceId column). */
  readonly device: string | undefined;
  /** The names of the columns of a file without a header row, in order (--columns). */
  readonly columns: readonly string[] | undefined;
}

export const AS_RECORDED: ReplayInput = { fields: new Map(), tsZone: undefined, tsFormat: undefined, tsUnit: 'ms', device: undefined, columns: undefined };

export interface ReplayInputOptions {
  replay?: string;
  fields?: string | Readonly<Record<string, string>>;
  tsZone?: string;
  tsFormat?: string;
  tsUnit?: string;
  device?: string;
  columns?: string;
}

/** A zone: a fixed offset (minutes east of UTC) or an IANA name, whose offset depends on the date. */
type Zone = { offset: number } | { name: string; format: Intl.DateTimeFormat; offsets: Map<number, number> };

/** Checks the options; each is refused without --replay, naming it, as it would do nothing. */
export function replayInput(o: ReplayInputOptions): ReplayInput {
  const given = ([['fields', o.fields], ['ts-zone', o.tsZone], ['ts-format', o.tsFormat], ['ts-unit', o.tsUnit], ['device', o.device], ['columns', o.columns]] as const).filter(([, v]) => v !== undefined);
  if (o.replay === undefined) {
    if (given.length > 0) throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `option --${given[0][0]} does nothing without --replay (it says how to read a recording): leave it out`);
    return AS_RECORDED;
  }
  if (o.tsUnit !== undefined && !isTsUnit(o.tsUnit)) throw invalidOption('ts-unit', o.tsUnit, 's, ms, us or ns (the unit of the recording\'s numeric times)');
  const fields = parseFields(o.fields);
  if (o.tsFormat !== undefined && o.tsUnit !== undefined && o.tsUnit !== 'ms') {
    throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `--ts-unit ${o.tsUnit} reads numeric times, --ts-format written ones: a recording has one kind; leave one out`);
  }
  if (o.tsFormat !== undefined && o.tsZone === undefined) {
    throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, '--ts-format reads times without a zone: give their zone with --ts-zone (UTC, +01:00, Europe/Berlin)');
  }
  const tsFormat = o.tsFormat === undefined ? undefined : parseTsFormat(o.tsFormat);
  if (o.device !== undefined) {
    if (!DEVICE_ID_PATTERN.test(o.device)) throw invalidOption('device', o.device, 'a device id: 1 to 128 of A-Z a-z 0-9 . _ : -');
    const column = [...fields].find(([, field]) => field === 'deviceId')?.[0];
    if (column !== undefined) throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `--device cannot be used with --fields deviceId=${column}: the column names each record's device`);
  }
  const columns = o.columns === undefined ? undefined : parseColumns(o.columns);
  return { fields, tsZone: o.tsZone === undefined ? undefined : parseZone(o.tsZone), tsFormat, tsUnit: o.tsUnit !== undefined && isTsUnit(o.tsUnit) ? o.tsUnit : 'ms', device: o.device, columns };
}

/** `date,time,epoch,moteid`: the names of a headerless file's columns, each once. */
function parseColumns(spec: string): string[] {
  const names = spec.split(',').map((n) => n.trim());
  const expected = 'the names of the columns of a file without a header row, in order, comma-separated, each once';
  const empty = names.findIndex((n) => n === '');
  if (empty >= 0) throw invalidOption('columns', spec, `${expected}; name ${empty + 1} is empty`);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw invalidOption('columns', spec, `${expected}; ${JSON.stringify(twice)} is named twice`);
  return names;
}

/** `deviceId=device_id,ts=timestamp` (or the object { deviceId: 'device_id', … }) as theirs → ours. */
function parseFields(spec: ReplayInputOptions['fields']): ReadonlyMap<string, string> {
  const fields = new Map<string, string>();
  if (spec === undefined) return fields;
  const pairs = typeof spec === 'string' ? spec.split(',').map((p) => p.split('=')) : Object.entries(spec);
  const expected = `FIELD=COLUMN pairs, comma-separated, FIELD one of ${FIELDS.join(', ')}`;
  const ours = new Set<string>();
  for (const pair of pairs) {
    const [field, column] = pair.map((s) => String(s).trim());
    const text = pair.join('=');
    if (pair.length !== 2 || field === '' || column === '') throw invalidOption('fields', spec, `${expected}; ${JSON.stringify(text)} is not FIELD=COLUMN`);
    if (!(FIELDS as readonly string[]).includes(field)) throw invalidOption('fields', spec, `${expected}; ${JSON.stringify(field)} is none of them`);
    if (ours.has(field)) throw invalidOption('fields', spec, `${expected}; ${field} is mapped twice`);
    if (fields.has(column)) throw invalidOption('fields', spec, `${expected}; the column ${JSON.stringify(column)} is mapped twice`);
    ours.add(field);
    fields.set(column, field);
  }
  return fields;
}

const OFFSET = /^([+-])(\d{2})(?::?(\d{2}))?$/;

function parseZone(text: string): Zone {
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

/**
 * The CSV header in our terms: a mapped column under its field's name; a column that already has the name of a field
 * mapped from another column is left out (null: the mapping says which column that field is). A mapped column the
 * header lacks is refused, naming the header's columns.
 */
export function mapHeader(file: string, names: readonly string[], input: ReplayInput): (string | null)[] {
  const theirs = `(its columns: ${names.map((n) => JSON.stringify(n)).join(', ')})`;
  for (const [column, field] of input.fields) {
    const parts = joined(column, names);
    const lacking = parts?.find((p) => !names.includes(p));
    if (parts !== undefined && lacking !== undefined) {
      throw replayError(file, `--fields maps ${field} to the columns ${parts.map((p) => JSON.stringify(p)).join(' and ')} joined, but it has no column ${JSON.stringify(lacking)} ${theirs}`);
    }
    if (parts === undefined && !names.includes(column)) throw replayError(file, `--fields maps ${field} to the column ${JSON.stringify(column)}, which its header does not have ${theirs}`);
  }
  const mapped = new Set(input.fields.values());
  return names.map((n) => input.fields.get(n) ?? (mapped.has(n) ? null : n));
}

/**
 * The columns (keys) whose values, joined by a space, make a field: `ts=date+time`, a time split over two (the Intel
 * Berkeley lab's data.txt); undefined for a name without +, or one that is itself a column (key).
 */
export function joined(column: string, names: readonly string[]): string[] | undefined {
  return column.includes('+') && !names.includes(column) ? column.split('+') : undefined;
}

/** Sets each field mapped to joined columns (keys) from `value` of each, skipping a record that lacks one. */
export function joinFields(o: Record<string, unknown>, input: ReplayInput, names: readonly string[], value: (name: string) => unknown): void {
  for (const [column, field] of input.fields) {
    const values = joined(column, names)?.map(value);
    if (values !== undefined && values.every((v) => v !== undefined && v !== '')) o[field] = values.map(String).join(' ');
  }
}

/**
 * A JSON record in our terms (as mapHeader does a CSV header), its keys in their order. A mapped name with dots that
 * is not a key of the record is a path into its nested objects (SystemProperties.connectionDeviceId), the field then
 * last.
 */
export function mapKeys(o: Record<string, unknown>, input: ReplayInput): Record<string, unknown> {
  if (input.fields.size === 0) return o;
  const mapped = new Set(input.fields.values());
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const field = input.fields.get(k);
    if (field !== undefined) out[field] = v;
    else if (!mapped.has(k)) out[k] = v;
  }
  joinFields(out, input, Object.keys(o), (k) => o[k]);
  const decoded = new Map<string, unknown>();
  for (const [column, field] of input.fields) {
    if (Object.hasOwn(o, column) || !column.includes('.')) continue;
    const v = atPath(o, column.split('.'), decoded);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/** Base64 (RFC 4648, padded): what IoT Hub's message routing writes for a Body it does not know to be UTF-8 JSON. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The value at a path of keys, or undefined. A string on the way that holds a JSON object, as its text or in base64,
 * is read as that object: IoT Hub's routing to storage writes a message's Body as the JSON itself only when the
 * device set contentType application/json and contentEncoding utf-8, and as base64 of its bytes otherwise.
 * `decoded` keeps what a string decoded to, for the record's other paths.
 */
function atPath(o: unknown, path: readonly string[], decoded: Map<string, unknown>): unknown {
  let v = o;
  for (const key of path) {
    if (typeof v === 'string') {
      const text = v;
      if (!decoded.has(text)) decoded.set(text, embeddedObject(text));
      v = decoded.get(text);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

function embeddedObject(text: string): unknown {
  const json = text.trimStart().startsWith('{') ? text : BASE64.test(text) && text.length > 0 ? Buffer.from(text, 'base64').toString('utf8') : '';
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}

/** JSON lines: a mapped key that none of the records has is refused, as a CSV header without the column is. */
export function checkKeys(file: string, records: readonly Reading[], input: ReplayInput, firstKeys: readonly string[]): void {
  for (const [column, field] of input.fields) {
    if (!records.some((r) => r.recorded !== undefined && field in r.recorded)) {
      throw replayError(file, `--fields maps ${field} to the key ${JSON.stringify(column)}, which none of its records has (the keys of its first: ${firstKeys.map((k) => JSON.stringify(k)).join(', ')})`);
    }
  }
}

/**
 * A record's own id (a table's `id`, ThingSpeak's `entry_id`, a log's or a message's): unique per record, so as the
 * device id it would make every record a device of its own.
 */
const RECORD_ID = /^_?id$|(entry|row|record|message|msg|event|log)[^a-z]?id$/i;

/**
 * What to say when records have no deviceId: the columns (keys) the recording has (`lead` says whose), and the mapping
 * that would name one, its example a column whose name looks like a device's (a suggestion only: nothing is mapped
 * unless asked).
 */
export function deviceIdHint(lead: string, columns: readonly string[]): string {
  // IoT Hub's message routing to storage: the device and time are its system's, the reading is in Body.
  if (columns.includes('SystemProperties') && columns.includes('Body')) {
    return `${lead}: ${columns.map((c) => JSON.stringify(c)).join(', ')}, as IoT Hub's message routing writes them; read the device, time and reading with --fields deviceId=SystemProperties.connectionDeviceId,ts=EnqueuedTimeUtc,temperature=Body.temperature (the names in Body are your devices')`;
  }
  const ours = new Set<string>(FIELDS);
  const likely = columns.find((c) => !ours.has(c) && !RECORD_ID.test(c) && /dev|sensor|thermostat|node|serial|name|(^|[^a-z])id$/i.test(c));
  const example = likely === undefined || !/^[^\s,=]+$/.test(likely) ? 'COLUMN' : likely;
  return `${lead}: ${columns.map((c) => JSON.stringify(c)).join(', ')}; name the one that holds the device id with --fields deviceId=${example}, or, a recording of one device, give its id with --device ID`;
}

/** The record with --device's id first, or what is wrong: a record that names its device itself. */
export function withDevice(o: Record<string, unknown>, input: ReplayInput): Record<string, unknown> | string {
  if (input.device === undefined) return o;
  if (o.deviceId !== undefined) return `deviceId ${JSON.stringify(o.deviceId)} of its own, and --device gives every record one`;
  return { deviceId: input.device, ...o };
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
const isTsUnit = (u: string): u is TsUnit => Object.hasOwn(TS_UNITS, u);
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

export function replayError(file: string, problem: string): SimulatorError {
  return new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `--replay ${file}: ${problem}`);
}
