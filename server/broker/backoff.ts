const MIN_MS = 500;
const MAX_MS = 30_000;
/** A connection up this long is stable: the delay starts again from its minimum when it is lost. */
export const STABLE_MS = 10_000;
/** Connections lost this soon after they were up, in a row, that are worth asking about. */
export const QUICK_LOSSES = 3;

/**
 * When to try a lost connection again: after 0.5 s, doubling up to 30 s while attempts fail, and from 0.5 s again only
 * once a connection has stayed up STABLE_MS. Two clients with one client id take the session from each other as soon
 * as each connects; a delay back at its minimum at every reconnect made that a loop of two a second.
 */
export class Backoff {
  private delay = MIN_MS;
  private upAt = Date.now();
  private quickLosses = 0;

  /** The delay the next attempt waits (what a log line announces). */
  get nextMs(): number {
    return this.delay;
  }

  /** A connection is up. */
  up(): void {
    this.upAt = Date.now();
  }

  /** The connection is lost; true when it is the QUICK_LOSSES-th in a row lost before it was stable. */
  lost(): boolean {
    if (Date.now() - this.upAt >= STABLE_MS) {
      this.delay = MIN_MS;
      this.quickLosses = 0;
      return false;
    }
    return ++this.quickLosses === QUICK_LOSSES;
  }

  /** Takes the delay of this attempt; the next one waits twice as long. */
  take(): number {
    const delay = this.delay;
    this.delay = Math.min(delay * 2, MAX_MS);
    return delay;
  }
}
