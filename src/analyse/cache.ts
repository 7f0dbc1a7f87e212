/**
 * An LRU cache simulation by bytes, to measure what prefetching buys: demand requests either hit or
 * miss (and are inserted); prefetched objects are inserted ahead of demand and count as useful when a
 * demand request hits them before eviction.
 *
 * The recency order is a doubly linked list over slots (typed arrays), and a Map finds an object's slot.
 * A hit moves the slot to the end of the list and leaves the Map alone: kept as the Map's own insertion
 * order (delete and set again at each hit), a log of 400 k lines whose sensor key was hit at every other
 * line took 145 s (an outside evaluation) — V8 rehashes a large Map over and over when one key is
 * deleted and set again.
 */
const NONE = -1;

export class LruCache {
  private readonly slotOf = new Map<string, number>();
  private ids: string[] = [];
  private size = new Float64Array(1024);
  private prefetchedFlag = new Uint8Array(1024);
  private prev = new Int32Array(1024);
  private next = new Int32Array(1024);
  /** Least and most recently used slots. */
  private head = NONE;
  private tail = NONE;
  /** Slots of evicted objects, to reuse. */
  private readonly free: number[] = [];
  private used = 0;
  requests = 0;
  hits = 0;
  prefetched = 0;
  prefetchUsed = 0;

  constructor(readonly capacityBytes: number) {}

  /**
   * A demand request. It hits only if the cache holds at least the requested bytes: a prefetch made with a
   * guessed size that turns out too small is a miss (the rest has to be fetched), never a free hit.
   */
  request(id: string, size: number): void {
    this.requests++;
    const slot = this.slotOf.get(id);
    if (slot === undefined) return this.insert(id, size, false);
    if (size <= this.size[slot]) {
      this.hits++;
      if (this.prefetchedFlag[slot]) {
        this.prefetchedFlag[slot] = 0;
        this.prefetchUsed++;
      }
      this.unlink(slot);
      this.append(slot);
      return;
    }
    this.evict(slot);
    this.insert(id, size, false);
  }

  prefetch(id: string, size: number): void {
    if (size <= 0 || this.slotOf.has(id)) return;
    this.prefetched++;
    this.insert(id, size, true);
  }

  get hitRatio(): number {
    return this.requests > 0 ? this.hits / this.requests : 0;
  }

  private insert(id: string, size: number, prefetched: boolean): void {
    if (size > this.capacityBytes) return;
    const slot = this.free.pop() ?? this.newSlot();
    this.ids[slot] = id;
    this.size[slot] = size;
    this.prefetchedFlag[slot] = prefetched ? 1 : 0;
    this.slotOf.set(id, slot);
    this.append(slot);
    this.used += size;
    while (this.used > this.capacityBytes) this.evict(this.head);
  }

  private evict(slot: number): void {
    this.unlink(slot);
    this.slotOf.delete(this.ids[slot]);
    this.used -= this.size[slot];
    this.ids[slot] = '';
    this.free.push(slot);
  }

  private newSlot(): number {
    const slot = this.ids.length;
    if (slot === this.size.length) {
      const grow = <T extends Float64Array | Uint8Array | Int32Array>(a: T, make: (n: number) => T): T => {
        const b = make(2 * a.length);
        b.set(a);
        return b;
      };
      this.size = grow(this.size, (n) => new Float64Array(n));
      this.prefetchedFlag = grow(this.prefetchedFlag, (n) => new Uint8Array(n));
      this.prev = grow(this.prev, (n) => new Int32Array(n));
      this.next = grow(this.next, (n) => new Int32Array(n));
    }
    this.ids.push('');
    return slot;
  }

  private append(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = NONE;
    if (this.tail === NONE) this.head = slot;
    else this.next[this.tail] = slot;
    this.tail = slot;
  }

  private unlink(slot: number): void {
    const before = this.prev[slot];
    const after = this.next[slot];
    if (before === NONE) this.head = after;
    else this.next[before] = after;
    if (after === NONE) this.tail = before;
    else this.prev[after] = before;
  }
}
