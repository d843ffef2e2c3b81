import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { RejectReason } from '../errors.ts';
import { blankReading, copyReading, type Reading } from './reading.ts';

/**
 * On-disk format of the ingest log. A segment file holds blocks, one per group commit:
 *
 *   block  = magic u32 | payload length u32 | record count u32 | crc32(payload) u32 | payload
 *   record = 1 u8 | id length u8 | id (ASCII) | ts f64 (NaN: none sent) | temperature f64 | humidity f64 (NaN: none)
 *            | seq f64 (-1: none) | arrival f64                                              (a reading)
 *          | 3 u8 | the fields of a reading | message id length u8 | message id (UTF-8)  (a reading with a message id)
 *          | 4 u8 | length u32 | JSON | payload length u32 | payload bytes                (a dead letter)
 *          | 2 u8 | length u32 | JSON, its payload as text           (a dead letter of earlier versions, still read)
 *
 * Little-endian throughout. A block whose bytes are incomplete or whose CRC does not match, with no valid block after
 * it in the last segment, is a torn write from a crash: it was never acknowledged, and recovery cuts the segment there.
 * A bad block anywhere else is corruption (checkSegment tells them apart).
 */
export const BLOCK_MAGIC = 0x4754534c; // "LSTG"
export const BLOCK_HEADER = 16;
const READING = 1;
const DEAD_LETTER_TEXT = 2;
const READING_WITH_ID = 3;
const DEAD_LETTER = 4;
/** Message ids longer than this are not kept (and so not deduplicated by); IoT Hub's are UUIDs. */
export const MAX_MESSAGE_ID_BYTES = 255;

/**
 * The message id as the log keeps it: itself when it fits its length byte, else a digest of all of it. Cut to 255
 * bytes instead, ids that differ only past that would become one: the elements of an array whose `$.mid` is 253 to
 * 255 bytes long (`{mid}[0]`, `{mid}[1]`, … all cut back to `{mid}`, every element after the first then dropped as
 * a resend), or 128-character payload ids in a script of 3-byte characters. The id only serves dedupe, which hashes it.
 */
export function loggedMessageId(id: string): string {
  // At most 3 UTF-8 bytes per UTF-16 unit: a short id needs no count.
  if (id.length * 3 <= MAX_MESSAGE_ID_BYTES || Buffer.byteLength(id) <= MAX_MESSAGE_ID_BYTES) return id;
  return `sha256:${createHash('sha256').update(id).digest('base64')}`;
}

export interface DeadLetter {
  receivedAt: number;
  deviceId: string | null;
  topic: string;
  reason: RejectReason;
  detail: string;
  /** The raw payload's bytes as received (not decoded: it may not be UTF-8), its first ingest.deadLetterPayloadChars. */
  payload: Buffer;
  payloadBytes: number;
}

/** Records decoded from the log, split by kind (each kind keeps its order). */
export interface Records {
  readings: Reading[];
  deadLetters: DeadLetter[];
}

const MIN_BUFFER = 64 * 1024;

/**
 * Accumulates the records of one group commit in a growing buffer; no allocation per record. The finished block
 * is handed over whole (it is both what is written and what the engine later decodes), and a new buffer is started.
 */
export class BlockWriter {
  private buf = Buffer.allocUnsafe(MIN_BUFFER);
  private pos = BLOCK_HEADER;
  count = 0;

  get empty(): boolean {
    return this.count === 0;
  }

