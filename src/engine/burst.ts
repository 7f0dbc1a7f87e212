import type { EngineConfig } from '../config.ts';
import { poissonTail } from './stats.ts';
import type { FieldIndex, RowTable } from './table.ts';
import type { BurstDetail } from './types.ts';

/**
 * Burst: the key's access rate right now is far above its own usual rate.
 *
 * Two exponentially decayed counters per key, updated lazily (decayed to the event's time when touched,
 * never by a timer): `recent` with a time constant of 0.4 of the burst window (≈ "the last minute",
 * `RECENT_SHARE_OF_WINDOW`),
 * and `usual` with the baseline constant (hours). The usual rate excludes what `recent` already holds, so
 * a burst does not raise its own bar while it is being judged.
 *
 * A burst starts when the recent count is (a) at least `minEvents`, (b) at least `minRatio` times what the
 * usual rate predicts, and (c) improbable under that rate: its Poisson tail probability is below `maxPValue`.
 * The statistical test keeps a light key's two accesses in a minute from being a "burst" and lets a heavy
 * key's normal fluctuation pass; the ratio keeps tiny-baseline keys from firing on mild changes. The test
 * counts in the key's own clusters (`dispersion`, learnt from its accesses outside bursts): a database read
 * a page at a time with a scan of 5-20 pages every few minutes is as likely to hold a scan in a minute as a
 * memoryless key is to hold one access, and judged as memoryless one scan in 25 was a burst (an outside
 * evaluation: 22 in 48 hours, opposite answers to the same routine scan). The accesses of one instant (a
 * readahead's blocks within milliseconds, `INSTANT_SHARE`) count about as one once the key has shown such
 * instants, so its scans are not bursts either when they are too large for its dispersion. Once the
 * key's hour-of-day profile covers a day, the count must also pass its usual rate at this hour, so a key
 * that is busy every morning does not burst every morning against a baseline that lags the rise.
 * A key that habitually comes in intense sessions (a movie streamed now and then, a backup, a camera
 * upload) is not bursting when one more such session starts: the peaks of its earlier burst-like sessions
 * (separated by at least a quiet window, so a burst with a pause is still one) are kept — the two highest,
 * fading with `habitMs` — and while two of them reached at least half of the current intensity and such
 * sessions are not lost among light ones (`HABIT_MIN_SHARE`), the session is its usual behaviour. The first
 * and second such sessions can still be bursts — unless the key began with one (a new job's first run),
 * which counts twice; a scheduled session that arrives on time never is.
 * A burst must also stand out from the key's last `sustainedMs` (a third counter): a rate kept that long is
 * the key's new level — a camera that starts recording, a file that becomes busy — not a burst. Judged
 * against the hours-long usual rate alone, a key that went from a few accesses a day to one a second was
 * bursting for 2.4 hours. So any burst lasts at most ~0.7-0.8 `sustainedMs` at a steady level.
 * It ends (hysteresis) when the recent count decays below `exitRatio` of the count that started it or
 * below a doubled usual rate (the current one once it is higher than the one the burst was judged against,
 * or the sustained one once that is higher), and at the latest one window after the last access — a time
 * the engine can compute in advance, so the end is published even if the key is never accessed again.
 */
export const burstFields = {
  /** Decayed access counts and the time they were decayed to (0: no access yet). */
  recent: ['f64', 1],
  usual: ['f64', 1],
  /** Decayed with `sustainedMs`: the key's level over the last half hour (f32: a count, 7 digits are plenty). */
  sustained: ['f32', 1],
  decayedAt: ['f64', 1],
  /**
   * While in a burst: when it started. Once a burst ended while the key stayed busy, minus the time it
   * ended until the key is quiet for a window (a burst again must be more than a fluctuation: `surprise`);
   * else 0.
   */
  burstStart: ['f64', 1],
  /**
   * The key's excursion above its level. While in a burst, the recent count that started it (the exit
   * test's reference, `trigger`). Outside one, what the accesses of the excursion under way found in
   * `recent` beyond the level, held back until it is over (`learnCompanions`; NaN: it is not learnt). One
   * field for both keeps the row at 856 bytes (a key within 1 KiB): a burst's excursion is not learnt.
   */
  excursion: ['f32', 1],
  /**
   * While in a burst: the usual rate (per ms) frozen at its start, for the report, the exit test and the
   * score. Outside one: the key's instant under way (`instantWeight`), its accesses × `SPAN_STEPS` + its
   * span in steps; one field for both keeps the row within 856 bytes (nothing of an instant is learnt in
   * a burst). A state written before holds a rate there, which reads as no instant.
   */
  baseline: ['f32', 1],
  /**
   * How many accesses beyond its level (`levelRate`) the key's accesses found already counted in `recent`,
   * summed over its accesses outside bursts and decayed like `usual`, which it is a mean of (`dispersion`):
   * the key's clustering, which a burst is judged with (`learnCompanions`).
   */
  companions: ['f32', 1],
  /** Highest recent count of the current session, and the two highest of earlier sessions (fading). */
  sessionPeak: ['f32', 1],
  habitPeaks: ['f32', 2],
  /**
   * 0 until the key's first session ended (`sessionEnded`); then 1 + 254 × the share of its sessions that
   * were intense (an average over sessions, `HABIT_SHARE_WEIGHT` each): whether they are its habit.
   */
  intenseShare: ['u8', 1],
  /**
   * The usual size of the key's instants (`instantWeight`), as `SIZE_STEPS` × its log2: 0 (a size of 1)
   * for a key that has shown none, so a state written before starts as a key whose every access counts
   * whole.
   */
  instantSize: ['u8', 1],
} as const;

