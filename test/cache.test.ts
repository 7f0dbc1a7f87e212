import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../bench/rng.ts';
import { LruCache } from '../src/analyse/cache.ts';

/** The plain LRU the simulation must equal: a Map in recency order (slow on large maps, fine here). */
class ReferenceLru {
  private readonly entries = new Map<string, { size: number; prefetched: boolean }>();
  private used = 0;
  hits = 0;
  prefetchUsed = 0;
  constructor(private readonly capacity: number) {}
  request(id: string, size: number): void {
    const e = this.entries.get(id);
    if (e) {
      this.entries.delete(id);
      if (size <= e.size) {
        this.hits++;
        if (e.prefetched) this.prefetchUsed++;
        this.entries.set(id, { size: e.size, prefetched: false });
        return;
      }
      this.used -= e.size;
    }
    this.insert(id, size, false);
  }
  prefetch(id: string, size: number): void {
    if (size > 0 && !this.entries.has(id)) this.insert(id, size, true);
  }
  private insert(id: string, size: number, prefetched: boolean): void {
    if (size > this.capacity) return;
    this.entries.set(id, { size, prefetched });
    this.used += size;
    for (const [oldest, e] of this.entries) {
      if (this.used <= this.capacity) break;
      this.used -= e.size;
      this.entries.delete(oldest);
    }
  }
}

describe('the LRU cache simulation of `patternd analyse`', () => {
  it('evicts the least recently used bytes, and counts a prefetch used once, when the request fits in it', () => {
    const c = new LruCache(300);
    c.request('a', 100);
    c.request('b', 100);
    c.prefetch('p', 100);
    c.request('p', 100);
    c.request('p', 100);
    expect([c.hits, c.prefetchUsed]).toEqual([2, 1]);
    c.request('a', 100); // a is more recent than b now: b goes first
    c.request('d', 100);
    c.request('a', 100);
    expect(c.hits).toBe(4);
    c.request('b', 100);
    expect(c.hits).toBe(4);
    // A prefetch made too small is a miss: the rest has to be fetched.
    c.prefetch('q', 10);
    c.request('q', 100);
    expect(c.hits).toBe(4);
  });

  it('gives the same hits as a plain LRU on a seeded mix of hot objects, streams and prefetches', () => {
    const rnd = mulberry32(5);
    const fast = new LruCache(64 * 4096);
    const plain = new ReferenceLru(64 * 4096);
    for (let i = 0; i < 20_000; i++) {
      const r = rnd();
      const id = r < 0.3 ? 'hot' : r < 0.6 ? `stream-${i}` : `random-${Math.floor(rnd() * 200)}`;
      const size = 512 * (1 + Math.floor(rnd() * 8));
      fast.request(id, size);
      plain.request(id, size);
      if (rnd() < 0.3) {
        const ahead = `stream-${i + 1}`;
        fast.prefetch(ahead, size);
        plain.prefetch(ahead, size);
      }
    }
    expect(fast.hits).toBeGreaterThan(0);
    expect([fast.hits, fast.prefetchUsed]).toEqual([plain.hits, plain.prefetchUsed]);
  });
});
