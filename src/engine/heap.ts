/**
 * Binary min-heap of (time, id) pairs in typed arrays: the engine's schedule of keys whose view changes
 * with time alone (a burst that ends, a periodic job that stops), and the publisher's due times.
 * Entries are never removed early; a consumer checks on pop whether the entry is still current
 * (lazy deletion), which keeps every operation O(log n) without a position index.
 */
export class TimeHeap {
  private times: Float64Array;
  private ids: Int32Array;
  private gens: Uint32Array;
  size = 0;

  constructor(capacity = 1024) {
    this.times = new Float64Array(capacity);
    this.ids = new Int32Array(capacity);
    this.gens = new Uint32Array(capacity);
  }

  push(time: number, id: number, gen = 0): void {
    if (this.size === this.times.length) this.grow();
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.times[parent] <= time) break;
      this.times[i] = this.times[parent];
      this.ids[i] = this.ids[parent];
      this.gens[i] = this.gens[parent];
      i = parent;
    }
    this.times[i] = time;
    this.ids[i] = id;
    this.gens[i] = gen;
  }

  peekTime(): number {
    return this.size > 0 ? this.times[0] : Number.POSITIVE_INFINITY;
  }

  peekId(): number {
    return this.ids[0];
  }

  peekGen(): number {
    return this.gens[0];
  }

  pop(): void {
    const last = --this.size;
    if (last <= 0) return;
    const time = this.times[last];
    const id = this.ids[last];
    const gen = this.gens[last];
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const c = r < last && this.times[r] < this.times[l] ? r : l;
      if (this.times[c] >= time) break;
      this.times[i] = this.times[c];
      this.ids[i] = this.ids[c];
      this.gens[i] = this.gens[c];
      i = c;
    }
    this.times[i] = time;
    this.ids[i] = id;
    this.gens[i] = gen;
  }

  clear(): void {
    this.size = 0;
  }

  private grow(): void {
    const n = this.times.length * 2;
    const t = new Float64Array(n);
    t.set(this.times);
    this.times = t;
    const d = new Int32Array(n);
    d.set(this.ids);
    this.ids = d;
    const g = new Uint32Array(n);
    g.set(this.gens);
    this.gens = g;
  }
}
