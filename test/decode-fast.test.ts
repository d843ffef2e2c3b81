/**
 * The fast decode path (the byte scanner of server/ingest/decode-flat.ts, behind decodeMessage) against the JSON.parse
 * path (decodeMessageJson), which defines the contract: on generated messages — valid readings, every rejection,
 * edge numbers, whitespace, key order, duplicate keys, escapes, non-ASCII, truncated JSON, arrays, both topic
 * dialects — both must hand the sink the same readings and the same rejections, detail text included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, decodeMessageJson, deviceIdOfTopic, parseEventTopic, type DecodeLimits, type DecodeSink } from '../server/ingest/decode.ts';
import { scanFlatReading } from '../server/ingest/decode-flat.ts';
import { copyReading, type Reading } from '../server/ingest/reading.ts';
import { mulberry32 } from '../simulator/random.ts';

const ARRIVAL = Date.parse('2026-12-02T06:00:00Z');
const LIMITS: DecodeLimits = { maxPayloadBytes: 262_144, maxClockSkewMs: 60_000 };

type Event = ['accept', Reading] | ['reject', string, string, string | null, string, string];

function run(decode: typeof decodeMessage, topic: string, payload: Buffer, arrival = ARRIVAL, limits = LIMITS): Event[] {
  const events: Event[] = [];
  const sink: DecodeSink = {
    accept: (r) => void events.push(['accept', copyReading(r)]),
    reject: (reason, detail, deviceId, t, p) => void events.push(['reject', reason, detail, deviceId, t, p.toString('latin1')]),
  };
  decode(topic, payload, arrival, limits, sink);
  return events;
}

/** Seeded, so a failure names a reproducible case. */
const rng = mulberry32;

