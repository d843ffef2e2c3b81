/**
 * Where a device's state is written for the checkpoint: doubles appended to one Float64Array, reused for every
 * device. (A plain array emptied with `length = 0` loses its storage in V8 and grows it again for each device, and
 * a rest parameter is an array per call.) A state whose slots are in the checkpoint's order copies them as a run.
 */
export class StateOut {
  a = new Float64Array(64);
  length = 0;

  push(x: number): void {
    if (this.length === this.a.length) this.grow(1);
    this.a[this.length++] = x;
  }

  /** Appends `n` doubles of `src` from `from`. */
  copy(src: Float64Array, from: number, n: number): void {
    if (this.length + n > this.a.length) this.grow(n);
    const a = this.a;
    for (let i = 0; i < n; i++) a[this.length++] = src[from + i];
  }

  private grow(n: number): void {
    const a = new Float64Array(Math.max(this.a.length * 2, this.length + n));
    a.set(this.a);
    this.a = a;
  }
}
