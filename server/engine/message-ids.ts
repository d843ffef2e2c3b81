/**
 * The message ids one device sent lately, for readings without `seq` (IoT Hub's `$.mid`, or `"messageId"` in a
 * plain payload): a ring of the last `capacity` ids, kept as 52-bit hashes so a device costs 8 bytes per id however
 * long its ids are. A resend (after a lost PUBACK or a server crash) comes while the original is among the device's
 * unacknowledged messages, so a ring longer than a device's in-flight window recognises it.
 *
 * The hash is fixed (it is checkpointed): FNV-1a over UTF-16 code units in two 32-bit lanes. A false duplicate needs
 * two ids of one device among `capacity` to collide in 52 bits: about capacity / 2^52 per reading.
 */
const EMPTY = -1;

export function hashMessageId(id: string): number {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (b >>> 12) * 0x1_0000_0000 + (a >>> 0); // 20 + 32 bits: an exact, non-negative double
}

export class MessageIdRing {
  readonly ids: Float64Array;
  /** The slot the next id goes to; the ring holds the oldest id there. */
  next = 0;

  constructor(capacity: number) {
    this.ids = new Float64Array(capacity).fill(EMPTY);
  }

  /** True (and remembered) the first time `hash` is seen; false for a resend. */
  add(hash: number): boolean {
    if (this.ids.includes(hash)) return false;
    this.ids[this.next] = hash;
    this.next = this.next + 1 === this.ids.length ? 0 : this.next + 1;
    return true;
  }

  /** The ids as bytes, oldest first (so a ring of another capacity can restore them). */
  toBytes(): Uint8Array {
    const n = this.ids.length;
    const ordered = new Float64Array(n);
    ordered.set(this.ids.subarray(this.next), 0);
    ordered.set(this.ids.subarray(0, this.next), n - this.next);
    return new Uint8Array(ordered.buffer);
  }

  /** A ring of `capacity` holding the newest ids of `bytes` (from toBytes, of any capacity). */
  static fromBytes(bytes: Uint8Array, capacity: number): MessageIdRing {
    const copy = Uint8Array.from(bytes); // aligned for the Float64Array view
    const saved = new Float64Array(copy.buffer, 0, copy.length >> 3);
    const ring = new MessageIdRing(capacity);
    for (const h of saved.subarray(Math.max(0, saved.length - capacity))) if (h !== EMPTY) ring.add(h);
    return ring;
  }
}