/**
 * The key's first and latest access times, kept by the engine for every key: the detector reads them
 * there instead of keeping copies (16 bytes a key).
 */
export interface KeyTimes {
  firstAccess(slot: number): number;
  lastAccess(slot: number): number;
}

/**
 * Intense sessions are a key's habit only while they are not lost among light ones: `HABIT_MIN_SHARE` of its
 * sessions, averaged over the last ~20 (`HABIT_SHARE_WEIGHT` each). A sync client's state file, read every
 * few minutes and hit by a spike of hundreds of writes now and then, was bursting at its first two spikes
 * only, every later one being "its habit", though each stood out from a rate kept all day: dozens of light
 * sessions a day put its share at 0.01-0.05. A film or a nightly backup that is also opened a few times a
 * day keeps its habit (0.15 or more with five light sessions between its runs). Judged over the last four
 * sessions instead, a key with six spikes a day lost a third of them to "habit" when two came close, and a
 * backup opened twice a day burst on most nights (a second outside evaluation).
 */
const HABIT_SHARE_WEIGHT = 0.05;
/**
 * The recent counter's time constant as a share of `windowMs`. A burst on a quiet key is short of evidence,
 * not of contrast: a phone's morning sync wrote a key every 4-7 s, 200 times its usual rate, and a third of
 * the window (20 s) held 4-5 of them, too few to be improbable — 8 of 56 syncs were never bursts, and a third
 * were found more than a minute in (an outside evaluation). At 0.4, 55 of 56 within a minute; bursts end
 * 5-10 s later (the accuracy trace: 30 → 38 s after the planted end), and a fivefold rise on a busy key is
 * found ~30 % later, as the counter rises slower.
 */
const RECENT_SHARE_OF_WINDOW = 0.4;
const HABIT_MIN_SHARE = 0.1;
const SHARE_STEPS = 254;
/**
 * An instant: the accesses of a key within `INSTANT_SHARE` of the burst window (100 ms at 60 s) of the first
 * of them — one multi-block request, one readahead — over long before the window could measure a rate in
 * it. A VM image read at random pages, with a readahead scan of 12-24 blocks within 30-45 ms every ~45
 * minutes, burst at every scan, ~30 times a day for days (an outside evaluation): counted access by access,
 * a scan in the window is improbable at any dispersion learnt from a key that is otherwise memoryless (a
 * Poisson count in clusters of the mean size, ~4, calls a window holding one scan of 24 a one-in-a-million
 * chance when it holds one window in fifty), and an improbable excursion is not learnt, so none ever was.
 * Learnt as dispersion, the scans would also have hidden surges of single reads (d ≈ 4: a 20-fold surge
 * holds ~15 reads in the window, 3.5 clusters, not improbable). So an access that continues an instant
 * counts 1 / the key's usual instant size (`instantSize`): a usual instant counts about as one access, in
 * every counter the test reads. A key that never showed instants counts every access whole, so a spike
 * that arrives in one message without timestamps (one receipt time) is judged access by access.
 */
const INSTANT_SHARE = 1 / 600;
/**
 * An instant is also short beside the key's own pace: at most the span in which a memoryless key at its
 * usual rate puts a second access once in `INSTANT_CHANCE`. At 100 ms, a key read ten times a second had
 * "instants" of two or three by chance, learnt a size of 2-3, and a fivefold surge of it (which packs more
 * accesses in each) was no longer found (the sequential/burst probe).
 */
