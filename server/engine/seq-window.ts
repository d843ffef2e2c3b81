import { defineSlots, SlotPool, Slots } from './slot-pool.ts';

/** How many seqs back from the highest one a device's resends are recognised. */
export const DEDUPE_WINDOW = 1024;
/** The window as the checkpoint keeps it: one bit per seq, at seq % DEDUPE_WINDOW (128 bytes). */
const SEEN_BYTES = DEDUPE_WINDOW / 8;

/**
 * Each device's window of seqs seen — the highest seq, that reading's ts, the device's last arrival, and which seqs
 * of the last DEDUPE_WINDOW up to the highest it has sent — in slots of two pools, seen through a view pointed at the
 * device in hand (point()), so that a device costs its slots and a map entry (Dedupe's), not objects.
 *
 * Almost every device sends its seqs in order, so its window holds one run of seqs up to the highest: a device is kept
 * compact, in a slot of 5 doubles (40 bytes) saying where that run begins (`low`), and is widened into a slot of its
 * own bits (128 bytes more) only when the run cannot say what it has seen: a late first arrival below the run, a jump
 * ahead that leaves a gap inside the window, a seq that is not a non-negative safe integer (decode.ts lets none
 * through), a checkpoint's bits that are not one run. A wide device goes back to compact when its window is emptied
 * (forget(), a jump past the whole window): a restarted counter does not keep a device wide for good.
 *
 * The bits of a wide device follow the rules they always had (each seq at seq % DEDUPE_WINDOW, the slots the window
 * slides over cleared), so both forms give the same answers and the same checkpoint bytes.
 */
export class SeqWindows extends Slots {
  declare max: number;
  declare maxTs: number;
  declare lastSeen: number;
  /**
   * Compact: every seq from max(low, max − DEDUPE_WINDOW + 1) up to max has been seen, and no other of the window
   * (low > max: none).
   */
  declare private low: number;
  /** The device's slot in the wide pool, whose bits hold its window; -1: it is compact. */
  declare private wide: number;

  private readonly pool = new SlotPool(WIDTH);
  private readonly widePool = new SlotPool(SEEN_BYTES / 8);
  /** The bytes of the wide pool's chunk the device's bits are in, from `b` (a wide device only). */
  private bits: Uint8Array = new Uint8Array(0);
  private b = 0;
  /** A compact device's bits written out (seen()), or a checkpoint's to compare with them (load()). */
  private readonly written = new Uint8Array(SEEN_BYTES);
  private readonly loaded = new Uint8Array(SEEN_BYTES);

  /** Devices held wide. */
  get wideDevices(): number {
    return this.widePool.size;
  }

  /** A new device's slot, no seq seen, the view pointed at it. */
  take(): number {
    const s = this.pool.take();
    this.view(this.pool.data(s), this.pool.offset(s));
    this.wide = -1; // the wide slot the slot's last holder named is not ours to give back
    this.forget();
    this.maxTs = this.lastSeen = -Infinity;
    return s;
  }

  /** Gives device `s`'s slots back. */
  give(s: number): void {
    this.point(s).narrow();
    this.pool.give(s);
  }

  point(s: number): this {
    this.view(this.pool.data(s), this.pool.offset(s));
    if (this.wide >= 0) this.pointWide();
    return this;
  }

  /** No seq seen (a new device, a restarted counter). */
  forget(): void {
    this.narrow();
    this.max = -1;
    this.low = 0;
  }

  /** Records `seq`, above max: the window slides up to it. */
  advance(seq: number): void {
    if (isSeq(seq)) {
      if (seq - this.max >= DEDUPE_WINDOW || (this.wide < 0 && this.low > this.max)) {
        // Nothing seen stays in the window: seq alone is.
        this.narrow();
        this.low = this.max = seq;
        return;
      }
      if (this.wide < 0 && seq === this.max + 1) {
        this.max = seq;
        return;
      }
    }
    this.widen();
    // Clear the slots the window slides over.
    for (let s = Math.max(this.max + 1, seq - DEDUPE_WINDOW + 1); s < seq; s++) this.set(s, false);
    this.set(seq, true);
    this.max = seq;
  }

  /** Records `seq`, within the window and at most max: false if it was seen already. */
  add(seq: number): boolean {
    if (this.wide < 0 && isSeq(seq) && seq >= this.low) return false;
    this.widen();
    if (this.has(seq)) return false;
    this.set(seq, true);
    return true;
  }

