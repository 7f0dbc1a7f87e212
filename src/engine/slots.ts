/**
 * A growable stack of slot numbers in an Int32Array: the engine's lists of keys to re-judge, publish and
 * save. Pushing on every event must not allocate (a `number[]` of small integers does, as it grows and
 * as V8 re-boxes it); this grows by doubling and then stays, so steady state is allocation-free.
 */
export class SlotStack {
  private items = new Int32Array(64);
  length = 0;

  push(slot: number): void {
    if (this.length === this.items.length) {
      const bigger = new Int32Array(this.items.length * 2);
      bigger.set(this.items);
      this.items = bigger;
    }
    this.items[this.length++] = slot;
  }

  pop(): number {
    return this.items[--this.length];
  }

  at(i: number): number {
    return this.items[i];
  }

  clear(): void {
    this.length = 0;
  }
}
