import type { EngineConfig } from '../config.ts';
import { poissonTail } from './stats.ts';
import { Table } from './table.ts';
import type { BurstDetail } from './types.ts';

/**
 * Burst: the key's access rate right now is far above its own usual rate.
 *
 * Two exponentially decayed counters per key, updated lazily (decayed to the event's time when touched,
 * never by a timer): `recent` with a time constant of a third of the burst window (≈ "the last minute"),
 * and `usual` with the baseline constant (hours). The usual rate excludes what `recent` already holds, so
 * a burst does not raise its own bar while it is being judged.
 *
 * A burst starts when the recent count is (a) at least `minEvents`, (b) at least `minRatio` times what the
 * usual rate predicts, and (c) improbable under that rate: its Poisson tail probability is below `maxPValue`.
 * The statistical test keeps a light key's two accesses in a minute from being a "burst" and lets a heavy
 * key's normal fluctuation pass; the ratio keeps tiny-baseline keys from firing on mild changes.
 * A key that habitually comes in intense sessions (a movie streamed now and then, a backup, a camera
 * upload) is not bursting when one more such session starts: the peaks of its earlier burst-like sessions
 * (separated by at least a quiet window, so a burst with a pause is still one) are kept — the two highest,
 * fading with `habitMs` — and while two of them reached at least half of the current intensity, the
 * session is its usual behaviour. The first and second such sessions can still be bursts;
 * a scheduled session that arrives on time never is.
 * It ends (hysteresis) when the recent count decays below `exitRatio` of the count that started it or
 * below a doubled usual rate, and at the latest one window after the last access — a time the engine
 * can compute in advance, so the end is published even if the key is never accessed again.
 */
const schema = {
  /** Decayed access counts and the time they were decayed to (0: no access yet). */
  recent: ['f64', 1],
  usual: ['f64', 1],
  decayedAt: ['f64', 1],
  /** While in a burst: when it started and the recent count that started it; 0 otherwise. */
  burstStart: ['f64', 1],
  trigger: ['f32', 1],
  /** Usual rate (per ms) frozen at the burst's start, for the report and the exit test. */
  baseline: ['f64', 1],
  /** Lower bound of 1 − p-value of the current recent count, the burst score. */
  score: ['f32', 1],
  /** Highest recent count of the current session, and the two highest of earlier sessions (fading). */
  sessionPeak: ['f32', 1],
  habitPeaks: ['f32', 2],
} as const;

/**
 * The key's first and latest access times, kept by the engine for every key: the detector reads them
 * there instead of keeping copies (16 bytes a key). Columns are re-read on each use (they grow).
 */
export interface KeyTimes {
  readonly c: { readonly first: Float64Array; readonly last: Float64Array };
}

export class BurstDetector {
  readonly table: Table<typeof schema>;
  private readonly tauRecent: number;

  constructor(
    private readonly cfg: EngineConfig['burst'],
    capacity: number,
    private readonly times: KeyTimes,
  ) {
    this.table = new Table(schema, capacity);
    this.tauRecent = cfg.windowMs / 3;
  }

  private decay(slot: number, now: number): void {
    const c = this.table.c;
    const dt = now - c.decayedAt[slot];
    if (dt <= 0) return;
    c.recent[slot] *= Math.exp(-dt / this.tauRecent);
    c.usual[slot] *= Math.exp(-dt / this.cfg.baselineMs);
    c.decayedAt[slot] = now;
  }

  /** The key's usual rate (accesses per ms), from history that is not "recent". */
  usualRate(slot: number, now: number): number {
    const c = this.table.c;
    const age = Math.max(now - this.times.c.first[slot], 1);
    // Effective span of the decayed counter: its time constant, or the key's age if younger.
    const span = this.cfg.baselineMs * (1 - Math.exp(-age / this.cfg.baselineMs));
    const old = Math.max(c.usual[slot] - c.recent[slot], 0);
    // One access per baseline span as a floor: no history is not the same as a rate of zero.
    return Math.max(old, 1) / Math.max(span, this.cfg.windowMs);
  }

  /** The key's rate around `now` (per ms): its usual rate, or its recent one while that is higher. */
  rate(slot: number, now: number): number {
    const c = this.table.c;
    const recent = c.recent[slot] * Math.exp(-Math.max(now - c.decayedAt[slot], 0) / this.tauRecent);
    return Math.max(this.usualRate(slot, now), recent / this.tauRecent);
  }