const INSTANT_CHANCE = 0.01;
/** Steps of an instant's span (`baseline` outside a burst): the span fits `SPAN_STEPS / 2`, the rest saturates. */
const SPAN_STEPS = 512;
/**
 * The usual instant size is a mean over the accesses that continue an instant, each of this weight: the size
 * of the instant an access comes in, so that a rare pair of random reads within 100 ms barely moves it.
 */
const INSTANT_LEARNING = 1 / 16;
/**
 * Steps of the instant size per doubling (`instantSize`): 2 % apart, up to 256. In a linear byte, rounding
 * to whole accesses stopped a size of 2 from ever falling.
 */
const SIZE_STEPS = 32;

/** Accesses of an instant packed as `baseline` holds it outside a burst (accesses × SPAN_STEPS + span). */
function instantAccesses(packed: number): number {
  return Math.floor(packed / SPAN_STEPS);
}

/** Span (in steps) of an instant packed as `instantAccesses` reads it. */
function instantSpan(packed: number): number {
  return packed - instantAccesses(packed) * SPAN_STEPS;
}

export class BurstDetector {
  /** The engine's state row; this detector owns one section of it. */
  private readonly row: RowTable;
  private readonly at: FieldIndex<typeof burstFields>;
  private readonly tauRecent: number;

  constructor(
    private readonly cfg: EngineConfig['burst'],
    row: RowTable,
    private readonly times: KeyTimes,
    /** The key's usual rate (per ms) at this hour of the day; 0 while unknown. */
    private readonly hourlyRate: (slot: number, now: number) => number,
  ) {
    this.row = row;
    this.at = row.fieldsOf(burstFields);
    this.tauRecent = cfg.windowMs * RECENT_SHARE_OF_WINDOW;
  }

  private decay(slot: number, now: number): void {
    const t = this.row;
    const r8 = slot * t.stride8;
    const dt = now - t.f64[r8 + this.at.decayedAt];
    if (dt <= 0) return;
    t.f64[r8 + this.at.recent] *= Math.exp(-dt / this.tauRecent);
    const baselineDecay = Math.exp(-dt / this.cfg.baselineMs);
    t.f64[r8 + this.at.usual] *= baselineDecay;
    t.f32[2 * r8 + this.at.companions] *= baselineDecay;
    if (!(t.f64[r8 + this.at.burstStart] > 0)) t.f32[2 * r8 + this.at.excursion] *= baselineDecay;
    t.f32[2 * r8 + this.at.sustained] *= Math.exp(-dt / this.cfg.sustainedMs);
    t.f64[r8 + this.at.decayedAt] = now;
  }

  /** The key's usual rate (accesses per ms), from history that is not "recent". */
  usualRate(slot: number, now: number): number {
    const t = this.row;
    const r8 = slot * t.stride8;
    // One access per baseline span as a floor: no history is not the same as a rate of zero.
    const old = this.beyondRecent(slot, t.f64[r8 + this.at.usual]);
    return Math.max(old, 1) / this.span(slot, this.cfg.baselineMs, now);
  }

  /** The usual rate needs at least two windows of history to mean anything, and so what is beyond it. */
  private hasHistory(slot: number, now: number): boolean {
    return now - this.times.firstAccess(slot) >= 2 * this.cfg.windowMs;
  }

  /** The rate a burst is judged against: the usual rate, or the key's last half hour's if higher. */
  private levelRate(slot: number, now: number): number {
    return Math.max(this.usualRate(slot, now), this.sustainedRate(slot, now));
  }

  /** The key's rate over its last `sustainedMs`, likewise without what `recent` holds. */
  private sustainedRate(slot: number, now: number): number {
    const t = this.row;
    const count = t.f32[2 * slot * t.stride8 + this.at.sustained];
    return this.beyondRecent(slot, count) / this.span(slot, this.cfg.sustainedMs, now);
  }

  /** What a decayed count holds beyond the recent window. */
  private beyondRecent(slot: number, count: number): number {
    const t = this.row;
    return Math.max(count - t.f64[slot * t.stride8 + this.at.recent], 0);
  }

