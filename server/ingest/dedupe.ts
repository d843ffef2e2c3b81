/**
 * Remembers which (deviceId, seq) pairs were accepted, in bounded memory per device: a bitmap of the last
 * DEDUPE_WINDOW seqs up to the highest one seen. A seq further behind than that counts as a duplicate too: a device
 * does not resend a reading that many readings later. The state is checkpointed per device, incrementally.
 */
export const DEDUPE_WINDOW = 1024;

export interface DedupeRow {
  deviceId: string;
  maxSeq: number;
  seen: Uint8Array;
}

class DeviceSeqs {
  max = -1;
  seen = new Uint8Array(DEDUPE_WINDOW);
}

export class Dedupe {
  private readonly devices = new Map<string, DeviceSeqs>();
  private readonly touched = new Set<string>();

  /** True when (deviceId, seq) is new, and records it; false for a duplicate. */
  firstTime(deviceId: string, seq: number): boolean {
    let d = this.devices.get(deviceId);
    if (d === undefined) {
      d = new DeviceSeqs();
      this.devices.set(deviceId, d);
    }
    if (seq > d.max) {
      // Clear the slots the window slides over (all of them after a big jump).
      const from = Math.max(d.max + 1, seq - DEDUPE_WINDOW + 1);
      for (let s = from; s < seq; s++) d.seen[s % DEDUPE_WINDOW] = 0;
      d.seen[seq % DEDUPE_WINDOW] = 1;
      d.max = seq;
      this.touched.add(deviceId);
      return true;
    }
    if (seq <= d.max - DEDUPE_WINDOW) return false;
    const slot = seq % DEDUPE_WINDOW;
    if (d.seen[slot] === 1) return false;
    d.seen[slot] = 1;
    this.touched.add(deviceId);
    return true;
  }

  /** The devices whose state changed since the last call. */
  takeDelta(): DedupeRow[] {
    const rows: DedupeRow[] = [];
    for (const id of this.touched) {
      const d = this.devices.get(id)!;
      rows.push({ deviceId: id, maxSeq: d.max, seen: d.seen.slice() });
    }
    this.touched.clear();
    return rows;
  }

  restore(rows: readonly DedupeRow[]): void {
    for (const r of rows) {
      const d = new DeviceSeqs();
      d.max = r.maxSeq;
      d.seen = Uint8Array.from(r.seen);
      this.devices.set(r.deviceId, d);
    }
  }
}
