/**
 * The last `capacity` access events of all keys, for the dashboard's key page: the engine is a streaming
 * engine and keeps no per-access log. One fixed allocation; `push` is O(1) and allocation-free (the key
 * string is the one the event already carries), so the ingest hot path pays almost nothing. A key page
 * scans the ring, which is fine at the rate people open pages.
 *
 * A busy service turns the ring over quickly, so a quiet key's history may be short or empty: the answer
 * says how far back the ring reaches (`since_ts`) so the page can say so too.
 */
export interface RecentAccess {
  ts: number;
  /** null when the event had no position. */
  position: number | null;
}

export class RecentAccesses {
  private readonly keys: string[];
  private readonly ts: Float64Array;
  private readonly positions: Float64Array;
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.keys = new Array<string>(capacity).fill('');
    this.ts = new Float64Array(capacity);
    this.positions = new Float64Array(capacity);
  }

  /** `position` is NaN when the event had none. */
  push(key: string, ts: number, position: number): void {
    const i = this.next;
    this.keys[i] = key;
    this.ts[i] = ts;
    this.positions[i] = position;
    this.next = i + 1 === this.capacity ? 0 : i + 1;
    if (this.count < this.capacity) this.count++;
  }

  /**
   * The ring's accesses of `key` at or after `fromTs`, oldest first, at most `limit` (the newest ones).
   * `fromTs` is the key's first access as the engine knows it, so a key that was forgotten and came back
   * does not show the accesses of its previous life.
   */
  of(key: string, fromTs: number, limit: number): { accesses: RecentAccess[]; since_ts: number | null } {
    const found: RecentAccess[] = [];
    const oldest = (this.next - this.count + this.capacity) % this.capacity;
    for (let n = this.count - 1; n >= 0 && found.length < limit; n--) {
      const i = (oldest + n) % this.capacity;
      if (this.keys[i] !== key || this.ts[i] < fromTs) continue;
      const p = this.positions[i];
      found.push({ ts: this.ts[i], position: Number.isNaN(p) ? null : p });
    }
    return { accesses: found.reverse(), since_ts: this.count === 0 ? null : this.ts[oldest] };
  }
}
