/**
 * A device's detector state as named doubles in one Float64Array a device, each state object a view at its offset,
 * instead of fields. V8 keeps a double-valued field in a heap number of its own: as fields, the seven state objects of
 * a device held ≈ 40 of them and two typed arrays (its history and its gaps), about 4 million objects at 100,000
 * devices for every full garbage collection to visit. The detectors read and write the names as they did the fields.
 */
export class Slots {
  constructor(
    readonly a: Float64Array,
    readonly o: number,
  ) {}
}

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
