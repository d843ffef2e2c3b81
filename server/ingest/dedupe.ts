/**
 * Remembers which (deviceId, seq) pairs were accepted, in bounded memory per device: a bitmap of the last
 * WINDOW seqs below the highest one seen. A seq further behind than that counts as a duplicate too: a device
 * does not resend a reading thousands of readings later.
 */
export const DEDUPE_WINDOW = 4096;

class DeviceSeqs {
  max = -1;
  readonly seen = new Uint8Array(DEDUPE_WINDOW);
}

export class Dedupe {
  private readonly devices = new Map<string, DeviceSeqs>();

  /** True when (deviceId, seq) is new, and records it; false for a duplicate. */
  firstTime(deviceId: string, seq: number): boolean {
    let d = this.devices.get(deviceId);
    if (d === undefined) {
      d = new DeviceSeqs();
      this.devices.set(deviceId, d);
    }
    if (seq > d.max) {
      // Clear the slots that the window slides over (all of them after a big jump).
      const from = Math.max(d.max + 1, seq - DEDUPE_WINDOW + 1);
      for (let s = from; s < seq; s++) d.seen[s % DEDUPE_WINDOW] = 0;
      d.seen[seq % DEDUPE_WINDOW] = 1;
      d.max = seq;
      return true;
    }
    if (seq <= d.max - DEDUPE_WINDOW) return false;
    const slot = seq % DEDUPE_WINDOW;
    if (d.seen[slot] === 1) return false;
    d.seen[slot] = 1;
    return true;
  }
}