  /**
   * Records an access, after the engine recorded its time. `previous` is the latest access before it
   * (ignored for a key's first access). `expected` is true when the access belongs to a session that
   * arrives on the key's own schedule (a periodic job), which must not count as a burst. Returns true if
   * the state changed.
   */
  observe(slot: number, ts: number, previous: number, expected: boolean): boolean {
    const c = this.table.c;
    if (c.decayedAt[slot] === 0) c.decayedAt[slot] = ts;
    else if (ts - previous > this.cfg.windowMs) this.sessionEnded(slot, ts, previous);
    if (ts < c.decayedAt[slot]) {
      // Late event: count it as if it happened now; decaying backwards would inflate history.
      ts = c.decayedAt[slot];
    }
    this.decay(slot, ts);
    c.recent[slot] += 1;
    c.usual[slot] += 1;
    if (c.recent[slot] > c.sessionPeak[slot]) c.sessionPeak[slot] = c.recent[slot];
    return this.evaluate(slot, ts, expected);
  }

  /**
   * Files the peak of the session that ended among the habits — if it was itself burst-like, so that the
   * chance clusters of a memoryless key never become a habit that would hide its real bursts.
   */
  private sessionEnded(slot: number, next: number, last: number): void {
    const c = this.table.c;
    const fade = Math.exp(-Math.max(next - last, 0) / this.cfg.habitMs);
    const h = slot * 2;
    const mean = this.usualRate(slot, next) * this.tauRecent;
    const top = c.sessionPeak[slot];
    const intense =
      top >= this.cfg.minEvents &&
      top >= this.cfg.minRatio * mean &&
      poissonTail(top, mean) < this.cfg.maxPValue;
    const peak = intense ? top : 0;
    const first = c.habitPeaks[h] * fade;
    const second = c.habitPeaks[h + 1] * fade;
    c.habitPeaks[h] = Math.max(first, peak);
    c.habitPeaks[h + 1] = Math.max(second, Math.min(first, peak));
    c.sessionPeak[slot] = 0;
  }

  /** Re-judges the key at `now` (after time passed without its accesses). Returns true if it changed. */
  evaluate(slot: number, now: number, expected = false): boolean {
    const c = this.table.c;
    this.decay(slot, now);
    const recent = c.recent[slot];
    const wasActive = c.burstStart[slot] > 0;
    if (wasActive) {
      const rate = c.baseline[slot] * this.tauRecent;
      const ended =
        now - this.times.c.last[slot] >= this.cfg.windowMs ||
        recent < this.cfg.exitRatio * c.trigger[slot] ||
        recent < 2 * rate ||
        recent < this.cfg.minEvents / 2;
      if (ended) {
        c.burstStart[slot] = 0;
        c.score[slot] = 0;
        return true;
      }
      return false;
    }
    if (expected || recent < this.cfg.minEvents || c.habitPeaks[slot * 2 + 1] >= recent / 2) return false;
    // The usual rate needs at least two windows of history to mean anything.
    if (now - this.times.c.first[slot] < 2 * this.cfg.windowMs) return false;
    const rate = this.usualRate(slot, now);
    const mean = rate * this.tauRecent;
    if (recent < this.cfg.minRatio * mean) return false;
    const p = poissonTail(recent, mean);
    if (p >= this.cfg.maxPValue) return false;
    c.burstStart[slot] = now;
    c.trigger[slot] = recent;
    c.baseline[slot] = rate;
    c.score[slot] = 1 - p;
    return true;
  }

  isActive(slot: number): boolean {
    return this.table.c.burstStart[slot] > 0;
  }

  score(slot: number): number {
    return this.isActive(slot) ? this.table.c.score[slot] : 0;
  }

  /** When an active burst ends if no access arrives: the earliest of the exit conditions. */
  endsAt(slot: number): number {
    const c = this.table.c;
    if (!(c.burstStart[slot] > 0)) return Number.POSITIVE_INFINITY;
    const floor = Math.max(
      this.cfg.exitRatio * c.trigger[slot],
      2 * c.baseline[slot] * this.tauRecent,
      this.cfg.minEvents / 2,
    );
    const recent = c.recent[slot];
    const decayTime = recent > floor ? this.tauRecent * Math.log(recent / floor) : 0;
    return Math.min(this.times.c.last[slot] + this.cfg.windowMs, c.decayedAt[slot] + decayTime);
  }

  detail(slot: number, now: number): BurstDetail {
    const c = this.table.c;
    this.decay(slot, now);
    const perMinute = 60_000;
    const ratePerMin = (c.recent[slot] / this.tauRecent) * perMinute;
    const baselinePerMin = c.baseline[slot] * perMinute;
    return {
      since_ts: Math.round(c.burstStart[slot]),
      rate_per_min: Math.round(ratePerMin * 10) / 10,
      baseline_per_min: Math.round(baselinePerMin * 1000) / 1000,
      ratio: Math.round((ratePerMin / Math.max(baselinePerMin, 1e-9)) * 10) / 10,
    };
  }
}
