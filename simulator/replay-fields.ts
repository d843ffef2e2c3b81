/**
 * --replay of a recording made elsewhere (a building-management export, a public dataset, IoT Hub's routing to
 * storage): what its columns (or JSON keys, or paths into them) are called in our terms (--fields), the names of the
 * columns of a file without a header (--columns), the device of a recording of one (--device), the zone its zoneless
 * times are in (--ts-zone), how they are written when not as ISO 8601 (--ts-format, replay-ts-format.ts), the unit
 * of its numeric times (--ts-unit), which replay-times.ts reads, and the unit of its temperatures (--temperature-unit).
 * Nothing is guessed from the values: without these options a record goes out as
 * recorded (a zoned time written otherwise than ISO 8601, 2024-03-01 10:00:00 UTC, goes as ISO 8601; replay.ts reads
 * a header of semicolons as a decimal-comma CSV), and the run says before it starts which records the server will
 * refuse and which option would say what they mean.
 */
import { ErrorCodes, invalidOption, SimulatorError } from './errors.ts';
import { parseTsFormat, type TsFormat } from './replay-ts-format.ts';
import { isTsUnit, parseZone, type TsUnit, type Zone } from './replay-times.ts';
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
  /** The unit of its temperatures: "f" (°F) and "k" (kelvins) are sent as °C; "c" (the default) as recorded. */
  readonly temperatureUnit: TemperatureUnit;
}

export type TemperatureUnit = 'c' | 'f' | 'k';
const TEMPERATURE_UNITS: readonly string[] = ['c', 'f', 'k'];

/**
 * A temperature in `unit` in °C, to 0.01 °C (°F's 71.6 is 21.999999999999996 computed, 22 sent; a tenth of a °F is
 * 0.056 °C); as recorded in °C.
 */
export function toCelsius(v: number, unit: TemperatureUnit): number {
  if (unit === 'c') return v;
  const c = unit === 'f' ? ((v - 32) * 5) / 9 : v - 273.15;
  return Math.round(c * 100) / 100 || 0; // not -0
}

export const AS_RECORDED: ReplayInput = { fields: new Map(), tsZone: undefined, tsFormat: undefined, tsUnit: 'ms', device: undefined, columns: undefined, temperatureUnit: 'c' };

export interface ReplayInputOptions {
  replay?: string;
  fields?: string | Readonly<Record<string, string>>;
  tsZone?: string;
  tsFormat?: string;
  tsUnit?: string;
  device?: string;
  columns?: string;
  temperatureUnit?: string;
}

/** Checks the options; each is refused without --replay, naming it, as it would do nothing. */
export function replayInput(o: ReplayInputOptions): ReplayInput {
  const given = ([['fields', o.fields], ['ts-zone', o.tsZone], ['ts-format', o.tsFormat], ['ts-unit', o.tsUnit], ['device', o.device], ['columns', o.columns], ['temperature-unit', o.temperatureUnit]] as const).filter(([, v]) => v !== undefined);
  if (o.replay === undefined) {
    if (given.length > 0) throw new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `option --${given[0][0]} does nothing without --replay (it says how to read a recording): leave it out`);
    return AS_RECORDED;
  }
  if (o.tsUnit !== undefined && !isTsUnit(o.tsUnit)) throw invalidOption('ts-unit', o.tsUnit, 's, ms, us or ns (the unit of the recording\'s numeric times)');
  const temperatureUnit = (o.temperatureUnit ?? 'c').toLowerCase();
  if (!TEMPERATURE_UNITS.includes(temperatureUnit)) throw invalidOption('temperature-unit', o.temperatureUnit!, 'c, f or k (the unit of the recording\'s temperatures: °C, °F, kelvins)');
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
  return { fields, tsZone: o.tsZone === undefined ? undefined : parseZone(o.tsZone), tsFormat, tsUnit: o.tsUnit !== undefined && isTsUnit(o.tsUnit) ? o.tsUnit : 'ms', device: o.device, columns, temperatureUnit: temperatureUnit as TemperatureUnit };
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

export function replayError(file: string, problem: string): SimulatorError {
  return new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `--replay ${file}: ${problem}`);
}
