/**
 * Acknowledge after commit: callbacks waiting for the checkpoint to cover a log offset, in arrival order. Offsets
 * only grow with arrival, so releasing is popping from the head while the head's offset is covered: the
 * acknowledgements leave in the order their messages came ([MQTT-4.6.0-2]). Two arrays, no object per message.
 */
export class CommitWaiters {
  private offsets: number[] = [];
  private callbacks: (() => void)[] = [];
  private head = 0;

  /** `committed`: the offset the last checkpoint covers. */
  constructor(private committed: number) {}

  get size(): number {
    return this.callbacks.length - this.head;
  }

  /** Calls `done` once a checkpoint covers `offset` (at once if one does and nothing waits before it). */
  add(offset: number, done: () => void): void {
    if (offset <= this.committed && this.size === 0) return done();
    this.offsets.push(offset);
    this.callbacks.push(done);
  }

  /** A checkpoint now covers everything up to `offset`. */
  release(offset: number): void {
    if (offset > this.committed) this.committed = offset;
    // The live length: a waiter added by a callback, at an offset already covered, is released in this call too.
    while (this.head < this.callbacks.length && this.offsets[this.head] <= this.committed) {
      const done = this.callbacks[this.head];
      this.head++;
      done();
    }
    if (this.head === this.callbacks.length) {
      this.offsets = [];
      this.callbacks = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.callbacks.length) {
      this.offsets = this.offsets.slice(this.head);
      this.callbacks = this.callbacks.slice(this.head);
      this.head = 0;
    }
  }
}
