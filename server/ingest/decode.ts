import { isUtf8 } from 'node:buffer';
import type { RejectReason } from '../errors.ts';
import { scanFlatReading } from './decode-flat.ts';
import { blankReading, type Reading } from './reading.ts';
import { ISO_WITH_ZONE, looksLikeEpochSeconds, MAX_EPOCH_MS, MAX_MESSAGE_ID, parseIsoDate, TEMPERATURE_RANGE } from './reading-rules.ts';

/** `deviceId` as DESIGN.md defines it. */
export const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const PLAIN_PREFIX = 'devices/';
const PLAIN_SUFFIX = '/telemetry';
const NON_FINITE_TEXT = /^[+-]?(nan|inf|infinity)$/i;

export interface DecodeLimits {
  maxPayloadBytes: number;
  /** How far ahead of the server's clock a reading's ts may be. */
  maxClockSkewMs: number;
}

/** Where decoded readings and rejections go; one fixed object, so decoding allocates no closures. */
export interface DecodeSink {
  /** A reading accepted; it may be an object the decoder fills again for the next message: copy it (copyReading) to keep it. */
  accept(reading: Reading): void;
  reject(reason: RejectReason, detail: string, deviceId: string | null, topic: string, payload: Buffer): void;
}

/** DEVICE_ID's characters by char code (1: allowed), derived from it; DEVICE_ID admits no others. */
const ID_CHARS = Uint8Array.from({ length: 128 }, (_, c) => (DEVICE_ID.test(String.fromCharCode(c)) ? 1 : 0));
const MAX_DEVICE_ID = 128;
/** The prefix's and suffix's char codes: comparing with a typed array is cheaper than `charCodeAt` of a second string. */
const PREFIX_CODES = Uint8Array.from(PLAIN_PREFIX, (c) => c.charCodeAt(0));
const SUFFIX_CODES = Uint8Array.from(PLAIN_SUFFIX, (c) => c.charCodeAt(0));

/** Whether s[from, to) is a DEVICE_ID (as `DEVICE_ID.test(s.slice(from, to))`, without the slice). */
function isDeviceId(s: string, from: number, to: number): boolean {
  if (to - from < 1 || to - from > MAX_DEVICE_ID) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || ID_CHARS[c] === 0) return false;
  }
  return true;
}

/**
 * The device a topic speaks for, or null when the topic is outside the scheme. Per message on the broker's thread:
 * char codes compared in place, answering as `startsWith`, `endsWith` and DEVICE_ID would, without their calls.
 */
export function deviceIdOfTopic(topic: string): string | null {
  const end = topic.length - PLAIN_SUFFIX.length;
  if (end <= PLAIN_PREFIX.length || !textAt(topic, 0, PREFIX_CODES) || !textAt(topic, end, SUFFIX_CODES)) return null;
  return isDeviceId(topic, PLAIN_PREFIX.length, end) ? topic.slice(PLAIN_PREFIX.length, end) : null;
}

function textAt(s: string, at: number, codes: Uint8Array): boolean {
  for (let k = 0; k < codes.length; k++) if (s.charCodeAt(at + k) !== codes[k]) return false;
  return true;
}

const EVENTS = '/messages/events';
/** IoT Hub's limit for a message id ($.mid): longer ones are ignored, not trusted for dedupe. */
const MAX_MESSAGE_ID_BYTES = 255;
const JSON_TYPE = /^(application|text)\/json\s*(;\s*charset\s*=\s*"?utf-?8"?\s*)?$/i;
const UTF8 = /^utf-?8$/i;
/**
 * What the IoT Hub SDK writes in every property bag (querystring-encoded), decoded once: a lookup instead of a
 * decodeURIComponent per message. A part without '%' decodes to itself.
 */
const DECODED = new Map(
  ['%24.mid', '%24.ct', '%24.ce', '%24.cid', '%24.uid', '%24.to', '%24.exp', '%24.ifid', 'application%2Fjson', 'application%2Fjson%3Bcharset%3Dutf-8'].map((s) => [s, decodeURIComponent(s)]),
);

/** decodeURIComponent, throwing as it does, for a property bag's keys and values. */
function decodePart(s: string): string {
  return s.indexOf('%') < 0 ? s : (DECODED.get(s) ?? decodeURIComponent(s));
}

/** An IoT Hub telemetry topic's parts: `devices/{deviceId}/messages/events/{propertyBag}`. */
export interface EventTopic {
  deviceId: string;
  /** `$.mid`, when present and at most 255 bytes. */
  messageId: string | undefined;
  /** Why the property bag's content type or encoding is not UTF-8 JSON, or why it does not parse; null if fine. */
  problem: Problem | null;
}

