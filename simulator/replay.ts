/**
 * --replay: a recording of readings (JSON lines, as --out writes them, or CSV with a header row) published as it is,
 * in the file's order, paced by --rate. Each record's fields go out unchanged (a CSV cell that reads as a number is
 * sent as one, an integer device or message id in JSON as its text), so the server judges the recording as it would
 * the devices that made it: a bad record becomes a dead letter there, not a silent fix here. Only what routing needs
 * is checked up front: every record must name its device.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { noAnomalies } from './anomalies.ts';
import { ISO_WITH_ZONE, looksLikeEpochSeconds, MAX_EPOCH_MS, parseIsoDate } from '../server/ingest/reading-rules.ts';
import { AS_RECORDED, checkKeys, deviceIdHint, joined, joinFields, mapHeader, mapKeys, replayError, toCelsius, type ReplayInput, withDevice } from './replay-fields.ts';
import { apparentTsUnit, convertTs, tsUnitName } from './replay-times.ts';
import { DEVICE_ID_PATTERN, type Reading, zonedTime } from './reading.ts';
import type { Source } from './source.ts';

export interface Recording {
  readonly file: string;
  readonly records: readonly Reading[];
  /** Device ids in the order of their first record. */
  readonly deviceIds: readonly string[];
  /** Where the file goes back in time the most: a record behind the newest before it (null: in time order). */
  readonly back: { line: number; ts: number; newest: number; behind: number } | null;
  /** The line of a header row that --columns named again (skipped, not a record), or null. */
  readonly skippedHeader: number | null;
}

/** The server's default allowed lateness: records further behind the newest are late there. */
export const DEFAULT_LATENESS_MS = 10_000;

/** A CSV line ends with LF, CRLF or a lone CR (what spreadsheets on the Mac write). */
const LINE_END = /\r\n|\r|\n/;

/** At most this many bad lines are named in the error. */
const NAMED = 5;
/** A number as JSON writes one. */
export const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/;
/** Fields the server takes only as strings: a CSV cell of digits there (`1001`) is still the text it is. */
const TEXT_FIELDS = new Set(['deviceId', 'messageId']);
/** A number with a decimal comma (21,5), in a CSV separated by semicolons. */
const DECIMAL_COMMA = /^-?(0|[1-9]\d*),\d+$/;

