/** The reading a simulated thermostat emits, and its encodings (wire payload, --out line). */
export interface Reading {
  deviceId: string;
  /** Event time, epoch ms (UTC). */
  ts: number;
  temperature: number;
  humidity: number;
  /** Per-device counter from 1. */
  seq: number;
  /** --replay: the record as the recording has it (the numbers above are NaN where it has none); sent as it is. */
  recorded?: Readonly<Record<string, unknown>>;
  /** --replay: the line of the file the record starts on (what tells apart two records of the same content). */
  line?: number;
  /** --replay: the ts as the file has it, where --ts-zone, --ts-format or --ts-unit read it into another (recorded.ts). */
  tsAsRecorded?: unknown;
}

/** Wire payload object (DESIGN.md "Readings"); key order fixed so output is byte-stable. */
export function wireObject(r: Reading): { ts: string; temperature: number; humidity: number; seq: number } {
  return { ts: new Date(r.ts).toISOString(), temperature: r.temperature, humidity: r.humidity, seq: r.seq };
}

/** What goes on the wire: a recorded reading as recorded, a generated one as its wire object. */
const payload = (r: Reading): object => r.recorded ?? wireObject(r);

export function encodeReading(r: Reading): string {
  return JSON.stringify(payload(r));
}

export function encodeBatch(readings: readonly Reading[]): string {
  return JSON.stringify(readings.map(payload));
}

/** One line of the --out file. */
export function outLine(r: Reading): string {
  return `{"deviceId":${JSON.stringify(r.deviceId)},"ts":"${new Date(r.ts).toISOString()}","temperature":${r.temperature},"humidity":${r.humidity},"seq":${r.seq}}\n`;
}

export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** An ISO 8601 time with a zone, as the server takes one: `Z`, or an offset `+01:00`, `+0100` or `+01`. */
const ZONED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$/i;

/**
 * Epoch ms of an ISO 8601 time with a zone (--start, a scenario's `at`), else NaN: without one, Date.parse reads the
 * time in this machine's time zone, and the readings would be hours off wherever that is not UTC.
 */
export function zonedTime(text: string): number {
  return ZONED_TIME.test(text) ? isoTime(text) : NaN;
}

/** Epoch ms of an ISO 8601 time as the server reads it: Date.parse takes ±hh:mm and ±hhmm but not a whole hour's ±hh. */
export function isoTime(text: string): number {
  return Date.parse(text.length > 10 && /[+-]\d\d$/.test(text) ? `${text}:00` : text);
}

export function deviceIds(prefix: string, count: number): string[] {
  const width = Math.max(4, String(count).length);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
}

export function telemetryTopic(deviceId: string): string {
  return `devices/${deviceId}/telemetry`;
}
