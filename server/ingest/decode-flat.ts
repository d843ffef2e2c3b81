/**
 * The fast path of payload decoding: a scanner over the payload's bytes for the shape devices almost always send, a
 * flat JSON object of numbers, plain ASCII strings, true, false and null, e.g.
 * `{"ts":1764633600000,"temperature":21.37,"humidity":40.2,"seq":17}`. No JSON.parse, no intermediate object, no
 * string per key: only the Reading and the strings it keeps (a payload's messageId) or needs (an ISO ts).
 *
 * It answers a Reading only when it is certain that the JSON.parse path (decode.ts) would accept the same one, and
 * null for everything else — escapes, nested values, non-ASCII bytes, a duplicated field, malformed JSON, and any
 * value that path would reject — which then takes the JSON.parse path, so behaviour is the same by construction.
 * test/decode-fast.test.ts checks it against that path on generated payloads.
 */
import type { DecodeLimits } from './decode.ts';
import { blankReading, type Reading } from './reading.ts';
import { ISO_WITH_ZONE, looksLikeEpochSeconds, MAX_EPOCH_MS, MAX_MESSAGE_ID, parseIsoDate, TEMPERATURE_RANGE } from './reading-rules.ts';

// What a value was (0: the field did not occur).
const ABSENT = 0;
const NUMBER = 1;
const STRING = 2;
const BOOLEAN = 3;
const NULL = 4;

// The fields a reading reads; any other key is skipped, as the JSON.parse path ignores it.
const OTHER = 0;
const TS = 1;
const TEMPERATURE = 2;
const HUMIDITY = 3;
const SEQ = 4;
const MESSAGE_ID = 5;
const DEVICE_ID = 6;

/** Exact powers of ten (all below 2^53). */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
/**
 * Up to this many digits a number's digits make an exact integer (< 2^53), and that integer divided by an exact power
 * of ten is one correctly rounded IEEE division: the double nearest the decimal, which is what JSON.parse gives.
 * Longer numbers and exponents go through Number(), also correctly rounded (and ≈ 4× slower: bench/decode.ts).
 */
const MAX_DIRECT_DIGITS = 15;

// The value scanValue just read, in typed arrays: a number kept in a module variable would be boxed on every write.
const SCANNED = new Int32Array(3); // kind, string start, string end
const KIND = 0;
const START = 1;
const END = 2;
const SCANNED_NUMBER = new Float64Array(1);

/**
 * The Reading the JSON.parse path would accept for this payload, or null when the payload is not a flat object this
 * scanner is sure of, or is one that path would reject (it then gives the reason and detail). The reading is written
 * into `into` (every field set, absent ones to undefined: blankReading), which the caller may fill again and again.
 */
