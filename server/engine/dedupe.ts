import type { Reading } from '../ingest/reading.ts';
import { hashMessageId, MessageIdRing } from './message-ids.ts';
import { LazyRows, type Rows } from './rows.ts';
import { DEDUPE_WINDOW, SeqWindows } from './seq-window.ts';

export { DEDUPE_WINDOW };

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
  /** Bit seq % DEDUPE_WINDOW set for each seq seen of the window (128 bytes): a buffer the next row may reuse. */
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

class DeviceIds {
  lastSeen = -Infinity;
  constructor(readonly ring: MessageIdRing) {}
}

/**
 * Job state that drops resent readings, per device, in bounded memory:
 * - readings with `seq`: which of the last DEDUPE_WINDOW seqs up to the highest one it has seen (one run of them, or
 *   a bitmap: seq-window.ts), and the ts of that reading;
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
export class Dedupe {
  private readonly options: DedupeOptions;
  /** Each device's seq state: its slot, seen through `seqs`. */
  private readonly devices = new Map<string, number>();
  private readonly seqs = new SeqWindows();
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

  /** Devices whose seq state is a bitmap: those whose seqs seen are not one run up to the highest (seq-window.ts). */
  get wideDevices(): number {
    return this.seqs.wideDevices;
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
      d.forget(); // the counter restarted: forget the old one
    }
    if (seq > d.max) {
      d.advance(seq);
      d.maxTs = ts;
    } else if (!d.add(seq)) {
      return false;
    }
    this.touched.add(deviceId);
    return true;
  }

  /** The view pointed at the device's seq state (a new device's if it has none). */
  private device(deviceId: string): SeqWindows {
    const s = this.devices.get(deviceId);
    if (s !== undefined) return this.seqs.point(s);
    this.devices.set(deviceId, this.seqs.take());
    return this.seqs;
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
        this.seqs.give(s);
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
      d.load(r.seen);
      d.lastSeen = Number.isFinite(r.lastSeen) ? r.lastSeen : now;
    }
    for (const r of state.messageIds) {
      const d = new DeviceIds(MessageIdRing.fromBytes(r.ids, this.options.messageIds));
      d.lastSeen = Number.isFinite(r.lastSeen) ? r.lastSeen : now;
      this.messages.set(r.deviceId, d);
    }
  }
}