  /** Effective span of a count decayed with time constant `tau`: `tau`, or the key's age if younger. */
  private span(slot: number, tau: number, now: number): number {
    const age = Math.max(now - this.times.firstAccess(slot), 1);
    return Math.max(tau * (1 - Math.exp(-age / tau)), this.cfg.windowMs);
  }

  /** The key's rate around `now` (per ms): its usual rate, or its recent one while that is higher. */
  rate(slot: number, now: number): number {
    return Math.max(this.usualRate(slot, now), this.recentAt(slot, now) / this.tauRecent);
  }

  /** The recent count decayed to `now`, without decaying the key's counters (reading must not judge). */
  private recentAt(slot: number, now: number): number {
    const t = this.row;
    const r8 = slot * t.stride8;
    return (
      t.f64[r8 + this.at.recent] *
      Math.exp(-Math.max(now - t.f64[r8 + this.at.decayedAt], 0) / this.tauRecent)
    );
  }

  /**
   * Records an access, after the engine recorded its time. `previous` is the latest access before it
   * (ignored for a key's first access). `expected` is true when the access belongs to a session that
   * arrives on the key's own schedule (a periodic job), which must not count as a burst. Returns true if
   * the state changed.
   */
  observe(slot: number, ts: number, previous: number, expected: boolean): boolean {
    const t = this.row;
    const r8 = slot * t.stride8;
    const r4 = 2 * r8;
    const first = t.f64[r8 + this.at.decayedAt] === 0;
    if (first) t.f64[r8 + this.at.decayedAt] = ts;
    else if (ts - previous > this.cfg.windowMs) this.sessionEnded(slot, ts, previous);
    const weight = this.instantWeight(slot, ts, first ? Number.POSITIVE_INFINITY : ts - previous);
    // A late event (behind the time the counts were decayed to) counts as much as it would have had it come
    // in time: decayed by its lateness. Counted whole, the accesses of a device that uploads its log every
    // few minutes came in as a burst at every upload, once a review had decayed the key to engine time.
    const lateness = t.f64[r8 + this.at.decayedAt] - ts;
    if (lateness > 0) ts = t.f64[r8 + this.at.decayedAt];
    this.decay(slot, ts);
    if (lateness <= 0) this.endSpikeAt(slot, ts, previous);
    if (t.f64[r8 + this.at.burstStart] === 0 && this.hasHistory(slot, ts))
      this.learnCompanions(slot, ts, weight);
    if (lateness > 0) {
      t.f64[r8 + this.at.recent] += weight * Math.exp(-lateness / this.tauRecent);
      t.f64[r8 + this.at.usual] += weight * Math.exp(-lateness / this.cfg.baselineMs);
      t.f32[r4 + this.at.sustained] += weight * Math.exp(-lateness / this.cfg.sustainedMs);
    } else {
      t.f64[r8 + this.at.recent] += weight;
      t.f64[r8 + this.at.usual] += weight;
      t.f32[r4 + this.at.sustained] += weight;
    }
    if (t.f64[r8 + this.at.recent] > t.f32[r4 + this.at.sessionPeak])
      t.f32[r4 + this.at.sessionPeak] = t.f64[r8 + this.at.recent];
    return this.evaluate(slot, ts, expected);
  }

  /**
   * What the access `gap` ms after the key's previous one counts in the key's counters: 1, or 1 / the key's
   * usual instant size when it continues an instant (`INSTANT_SHARE`, `INSTANT_CHANCE`) — outside a burst, where the instant
   * under way is kept (`baseline`). The instant it ends, if any, is learnt (`learnInstant`). In a burst every
   * access counts whole: it lasts its course, and ends as it did before.
   */
  private instantWeight(slot: number, ts: number, gap: number): number {
    const t = this.row;
    const r8 = slot * t.stride8;
    // Nor in a key's first two windows, whose usual rate is not yet meaningful (`hasHistory`): judged by
    // it, a key read ten times a second had instants of 3-5 in its first minute, learnt for good.
    if (t.f64[r8 + this.at.burstStart] > 0 || !this.hasHistory(slot, ts)) return 1;
    const at = 2 * r8 + this.at.baseline;
    const accesses = instantAccesses(t.f32[at]);
    const instantMs = this.cfg.windowMs * INSTANT_SHARE;
    if (accesses > 0 && gap >= 0 && gap <= instantMs) {
      const span = instantSpan(t.f32[at]) + Math.ceil((gap / instantMs) * (SPAN_STEPS / 2));
      // Accesses at one time (a batch's) are within any span: the key's rate is not read for them.
      if (
        span === 0 ||
        span <= (SPAN_STEPS / 2) * Math.min(INSTANT_CHANCE / (this.usualRate(slot, ts) * instantMs), 1)
      ) {
        t.f32[at] = Math.min(accesses + 1, (1 << 24) / SPAN_STEPS - 1) * SPAN_STEPS + span;
        return 2 ** (-t.u8[8 * r8 + this.at.instantSize] / SIZE_STEPS);
      }
    }
    this.learnInstant(slot, ts);
    t.f32[at] = SPAN_STEPS;
    return 1;
  }

