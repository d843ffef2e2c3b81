/**
 * Remembers which (deviceId, seq) pairs were accepted, in bounded memory per device: a bitmap of the last
 * DEDUPE_WINDOW seqs up to the highest one seen, and the ts of that reading. The state is checkpointed per device,
 * incrementally.
 *
 * A device whose counter restarts (a reboot, a restarted simulator) must not lose its readings as "duplicates". A
 * lower seq is taken as a restarted counter when it is more than DEDUPE_WINDOW behind (no device resends that far
 * back), or when the device stamped it later than the reading that holds the highest seq (a resend is never newer
 * than what followed it).
 */
export const DEDUPE_WINDOW = 1024;

export interface DedupeRow {
  deviceId: string;
  maxSeq: number;
  maxTs: number;
  seen: Uint8Array;
}

class DeviceSeqs {
  max = -1;
  maxTs = -Infinity;
  /** One bit per seq of the window (128 bytes per device). */
  seen = new Uint8Array(DEDUPE_WINDOW / 8);

  has(seq: number): boolean {
    const slot = seq % DEDUPE_WINDOW;
    return (this.seen[slot >> 3] & (1 << (slot & 7))) !== 0;
  }

  set(seq: number, on: boolean): void {
    const slot = seq % DEDUPE_WINDOW;
    if (on) this.seen[slot >> 3] |= 1 << (slot & 7);
    else this.seen[slot >> 3] &= ~(1 << (slot & 7));
  }
}

export class Dedupe {
  private readonly devices = new Map<string, DeviceSeqs>();
  private readonly touched = new Set<string>();

  /**
   * True when (deviceId, seq) is new, and records it; false for a duplicate. `ts` is the reading's event time and
   * `tsFromDevice` whether the device stamped it (only then can it tell a restarted counter from a resend).
   */
  firstTime(deviceId: string, seq: number, ts = -Infinity, tsFromDevice = false): boolean {
    let d = this.devices.get(deviceId);
    if (d === undefined) {
      d = new DeviceSeqs();
      this.devices.set(deviceId, d);
    }
    if (seq < d.max && (seq <= d.max - DEDUPE_WINDOW || (tsFromDevice && ts > d.maxTs))) {
      d.seen.fill(0); // the counter restarted: forget the old one
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

  /** The devices whose state changed since the last call. */
  takeDelta(): DedupeRow[] {
    const rows: DedupeRow[] = [];
    for (const id of this.touched) {
      const d = this.devices.get(id)!;
      rows.push({ deviceId: id, maxSeq: d.max, maxTs: d.maxTs, seen: d.seen.slice() });
    }
    this.touched.clear();
    return rows;
  }

  restore(rows: readonly DedupeRow[]): void {
    for (const r of rows) {
      const d = new DeviceSeqs();
      d.max = r.maxSeq;
      d.maxTs = r.maxTs;
      d.seen = Uint8Array.from(r.seen);
      this.devices.set(r.deviceId, d);
    }
  }
}
