/**
 * A device's detector state as named doubles in a slot of a pool shared by every device (slot-pool.ts), each state
 * object a view at an offset in it, instead of fields. V8 keeps a double-valued field in a heap number of its own: as
 * fields, the seven state objects of a device held ≈ 40 of them and two typed arrays (its history and its gaps), about
 * 4 million objects at 100,000 devices for every full garbage collection to visit. A view is not a device's: the
 * detectors hold one of each and point it (at()) at the device whose reading they judge, so a device costs its
 * doubles and an entry in a map, not seven objects and a typed array. The detectors read and write the names as they
 * did the fields.
 */
export class Slots {
  a: Float64Array = NOWHERE;
  o = 0;

  /** Points the view at the state that begins at `o` in `a`. */
  at(a: Float64Array, o: number): void {
    this.a = a;
    this.o = o;
  }
}

const NOWHERE = new Float64Array(0);

/**
 * Defines each of `names` on the class as the double at `o` + its index (the class declares them: `declare x:
 * number`, so that no field hides the accessor). Returns how many doubles they take.
 */
export function defineSlots(cls: abstract new (...args: never[]) => Slots, names: readonly string[]): number {
  names.forEach((name, i) =>
    Object.defineProperty(cls.prototype, name, {
      get(this: Slots): number {
        return this.a[this.o + i];
      },
      set(this: Slots, v: number) {
        this.a[this.o + i] = v;
      },
    }),
  );
  return names.length;
}

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
