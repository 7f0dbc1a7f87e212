/**
 * How late each source's events arrive: the most that engine time was ahead of an event of the source when
 * the event came, over the last one to two hours of engine time (two buckets of an hour, so an old lag is
 * forgotten without a timer). A device that uploads its log in batches every few minutes delivers each
 * access up to that late, while other devices move engine time on live. Judged without it, a periodic key
 * of such a device had its runs missed for a whole batch window: an outside evaluation's 30 s camera index,
 * uploaded every two minutes, dropped its schedule and found it again at every batch (163 drops in six
 * hours). Pure like the engine: time comes in with the events.
 */
const BUCKET_MS = 3_600_000;
/**
 * The most lag allowed for: a batch window of minutes is a device's habit, a log uploaded hours late is a
 * replay, and its keys' schedules must not wait hours past their runs for it.
 */
export const MAX_DELIVERY_LAG_MS = 15 * 60_000;

export class DeliveryLag {
  private current = new Float64Array(16);
  private previous = new Float64Array(16);
  private bucketEnd = Number.NEGATIVE_INFINITY;

  /** An event of `source` (0: unknown) with time `ts` arrived when engine time was `now`. */
  observe(source: number, ts: number, now: number): void {
    if (now >= this.bucketEnd) this.rotate(now);
    const lag = now - ts;
    if (source === 0 || !(lag > 0)) return;
    if (source >= this.current.length) this.grow(source);
    if (lag > this.current[source]) this.current[source] = Math.min(lag, MAX_DELIVERY_LAG_MS);
  }

  /** How late events of `source` have lately arrived (ms, 0 for live or unknown sources). */
  of(source: number): number {
    return source < this.current.length ? Math.max(this.current[source], this.previous[source]) : 0;
  }

  /**
   * The lag of sources 1…`sources`, for the store: a restarted service that waited an hour to learn it
   * again dropped the schedules of a batched device's keys at its first batches.
   */
  export(sources: number): number[] {
    return Array.from({ length: sources }, (_, i) => Math.round(this.of(i + 1)));
  }

  /** Lags from `export`, as of engine time `now`: kept for the next one to two hours, as if just seen. */
  restore(lags: readonly number[], now: number): void {
    this.rotate(now);
    if (lags.length >= this.current.length) this.grow(lags.length);
    lags.forEach((lag, i) => {
      if (Number.isFinite(lag) && lag > 0) this.current[i + 1] = Math.min(lag, MAX_DELIVERY_LAG_MS);
    });
  }

  /** Forgets every lag (the engine starts over). */
  clear(): void {
    this.current.fill(0);
    this.previous.fill(0);
    this.bucketEnd = Number.NEGATIVE_INFINITY;
  }

  private rotate(now: number): void {
    const swap = this.previous;
    this.previous = this.current;
    this.current = swap.fill(0);
    // A bucket passed without events: what it held is older than an hour.
    if (now >= this.bucketEnd + BUCKET_MS) this.previous.fill(0);
    this.bucketEnd = (Math.floor(now / BUCKET_MS) + 1) * BUCKET_MS;
  }

  private grow(source: number): void {
    const size = 2 ** Math.ceil(Math.log2(source + 1));
    const current = new Float64Array(size);
    const previous = new Float64Array(size);
    current.set(this.current);
    previous.set(this.previous);
    this.current = current;
    this.previous = previous;
  }
}