const EDGE_NUMBERS = [
  '0', '-0', '-0.0', '0.0', '1', '21', '21.37', '-21.37', '40.2', '100', '100.0', '100.00000000000001', '1000', '1000.0000000000001',
  '-273.15', '-273.16', '-273.15000000000001', '1e21', '1E21', '1e+2', '1e-2', '2.5E-3', '1.7976931348623157e308', '1.8e308', '-1e400',
  '5e-324', '2e-324', '1e-400', '0.1', '0.30000000000000004', '3.141592653589793238462643383279', '123456789012345', '1234567890123456',
  '12345678901234567890', '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740991', '0.000001', '0.00000000000000000001',
  '99.99999999999999', '99.999999999999999', '1764633600', '946684800', '946684799', '4102444799', '4102444800', '99999999999', '100000000000', '1764633600000', '1764633600000.5', '1764633660001', '8640000000000000', '8640000000000001',
  '-1', '17', '17.0', '17.5', '1.5e1', '4294967296', '2147483648', '-2147483649', '0.5', '21.000000000000004', '21.37000000000000000001',
  // Not JSON: the JSON.parse path rejects these as not_json.
  '+1', '.5', '01', '-01', '00', '1.', '-', '--1', '1e', '1e+', '1e-', 'NaN', 'Infinity', '-Infinity', '0x10', '1_000', '1.2.3', '١',
];
const STRINGS = ['"21"', '"NaN"', '" nan "', '"-Infinity"', '"inf"', '""', '"x"', '"t-1"', '"dev-1"', '"a\\"b"', '"caf\u00e9"', '"\\u00e9"', '"tab\there"'];
const LITERALS = ['true', 'false', 'null', 'nul', 'truex', 'True', '{}', '{"a":1}', '[]', '[1]', '[21.5]', '{"temperature":21}'];
const ISO = [
  '2026-12-02T05:59:00Z', '2026-12-02T05:59:00.123Z', '2026-12-02T05:59:00.123456789Z', '2026-12-02T05:59:00.1234567891Z', '2026-12-02t05:59:00z',
  '2026-12-02T06:59:00+01:00', '2026-12-02T06:59:00+0100', '2026-12-02T05:59Z', '2026-12-02T05:59:00', '2026-12-02', '1969-12-31T23:59:59Z',
  '2026-02-30T00:00:00Z', '2026-12-02T06:05:00Z', '2026-12-02T25:00:00Z', '+002026-12-02T05:59:00Z', 'yesterday', '',
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomNumber(r: () => number): string {
  const k = r();
  if (k < 0.3) return pick(r, EDGE_NUMBERS);
  if (k < 0.6) return (r() * 120 - 20).toFixed(Math.floor(r() * 4));
  if (k < 0.75) return String(r() * 2000 - 500); // up to 17 significant digits
  if (k < 0.85) {
    let digits = '';
    const n = 1 + Math.floor(r() * 22);
    for (let i = 0; i < n; i++) digits += String(Math.floor(r() * 10));
    const dot = Math.floor(r() * (n + 1));
    const text = dot === 0 || dot === n ? digits : `${digits.slice(0, dot)}.${digits.slice(dot)}`;
    return (r() < 0.2 ? '-' : '') + text;
  }
  const exp = `${r() < 0.5 ? 'e' : 'E'}${pick(r, ['', '+', '-'])}${Math.floor(r() * 30)}`;
  return `${(r() * 100).toFixed(Math.floor(r() * 6))}${exp}`;
}

/** A value for the field; `clean` draws only from the ranges a real device sends (mostly accepted). */
function valueFor(r: () => number, key: string, deviceId: string, clean = false): string {
  const k = clean ? 0.12 + r() * 0.6 : r(); // clean: past the literals and strings, mostly into each field's usual values
  if (k < 0.08) return pick(r, LITERALS);
  if (k < 0.12) return pick(r, STRINGS);
  switch (key) {
    case 'temperature':
      return k < 0.7 ? (r() * 60 - 10).toFixed(Math.floor(r() * 3)) : randomNumber(r);
    case 'humidity':
      return k < 0.7 ? (r() * 100).toFixed(1) : randomNumber(r);
    case 'seq':
      return k < 0.7 ? String(Math.floor(r() * 1e6)) : randomNumber(r);
    case 'ts':
      if (k < 0.55) return String(ARRIVAL - Math.floor(r() * 600_000) + (r() < 0.1 ? 120_000 : 0));
      if (k < 0.8) return JSON.stringify(pick(r, ISO));
      return randomNumber(r);
    case 'messageId': {
      if (k < 0.7) return JSON.stringify(`m-${Math.floor(r() * 1000)}`);
      return JSON.stringify(pick(r, ['', 'x'.repeat(128), 'x'.repeat(129), 'é', 'a b', '\u0001']));
    }
    case 'deviceId':
      return k < 0.7 ? JSON.stringify(deviceId) : JSON.stringify(pick(r, ['other', deviceId.toUpperCase(), deviceId + ' ', '']));
    default:
      return k < 0.5 ? randomNumber(r) : JSON.stringify(pick(r, ['kitchen', 'caf\u00e9', 'x'.repeat(50), '']));
  }
}

const KEYS = ['ts', 'temperature', 'humidity', 'seq', 'messageId', 'deviceId'];
const OTHER_KEYS = ['room', 'battery', '__proto__', 'constructor', 'Temperature', 'temp', 'temperatures', 'humidity2', 't\u00e9'];

function space(r: () => number): string {
  const k = r();
  if (k < 0.8) return '';
  if (k < 0.995) return pick(r, [' ', '  ', '\n', '\t', '\r\n', ' \n\t ']);
  return pick(r, ['\u00a0', '\f', '\v', '\u2028', '\u0000']); // not JSON whitespace
}

function key(r: () => number, k: string): string {
  if (r() < 0.03) return `"${k.slice(0, 1)}\\u00${k.charCodeAt(1).toString(16)}${k.slice(2)}"`; // an escape spelling the same key
  return JSON.stringify(k);
}

function randomObject(r: () => number, deviceId: string): string {
  const clean = r() < 0.5;
  const fields: [string, string][] = [];
  if (clean || r() < 0.95) fields.push(['temperature', valueFor(r, 'temperature', deviceId, clean)]);
  for (const k of KEYS) if (k !== 'temperature' && r() < 0.5) fields.push([k, valueFor(r, k, deviceId, clean)]);
  if (r() < 0.15) fields.push([pick(r, OTHER_KEYS), valueFor(r, 'other', deviceId, clean)]);
  if (!clean && r() < 0.05) fields.push([pick(r, KEYS), valueFor(r, pick(r, KEYS), deviceId)]); // a duplicate, mostly
  for (let i = fields.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [fields[i], fields[j]] = [fields[j], fields[i]];
  }
  const body = fields.map(([k, v]) => `${space(r)}${key(r, k)}${space(r)}:${space(r)}${v}${space(r)}`).join(',');
  return `${space(r)}{${body}}${space(r)}`;
}

function randomPayload(r: () => number, deviceId: string): Buffer {
  const k = r();
  let text: string;
  if (k < 0.8) text = randomObject(r, deviceId);
  else if (k < 0.88) text = `[${Array.from({ length: Math.floor(r() * 4) }, () => randomObject(r, deviceId)).join(',')}]`;
  else text = pick(r, ['', ' ', 'null', '21', '"21"', 'true', '{', '}', '{}', '{"temperature":21', '{"temperature":21,}', '{"temperature" 21}',
    '{temperature:21}', "{'temperature':21}", '{"temperature":21}}', '{"temperature":21} x', '{"temperature":{"value":21}}', '\ufeff{"temperature":21}']);
  let bytes = Buffer.from(text);
  const m = r();
  if (m < 0.05) bytes = bytes.subarray(0, Math.floor(r() * bytes.length)); // truncated
  else if (m < 0.07) bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]); // a UTF-8 BOM
  else if (m < 0.09) {
    // A byte that is not UTF-8, inside the payload.
    const copy = Buffer.from(bytes);
    if (copy.length > 0) copy[Math.floor(r() * copy.length)] = pick(r, [0x80, 0xc3, 0xff, 0xe2]);
    bytes = copy;
  }
  return bytes;
}