/** `input`: how to read a recording made elsewhere (--fields, --device, --ts-zone, --ts-unit; see replay-fields.ts). */
export function loadRecording(file: string, input: ReplayInput = AS_RECORDED): Recording {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw replayError(file, `cannot read it (${(error as Error).message})`);
  }
  // A spreadsheet's "Unicode text" is UTF-16: read as UTF-8 its first line is noise, and every cell would be.
  const utf16 = bytes[0] === 0xff && bytes[1] === 0xfe ? 'FF FE' : bytes[0] === 0xfe && bytes[1] === 0xff ? 'FE FF' : null;
  if (utf16 !== null) throw replayError(file, `it is UTF-16 (it starts with the byte order mark ${utf16}): save it as UTF-8`);
  // A spreadsheet's CSV in Windows-1252 (Excel's default in western Europe): read as UTF-8, its ä would be U+FFFD, in
  // a header name --fields then does not find, or a device id.
  const other = isUtf8(bytes) ? null : notUtf8(bytes);
  if (other !== null) {
    const hex = other.byte.toString(16).toUpperCase();
    throw replayError(file, `it is not UTF-8 (line ${other.line} has the byte ${hex}, ${JSON.stringify(WINDOWS_1252.decode(Uint8Array.of(other.byte)))} in Windows-1252): save it as UTF-8 (a spreadsheet's "CSV UTF-8"), or convert it: iconv -f WINDOWS-1252 -t UTF-8`);
  }
  let text = bytes.toString('utf8');
  text = text.replace(/^\uFEFF/, '');
  if (text.trim() === '') throw replayError(file, 'it is empty (no record to send)');
  // An export's JSON array (of objects, or of arrays: Home Assistant's history API) read as CSV would make a header of
  // its first line and suggest a column named `[{"deviceId":…`.
  if (/^\[\s*[[{\]]/.test(text.trimStart())) throw replayError(file, "it is a JSON array, not JSON lines (one object per line): put one record per line first, e.g. jq -c '.[]' (an array of arrays: '.[][]')");
  const json = text.trimStart().startsWith('{');
  if (json && input.columns !== undefined) throw replayError(file, 'it is JSON lines, whose keys name the fields: leave --columns out (it names the columns of a file without a header row)');
  const { rows, skippedHeader } = json ? { rows: jsonRows(text, input), skippedHeader: null } : csvRows(file, text, input);
  const records: Reading[] = [];
  const bad: string[] = [];
  const noTs: string[] = [];
  let noId: Row | undefined;
  for (const row of rows) {
    if (typeof row.record === 'string') {
      bad.push(`line ${row.line}: ${row.record}`);
      if (row.keys !== undefined && row.record === 'no deviceId') noId ??= row;
    } else {
      row.record.line = row.line;
      records.push(row.record);
      if (row.record.recorded?.ts == null) noTs.push(`line ${row.line}`); // null is no ts to the server too
    }
  }
  if (bad.length > 0) {
    // A JSON record without deviceId, in a recording made elsewhere: its device is most likely under another name.
    const hint = noId?.keys === undefined ? '' : `\n${deviceIdHint(`the keys of line ${noId.line}`, noId.keys)}`;
    const id = 'a deviceId matching [A-Za-z0-9._:-]{1,128}';
    const needs = input.tsFormat === undefined ? `${id} and, in CSV, a cell per header name` : `${id}, in CSV a cell per header name, and a ts that --ts-format reads`;
    throw replayError(file, `${bad.length} of its records cannot be sent (each needs ${needs}): ${named(bad)}${hint}`);
  }
  if (records.length === 0) throw replayError(file, 'it holds no record');
  if (json) checkKeys(file, records, input, rows[0]?.keys ?? []);
  // The server dates a reading without ts at its arrival: among dated ones, that moves the watermark to now, and the
  // rest of the recording would be late.
  if (noTs.length > 0 && noTs.length < records.length) {
    throw replayError(file, `${noTs.length} of its ${records.length} records ${noTs.length === 1 ? 'has' : 'have'} no ts while the others have one (the server would date them at their arrival, now, and every older record after them would be late): give every record a ts, or none: ${named(noTs)}`);
  }
  // --ts-unit on a recording in another unit (s on milliseconds, us on nanoseconds, …): every ts would be thousands of
  // years away, refused by the server, or in 1970.
  const unit = input.tsUnit;
  const otherUnit = unit === 'ms' ? [] : records.filter((r) => { const u = apparentTsUnit(r.tsAsRecorded); return u !== null && u !== unit; });
  if (otherUnit.length > 0) {
    const seen = apparentTsUnit(otherUnit[0].tsAsRecorded)!;
    const already = seen === 'ms' ? 'in milliseconds already' : `in ${tsUnitName(seen)}`;
    throw replayError(file, `--ts-unit ${unit} reads each ts as ${tsUnitName(unit)}, but ${otherUnit.length} of its ${records.length} records ${otherUnit.length === 1 ? 'has' : 'have'} one ${already}: ${named(otherUnit.map((r) => `line ${r.line} (${String(r.tsAsRecorded)})`))}; ${seen === 'ms' ? 'leave --ts-unit out' : `use --ts-unit ${seen}`}`);
  }
  return { file, records, deviceIds: [...new Set(records.map((r) => r.deviceId))], back: furthestBack(records), skippedHeader };
}

const WINDOWS_1252 = new TextDecoder('windows-1252');

/** The first line (ends as LINE_END) that is not UTF-8, and its first byte that does not begin a UTF-8 character. */
function notUtf8(bytes: Buffer): { line: number; byte: number } | null {
  let line = 1;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x0a && !(bytes[i] === 0x0d && bytes[i + 1] !== 0x0a)) continue;
    const part = bytes.subarray(start, i);
    if (!isUtf8(part)) return { line, byte: firstInvalid(part) };
    line++;
    start = i + 1;
  }
  return null;
}