  /**
   * Learns the size of the key's instant under way (kept outside a burst in `baseline`), and forgets it: a
   * mean over the accesses that continued an instant (`INSTANT_LEARNING` each), which may at most double
   * at a time. Called when the instant is over, or when it starts a burst: a burst's instant is learnt as
   * far as it came before it was improbable. Learnt not at all, a scan that bursts would never be learnt,
   * and every scan would burst (the deadlock the dispersion has, `learnCompanions`); growing at most
   * twofold, the VM image's scans burst once to three times on its first day, then no more. An instant
   * whose accesses all have one time is not learnt: it may be one message's receipt time (events without
   * `ts`), and a spike of 500 accesses sent that way every four hours was a burst the first six times
   * only. A request's blocks have times milliseconds apart. Nor is an instant that the key's usual rate
   * explains: the burst test's Poisson bar on the accesses after its first, in its span, times the accesses
   * `usual` holds (the chances it had). A key read once a second has three accesses within 10 ms a few
   * times a day by chance, four now and then; learnt from those over days (nothing makes the size fall
   * between instants), a size of 2-3 discounted the pairs a fivefold surge of it packs (found 51 → 74 s
   * after its start on the sequential/burst probe, now 51 again).
   */
  private learnInstant(slot: number, now: number): void {
    const t = this.row;
    const r8 = slot * t.stride8;
    const instant = t.f32[2 * r8 + this.at.baseline];
    const accesses = instantAccesses(instant);
    t.f32[2 * r8 + this.at.baseline] = 0;
    const spanMs = (instantSpan(instant) / (SPAN_STEPS / 2)) * this.cfg.windowMs * INSTANT_SHARE;
    if (accesses < 2 || !(spanMs > 0)) return;
    const chance = poissonTail(accesses - 1, this.usualRate(slot, now) * spanMs);
    if (chance * Math.max(t.f64[r8 + this.at.usual], 1) >= this.cfg.maxPValue) return;
    const size = 2 ** (t.u8[8 * r8 + this.at.instantSize] / SIZE_STEPS);
    const weight = 1 - (1 - INSTANT_LEARNING) ** (accesses - 1);
    const next = Math.min(size + weight * (accesses - size), 2 * size);
    t.u8[8 * r8 + this.at.instantSize] = Math.min(Math.round(SIZE_STEPS * Math.log2(next)), 255);
  }

  /**
   * Learns from the access at `ts` how many accesses the key's accesses come with: what it finds in
   * `recent` beyond the key's level, before it is counted itself. An access that finds what the level and
   * the dispersion learnt so far explain — fewer than `minRatio` times the level, and not improbable — is
   * calm: it is added to `companions` at once, with the accesses of the excursion before it, held back
   * until the excursion was over (`excursion`). Learnt while it was being judged, a
   * spike's accesses raised the dispersion with every access before it was improbable, and a light key's
   * spike (a few accesses an hour before it) never was. An excursion that was improbable at some access,
   * or became a burst (`evaluate`), is not learnt, nor the rest of a burst's session: a burst must not make
   * the next one usual (a sync spike of hundreds of writes six times a day is a burst each time), and a
   * spike that was no burst because it came with a scheduled poll is not the key's ordinary clustering
   * either: learnt, it hid the next two spikes of a sync client's state file, and three of a camera's 40
   * (an outside evaluation's home). An access that continues an instant counts as much as it counts in
   * `usual` (`weight`), which this is a mean over. Improbable below `minRatio` too: the usual rate of a
   * key minutes old follows its spike within a minute, and accesses that found four times that rate were
   * learnt as a cluster (a key read twice in two minutes, then once a second: 8 more of 200 such spikes
   * missed, 4 now).
   */
  private learnCompanions(slot: number, ts: number, weight: number): void {
    const t = this.row;
    const r8 = slot * t.stride8;
    const pending = 2 * r8 + this.at.excursion;
    const level = this.levelRate(slot, ts) * this.tauRecent;
    const recent = t.f64[r8 + this.at.recent];
    const dispersion = this.dispersion(slot);
    const improbable =
      recent >= this.cfg.minEvents && this.tail(recent, level, dispersion) < this.cfg.maxPValue;
    if (improbable || recent >= this.cfg.minRatio * level) {
      t.f32[pending] = improbable ? Number.NaN : t.f32[pending] + weight * (recent - level);
      return;
    }
    const excursion = t.f32[pending];
    t.f32[2 * r8 + this.at.companions] +=
      (Number.isNaN(excursion) ? 0 : excursion) + weight * (recent - level);
    t.f32[pending] = 0;
  }