const IDS = ['t-1', 'dev-00042', 'A.b:c_d-9', 'x'.repeat(128)];
function randomTopic(r: () => number): { topic: string; deviceId: string } {
  const deviceId = pick(r, IDS);
  const k = r();
  if (k < 0.7) return { topic: `devices/${deviceId}/telemetry`, deviceId };
  if (k < 0.93) {
    const bag = [
      pick(r, ['', '%24.mid=m%201', '$.mid=abc', `%24.mid=${'y'.repeat(256)}`, '%24.mid=']),
      pick(r, ['', '%24.ct=application%2Fjson', '%24.ct=application%2Fjson%3Bcharset%3Dutf-8', '%24.ct=text%2Fplain']),
      pick(r, ['', '%24.ce=utf-8', '%24.ce=utf-16', 'room=kitchen', 'a=%E0%A4%A']),
    ].filter((x) => x !== '').join('&');
    return { topic: `devices/${deviceId}/messages/events${pick(r, ['', '/'])}${bag === '' ? '' : `/${bag}`}`, deviceId };
  }
  return { topic: pick(r, ['devices/telemetry', 'devices//telemetry', 'devices/a b/telemetry', `devices/${'x'.repeat(129)}/telemetry`, 'devices/t-1/telemetry/x', 'devices/té/telemetry', 'x/t-1/telemetry']), deviceId };
}