export function scanFlatReading(
  p: Buffer,
  deviceId: string,
  arrival: number,
  limits: DecodeLimits,
  bagMessageId: string | undefined,
  into: Reading = blankReading(),
): Reading | null {
  const n = p.length;
  // Whitespace is rare: each `p[i] <= 0x20` test below spares the call to skipSpace.
  let i = n > 0 && p[0] <= 0x20 ? skipSpace(p, 0, n) : 0;
  if (i >= n || p[i] !== 0x7b /* { */) return null;
  i++;
  let tsKind = ABSENT, tsNum = 0, tsStart = 0, tsEnd = 0;
  let tKind = ABSENT, tNum = 0;
  let hKind = ABSENT, hNum = 0;
  let sKind = ABSENT, sNum = 0;
  let mKind = ABSENT, mStart = 0, mEnd = 0;
  let dKind = ABSENT, dStart = 0, dEnd = 0;
  for (;;) {
    if (i < n && p[i] <= 0x20) i = skipSpace(p, i, n);
    // An empty object has no temperature: the JSON.parse path rejects it.
    if (i >= n || p[i] !== 0x22 /* " */) return null;
    const keyStart = i + 1;
    const keyEnd = scanString(p, keyStart, n);
    if (keyEnd < 0) return null;
    const key = fieldOf(p, keyStart, keyEnd);
    i = keyEnd + 1;
    if (i < n && p[i] <= 0x20) i = skipSpace(p, i, n);
    if (i >= n || p[i] !== 0x3a /* : */) return null;
    i++;
    if (i < n && p[i] <= 0x20) i = skipSpace(p, i, n);
    i = scanValue(p, i, n);
    if (i < 0) return null;
    const kind = SCANNED[KIND];
    const num = SCANNED_NUMBER[0];
    const strStart = SCANNED[START];
    const strEnd = SCANNED[END];
    // A field given twice: JSON.parse keeps the last one; rare enough to leave to it.
    switch (key) {
      case TS:
        if (tsKind !== ABSENT) return null;
        tsKind = kind, tsNum = num, tsStart = strStart, tsEnd = strEnd;
        break;
      case TEMPERATURE:
        if (tKind !== ABSENT) return null;
        tKind = kind, tNum = num;
        break;
      case HUMIDITY:
        if (hKind !== ABSENT) return null;
        hKind = kind, hNum = num;
        break;
      case SEQ:
        if (sKind !== ABSENT) return null;
        sKind = kind, sNum = num;
        break;
      case MESSAGE_ID:
        if (mKind !== ABSENT) return null;
        mKind = kind, mStart = strStart, mEnd = strEnd;
        break;
      case DEVICE_ID:
        if (dKind !== ABSENT) return null;
        dKind = kind, dStart = strStart, dEnd = strEnd;
        break;
    }
    if (i < n && p[i] <= 0x20) i = skipSpace(p, i, n);
    if (i >= n) return null;
    const c = p[i];
    if (c === 0x2c /* , */) {
      i++;
      continue;
    }
    if (c !== 0x7d /* } */) return null;
    break;
  }
  if (i + 1 !== n && skipSpace(p, i + 1, n) !== n) return null;

  // The checks of decode.ts `check`, each answering null where it would reject.
  if (tKind !== NUMBER || !(tNum >= TEMPERATURE_RANGE[0] && tNum <= TEMPERATURE_RANGE[1])) return null;
  const temperature = tNum;

  let humidity: number | undefined;
  if (hKind === NUMBER) {
    if (!(hNum >= 0 && hNum <= 100)) return null;
    humidity = hNum;
  } else if (hKind !== ABSENT && hKind !== NULL) return null;

  let seq: number | undefined;
  if (sKind === NUMBER) {
    if (!Number.isSafeInteger(sNum) || sNum < 0) return null;
    seq = sNum;
  } else if (sKind !== ABSENT && sKind !== NULL) return null;

  let messageId = bagMessageId;
  if (mKind === STRING) {
    // ASCII only, so the string's length is its byte count.
    if (mEnd === mStart || mEnd - mStart > MAX_MESSAGE_ID) return null;
    messageId ??= p.toString('latin1', mStart, mEnd);
  } else if (mKind !== ABSENT && mKind !== NULL) return null;

  if (dKind !== ABSENT && (dKind !== STRING || !sameText(p, dStart, dEnd, deviceId))) return null;

  let ts = arrival;
  if (tsKind === NUMBER || tsKind === STRING) {
    if (tsKind === NUMBER) {
      if (!(tsNum >= 0 && tsNum <= MAX_EPOCH_MS) || looksLikeEpochSeconds(tsNum)) return null;
      ts = Math.floor(tsNum);
    } else {
      const text = p.toString('latin1', tsStart, tsEnd);
      if (!ISO_WITH_ZONE.test(text)) return null;
      ts = parseIsoDate(text);
      if (!(ts >= 0)) return null;
    }
    if (ts - arrival > limits.maxClockSkewMs) return null;
  } else if (tsKind !== ABSENT && tsKind !== NULL) return null;

  into.deviceId = deviceId;
  into.ts = ts;
  into.tsFilled = tsKind !== NUMBER && tsKind !== STRING ? true : undefined; // absent or null (the others returned above)
  into.temperature = temperature;
  into.humidity = humidity;
  into.seq = seq;
  into.messageId = messageId;
  into.arrival = arrival;
  return into;
}

