/**
 * How late each source's events arrive as a habit: the most that engine time was ahead of its events when
 * they came, as two deliveries in a row had it (see `observe`), over the last one to two hours of engine time (two buckets of an hour, so an old lag is
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

/**
 * Events of a source that arrive within this much engine time of the first of them are one delivery (a
 * batch, however many messages carry it).
 */
const DELIVERY_SPAN_MS = 30_000;

export class DeliveryLag {
  private current = new Float64Array(16);
  private previous = new Float64Array(16);
  private bucketEnd = Number.NEGATIVE_INFINITY;
  /** Per source: when its latest delivery and the one before began (engine time), and their largest lags. */
  private deliveryAt = new Float64Array(16);
  private previousDeliveryAt = new Float64Array(16);
  private deliveryLag = new Float64Array(16);
  private previousDeliveryLag = new Float64Array(16);
  /** Per source: the least lag of its latest delivery and of the one before (see `clockLag`). */
  private deliveryLeast = new Float64Array(16);
  private previousDeliveryLeast = new Float64Array(16);

  /**
   * An event of `source` (0: unknown) with time `ts` arrived when engine time was `now`. A lag is the
   * source's habit once two deliveries in a row reached it, and at most twice the time between them: a
   * device uploading every few minutes delivers each access up to that late, every time. One backlog sent
   * after a reconnect (events hours old, then live ones again) held the lag at its 15-minute cap for one
   * to two hours, and a burst of a key of that device then ended 15 minutes after its spike instead of
   * one (an outside evaluation).
   */
  observe(source: number, ts: number, now: number): void {
    if (now >= this.bucketEnd) this.rotate(now);
    if (source === 0) return;
    if (source >= this.current.length) this.grow(source);
    const lag = now - ts;
    if (now - this.deliveryAt[source] > DELIVERY_SPAN_MS) {
      this.previousDeliveryAt[source] = this.deliveryAt[source];
      this.previousDeliveryLag[source] = this.deliveryLag[source];
      this.previousDeliveryLeast[source] = this.deliveryLeast[source];
      this.deliveryAt[source] = now;
      this.deliveryLag[source] = 0;
      this.deliveryLeast[source] = lag;
    } else if (lag < this.deliveryLeast[source]) this.deliveryLeast[source] = lag;
    if (!(lag > this.deliveryLag[source])) return;
    this.deliveryLag[source] = lag;
    const cadence = 2 * (this.deliveryAt[source] - this.previousDeliveryAt[source]) + this.clockLag(source);
    // The delivery before was a backlog, not this cadence's: engine time moves with the backlog's own
    // events, so a backlog of an hour counted as two deliveries 55 s apart, the second reaching 29
    // minutes back, and the lag was 111 s for the next hour or two (an outside evaluation's camera).
    if (this.previousDeliveryLag[source] > cadence) return;
    const habit = Math.min(lag, this.previousDeliveryLag[source], cadence, MAX_DELIVERY_LAG_MS);
    if (habit > this.current[source]) this.current[source] = habit;
  }

  /**
   * How far behind engine time the source's clock runs, as far as its last two deliveries tell: the least
   * lag of each — even its newest event came that late, however often it delivered — the smaller of the
   * two. A device whose clock is four minutes slow, or a replay in which another device's clock runs ahead
   * and moves engine time, delivers every access that late; allowed only twice the time between its
   * deliveries, its 30 s poller never became periodic and its spike of a hundred times its rate was never
   * a burst (an outside evaluation). The delivery under way counts once it holds an event: a backlog
   * followed by live events has a least lag near zero.
   */
  private clockLag(source: number): number {
    return Math.max(Math.min(this.deliveryLeast[source], this.previousDeliveryLeast[source]), 0);
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
    for (const a of [
      this.current,
      this.previous,
      this.deliveryAt,
      this.previousDeliveryAt,
      this.deliveryLag,
      this.previousDeliveryLag,
      this.deliveryLeast,
      this.previousDeliveryLeast,
    ])
      a.fill(0);
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
    const grown = (a: Float64Array) => {
      const b = new Float64Array(size);
      b.set(a);
      return b;
    };
    this.current = grown(this.current);
    this.previous = grown(this.previous);
    this.deliveryAt = grown(this.deliveryAt);
    this.previousDeliveryAt = grown(this.previousDeliveryAt);
    this.deliveryLag = grown(this.deliveryLag);
    this.previousDeliveryLag = grown(this.previousDeliveryLag);
    this.deliveryLeast = grown(this.deliveryLeast);
    this.previousDeliveryLeast = grown(this.previousDeliveryLeast);
  }
}