test('fast path and JSON.parse path agree on generated messages: readings, reasons and details', () => {
  const r = rng(20261202);
  const N = 40_000;
  let fast = 0;
  let accepted = 0;
  const reasons = new Map<string, number>();
  for (let i = 0; i < N; i++) {
    const { topic, deviceId } = randomTopic(r);
    const payload = randomPayload(r, deviceId);
    // Now and then a small payload limit or clock skew, so those rejections are drawn too.
    const limits = r() < 0.03 ? { maxPayloadBytes: 40, maxClockSkewMs: LIMITS.maxClockSkewMs } : r() < 0.05 ? { maxPayloadBytes: LIMITS.maxPayloadBytes, maxClockSkewMs: 0 } : LIMITS;
    const expected = run(decodeMessageJson, topic, payload, ARRIVAL, limits);
    const actual = run(decodeMessage, topic, payload, ARRIVAL, limits);
    assert.deepStrictEqual(actual, expected, `message ${i}: topic ${JSON.stringify(topic)}, payload ${JSON.stringify(payload.toString('latin1'))}`);
    if (scanFlatReading(payload, deviceId, ARRIVAL, limits, undefined) !== null) fast++;
    for (const e of expected) {
      if (e[0] === 'accept') accepted++;
      else reasons.set(e[1], (reasons.get(e[1]) ?? 0) + 1);
    }
  }
  // The generator reaches the fast path often and every reason a payload or topic can earn.
  assert.ok(fast > N * 0.15, `fast path taken ${fast} times of ${N}`);
  console.log(`decode-fast: ${N} messages, ${fast} through the fast path, ${accepted} readings accepted, rejections ${JSON.stringify(Object.fromEntries(reasons))}`);
  assert.ok(accepted > N * 0.2, `${accepted} accepted`);
  assert.deepEqual([...reasons.keys()].sort(), [
    'bad_timestamp', 'bad_topic', 'device_mismatch', 'future_timestamp', 'missing_temperature', 'non_finite_temperature', 'not_json',
    'not_object', 'out_of_range', 'payload_too_large', 'unsupported_content', 'wrong_type',
  ]);
});

test('fast path and JSON.parse path agree on every edge number in every numeric field', () => {
  for (const text of [...EDGE_NUMBERS, ...STRINGS, ...LITERALS]) {
    for (const field of ['temperature', 'humidity', 'seq', 'ts']) {
      const payload = Buffer.from(field === 'temperature' ? `{"temperature":${text}}` : `{"temperature":21.5,"${field}":${text}}`);
      const expected = run(decodeMessageJson, 'devices/t-1/telemetry', payload);
      assert.deepStrictEqual(run(decodeMessage, 'devices/t-1/telemetry', payload), expected, payload.toString());
    }
  }
  // Numbers as JSON.parse reads them, bit for bit (deepStrictEqual tells -0 from 0), from the scanner itself.
  for (const text of EDGE_NUMBERS) {
    let expected: unknown;
    try {
      expected = JSON.parse(text);
    } catch {
      continue;
    }
    const r = scanFlatReading(Buffer.from(`{"temperature":0,"x":1,"humidity":${text}}`), 't-1', ARRIVAL, LIMITS, undefined);
    if (r !== null) assert.ok(Object.is(r.humidity, expected), `${text}: ${r.humidity} vs ${expected}`);
  }
  const r = rng(7);
  for (let i = 0; i < 20_000; i++) {
    const text = randomNumber(r);
    let expected: number;
    try {
      expected = JSON.parse(text) as number;
    } catch {
      assert.equal(scanFlatReading(Buffer.from(`{"temperature":${text}}`), 't-1', ARRIVAL, LIMITS, undefined), null, text);
      continue;
    }
    const reading = scanFlatReading(Buffer.from(`{"temperature":0,"humidity":null,"z":${text},"temperature2":1,"temperature":${text}}`), 't-1', ARRIVAL, LIMITS, undefined);
    // A duplicate key never takes the fast path; without it, an in-range value does, with JSON.parse's double.
    assert.equal(reading, null);
    const once = scanFlatReading(Buffer.from(`{"temperature":${text}}`), 't-1', ARRIVAL, LIMITS, undefined);
    if (expected >= -273.15 && expected <= 1000) assert.ok(once !== null && Object.is(once.temperature, expected), `${text}: ${once?.temperature} vs ${expected}`);
    else assert.equal(once, null, text);
  }
});