/** JSON's whitespace: space, tab, line feed, carriage return. */
function skipSpace(p: Buffer, i: number, n: number): number {
  while (i < n) {
    const c = p[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** The index of the closing quote of a string starting at i (after its opening quote); -1 on an escape, a control or non-ASCII byte, or no end. */
function scanString(p: Buffer, i: number, n: number): number {
  for (; i < n; i++) {
    const c = p[i];
    if (c === 0x22) return i;
    if (c === 0x5c /* \ */ || c < 0x20 || c >= 0x80) return -1;
  }
  return -1;
}

/** Reads one scalar value at i into SCANNED and SCANNED_NUMBER; the index after it, or -1 when it is not one this scanner takes. */
function scanValue(p: Buffer, i: number, n: number): number {
  if (i >= n) return -1;
  const c = p[i];
  if (c === 0x22) {
    const end = scanString(p, i + 1, n);
    if (end < 0) return -1;
    SCANNED[KIND] = STRING;
    SCANNED[START] = i + 1;
    SCANNED[END] = end;
    return end + 1;
  }
  if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) return scanNumber(p, i, n);
  if (c === 0x74 /* t */ && i + 4 <= n && p[i + 1] === 0x72 && p[i + 2] === 0x75 && p[i + 3] === 0x65) {
    SCANNED[KIND] = BOOLEAN;
    return i + 4;
  }
  if (c === 0x66 /* f */ && i + 5 <= n && p[i + 1] === 0x61 && p[i + 2] === 0x6c && p[i + 3] === 0x73 && p[i + 4] === 0x65) {
    SCANNED[KIND] = BOOLEAN;
    return i + 5;
  }
  if (c === 0x6e /* n */ && i + 4 <= n && p[i + 1] === 0x75 && p[i + 2] === 0x6c && p[i + 3] === 0x6c) {
    SCANNED[KIND] = NULL;
    return i + 4;
  }
  return -1; // an object, an array, or not JSON
}

/**
 * A number in JSON's grammar, `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, exactly as JSON.parse reads it: up to
 * 15 digits without an exponent directly (integer ÷ exact power of ten, one correct rounding), anything longer or with
 * an exponent through Number() of its text, which rounds correctly too. -1 for what JSON does not allow (+1, .5, 01, 1.).
 */
function scanNumber(p: Buffer, i: number, n: number): number {
  const start = i;
  const negative = p[i] === 0x2d;
  if (negative && ++i >= n) return -1;
  let c = p[i];
  let mantissa = 0;
  let digits = 0;
  if (c === 0x30) {
    i++;
    digits = 1;
    if (i < n && (c = p[i]) >= 0x30 && c <= 0x39) return -1; // a leading zero
  } else if (c >= 0x31 && c <= 0x39) {
    while (i < n && (c = p[i]) >= 0x30 && c <= 0x39) {
      mantissa = mantissa * 10 + (c - 0x30);
      digits++;
      i++;
    }
  } else return -1;
  let fraction = 0;
  if (i < n && p[i] === 0x2e /* . */) {
    const first = ++i;
    while (i < n && (c = p[i]) >= 0x30 && c <= 0x39) {
      mantissa = mantissa * 10 + (c - 0x30);
      i++;
    }
    fraction = i - first;
    if (fraction === 0) return -1;
    digits += fraction;
  }
  let exponent = false;
  if (i < n && ((c = p[i]) === 0x65 || c === 0x45) /* e E */) {
    exponent = true;
    if (++i < n && ((c = p[i]) === 0x2b || c === 0x2d)) i++;
    const first = i;
    while (i < n && (c = p[i]) >= 0x30 && c <= 0x39) i++;
    if (i === first) return -1;
  }
  SCANNED[KIND] = NUMBER;
  if (exponent || digits > MAX_DIRECT_DIGITS) {
    SCANNED_NUMBER[0] = Number(p.toString('latin1', start, i));
  } else {
    const v = fraction === 0 ? mantissa : mantissa / POW10[fraction];
    SCANNED_NUMBER[0] = negative ? -v : v;
  }
  return i;
}

/** Which of a reading's fields the key [s, e) names. */
function fieldOf(p: Buffer, s: number, e: number): number {
  switch (e - s) {
    case 2:
      return p[s] === 0x74 && p[s + 1] === 0x73 ? TS : OTHER;
    case 3:
      return sameText(p, s, e, 'seq') ? SEQ : OTHER;
    case 8:
      return sameText(p, s, e, 'humidity') ? HUMIDITY : sameText(p, s, e, 'deviceId') ? DEVICE_ID : OTHER;
    case 9:
      return sameText(p, s, e, 'messageId') ? MESSAGE_ID : OTHER;
    case 11:
      return sameText(p, s, e, 'temperature') ? TEMPERATURE : OTHER;
    default:
      return OTHER;
  }
}

/** Whether the ASCII bytes [s, e) spell `text`. */
function sameText(p: Buffer, s: number, e: number, text: string): boolean {
  if (e - s !== text.length) return false;
  for (let k = 0; k < text.length; k++) if (p[s + k] !== text.charCodeAt(k)) return false;
  return true;
}
