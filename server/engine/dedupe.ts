import type { Reading } from '../ingest/reading.ts';
import { hashMessageId, MessageIdRing } from './message-ids.ts';
import { LazyRows, type Rows } from './rows.ts';
import { defineSlots, SlotPool, Slots } from './slot-pool.ts';

/**
 * Job state that drops resent readings, per device, in bounded memory:
 * - readings with `seq`: a bitmap of the last DEDUPE_WINDOW seqs up to the highest one seen, and the ts of that
 *   reading;
 * - readings without `seq` but with a message id: the last `messageIds` ids the device sent (message-ids.ts).
 * The state is checkpointed per device, incrementally (takeDelta), with the panes.
 *
 * A device whose counter restarts (a reboot, a restarted simulator) must not lose its readings as "duplicates". A
 * lower seq is taken as a restarted counter when it is more than DEDUPE_WINDOW behind (no device resends that far
 * back), or when the device stamped it later than the reading that holds the highest seq (a resend is never newer
 * than what followed it).
 *
 * Devices that sent nothing for longer than `idleEvictMs` (of the job's clock: arrival times and the batch time
 * passed in, never the global clock) are forgotten, in memory and in the checkpoint, so both stay bounded by the
 * active devices. A device that comes back after that starts afresh: a resend that late is no longer recognised.
 */
export const DEDUPE_WINDOW = 1024;

export interface DedupeOptions {
  /** Message ids remembered per device (readings without seq). */
  messageIds: number;
  /** A device idle for longer than this is forgotten; 0 = never. */
  idleEvictMs: number;
}

export const DEFAULT_DEDUPE: DedupeOptions = { messageIds: 256, idleEvictMs: 86_400_000 };

export interface DedupeRow {
  deviceId: string;
  maxSeq: number;
  maxTs: number;
  seen: Uint8Array;
  /** The arrival time of the device's latest reading with a seq (-Infinity: unknown, from an older checkpoint). */
  lastSeen: number;
}

export interface MessageIdRow {
  deviceId: string;
  /** The ids as 52-bit hashes (Float64, little-endian), oldest first. */
  ids: Uint8Array;
  lastSeen: number;
}

/** What the checkpoint must write (upserts) and delete (evicted devices) after a batch. */
export interface DedupeDelta {
  /** Rows made as the store reads them (rows.ts): read before the next reading. */
  seqs: Rows<DedupeRow>;
  messageIds: MessageIdRow[];
  /** Devices whose seq state was evicted. */
  evictedSeqs: string[];
  /** Devices whose message-id state was evicted. */
  evictedMessageIds: string[];
}

export interface DedupeState {
  seqs: readonly DedupeRow[];
  messageIds: readonly MessageIdRow[];
}

/**
 * A view of one device's seq state in its slot of the pool — the highest seq, that reading's ts, the last arrival
 * (defineSlots, below), then the window's bits — pointed at the device in hand (point()): Dedupe holds one, so that
 * a device costs its slot and a map entry, not an object, a typed array and its buffer (≈ 250 bytes beyond its bits).
 */
class DeviceSeqs extends Slots {
  declare max: number;
  declare maxTs: number;
  declare lastSeen: number;
  private bits: Uint8Array = new Uint8Array(0);
  /** Where the window's bits begin in `bits`. */
  private b = 0;

  constructor(private readonly pool: SlotPool) {
    super();
  }

  point(slot: number): this {
    this.view(this.pool.data(slot), this.pool.offset(slot));
    this.bits = this.pool.bytes(slot);
    this.b = (this.o + SEEN) * 8;
    return this;
  }

  /** A new device's state: no seq seen. */
  reset(): void {
    this.max = -1;
    this.maxTs = this.lastSeen = -Infinity;
    this.clear();
  }

  clear(): void {
    this.bits.fill(0, this.b, this.b + SEEN_BYTES);
  }

  /** The window's bits as the checkpoint keeps them: a view of the slot's, valid until the next reading. */
  seen(): Uint8Array {
    return new Uint8Array(this.bits.buffer, this.b, SEEN_BYTES);
  }