test('deviceIdOfTopic answers as the DEVICE_ID pattern does', () => {
  const reference = (topic: string): string | null => {
    if (!topic.startsWith('devices/') || !topic.endsWith('/telemetry')) return null;
    const id = topic.slice('devices/'.length, topic.length - '/telemetry'.length);
    return /^[A-Za-z0-9._:-]{1,128}$/.test(id) ? id : null;
  };
  const r = rng(99);
  const alphabet = 'aZ09._:-/ $%é\u0000\n𝄞';
  const topics = ['devices/telemetry', 'devices//telemetry', 'devices/a/telemetry', `devices/${'x'.repeat(128)}/telemetry`, `devices/${'x'.repeat(129)}/telemetry`,
    'devices/a/telemetry\n', 'Devices/a/telemetry', 'devices/a/Telemetry', 'devices/a/telemetryx', '', 'devices/', '/telemetry', 'devices/a/b/telemetry'];
  for (let i = 0; i < 5000; i++) {
    let id = '';
    const n = Math.floor(r() * 12) + (r() < 0.05 ? 120 : 0);
    for (let k = 0; k < n; k++) id += alphabet[Math.floor(r() * alphabet.length)];
    topics.push(`devices/${id}/telemetry`);
  }
  for (const t of topics) assert.equal(deviceIdOfTopic(t), reference(t), JSON.stringify(t));
});

test('parseEventTopic answers as split and decodeURIComponent did', () => {
  // The parser before the fast path, kept here as the reference.
  const JSON_TYPE = /^(application|text)\/json\s*(;\s*charset\s*=\s*"?utf-?8"?\s*)?$/i;
  const UTF8 = /^utf-?8$/i;
  const reference = (topic: string): unknown => {
    if (!topic.startsWith('devices/')) return null;
    const slash = topic.indexOf('/', 'devices/'.length);
    if (slash < 0 || !topic.startsWith('/messages/events', slash)) return null;
    const rest = slash + '/messages/events'.length;
    if (rest !== topic.length && topic.charCodeAt(rest) !== 47) return null;
    const deviceId = topic.slice('devices/'.length, slash);
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(deviceId)) return null;
    const bag = topic.slice(rest + 1);
    let messageId: string | undefined;
    let problem: { reason: string; detail: string } | null = null;
    if (bag !== '') {
      for (const pair of bag.split('&')) {
        const eq = pair.indexOf('=');
        let key: string;
        let value: string;
        try {
          key = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
          value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
        } catch {
          problem ??= { reason: 'bad_topic', detail: `property ${JSON.stringify(pair.slice(0, 60))} is not URL-encoded` };
          continue;
        }
        if (key === '$.mid') {
          if (value !== '' && Buffer.byteLength(value) <= 255) messageId = value;
        } else if (key === '$.ct') {
          if (!JSON_TYPE.test(value)) problem ??= { reason: 'unsupported_content', detail: `content type ($.ct) ${JSON.stringify(value)} is not application/json` };
        } else if (key === '$.ce') {
          if (!UTF8.test(value)) problem ??= { reason: 'unsupported_content', detail: `content encoding ($.ce) ${JSON.stringify(value)} is not utf-8` };
        }
      }
    }
    return { deviceId, messageId, problem };
  };
  const r = rng(1402);
  const keys = ['$.mid', '%24.mid', '%24%2Emid', '%24.MID', '$.ct', '%24.ct', '$.ce', '%24.ce', '%24.cid', 'room', '', '%', '%E0%A4%A', 'a%20b', '%F0%9D%84%9E'];
  const values = ['m-1', 'm%201', '', 'a=b', '%', '%zz', 'application%2Fjson', 'application%2Fjson%3Bcharset%3Dutf-8', 'text%2Fplain', 'application/json',
    'utf-8', 'UTF8', 'utf-16', '%C3%A9', 'y'.repeat(256), '%C3%A9'.repeat(128), '%C3%A9'.repeat(127)];
  const heads = ['devices/t-1/messages/events', 'devices/t-1/messages/events/', 'devices/t-1/messages/eventsX/', 'devices/a b/messages/events/', 'devices//messages/events/',
    `devices/${'x'.repeat(129)}/messages/events/`, 'devices/t-1/messages/devicebound/', 'devices/t-1/telemetry'];
  for (let i = 0; i < 5000; i++) {
    const pairs = Array.from({ length: Math.floor(r() * 5) }, () => {
      const k = pick(r, keys);
      return r() < 0.15 ? k : `${k}=${pick(r, values)}`;
    });
    const topic = pick(r, heads) + pairs.join(pick(r, ['&', '&', '&&'])) + (r() < 0.05 ? '&' : '');
    assert.deepStrictEqual(parseEventTopic(topic), reference(topic), JSON.stringify(topic));
  }
});