  /**
   * How clustered the key's accesses are: the variance of `recent` over the variance a memoryless key at the
   * same rate gives (at least 1). For clusters of S accesses that is E[S²]/E[S], the mean number of accesses
   * an access comes with; an access of a cluster finds (S − 1) / 2 of its own beyond the rate on average,
   * hence 1 + 2 × the mean of `companions`, over the accesses that `usual` holds beyond `recent` (the
   * current excursion's are pending). The accesses of earlier bursts count there but not in `companions`,
   * which only lowers the dispersion while they are remembered.
   */
  private dispersion(slot: number): number {
    const t = this.row;
    const r8 = slot * t.stride8;
    const learnt = this.beyondRecent(slot, t.f64[r8 + this.at.usual]);
    const mean = t.f32[2 * r8 + this.at.companions] / Math.max(learnt, 1);
    return Math.max(1, 1 + 2 * mean);
  }

  /**
   * A burst is the rate over about the last minute, so its accesses count for at most a window after the
   * last of them. An access after a gap that a rate `minRatio` times the usual would not leave shows that
   * the spike stopped at the access before (`previous`): the recent count is held to what decays to the
   * burst's exit floor a window after it. Decayed alone, a thousand accesses in 20 s took two minutes to
   * decay to the end, and on a key still read once a minute (a job, a poller) bursts ended 60-88 s after
   * the spike (an outside evaluation); a key that falls silent ends a window after its last access anyway.
   */
  private endSpikeAt(slot: number, ts: number, previous: number): void {
    const t = this.row;
    const r8 = slot * t.stride8;
    if (!(t.f64[r8 + this.at.burstStart] > 0)) return;
    const burstPace = 1 / (this.cfg.minRatio * t.f32[2 * r8 + this.at.baseline]);
    if (!(ts - previous > burstPace)) return;
    const ceiling = this.exitFloor(slot, ts) * Math.exp((previous + this.cfg.windowMs - ts) / this.tauRecent);
    if (t.f64[r8 + this.at.recent] > ceiling) t.f64[r8 + this.at.recent] = ceiling;
  }

  /**
   * Files the peak of the session that ended among the habits — if it was improbable at the key's usual
   * rate, so that the chance clusters of a memoryless key never become a habit that would hide its real
   * bursts. Improbable is enough, `minRatio` times that rate is not asked: a film played for minutes at a
   * time with long pauses between had each session judged against the usual rate of its own time, which
   * the pauses had not yet lowered to a quarter of the playing rate; none was filed, and the first session
   * after the rate had fallen that far was a burst for minutes, at the rate of all the others (an outside
   * evaluation).
   */
  private sessionEnded(slot: number, next: number, last: number): void {
    const t = this.row;
    const r8 = slot * t.stride8;
    const r4 = 2 * r8;
    const fade = Math.exp(-Math.max(next - last, 0) / this.cfg.habitMs);
    const mean = this.usualRate(slot, next) * this.tauRecent;
    const top = t.f32[r4 + this.at.sessionPeak];
    const intense = top >= this.cfg.minEvents && poissonTail(top, mean) < this.cfg.maxPValue;
    const peak = intense ? top : 0;
    const first = t.f32[r4 + this.at.habitPeaks] * fade;
    const second = t.f32[r4 + this.at.habitPeaks + 1] * fade;
    t.f32[r4 + this.at.habitPeaks] = Math.max(first, peak);
    // A key that appeared with an intense session — the first run of a new job or backup — has shown that
    // habit for all of its history, which no burst could be judged against: it counts as two sessions.
    // Filed once, as any other, the job's second run was a burst on every new schedule (hourly, nightly).
    // Not when the session burst: judged against a usual rate by then, it was no habit. A key read every
    // ~20 s whose first session (no silence of a window yet) held a spike counted it twice, and its next
    // spike, as strong, was its habit: missed on 16 of 40 seeds (an outside evaluation, live).
    const burstInSession = t.f64[r8 + this.at.burstStart] !== 0;
    const firstSession = t.u8[8 * r8 + this.at.intenseShare] === 0 && !burstInSession;
    const before = this.habitShare(slot);
    const share = firstSession ? +intense : before + HABIT_SHARE_WEIGHT * (+intense - before);
    // Rounded the way it moves: to the nearest step, a share of a few percent stopped falling (a step is
    // 0.004, a light session took 5 % of it) and spikes a few light sessions apart added up to a habit.
    t.u8[8 * r8 + this.at.intenseShare] = 1 + (intense ? Math.ceil : Math.floor)(SHARE_STEPS * share);
    t.f32[r4 + this.at.habitPeaks + 1] = Math.max(second, firstSession ? peak : Math.min(first, peak));
    t.f32[r4 + this.at.sessionPeak] = 0;
    if (t.f64[r8 + this.at.burstStart] < 0) t.f64[r8 + this.at.burstStart] = 0;
  }