  /** Sets the window's bits from a checkpoint's (the first SEEN_BYTES of them). */
  loadSeen(seen: Uint8Array): void {
    this.clear();
    this.bits.set(seen.subarray(0, SEEN_BYTES), this.b);
  }

  has(seq: number): boolean {
    const slot = seq % DEDUPE_WINDOW;
    return (this.bits[this.b + (slot >> 3)] & (1 << (slot & 7))) !== 0;
  }

  set(seq: number, on: boolean): void {
    const slot = seq % DEDUPE_WINDOW;
    if (on) this.bits[this.b + (slot >> 3)] |= 1 << (slot & 7);
    else this.bits[this.b + (slot >> 3)] &= ~(1 << (slot & 7));
  }
}

const SEEN = defineSlots(DeviceSeqs, ['max', 'maxTs', 'lastSeen']);
/** One bit per seq of the window: 128 bytes, 16 doubles of the slot. */
const SEEN_BYTES = DEDUPE_WINDOW / 8;
const SEQS_WIDTH = SEEN + SEEN_BYTES / 8;

class DeviceIds {
  lastSeen = -Infinity;
  constructor(readonly ring: MessageIdRing) {}
}

export class Dedupe {
  private readonly options: DedupeOptions;
  /** Each device's seq state: its slot in the pool, seen through `seqs`. */
  private readonly devices = new Map<string, number>();
  private readonly pool = new SlotPool(SEQS_WIDTH);
  private readonly seqs = new DeviceSeqs(this.pool);
  private readonly messages = new Map<string, DeviceIds>();
  private readonly touched = new Set<string>();
  private readonly touchedIds = new Set<string>();
  private evictedSeqs: string[] = [];
  private evictedIds: string[] = [];

  constructor(options: Partial<DedupeOptions> = {}) {
    this.options = { ...DEFAULT_DEDUPE, ...options };
  }

  /** Per-device states held: seq states plus message-id states (a device using both counts twice). */
  get size(): number {
    return this.devices.size + this.messages.size;
  }

  /**
   * True when (deviceId, seq) is new, and records it; false for a duplicate. `ts` is the reading's event time and
   * `tsFromDevice` whether the device stamped it (only then can it tell a restarted counter from a resend);
   * `arrival` when the server received it (the device's activity, for eviction).
   */
  firstTime(deviceId: string, seq: number, ts = -Infinity, tsFromDevice = false, arrival = -Infinity): boolean {
    const d = this.device(deviceId);
    if (arrival > d.lastSeen) {
      d.lastSeen = arrival;
      this.touched.add(deviceId);
    }
    if (seq < d.max && (seq <= d.max - DEDUPE_WINDOW || (tsFromDevice && ts > d.maxTs))) {
      d.clear(); // the counter restarted: forget the old one
      d.max = -1;
    }
    if (seq > d.max) {
      // Clear the slots the window slides over (all of them after a big jump).
      const from = Math.max(d.max + 1, seq - DEDUPE_WINDOW + 1);
      for (let s = from; s < seq; s++) d.set(s, false);
      d.set(seq, true);
      d.max = seq;
      d.maxTs = ts;
      this.touched.add(deviceId);
      return true;
    }
    if (d.has(seq)) return false;
    d.set(seq, true);
    this.touched.add(deviceId);
    return true;
  }

  /** The view pointed at the device's seq state (a new device's if it has none). */
  private device(deviceId: string): DeviceSeqs {
    const s = this.devices.get(deviceId);
    if (s !== undefined) return this.seqs.point(s);
    const slot = this.pool.take();
    this.devices.set(deviceId, slot);
    const d = this.seqs.point(slot);
    d.reset();
    return d;
  }