/** The first byte of `part` where no UTF-8 character begins (a line with a UTF-8 ° before a Windows-1252 ä names E4). */
function firstInvalid(part: Uint8Array): number {
  for (let i = 0; i < part.length; ) {
    const b = part[i];
    const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (n === 0 || !isUtf8(part.subarray(i, i + n))) return b;
    i += n;
  }
  return 0;
}

/** The record furthest behind the newest one before it, and how many are more than DEFAULT_LATENESS_MS behind. */
function furthestBack(records: readonly Reading[]): Recording['back'] {
  let newest = -Infinity;
  let back: Recording['back'] = null;
  let behind = 0;
  for (const r of records) {
    if (!Number.isFinite(r.ts) || !serverTakesTs(r.recorded?.ts)) continue; // a refused ts is no time to the server
    if (newest - r.ts > DEFAULT_LATENESS_MS) behind++;
    if (r.ts < newest && (back === null || newest - r.ts > back.newest - back.ts)) back = { line: r.line ?? 0, ts: r.ts, newest, behind: 0 };
    newest = Math.max(newest, r.ts);
  }
  return back === null ? null : { ...back, behind };
}

/** A ts as the server's decoder takes it (server/ingest/reading-rules.ts): ISO 8601 with a zone, or epoch ms. */
export function serverTakesTs(ts: unknown): boolean {
  if (typeof ts === 'number') return Number.isFinite(ts) && ts >= 0 && ts <= MAX_EPOCH_MS && !looksLikeEpochSeconds(ts);
  return typeof ts === 'string' && ISO_WITH_ZONE.test(ts) && parseIsoDate(ts) >= 0;
}

/** The first NAMED of `lines`, and how many more. */
export function named(lines: readonly string[]): string {
  return `${lines.slice(0, NAMED).join('; ')}${lines.length > NAMED ? `; ${lines.length - NAMED} more` : ''}`;
}

/**
 * A record, or what is wrong with it, and the line it starts on; `keys`, a JSON record's own keys, of the first record
 * and of one without deviceId (what an error about them names).
 */
interface Row {
  line: number;
  record: Reading | string;
  keys?: readonly string[];
}

function jsonRows(text: string, input: ReplayInput): Row[] {
  const rows: Row[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() !== '') rows.push(jsonRecord(i + 1, line, input, rows.length === 0));
  });
  return rows;
}

