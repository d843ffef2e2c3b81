/**
 * --replay: a recording of readings (JSON lines, as --out writes them, or CSV with a header row) published as it is,
 * in the file's order, paced by --rate. Each record's fields go out unchanged (a CSV cell that reads as a number is
 * sent as one), so the server judges the recording as it would the devices that made it: a bad record becomes a
 * dead letter there, not a silent fix here. Only what routing needs is checked up front: every record must name
 * its device.
 */
import { readFileSync } from 'node:fs';
import { ANOMALY_TYPES, type AnomalyType } from './anomalies.ts';
import { ErrorCodes, SimulatorError } from './errors.ts';
import { DEVICE_ID_PATTERN, type Reading } from './reading.ts';
import type { Source } from './source.ts';

export interface Recording {
  readonly file: string;
  readonly records: readonly Reading[];
  /** Device ids in the order of their first record. */
  readonly deviceIds: readonly string[];
}

/** At most this many bad lines are named in the error. */
const NAMED = 5;
const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/;

export function loadRecording(file: string): Recording {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw replayError(file, `cannot read it (${(error as Error).message})`);
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) throw replayError(file, 'it holds no record');
  const csv = !lines[first].trimStart().startsWith('{');
  const header = csv ? splitCsv(lines[first]).map((h) => h.trim()) : null;
  if (header !== null && !header.includes('deviceId')) {
    throw replayError(file, `expected JSON lines, or CSV whose first line is a header naming a deviceId column; line ${first + 1} is ${JSON.stringify(lines[first].slice(0, 80))}`);
  }
  const records: Reading[] = [];
  const bad: string[] = [];
  for (let i = header === null ? first : first + 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    const parsed = header === null ? jsonRecord(lines[i]) : csvRecord(header, lines[i]);
    if (typeof parsed === 'string') {
      bad.push(`line ${i + 1}: ${parsed}`);
      continue;
    }
    records.push(parsed);
  }
  if (bad.length > 0) {
    const more = bad.length > NAMED ? `; ${bad.length - NAMED} more` : '';
    throw replayError(file, `every record needs a deviceId matching [A-Za-z0-9._:-]{1,128} to be routed: ${bad.slice(0, NAMED).join('; ')}${more}`);
  }
  if (records.length === 0) throw replayError(file, 'it holds no record');
  return { file, records, deviceIds: [...new Set(records.map((r) => r.deviceId))] };
}

function replayError(file: string, problem: string): SimulatorError {
  return new SimulatorError(ErrorCodes.SIM_INVALID_OPTION, `--replay ${file}: ${problem}`);
}

function jsonRecord(line: string): Reading | string {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return `not JSON (${JSON.stringify(line.slice(0, 60))})`;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return 'not a JSON object';
  return record(o as Record<string, unknown>);
}

function csvRecord(header: readonly string[], line: string): Reading | string {
  const cells = splitCsv(line);
  if (cells.length !== header.length) return `${cells.length} cells under a header of ${header.length}`;
  const o: Record<string, unknown> = {};
  header.forEach((name, i) => {
    const cell = cells[i].trim();
    if (cell !== '') o[name] = NUMBER.test(cell) ? Number(cell) : cell;
  });
  if (typeof o.deviceId === 'number') o.deviceId = cells[header.indexOf('deviceId')].trim(); // an id of digits
  return record(o);
}

function record(o: Record<string, unknown>): Reading | string {
  const id = o.deviceId;
  if (typeof id !== 'string' || !DEVICE_ID_PATTERN.test(id)) return id === undefined ? 'no deviceId' : `deviceId ${JSON.stringify(id)} is not a device id`;
  const ts = typeof o.ts === 'number' ? o.ts : typeof o.ts === 'string' ? Date.parse(o.ts) : NaN;
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  return { deviceId: id, ts, temperature: num(o.temperature), humidity: num(o.humidity), seq: num(o.seq), recorded: o };
}

/** One CSV line's cells (RFC 4180 quoting: "a,b" and "say ""hi"""). */
function splitCsv(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') cells.push(cell), (cell = '');
    else cell += c;
  }
  cells.push(cell);
  return cells;
}

/** The recording's records as the fleet's slots: slot n is record n, due at n / rate s. */
export function createReplaySource(recording: Recording, rate: number): Source {
  const anomalies = Object.fromEntries(ANOMALY_TYPES.map((t) => [t, 0])) as Record<AnomalyType, number>;
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