  /**
   * True when the reading is new, and records it; false for a resend: by `(deviceId, seq)`, or by
   * `(deviceId, messageId)` for a reading without seq (one with neither is always new).
   */
  firstReading(r: Reading): boolean {
    // Only a device's own ts tells a restarted counter from a resend: one the server filled in (the arrival time) is
    // newer at every resend. (It was told by ts === arrival, which dropped a restarted counter's first reading when
    // the device's clock and the server's read the same millisecond, as on one machine.)
    return r.seq !== undefined
      ? this.firstTime(r.deviceId, r.seq, r.ts, r.tsFilled !== true, r.arrival)
      : r.messageId === undefined || this.firstMessage(r.deviceId, r.messageId, r.arrival);
  }

  /** True when the device's `messageId` is new, and records it; false for a resend. */
  firstMessage(deviceId: string, messageId: string, arrival: number): boolean {
    let d = this.messages.get(deviceId);
    if (d === undefined) {
      d = new DeviceIds(new MessageIdRing(this.options.messageIds));
      this.messages.set(deviceId, d);
    }
    if (arrival > d.lastSeen) {
      d.lastSeen = arrival;
      this.touchedIds.add(deviceId);
    }
    if (!d.ring.add(hashMessageId(messageId))) return false;
    this.touchedIds.add(deviceId);
    return true;
  }

  /**
   * Forgets the devices that sent nothing since `now - idleEvictMs` (`now` is the job's clock); they are deleted
   * from the checkpoint with the next delta. Returns how many states (seq, message ids) went.
   */
  evictIdle(now: number): number {
    if (this.options.idleEvictMs <= 0) return 0;
    const before = now - this.options.idleEvictMs;
    const n = this.evictedSeqs.length + this.evictedIds.length;
    // forEach, not for…of: no [id, slot] entry allocated per device in every batch.
    this.devices.forEach((s, id) => {
      if (this.seqs.point(s).lastSeen < before) {
        this.pool.give(s);
        this.devices.delete(id);
        this.touched.delete(id);
        this.evictedSeqs.push(id);
      }
    });
    this.messages.forEach((d, id) => {
      if (d.lastSeen < before) {
        this.messages.delete(id);
        this.touchedIds.delete(id);
        this.evictedIds.push(id);
      }
    });
    return this.evictedSeqs.length + this.evictedIds.length - n;
  }

  /** The devices whose state changed, and those evicted, since the last call. */
  takeDelta(): DedupeDelta {
    const touched = [...this.touched];
    const seqs = new LazyRows<DedupeRow>(touched.length, (i) => {
      const s = this.devices.get(touched[i]);
      if (s === undefined) return null;
      const d = this.seqs.point(s);
      return { deviceId: touched[i], maxSeq: d.max, maxTs: d.maxTs, seen: d.seen(), lastSeen: d.lastSeen };
    });
    const messageIds: MessageIdRow[] = [];
    for (const id of this.touchedIds) {
      const d = this.messages.get(id)!;
      messageIds.push({ deviceId: id, ids: d.ring.toBytes(), lastSeen: d.lastSeen });
    }
    // A device evicted and back before this delta is written again, not deleted.
    const evictedSeqs = this.evictedSeqs.filter((id) => !this.touched.has(id));
    const evictedMessageIds = this.evictedIds.filter((id) => !this.touchedIds.has(id));
    this.touched.clear();
    this.touchedIds.clear();
    this.evictedSeqs = [];
    this.evictedIds = [];
    return { seqs, messageIds, evictedSeqs, evictedMessageIds };
  }

  /**
   * Restores checkpointed state. A device's unknown last activity (a checkpoint from before eviction existed) counts
   * from `now`, so nothing is evicted for an idle time nobody measured.
   */
  restore(state: DedupeState, now: number): void {
    for (const r of state.seqs) {
      const d = this.device(r.deviceId);
      d.max = r.maxSeq;
      d.maxTs = r.maxTs;
      d.loadSeen(r.seen);
      d.lastSeen = Number.isFinite(r.lastSeen) ? r.lastSeen : now;
    }
    for (const r of state.messageIds) {
      const d = new DeviceIds(MessageIdRing.fromBytes(r.ids, this.options.messageIds));
      d.lastSeen = Number.isFinite(r.lastSeen) ? r.lastSeen : now;
      this.messages.set(r.deviceId, d);
    }
  }
}