/**
 * Parses the IoT Hub dialect's telemetry topic (the SDK's `sendEvent`): a URL-encoded property bag follows
 * `messages/events/`; of it, `$.mid` (message id), `$.ct` (content type) and `$.ce` (content encoding) matter here.
 * Other (application) properties are accepted and ignored. Null when the topic is not of this form.
 */
export function parseEventTopic(topic: string): EventTopic | null {
  if (!topic.startsWith(PLAIN_PREFIX)) return null;
  const slash = topic.indexOf('/', PLAIN_PREFIX.length);
  if (slash < 0 || !topic.startsWith(EVENTS, slash)) return null;
  const rest = slash + EVENTS.length;
  if (rest !== topic.length && topic.charCodeAt(rest) !== 47 /* / */) return null;
  if (!isDeviceId(topic, PLAIN_PREFIX.length, slash)) return null;
  const deviceId = topic.slice(PLAIN_PREFIX.length, slash);
  let messageId: string | undefined;
  let problem: Problem | null = null;
  // The pairs between '&'s, walked in place (no split); an empty one changes nothing. `eq` is the first '=' at or
  // after `start` (-1: none left), searched again only once passed, so a long bag is read once.
  let eq = -2;
  for (let start = rest + 1; start < topic.length; ) {
    let end = topic.indexOf('&', start);
    if (end < 0) end = topic.length;
    if (eq !== -1 && eq < start) eq = topic.indexOf('=', start);
    const hasValue = eq >= 0 && eq < end;
    let key: string;
    let value: string;
    try {
      key = decodePart(topic.slice(start, hasValue ? eq : end));
      value = hasValue ? decodePart(topic.slice(eq + 1, end)) : '';
    } catch {
      problem ??= { reason: 'bad_topic', detail: `property ${JSON.stringify(topic.slice(start, end).slice(0, 60))} is not URL-encoded` };
      start = end + 1;
      continue;
    }
    if (key === '$.mid') {
      if (value !== '' && Buffer.byteLength(value) <= MAX_MESSAGE_ID_BYTES) messageId = value;
    } else if (key === '$.ct') {
      if (!JSON_TYPE.test(value)) problem ??= { reason: 'unsupported_content', detail: `content type ($.ct) ${JSON.stringify(value)} is not application/json` };
    } else if (key === '$.ce') {
      if (!UTF8.test(value)) problem ??= { reason: 'unsupported_content', detail: `content encoding ($.ce) ${JSON.stringify(value)} is not utf-8` };
    }
    start = end + 1;
  }
  return { deviceId, messageId, problem };
}

/**
 * Decodes one MQTT message: a JSON reading or an array of readings. Each element is accepted or rejected on its
 * own, so one bad element does not cost the good ones. Never throws.
 *
 * It runs on the broker's thread for every message, so the common case — one flat object that is accepted — takes
 * the byte scanner of decode-flat.ts; everything else (arrays, rejections, escapes, anything the scanner is not sure
 * of) takes decodeMessageJson, whose answer is the contract.
 */
export function decodeMessage(topic: string, payload: Buffer, arrival: number, limits: DecodeLimits, sink: DecodeSink): void {
  if (payload.length <= limits.maxPayloadBytes) {
    // A connection's messages come in runs of one topic (the broker hands over the same string): its device id once.
    if (topic !== lastTopic) {
      lastTopic = topic;
      lastDeviceId = deviceIdOfTopic(topic);
    }
    let deviceId = lastDeviceId;
    let bagMessageId: string | undefined;
    if (deviceId === null) {
      const event = parseEventTopic(topic);
      if (event !== null && event.problem === null) {
        deviceId = event.deviceId;
        bagMessageId = event.messageId;
      }
    }
    if (deviceId !== null) {
      const reading = scanFlatReading(payload, deviceId, arrival, limits, bagMessageId, scanned);
      if (reading !== null) return sink.accept(reading);
    }
  }
  decodeMessageJson(topic, payload, arrival, limits, sink);
}

/** The fast path's reading, filled again for each message (the sink copies what it keeps): no object per message. */
const scanned = blankReading();

/** The plain topic decodeMessage saw last, and its device id (deviceIdOfTopic). */
let lastTopic = '';
let lastDeviceId: string | null = null;

/** A topic of the scheme's shape says which device id is wrong: "not devices/{deviceId}/telemetry" would not. */
const TOPIC_SHAPE = /^devices\/([^/]*)\/(?:telemetry|messages\/events(?:\/.*)?)$/s;