  /** Share of the key's sessions that were intense (0 before its first ended). */
  private habitShare(slot: number): number {
    const code = this.row.u8[8 * slot * this.row.stride8 + this.at.intenseShare];
    return code === 0 ? 0 : (code - 1) / SHARE_STEPS;
  }

  /** Is a session of `recent` accesses the key's habit: two earlier ones reached half of it, and such sessions are usual? */
  private habitual(slot: number, recent: number): boolean {
    const t = this.row;
    return (
      t.f32[2 * slot * t.stride8 + this.at.habitPeaks + 1] >= recent / 2 &&
      this.habitShare(slot) >= HABIT_MIN_SHARE
    );
  }

  /**
   * Re-judges the key at engine time `now` (after time passed without its accesses), `lag` ms behind which
   * its device's events lately arrived (`DeliveryLag`): the key is judged at its own time, `now − lag`. Judged at engine time, a device that
   * uploads its log every minute had its counts decayed past accesses still on their way, and a spike of
   * three minutes came out as three bursts, or none with uploads every five (an outside evaluation).
   * Returns true if it changed.
   */
  evaluate(slot: number, now: number, expected = false, lag = 0): boolean {
    const t = this.row;
    const r8 = slot * t.stride8;
    const r4 = 2 * r8;
    const ends = this.endsAt(slot);
    const own = now - lag;
    this.decay(slot, own);
    const recent = t.f64[r8 + this.at.recent];
    const wasActive = t.f64[r8 + this.at.burstStart] > 0;
    const again = t.f64[r8 + this.at.burstStart] < 0;
    if (wasActive) {
      // Ended exactly when the end time the engine schedules has come (`ends + lag`, before the decay):
      // the same arithmetic, not an equivalent test. Judged by `recent < floor` instead, a count decayed to
      // its scheduled end could round to just above the floor while the end time rounded to now, and the
      // review heap would hand the key back at the same time forever (seen: a service frozen in its sweep).
      if (ends + lag <= now || this.endsAt(slot) <= own) {
        t.f64[r8 + this.at.burstStart] = -own;
        t.f32[r4 + this.at.excursion] = Number.NaN;
        // No instant under way: the field held the burst's rate.
        t.f32[r4 + this.at.baseline] = 0;
        return true;
      }
      return false;
    }
    if (expected || recent < this.cfg.minEvents || this.habitual(slot, recent)) return false;
    if (!this.hasHistory(slot, own)) return false;
    let rate = this.levelRate(slot, own);
    const dispersion = this.dispersion(slot);
    let p = this.surprise(recent, rate, again, dispersion);
    if (p >= this.cfg.maxPValue) return false;
    // Busy at this hour as on other days (a NAS every morning): its usual rate at this hour is the bar.
    // Asked only of what passed the usual rate, which is all but a few of the accesses of busy keys.
    const hourly = this.hourlyRate(slot, own);
    if (hourly > rate) {
      rate = hourly;
      p = this.surprise(recent, rate, again, dispersion);
      if (p >= this.cfg.maxPValue) return false;
    }
    this.learnInstant(slot, own);
    t.f64[r8 + this.at.burstStart] = own;
    t.f32[r4 + this.at.excursion] = recent;
    t.f32[2 * r8 + this.at.baseline] = rate;
    return true;
  }