test('the common payloads, decoded by the fast path, give these whole readings', () => {
  const decode = (topic: string, payload: string): Event[] => {
    const events = run(decodeMessage, topic, Buffer.from(payload));
    assert.deepStrictEqual(events, run(decodeMessageJson, topic, Buffer.from(payload)));
    return events;
  };
  assert.deepStrictEqual(decode('devices/dev-00042/telemetry', '{"ts":1764655140000,"temperature":21.37,"humidity":40.2,"seq":17}'), [
    ['accept', { deviceId: 'dev-00042', ts: 1764655140000, temperature: 21.37, humidity: 40.2, seq: 17, arrival: ARRIVAL }],
  ]);
  // Key order, whitespace, unknown fields and nulls as the JSON.parse path reads them; an ISO ts; the payload's messageId.
  assert.deepStrictEqual(decode('devices/t-1/telemetry', '\n{ "messageId" : "m-7", "room":"kitchen", "humidity": null,\t"temperature": -0, "ok": true, "ts": "2026-12-02T06:59:30.5+01:00" }\r\n'), [
    ['accept', { deviceId: 't-1', ts: Date.parse('2026-12-02T05:59:30.500Z'), temperature: -0, humidity: undefined, seq: undefined, messageId: 'm-7', arrival: ARRIVAL }],
  ]);
  // The IoT Hub property bag's $.mid wins over the payload's; a payload deviceId equal to the topic's is fine.
  assert.deepStrictEqual(decode('devices/t-1/messages/events/%24.mid=bag-1&%24.ct=application%2Fjson', '{"deviceId":"t-1","temperature":1000,"messageId":"m-7","ts":1764655199999.9}'), [
    ['accept', { deviceId: 't-1', ts: 1764655199999, temperature: 1000, humidity: undefined, seq: undefined, messageId: 'bag-1', arrival: ARRIVAL }],
  ]);
  // A duplicated field: the last one counts, as JSON.parse has it (the scanner leaves it to that path).
  assert.deepStrictEqual(decode('devices/t-1/telemetry', '{"temperature":2000,"temperature":21.5}'), [
    ['accept', { deviceId: 't-1', ts: ARRIVAL, temperature: 21.5, humidity: undefined, seq: undefined, arrival: ARRIVAL, tsFilled: true }],
  ]);
  // Rejections read the same, detail included.
  const payload = '{"temperature":21.5,"humidity":100.5}';
  assert.deepStrictEqual(decode('devices/t-1/telemetry', payload), [['reject', 'out_of_range', '"humidity" 100.5 is outside 0…100 %RH', 't-1', 'devices/t-1/telemetry', payload]]);
});