/** `skippedHeader`: the line of a header row that only repeats --columns (see sameNames), left out of the rows. */
function csvRows(file: string, text: string, input: ReplayInput): { rows: Row[]; skippedHeader: number | null } {
  const firstLine = text.trimStart().split(LINE_END)[0];
  // A comment, or InfluxDB's annotations (#group, #datatype, #default): read as the header, its cells would be the
  // columns --fields looks for.
  if (input.columns === undefined && /^#\s*[A-Za-z]/.test(firstLine)) {
    throw replayError(file, `line 1 is a comment or an annotation, not its header row (${JSON.stringify(firstLine.slice(0, 80))}; InfluxDB's annotated CSV starts with #group, #datatype and #default): leave such lines out first, grep -v '^#'`);
  }
  // A first line with semicolons and no comma: a spreadsheet's CSV in a locale whose decimal mark is the comma.
  const semicolons = firstLine.includes(';') && !firstLine.includes(',');
  // Without a header (--columns), a first line with neither but with spaces or tabs: cells separated by runs of them.
  const spaced = !firstLine.includes(',') && !semicolons && /\S[ \t]+\S/.test(firstLine);
  // A header row with neither but with tabs: a spreadsheet's tab-delimited text, cells between single tabs (an empty
  // one included), quoted as in a CSV.
  const tabs = input.columns === undefined && spaced && firstLine.includes('\t');
  const split = input.columns !== undefined && spaced ? splitSpaced(text) : splitCsv(text, semicolons ? ';' : tabs ? '\t' : ',');
  // Numbers written 21,5: in a semicolon-separated file; in a tab-separated one (the same spreadsheet's "Text (Tab
  // delimited)") when some cell is so and none is written 21.5.
  const decimalComma = semicolons || (tabs && writesDecimalCommas(split));
  // A file that has a header row after all, given --columns: its first line would go out as a record (to a device
  // named "deviceId"). One naming the same columns is skipped (replayWarnings says so); another one is data.
  const skippedHeader = input.columns !== undefined && split.length > 0 && sameNames(split[0].cells, input.columns) ? split[0].line : null;
  const body = skippedHeader === null ? split : split.slice(1);
  const [header, ...rows] = input.columns === undefined ? split : [{ line: 0, cells: [...input.columns], unclosed: false }, ...body];
  const names = header?.cells.map((h) => h.trim()) ?? [];
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  const ours = header === undefined ? [] : mapHeader(file, names, input);
  const hasDeviceId = ours.includes('deviceId') || [...input.fields].some(([column, field]) => field === 'deviceId' && joined(column, names) !== undefined);
  if (input.device !== undefined && hasDeviceId) {
    throw replayError(file, `--device gives every record the device ${JSON.stringify(input.device)}, but its header has a deviceId column: leave one out`);
  }
  if (!hasDeviceId && input.device === undefined) {
    const hint = header === undefined || names.length < 2 ? '' : `\n${deviceIdHint('its columns', names)}`;
    if (input.columns !== undefined) throw replayError(file, `--columns names no deviceId column${hint}`);
    // A first line of data (a date, a number): most likely a file without a header row.
    const count = spaced ? firstLine.trim().split(/[ \t]+/).length : names.length;
    const headerless = /^\s*[-+]?\d/.test(firstLine) && count > 1
      ? `\nif it has no header row, name its ${count} columns in order with --columns NAME,NAME,… (cells separated by ${spaced ? 'spaces or tabs' : semicolons ? 'semicolons' : 'commas'}), and map them with --fields`
      : hint;
    throw replayError(file, `expected JSON lines, or CSV whose first line is a header naming a deviceId column; line ${header?.line ?? 1} is ${JSON.stringify(firstLine.slice(0, 80))}${headerless}`);
  }
  if (twice !== undefined) throw replayError(file, `the header names ${JSON.stringify(twice)} twice`);
  const cellCount = (n: number) => `${n} cell${n === 1 ? '' : 's'} ${input.columns === undefined ? `under a header of ${names.length}` : `for the ${names.length} of --columns`}`;
  return {
    rows: rows.map((row) => ({
      line: row.line,
      record: row.unclosed ? 'a quoted cell is not closed' : row.cells.length !== names.length ? cellCount(row.cells.length) : csvRecord(names, ours, row.cells, input, decimalComma),
    })),
    skippedHeader,
  };
}

/** A line's cells are the names of --columns, in order (trimmed, in any case): a header row. */
function sameNames(cells: readonly string[], columns: readonly string[]): boolean {
  return cells.length === columns.length && cells.every((c, i) => c.trim().toLowerCase() === columns[i].trim().toLowerCase());
}

/** The rows of a file whose cells are separated by runs of spaces or tabs (no quoting), each with its line. */
function splitSpaced(text: string): { line: number; cells: string[]; unclosed: boolean }[] {
  return text
    .split(LINE_END)
    .map((l, i) => ({ line: i + 1, cells: l.trim().split(/[ \t]+/), unclosed: false }))
    .filter((r) => r.cells[0] !== '');
}

function jsonRecord(line: number, text: string, input: ReplayInput, first: boolean): Row {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    return { line, record: `not JSON (${JSON.stringify(text.slice(0, 60))})` };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { line, record: 'not a JSON object' };
  const r = record(mapKeys(o as Record<string, unknown>, input), input);
  return r === 'no deviceId' || first ? { line, record: r, keys: Object.keys(o) } : { line, record: r };
}

/** Some cell is a number written with a decimal comma (21,5) and none with a decimal point (21.5). */
function writesDecimalCommas(rows: readonly { cells: readonly string[] }[]): boolean {
  let commas = false;
  for (const { cells } of rows) {
    for (const cell of cells) {
      const c = cell.trim();
      if (/^-?\d+\.\d+$/.test(c)) return false;
      commas ||= DECIMAL_COMMA.test(c);
    }
  }
  return commas;
}