  /** The window's bits as the checkpoint keeps them, valid until the next call of seen() or the next reading. */
  seen(): Uint8Array {
    if (this.wide >= 0) return new Uint8Array(this.bits.buffer, this.b, SEEN_BYTES);
    this.writeCompact(this.written, 0);
    return this.written;
  }

  /**
   * Sets the window from a checkpoint's bits (the first SEEN_BYTES of them), max set already: kept compact if they are
   * one run up to max, so that a restart does not widen every device.
   */
  load(seen: Uint8Array): void {
    const bits = this.loaded;
    bits.fill(0);
    bits.set(seen.subarray(0, SEEN_BYTES));
    if (Number.isSafeInteger(this.max) && this.max >= -1) {
      let ones = 0;
      for (let i = 0; i < SEEN_BYTES; i++) ones += ONES[bits[i]];
      this.low = this.max - ones + 1;
      // All set (a device that sent its last 1,024 seqs in order) needs no comparing.
      if (ones === DEDUPE_WINDOW || this.sameAsCompact(bits)) {
        this.narrow();
        return;
      }
    }
    if (this.wide < 0) this.takeWide();
    this.bits.set(bits, this.b);
  }

  /** Whether `bits` are what the compact form says (low and max as they are). */
  private sameAsCompact(bits: Uint8Array): boolean {
    this.writeCompact(this.written, 0);
    for (let i = 0; i < SEEN_BYTES; i++) if (bits[i] !== this.written[i]) return false;
    return true;
  }

  /** Writes a compact device's bits at `at` of `into`: whole bytes of the run filled, its edges masked. */
  private writeCompact(into: Uint8Array, at: number): void {
    into.fill(0, at, at + SEEN_BYTES);
    const from = Math.max(this.low, this.max - DEDUPE_WINDOW + 1);
    const n = this.max - from + 1;
    if (n <= 0) return;
    // The run's bits begin at from's place and wrap past the last bit to the first (from < 0: a checkpoint's run).
    const start = ((from % DEDUPE_WINDOW) + DEDUPE_WINDOW) % DEDUPE_WINDOW;
    setBits(into, at, start, Math.min(start + n, DEDUPE_WINDOW));
    if (start + n > DEDUPE_WINDOW) setBits(into, at, 0, start + n - DEDUPE_WINDOW);
  }

  /** The device kept wide, its bits written from the compact form if it was compact. */
  private widen(): void {
    if (this.wide >= 0) return;
    this.takeWide();
    this.writeCompact(this.bits, this.b);
  }

  private takeWide(): void {
    this.wide = this.widePool.take();
    this.pointWide();
  }

  private pointWide(): void {
    this.bits = this.widePool.bytes(this.wide);
    this.b = this.widePool.offset(this.wide) * 8;
  }

  /** The device kept compact (its `low` set by the caller), its wide slot, if any, given back. */
  private narrow(): void {
    if (this.wide < 0) return;
    this.widePool.give(this.wide);
    this.wide = -1;
  }

  private has(seq: number): boolean {
    const slot = seq % DEDUPE_WINDOW;
    return (this.bits[this.b + (slot >> 3)] & (1 << (slot & 7))) !== 0;
  }

  private set(seq: number, on: boolean): void {
    const slot = seq % DEDUPE_WINDOW;
    if (on) this.bits[this.b + (slot >> 3)] |= 1 << (slot & 7);
    else this.bits[this.b + (slot >> 3)] &= ~(1 << (slot & 7));
  }
}

const WIDTH = defineSlots(SeqWindows, ['max', 'maxTs', 'lastSeen', 'low', 'wide']);

/** A seq as devices send them; the compact form keeps only these. */
function isSeq(seq: number): boolean {
  return Number.isSafeInteger(seq) && seq >= 0;
}

/** Sets bits `from` … `to` − 1 (within one window's bits, from < to) of the bits at `at` of `into`. */
function setBits(into: Uint8Array, at: number, from: number, to: number): void {
  const first = from >> 3;
  const last = (to - 1) >> 3;
  const head = (0xff << (from & 7)) & 0xff;
  const tail = 0xff >> (7 - ((to - 1) & 7));
  if (first === last) {
    into[at + first] |= head & tail;
    return;
  }
  into[at + first] |= head;
  into.fill(0xff, at + first + 1, at + last);
  into[at + last] |= tail;
}

/** Bits set in each byte value. */
const ONES = new Uint8Array(256);
for (let i = 1; i < 256; i++) ONES[i] = (i & 1) + ONES[i >> 1];