function badTopicDetail(topic: string): string {
  const shaped = TOPIC_SHAPE.exec(topic);
  if (shaped !== null) return `device id ${JSON.stringify(shaped[1])} in topic ${JSON.stringify(topic)} does not match [A-Za-z0-9._:-]{1,128}`;
  return `topic ${JSON.stringify(topic)} is not devices/{deviceId}/telemetry or devices/{deviceId}/messages/events/{properties}`;
}

/**
 * decodeMessage through JSON.parse alone: what it answers for every message (the fast path must answer the same;
 * test/decode-fast.test.ts and bench/decode.ts use this as the reference).
 */
export function decodeMessageJson(topic: string, payload: Buffer, arrival: number, limits: DecodeLimits, sink: DecodeSink): void {
  let deviceId = deviceIdOfTopic(topic);
  let messageId: string | undefined;
  // The IoT Hub dialect's device is the one that connected: a deviceId in its body is the application's data there.
  const checkBodyId = deviceId !== null;
  if (deviceId === null) {
    const event = parseEventTopic(topic);
    if (event === null) return sink.reject('bad_topic', badTopicDetail(topic), null, topic, payload);
    deviceId = event.deviceId;
    if (event.problem !== null) return sink.reject(event.problem.reason, event.problem.detail, deviceId, topic, payload);
    messageId = event.messageId;
  }
  if (payload.length > limits.maxPayloadBytes) {
    const detail = `payload of ${payload.length} bytes exceeds the limit of ${limits.maxPayloadBytes}`;
    return sink.reject('payload_too_large', detail, deviceId, topic, payload);
  }
  // toString would turn bytes that are not UTF-8 into U+FFFD and go on: refuse them instead.
  if (!isUtf8(payload)) return sink.reject('not_json', 'the payload is not valid UTF-8', deviceId, topic, payload);
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return sink.reject('not_json', notJsonDetail(payload, err as Error), deviceId, topic, payload);
  }
  if (Array.isArray(body) && body.length === 0) return sink.reject('not_object', 'an empty array: no reading in it', deviceId, topic, payload);
  if (!Array.isArray(body)) {
    const r = check(body, deviceId, checkBodyId, arrival, limits, messageId);
    if ('reason' in r) sink.reject(r.reason, r.detail, deviceId, topic, payload);
    else sink.accept(r);
    return;
  }
  // An array: the good elements are accepted; the bad ones make ONE dead letter for the message (its payload is
  // kept once), with the reason of the first and the details of the first few.
  let first: Problem | undefined;
  let bad = 0;
  const details: string[] = [];
  for (let i = 0; i < body.length; i++) {
    // One IoT Hub message id for the whole array: each element gets its own, derived from it.
    const r = check(body[i], deviceId, checkBodyId, arrival, limits, messageId === undefined ? undefined : `${messageId}[${i}]`);
    if (!('reason' in r)) {
      sink.accept(r);
      continue;
    }
    first ??= r;
    if (++bad <= ARRAY_DETAILS) details.push(`[${i}] ${r.detail}`);
  }
  if (first === undefined) return;
  const more = bad > ARRAY_DETAILS ? `; and ${bad - ARRAY_DETAILS} more` : '';
  const of = bad > 1 ? `${bad} of ${body.length} elements rejected: ` : '';
  sink.reject(first.reason, of + details.join('; ') + more, deviceId, topic, payload);
}

const ARRAY_DETAILS = 5;

interface Problem {
  reason: RejectReason;
  detail: string;
}

const problem = (reason: RejectReason, detail: string): Problem => ({ reason, detail });

/**
 * `checkBodyId`: a `deviceId` in the body must be the topic's (not on the IoT Hub dialect's topic, where IoT Hub
 * leaves the body to the application: Microsoft's device samples send `deviceId: "myFirstDevice"` from any device).
 * `bagMessageId`: the IoT Hub property bag's `$.mid` (per element of an array), which wins over a payload's `messageId`.
 */