  /** Bytes the writer holds for the open group. */
  get capacity(): number {
    return this.buf.length;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  reading(r: Reading): void {
    const id = r.deviceId;
    const idLen = id.length;
    const mid = r.messageId === undefined ? undefined : loggedMessageId(r.messageId);
    this.ensure(2 + idLen + 40 + (mid === undefined ? 0 : 1 + MAX_MESSAGE_ID_BYTES));
    const b = this.buf;
    let p = this.pos;
    b[p++] = mid === undefined ? READING : READING_WITH_ID;
    b[p++] = idLen;
    // Latin-1 (an id is ASCII: DEVICE_ID), byte by byte: for a few dozen bytes cheaper than a call to write().
    for (let k = 0; k < idLen; k++) b[p + k] = id.charCodeAt(k);
    p += idLen;
    p = b.writeDoubleLE(r.tsFilled ? NaN : r.ts, p); // the arrival time stands for it
    p = b.writeDoubleLE(r.temperature, p);
    p = b.writeDoubleLE(r.humidity ?? NaN, p);
    p = b.writeDoubleLE(r.seq ?? -1, p);
    p = b.writeDoubleLE(r.arrival, p);
    if (mid !== undefined) {
      const n = b.write(mid, p + 1, MAX_MESSAGE_ID_BYTES, 'utf8');
      b[p] = n;
      p += 1 + n;
    }
    this.pos = p;
    this.count++;
  }

  deadLetter(d: DeadLetter): void {
    const { payload, ...rest } = d;
    const json = JSON.stringify(rest);
    const len = Buffer.byteLength(json);
    this.ensure(9 + len + payload.length);
    const b = this.buf;
    b[this.pos] = DEAD_LETTER;
    b.writeUInt32LE(len, this.pos + 1);
    b.write(json, this.pos + 5, 'utf8');
    b.writeUInt32LE(payload.length, this.pos + 5 + len);
    payload.copy(b, this.pos + 9 + len);
    this.pos += 9 + len + payload.length;
    this.count++;
  }

  /**
   * The finished block, header included, in a buffer of its own and of its exact size (a block waits in memory until
   * the engine takes it, and then crosses to the batch thread); the writer keeps its buffer for the next group.
   */
  finish(): Buffer {
    const payload = this.buf.subarray(BLOCK_HEADER, this.pos);
    this.buf.writeUInt32LE(BLOCK_MAGIC, 0);
    this.buf.writeUInt32LE(payload.length, 4);
    this.buf.writeUInt32LE(this.count, 8);
    this.buf.writeUInt32LE(crc32(payload), 12);
    const block = Buffer.allocUnsafeSlow(this.pos);
    this.buf.copy(block, 0, 0, this.pos);
    // A flood grows the buffer to its largest group; once groups are small again, it need not stay that large.
    if (this.buf.length > MIN_BUFFER && this.pos <= this.buf.length >>> 2) this.buf = Buffer.allocUnsafe(Math.max(MIN_BUFFER, this.buf.length >>> 2));
    this.pos = BLOCK_HEADER;
    this.count = 0;
    return block;
  }
}

/** The end of the valid block at `pos` (magic, length within the bytes, CRC), or -1. */
export function validBlockEnd(bytes: Buffer, pos: number): number {
  if (pos + BLOCK_HEADER > bytes.length || bytes.readUInt32LE(pos) !== BLOCK_MAGIC) return -1;
  const end = pos + BLOCK_HEADER + bytes.readUInt32LE(pos + 4);
  if (end > bytes.length) return -1;
  return crc32(bytes.subarray(pos + BLOCK_HEADER, end)) === bytes.readUInt32LE(pos + 12) ? end : -1;
}

const MAGIC_BYTES = Buffer.alloc(4);
MAGIC_BYTES.writeUInt32LE(BLOCK_MAGIC);

/** Where the valid blocks of a segment stop, and where (if anywhere) valid blocks start again. */
export interface SegmentCheck {
  /** Records in the valid prefix. */
  records: number;
  /** Length of the valid prefix: where the first bad block starts (bytes.length if none). */
  validBytes: number;
  /** The next valid block after the bad one, or -1 if none follows (a torn tail, if this is the last segment). */
  resumesAt: number;
  /** Records of the bad block according to its header, if the header is intact and its length reaches resumesAt. */
  badRecords: number | null;
}

/** Checks a segment's blocks from `from` (a block boundary): finds the first bad block and the next good one. */
export function checkSegment(bytes: Buffer, from = 0): SegmentCheck {
  let pos = from;
  let records = 0;
  for (;;) {
    const end = validBlockEnd(bytes, pos);
    if (end < 0) break;
    records += bytes.readUInt32LE(pos + 8);
    pos = end;
  }
  if (pos >= bytes.length) return { records, validBytes: pos, resumesAt: -1, badRecords: null };
  let resumesAt = -1;
  for (let at = bytes.indexOf(MAGIC_BYTES, pos + 1); at >= 0; at = bytes.indexOf(MAGIC_BYTES, at + 1)) {
    if (validBlockEnd(bytes, at) >= 0) {
      resumesAt = at;
      break;
    }
  }
  let badRecords: number | null = null;
  if (resumesAt >= 0 && pos + BLOCK_HEADER <= bytes.length && bytes.readUInt32LE(pos) === BLOCK_MAGIC) {
    if (pos + BLOCK_HEADER + bytes.readUInt32LE(pos + 4) === resumesAt) badRecords = bytes.readUInt32LE(pos + 8);
  }
  return { records, validBytes: pos, resumesAt, badRecords };
}

/**
 * Durable records taken from the log as bytes: whole blocks (headers included), in log order, the first record of the
 * first block at `firstOffset`; records at or below `after` are not part of the cut (a replay may start inside a
 * block). What crosses to the batch thread: bytes, not an object per reading. Each buffer holds one or more whole
 * blocks back to back; a live cut is the group commits as they were written, so none is copied to join them, and a
 * buffer that owns its memory is handed to the batch thread rather than copied.
 */
export interface RawCut {
  buffers: Uint8Array[];
  firstOffset: number;
  after: number;
  /** The offset of the cut's last record (the checkpoint's log offset once it is committed). */
  lastOffset: number;
}

/** How many records of a raw cut count: those after its `after` (blocks are whole, so a replay's first block may hold some at or below it). */
export function recordsIn(cut: RawCut): number {
  return cut.lastOffset - Math.max(cut.after, cut.firstOffset - 1);
}

/** The records of a raw cut, decoded in log order (each kind keeps its order). */
export function decodeCut(cut: RawCut): Records & { lastOffset: number } {
  let readings: Reading[] = [];
  const deadLetters = decodeCutInChunks(cut, Infinity, (all) => (readings = all));
  return { readings, deadLetters, lastOffset: cut.lastOffset };
}

/**
 * The reading objects decodeCutInChunks fills again and again, from one chunk and one cut to the next (as many as the
 * largest chunk): kept, not made anew for every cut, so that they are neither garbage nor promoted to die old.
 */
const spareReadings: Reading[] = [];

/**
 * Decodes a raw cut, handing `onReadings` its readings in log order, `chunk` of them at a time (the last hand may be
 * smaller), so that a large cut never exists as one object per reading all at once. With a finite `chunk` the objects
 * handed over are filled again for the next chunk (spareReadings): `onReadings` copies any reading it keeps past its
 * return, and does not call this again. Returns the cut's dead letters.
 */
export function decodeCutInChunks(cut: RawCut, chunk: number, onReadings: (readings: Reading[]) => void): DeadLetter[] {
  const reuse = Number.isFinite(chunk);
  const into: Records = { readings: reuse ? spareReadings : [], deadLetters: [] };
  const at: Cursor = { p: 0, offset: cut.firstOffset, n: 0 };
  const handOver = (): void => {
    // A partial chunk (the cut's last) is handed over as a copy of its part: the spares stay for the next cut.
    onReadings(at.n === into.readings.length ? into.readings : into.readings.slice(0, at.n));
    at.n = 0;
  };
  for (const buffer of cut.buffers) {
    const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    for (let pos = 0; pos < bytes.length; ) {
      const end = pos + BLOCK_HEADER + bytes.readUInt32LE(pos + 4);
      const payload = bytes.subarray(pos + BLOCK_HEADER, end);
      at.p = 0;
      while (at.p < payload.length) {
        decodeRecords(payload, at, cut.after, into, chunk, reuse);
        if (at.n >= chunk) handOver();
      }
      pos = end;
    }
  }
  if (at.n > 0) handOver();
  return into.deadLetters;
}

/** Decodes the records of one block's payload whose offsets are above `after`, appending them to `into`. */
export function decodeBlock(payload: Buffer, firstOffset: number, after: number, into: Records): void {
  decodeRecords(payload, { p: 0, offset: firstOffset, n: into.readings.length }, after, into, Infinity, false);
}

/** Where decoding stands: the next record's byte in its payload and its log offset, and the readings decoded so far. */
interface Cursor {
  p: number;
  offset: number;
  /** Readings in `into.readings` so far: with `reuse`, the objects past them are spares from earlier chunks. */
  n: number;
}

/**
 * Decodes records of a block's payload from byte `at.p` (offset `at.offset`) until the payload ends or `into.readings`
 * holds `max` readings; records at or below `after` are skipped. Leaves `at` at the next record. With `reuse`, a
 * reading is written into the object already at its index (blankReading); without, each is a new object with only the
 * fields it has.
 */
function decodeRecords(payload: Buffer, at: Cursor, after: number, into: Records, max: number, reuse: boolean): void {
  let { p, offset, n } = at;
  const { readings } = into;
  while (p < payload.length && n < max) {
    const type = payload[p];
    if (type === READING || type === READING_WITH_ID) {
      const idLen = payload[p + 1];
      const deviceId = deviceIdAt(payload, p + 2, idLen);
      p += 2 + idLen;
      const ts = payload.readDoubleLE(p);
      const temperature = payload.readDoubleLE(p + 8);
      const humidity = payload.readDoubleLE(p + 16);
      const seq = payload.readDoubleLE(p + 24);
      const arrival = payload.readDoubleLE(p + 32);
      p += 40;
      let messageId: string | undefined;
      if (type === READING_WITH_ID) {
        const len = payload[p];
        if (offset > after) messageId = payload.toString('utf8', p + 1, p + 1 + len);
        p += 1 + len;
      }
      if (offset > after) {
        // A ts of NaN: the device sent none (records of earlier versions hold the arrival time, taken as the device's).
        const filled = Number.isNaN(ts);
        const r = reuse ? (readings[n] ??= blankReading()) : decoded;
        r.deviceId = deviceId;
        r.ts = filled ? arrival : ts;
        r.tsFilled = filled ? true : undefined;
        r.temperature = temperature;
        r.humidity = Number.isNaN(humidity) ? undefined : humidity;
        r.seq = seq < 0 ? undefined : seq;
        r.messageId = messageId;
        r.arrival = arrival;
        if (!reuse) readings[n] = copyReading(r);
        n++;
      }
    } else if (type === DEAD_LETTER) {
      const len = payload.readUInt32LE(p + 1);
      const bytes = payload.readUInt32LE(p + 5 + len);
      if (offset > after) {
        // A copy: the letter outlives the block it was read from.
        const raw = Buffer.from(payload.subarray(p + 9 + len, p + 9 + len + bytes));
        into.deadLetters.push({ ...JSON.parse(payload.toString('utf8', p + 5, p + 5 + len)), payload: raw });
      }
      p += 9 + len + bytes;
    } else if (type === DEAD_LETTER_TEXT) {
      const len = payload.readUInt32LE(p + 1);
      if (offset > after) {
        const d = JSON.parse(payload.toString('utf8', p + 5, p + 5 + len));
        into.deadLetters.push({ ...d, payload: Buffer.from(d.payload, 'utf8') });
      }
      p += 5 + len;
    } else {
      throw new Error(`ingest log: unknown record type ${type} at offset ${offset}`);
    }
    offset++;
  }
  at.p = p;
  at.offset = offset;
  at.n = n;
}

/** Where a reading is decoded before its copy, when objects are not reused. */
const decoded = blankReading();

/** Device ids decoded lately, in slots by a hash of their bytes (a cache that forgets on collision). */
const ID_SLOT_BITS = 14;
const recentIds: (string | undefined)[] = new Array<string | undefined>(1 << ID_SLOT_BITS).fill(undefined);

/**
 * The device id of `len` Latin-1 bytes at `p`: the string decoded last time for these bytes when its slot still holds
 * it. A fleet's readings then share one string per device instead of a new one each: less garbage, and the engine's
 * maps find it by identity with its hash already computed.
 */
function deviceIdAt(payload: Buffer, p: number, len: number): string {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < len; i++) h = Math.imul(h ^ payload[p + i], 0x01000193);
  const slot = h >>> (32 - ID_SLOT_BITS);
  const known = recentIds[slot];
  if (known !== undefined && known.length === len) {
    let i = 0;
    while (i < len && known.charCodeAt(i) === payload[p + i]) i++;
    if (i === len) return known;
  }
  const id = payload.toString('latin1', p, p + len);
  recentIds[slot] = id;
  return id;
}