/**
 * `names`: the header's; `header`: the names in our terms (null: a column left out, see mapHeader), as many as
 * `cells`. `decimalComma`: a file whose numbers are written 21,5 (csvRows).
 */
function csvRecord(names: readonly string[], header: readonly (string | null)[], cells: readonly string[], input: ReplayInput, decimalComma: boolean): Reading | string {
  const o: Record<string, unknown> = {};
  header.forEach((name, i) => {
    const trimmed = cells[i].trim();
    const cell = decimalComma && DECIMAL_COMMA.test(trimmed) ? trimmed.replace(',', '.') : trimmed;
    // A number JSON can carry goes as one; 1e400 (Infinity in JSON) and 007 stay the text they are, and so does every
    // cell of a field that must be a string (a messageId of 1001 sent as a number would be wrong_type, every record).
    if (cell !== '' && name !== null) o[name] = NUMBER.test(cell) && Number.isFinite(Number(cell)) && !TEXT_FIELDS.has(name) ? Number(cell) : cell;
  });
  joinFields(o, input, names, (name) => cells[names.indexOf(name)]?.trim());
  return record(o, input);
}

function record(mapped: Record<string, unknown>, input: ReplayInput): Reading | string {
  const o = withDevice(mapped, input);
  if (typeof o === 'string') return o;
  // The server takes ids as strings only: a JSON integer (a sensor's 12, a gateway's message number 1001) goes as its
  // text, as a CSV cell of digits does.
  for (const f of TEXT_FIELDS) if (typeof o[f] === 'number' && Number.isSafeInteger(o[f]) && (o[f] as number) >= 0) o[f] = String(o[f]);
  const id = o.deviceId;
  if (typeof id !== 'string' || !DEVICE_ID_PATTERN.test(id)) return id === undefined ? 'no deviceId' : `deviceId ${JSON.stringify(id)} is not a device id`;
  const asRecorded = o.ts;
  const wrong = convertTs(o, input);
  if (wrong !== undefined) return wrong;
  if (typeof o.temperature === 'number') o.temperature = toCelsius(o.temperature, input.temperatureUnit);
  // A time without a zone is no time (the server refuses it), not one of this machine's zone.
  const ts = typeof o.ts === 'number' ? o.ts : typeof o.ts === 'string' ? zonedTime(o.ts) : NaN;
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  const read = { deviceId: id, ts, temperature: num(o.temperature), humidity: num(o.humidity), seq: num(o.seq), recorded: o };
  return o.ts === asRecorded ? read : { ...read, tsAsRecorded: asRecorded };
}

/**
 * The rows of a CSV text (RFC 4180: "a,b", "say ""hi""", line breaks inside quotes; cells separated by
 * `delimiter`), each with the line it starts on; blank lines are skipped.
 */
function splitCsv(text: string, delimiter: ',' | ';' | '\t'): { line: number; cells: string[]; unclosed: boolean }[] {
  const rows: { line: number; cells: string[]; unclosed: boolean }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  const endRow = () => {
    cells.push(cell);
    if (cells.length > 1 || cells[0].trim() !== '') rows.push({ line: rowLine, cells, unclosed: quoted });
    cells = [];
    cell = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) line++;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) cells.push(cell), (cell = '');
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++, line++;
      endRow();
      rowLine = line;
    } else cell += c;
  }
  endRow();
  return rows;
}

/** The recording's records as the fleet's slots: slot n is record n, due at n / rate s. */
export function createReplaySource(recording: Recording, rate: number): Source {
  const anomalies = noAnomalies();
  let position = 0;
  return {
    get position() {
      return position;
    },
    dueAtMs: (n) => (n * 1000) / rate,
    simTimeMs: (n) => recording.records[n]?.ts ?? NaN,
    next: () => recording.records[position++],
    lastSample: undefined,
    anomalies,
    finish() {},
    hold: () => false, // a recording does not follow a twin's setpoint
  };
}