test('a ts with a zone offset in any of ISO 8601 forms (+01:00, +0100, +01) is the same instant, on both paths', () => {
  const instant = Date.parse('2026-12-02T05:59:30.000Z');
  for (const ts of ['2026-12-02T06:59:30+01:00', '2026-12-02T06:59:30+0100', '2026-12-02T06:59:30+01', '2026-12-02T00:59:30-05', '2026-12-02T05:59:30Z']) {
    for (const decode of [decodeMessage, decodeMessageJson]) {
      assert.deepStrictEqual(run(decode, 'devices/t-1/telemetry', Buffer.from(`{"temperature":21.5,"ts":"${ts}"}`)), [
        ['accept', { deviceId: 't-1', ts: instant, temperature: 21.5, humidity: undefined, seq: undefined, arrival: ARRIVAL }],
      ], `${ts} (${decode.name})`);
    }
  }
});

test('a ts with more fraction digits than milliseconds (.NET\'s 7, as IoT Hub\'s EnqueuedTimeUtc; 9) is its millisecond, the rest dropped, on both paths', () => {
  // ISO 8601 allows any number of fraction digits; the contract's times are whole ms, so .1239999 is 123 ms (as
  // Date.parse reads it), never rounded up into the next millisecond (which could move it into the next window).
  const instant = Date.parse('2024-03-01T10:00:00.123Z');
  for (const ts of ['2024-03-01T10:00:00.1230000Z', '2024-03-01T10:00:00.1239999Z', '2024-03-01T11:00:00.123456789+01:00', '2024-03-01T10:00:00.12345Z']) {
    for (const decode of [decodeMessage, decodeMessageJson]) {
      assert.deepStrictEqual(run(decode, 'devices/t-1/telemetry', Buffer.from(`{"temperature":21.5,"ts":"${ts}"}`)), [
        ['accept', { deviceId: 't-1', ts: instant, temperature: 21.5, humidity: undefined, seq: undefined, arrival: ARRIVAL }],
      ], `${ts} (${decode.name})`);
    }
  }
});

test('a ts in ISO form that is no date, or before 1970, is refused saying which, on both paths', () => {
  // Both were 'is not a valid date after 1970': for 25 o'clock, or an offset of +25:00, that pointed at the year.
  const noDate = (ts: string) => `"ts" "${ts}" is no date: its month, day, hour, minute, second or zone offset is out of range`;
  const cases: [string, string][] = [
    ['2026-02-30T00:00:00Z', noDate('2026-02-30T00:00:00Z')],
    ['2026-11-24T25:00:00Z', noDate('2026-11-24T25:00:00Z')],
    ['2026-11-24T10:00:00+25:00', noDate('2026-11-24T10:00:00+25:00')],
    ['1969-12-31T23:59:59Z', '"ts" "1969-12-31T23:59:59Z" is before 1970'],
  ];
  for (const [ts, detail] of cases) {
    const payload = `{"temperature":21.5,"ts":"${ts}"}`;
    for (const decode of [decodeMessage, decodeMessageJson]) {
      assert.deepStrictEqual(run(decode, 'devices/t-1/telemetry', Buffer.from(payload)), [['reject', 'bad_timestamp', detail, 't-1', 'devices/t-1/telemetry', payload]], `${ts} (${decode.name})`);
    }
  }
});

test('a reading without ts (or with ts null) is marked as the server having filled it in, on both paths; a stamped one is not', () => {
  const topic = 'devices/d1/telemetry';
  for (const decode of [decodeMessage, decodeMessageJson]) {
    const one = (body: string) => run(decode, topic, Buffer.from(body))[0][1] as Reading;
    assert.deepEqual(one('{"temperature":21,"seq":1}'), { deviceId: 'd1', ts: ARRIVAL, temperature: 21, humidity: undefined, seq: 1, arrival: ARRIVAL, tsFilled: true });
    assert.equal(one('{"temperature":21,"ts":null}').tsFilled, true);
    const stamped = one(`{"temperature":21,"ts":${ARRIVAL}}`);
    assert.equal(stamped.ts, ARRIVAL);
    assert.equal('tsFilled' in stamped, false, 'stamped the millisecond it arrived: still the device\'s');
  }
});
