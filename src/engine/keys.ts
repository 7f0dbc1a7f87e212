/**
 * Key interning with a hard cap and least-recently-used eviction.
 *
 * Each key string maps to a dense slot number that indexes the engine's per-key state.
 * Recency is an intrusive doubly linked list over slot numbers, so touching a key on every event is O(1)
 * and allocation-free; a slot's two links sit side by side in one Int32Array (`links[2s]` previous,
 * `links[2s + 1]` next), so unlinking a key costs one cache line for it, not two. A slot's `generation`
 * changes each time it is reused, which lets other keys hold (slot, generation) references — correlation
 * partners — without a scan on eviction.
 */
const NONE = -1;

export class KeyRegistry {
  /** Typed-array bytes per slot: generation and the two LRU links. */
  static readonly SLOT_BYTES = 4 + 8;
  private readonly index = new Map<string, number>();
  /** Slot → key string; '' for a free slot. */
  keys: string[] = [];
  generation: Uint32Array;
  private links: Int32Array;
  private head = NONE; // most recently used
  private tail = NONE; // least recently used
  private readonly free: number[] = [];
  private used = 0;
  /**
   * Counts removals (evictions and forgets). A table that checked its references to other keys while
   * this had some value knows they are all still valid as long as it has not changed. Starts at 1 so
   * that nothing restored from a snapshot counts as checked.
   */
  removals = 1;
  /** Slots ever handed out; slots below it are in use or on the free list. */
  private fresh = 0;
  capacity: number;

  constructor(
    readonly maxKeys: number,
    initialCapacity = 1024,
  ) {
    this.capacity = Math.min(initialCapacity, maxKeys);
    this.generation = new Uint32Array(this.capacity);
    this.links = new Int32Array(2 * this.capacity).fill(NONE);
  }

  get size(): number {
    return this.used;
  }

  slotOf(key: string): number {
    return this.index.get(key) ?? NONE;
  }

  /** The least recently used slot, the one `add` would evict when full. */
  get oldest(): number {
    return this.tail;
  }

  isFull(): boolean {
    return this.used >= this.maxKeys;
  }

  /** Capacity needed for the next `add` (the caller grows its tables to it first). */
  nextCapacity(): number {
    if (this.free.length > 0 || this.fresh < this.capacity) return this.capacity;
    return Math.min(this.maxKeys, this.capacity * 2);
  }

  /** Adds a key that is not present. The caller must have evicted when full and grown to `nextCapacity()`. */
  add(key: string, capacity: number): number {
    if (capacity > this.capacity) this.grow(capacity);
    const slot = this.free.length > 0 ? (this.free.pop() as number) : this.fresh++;
    this.index.set(key, slot);
    this.keys[slot] = key;
    this.generation[slot]++;
    this.used++;
    this.linkFront(slot);
    return slot;
  }

  /** Adds a key at a given slot (restoring a snapshot keeps slot numbers so references stay valid). */
  restore(key: string, slot: number, generation: number): void {
    if (slot >= this.capacity) this.grow(Math.min(this.maxKeys, Math.max(slot + 1, this.capacity * 2)));
    this.index.set(key, slot);
    this.keys[slot] = key;
    this.generation[slot] = generation;
    this.fresh = Math.max(this.fresh, slot + 1);
    this.used++;
    this.linkFront(slot);
  }

  /** Rebuilds the free list after `restore` calls (slots below the highest used one that stayed empty). */
  finishRestore(): void {
    this.free.length = 0;
    for (let s = this.fresh - 1; s >= 0; s--) if (!this.keys[s]) this.free.push(s);
  }

  remove(slot: number): string {
    const key = this.keys[slot];
    this.index.delete(key);
    this.keys[slot] = '';
    // References held by other keys (correlation partners) die with the key, not when the slot is reused.
    this.generation[slot]++;
    this.removals++;
    this.unlink(slot);
    this.free.push(slot);
    this.used--;
    return key;
  }

  /** Marks a slot as just used. */
  touch(slot: number): void {
    if (this.head === slot) return;
    this.unlink(slot);
    this.linkFront(slot);
  }

  /** Slots in most-recently-used order (for snapshots and listings). */
  *slots(): IterableIterator<number> {
    for (let s = this.head; s !== NONE; s = this.links[2 * s + 1]) yield s;
  }

  /** Slot numbers in use are below this (bounds a full-table scan). */
  get highWater(): number {
    return this.fresh;
  }

  private grow(capacity: number): void {
    const gen = new Uint32Array(capacity);
    gen.set(this.generation);
    this.generation = gen;
    const links = new Int32Array(2 * capacity).fill(NONE);
    links.set(this.links);
    this.links = links;
    this.capacity = capacity;
  }

  private linkFront(slot: number): void {
    const links = this.links;
    links[2 * slot] = NONE;
    links[2 * slot + 1] = this.head;
    if (this.head !== NONE) links[2 * this.head] = slot;
    this.head = slot;
    if (this.tail === NONE) this.tail = slot;
  }

  private unlink(slot: number): void {
    const links = this.links;
    const p = links[2 * slot];
    const n = links[2 * slot + 1];
    if (p !== NONE) links[2 * p + 1] = n;
    else if (this.head === slot) this.head = n;
    if (n !== NONE) links[2 * n] = p;
    else if (this.tail === slot) this.tail = p;
    links[2 * slot] = NONE;
    links[2 * slot + 1] = NONE;
  }
}