function check(body: unknown, deviceId: string, checkBodyId: boolean, arrival: number, limits: DecodeLimits, bagMessageId: string | undefined): Reading | Problem {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return problem('not_object', `expected a JSON object, got ${describe(body)}`);
  }
  const o = body as Record<string, unknown>;
  const temperature = o.temperature;
  if (temperature === undefined) return problem('missing_temperature', '"temperature" is missing');
  if (typeof temperature !== 'number') {
    if (temperature === null || (typeof temperature === 'string' && NON_FINITE_TEXT.test(temperature.trim()))) {
      return problem('non_finite_temperature', `"temperature" is ${describe(temperature)}, not a finite number`);
    }
    return problem('wrong_type', `"temperature" must be a number, got ${describe(temperature)}`);
  }
  if (!Number.isFinite(temperature)) return problem('non_finite_temperature', `"temperature" is ${temperature}`);
  if (temperature < TEMPERATURE_RANGE[0] || temperature > TEMPERATURE_RANGE[1]) {
    return problem('out_of_range', `"temperature" ${temperature} is outside ${TEMPERATURE_RANGE[0]}…${TEMPERATURE_RANGE[1]} °C`);
  }

  let humidity: number | undefined;
  if (o.humidity !== undefined && o.humidity !== null) {
    if (typeof o.humidity !== 'number' || !Number.isFinite(o.humidity)) {
      return problem('wrong_type', `"humidity" must be a finite number, got ${describe(o.humidity)}`);
    }
    if (o.humidity < 0 || o.humidity > 100) return problem('out_of_range', `"humidity" ${o.humidity} is outside 0…100 %RH`);
    humidity = o.humidity;
  }

  let seq: number | undefined;
  if (o.seq !== undefined && o.seq !== null) {
    if (typeof o.seq !== 'number' || !Number.isSafeInteger(o.seq) || o.seq < 0) {
      return problem('wrong_type', `"seq" must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}, got ${describe(o.seq)}`);
    }
    seq = o.seq;
  }

  // A message id (as IoT Hub's `$.mid`) lets readings without seq be deduplicated: a resend carries the same one.
  let messageId = bagMessageId;
  if (o.messageId !== undefined && o.messageId !== null) {
    if (typeof o.messageId !== 'string' || o.messageId.length === 0 || o.messageId.length > MAX_MESSAGE_ID) {
      return problem('wrong_type', `"messageId" must be a string of 1…${MAX_MESSAGE_ID} characters, got ${describe(o.messageId)}`);
    }
    messageId ??= o.messageId;
  }

  if (checkBodyId && o.deviceId !== undefined && o.deviceId !== deviceId) {
    return problem('device_mismatch', `payload deviceId ${describe(o.deviceId)} differs from the topic's "${deviceId}"`);
  }

  let ts = arrival;
  const filled = o.ts === undefined || o.ts === null; // the device sent no ts: its arrival time stands for it
  if (!filled) {
    if (typeof o.ts === 'number') {
      if (!Number.isFinite(o.ts) || o.ts < 0 || o.ts > MAX_EPOCH_MS) {
        return problem('bad_timestamp', `"ts" ${o.ts} is not epoch milliseconds`);
      }
      if (looksLikeEpochSeconds(o.ts)) {
        const ms = Math.floor(o.ts * 1000);
        return problem('bad_timestamp', `"ts" ${o.ts} looks like epoch seconds (${new Date(ms).toISOString()}): send epoch milliseconds (${ms}) or ISO 8601`);
      }
      ts = Math.floor(o.ts);
    } else if (typeof o.ts === 'string' && ISO_WITH_ZONE.test(o.ts)) {
      ts = parseIsoDate(o.ts);
      if (Number.isNaN(ts)) return problem('bad_timestamp', `"ts" ${describe(o.ts)} is no date: its month, day, hour, minute, second or zone offset is out of range`);
      if (ts < 0) return problem('bad_timestamp', `"ts" ${describe(o.ts)} is before 1970`);
    } else {
      return problem('bad_timestamp', `"ts" must be ISO 8601 with a zone or epoch ms, got ${describe(o.ts)}`);
    }
    if (ts - arrival > limits.maxClockSkewMs) {
      const ahead = ts - arrival;
      return problem('future_timestamp', `"ts" ${new Date(ts).toISOString()} is ${ahead} ms ahead of the server clock (limit ${limits.maxClockSkewMs} ms)`);
    }
  }
  const reading: Reading = { deviceId, ts, temperature, humidity, seq, arrival };
  if (filled) reading.tsFilled = true;
  if (messageId !== undefined) reading.messageId = messageId;
  return reading;
}

/** JSON.parse's message, or what it does not say: an empty payload, a byte order mark it cannot show. */
function notJsonDetail(payload: Buffer, err: Error): string {
  if (payload.length === 0) return 'an empty payload: no reading in it';
  if (payload.toString('latin1').trim() === '') return 'a payload of only white space: no reading in it';
  if (payload[0] === 0xef && payload[1] === 0xbb && payload[2] === 0xbf) return 'the payload starts with a UTF-8 byte order mark (EF BB BF): send the JSON without it';
  return err.message;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