  /**
   * How improbable `recent` accesses in the recent window are at `rate` (per ms): the Poisson tail, or 1
   * when they are fewer than `minRatio` times what the rate predicts. `again`: a burst of the key ended
   * while it stayed busy (no quiet window since). Its rate has stayed high, often at about `minRatio` times
   * a usual rate that lags it (a key busy by day in its first days, a ramp), where the count passes that
   * bar by chance again and again: a burst again must then be improbable at `minRatio` times the usual
   * rate, not merely pass it.
   */
  private surprise(recent: number, rate: number, again: boolean, dispersion: number): number {
    const mean = rate * this.tauRecent;
    const bar = this.cfg.minRatio * mean;
    if (recent < bar || (again && this.tail(recent, bar, dispersion) >= this.cfg.maxPValue)) return 1;
    return this.tail(recent, mean, dispersion);
  }

  /** The Poisson tail of `count` accesses at a `mean` count, both in the key's clusters of `dispersion`. */
  private tail(count: number, mean: number, dispersion: number): number {
    return poissonTail(count / dispersion, mean / dispersion);
  }

  isActive(slot: number): boolean {
    const t = this.row;
    return t.f64[slot * t.stride8 + this.at.burstStart] > 0;
  }

  /** 1 − the p-value of the count that started the burst, at the rate it was judged against; 0 outside one. */
  score(slot: number): number {
    if (!this.isActive(slot)) return 0;
    const r4 = 2 * slot * this.row.stride8;
    const mean = this.row.f32[r4 + this.at.baseline] * this.tauRecent;
    return 1 - this.tail(this.row.f32[r4 + this.at.excursion], mean, this.dispersion(slot));
  }

  /**
   * The recent count below which an active burst ends (hysteresis): `exitRatio` of the count that started
   * it (low enough that a light key's ordinary silences between accesses do not end its burst), twice
   * the usual rate, or half the `minEvents` floor. The usual rate is the one the burst was judged against or
   * the current one, whichever is higher: a burst does not raise its own bar, but a key that stays at its
   * new level for hours (idle, then in daily use; busy every morning) has made that level its usual rate,
   * and its burst ends once the level is no longer twice that, instead of lasting as long as the level. The
   * key's rate over its last half hour (`sustainedRate`) counts too, so that happens within ~20 minutes.
   */
  private exitFloor(slot: number, now: number): number {
    const t = this.row;
    const r8 = slot * t.stride8;
    const usual = Math.max(
      t.f32[2 * r8 + this.at.baseline],
      this.usualRate(slot, now),
      this.sustainedRate(slot, now),
    );
    return Math.max(
      this.cfg.exitRatio * t.f32[2 * r8 + this.at.excursion],
      2 * usual * this.tauRecent,
      this.cfg.minEvents / 2,
    );
  }

  /** When an active burst ends if no access arrives: the earliest of the exit conditions. */
  endsAt(slot: number): number {
    const t = this.row;
    const r8 = slot * t.stride8;
    if (!(t.f64[r8 + this.at.burstStart] > 0)) return Number.POSITIVE_INFINITY;
    const floor = this.exitFloor(slot, t.f64[r8 + this.at.decayedAt]);
    const recent = t.f64[r8 + this.at.recent];
    const decayTime = recent > floor ? this.tauRecent * Math.log(recent / floor) : 0;
    return Math.min(
      this.times.lastAccess(slot) + this.cfg.windowMs,
      t.f64[r8 + this.at.decayedAt] + decayTime,
    );
  }

  /**
   * The burst as a view shows it at `now`. It reads the counters without decaying them: decayed to engine
   * time by each rendering, the counts of a device whose log arrives minutes late were taken past the
   * accesses still on their way, so how often a key was published changed what was detected.
   */
  detail(slot: number, now: number): BurstDetail {
    const t = this.row;
    const r8 = slot * t.stride8;
    const perMinute = 60_000;
    const ratePerMin = (this.recentAt(slot, now) / this.tauRecent) * perMinute;
    const baselinePerMin = t.f32[2 * r8 + this.at.baseline] * perMinute;
    return {
      since_ts: Math.round(t.f64[r8 + this.at.burstStart]),
      rate_per_min: Math.round(ratePerMin * 10) / 10,
      baseline_per_min: Math.round(baselinePerMin * 1000) / 1000,
      ratio: Math.round((ratePerMin / Math.max(baselinePerMin, 1e-9)) * 10) / 10,
    };
  }
}
