/**
 * An LRU cache simulation by bytes, to measure what prefetching buys: demand requests either hit or
 * miss (and are inserted); prefetched objects are inserted ahead of demand and count as useful when a
 * demand request hits them before eviction. A JS Map keeps insertion order, so re-inserting on a hit
 * makes it an LRU list with O(1) operations.
 */
export class LruCache {
  private readonly entries = new Map<string, { size: number; prefetched: boolean }>();
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
    const e = this.entries.get(id);
    if (!e) return this.insert(id, size, false);
    this.entries.delete(id);
    if (size <= e.size) {
      this.hits++;
      if (e.prefetched) {
        e.prefetched = false;
        this.prefetchUsed++;
      }
      this.entries.set(id, e);
      return;
    }
    this.used -= e.size;
    this.insert(id, size, false);
  }

  prefetch(id: string, size: number): void {
    if (size <= 0 || this.entries.has(id)) return;
    this.prefetched++;
    this.insert(id, size, true);
  }

  private insert(id: string, size: number, prefetched: boolean): void {
    if (size > this.capacityBytes) return;
    this.entries.set(id, { size, prefetched });
    this.used += size;
    while (this.used > this.capacityBytes) {
      const oldest = this.entries.keys().next().value as string;
      this.used -= (this.entries.get(oldest) as { size: number }).size;
      this.entries.delete(oldest);
    }
  }

  get hitRatio(): number {
    return this.requests > 0 ? this.hits / this.requests : 0;
  }
}
