import type { EngineConfig } from '../config.ts';
import { hourOf } from './schedule.ts';
import { binomialUpperTail, normalCdf } from './stats.ts';
import type { FieldIndex, RowTable } from './table.ts';
import { DAY_MS } from './trend.ts';
import type { PeriodicDetail } from './types.ts';

/**
 * Periodic access: a key whose *occurrences* start on a schedule (a cron job, a nightly backup, a camera
 * that uploads every 10 minutes). An occurrence is a session, or a run of sessions separated by pauses that
 * are short at the scale of the key's own timing (`continuesOccurrence`).
 *
 * Each key keeps the start times of its last `HISTORY` occurrences in a ring — seven weeks of a daily job,
 * as 32-bit offsets in 16 ms ticks from a per-key base (200 bytes, two years of span), independent of how
 * many accesses each occurrence makes. When an occurrence starts, the detector refits:
 *   1. period: the median gap, refined twice by the median of the gaps close to a whole number of
 *      periods, each divided by that number, so missed runs (double gaps) do not bias it. Stray accesses
 *      between the runs split gaps and pull the median to a fraction of the period; when the schedule
 *      from it is refused (or accepted with starts left off it), from 12 starts on the densest cluster of
 *      spans over one to three consecutive gaps — a run and the next one still span one period with up
 *      to two strays between them — is fitted too (`clusteredPeriod`). With half the runs missed the
 *      median settles on twice the period; when gaps near odd multiples of half of it say so, half the
 *      period is fitted too (`oddHalfGaps`);
 *   2. beats: walking both ways from the latest start on the schedule, each start's beat number follows
 *      from its distance to the nearest start that sat on a beat (phase unwrapping), so neither a slightly
 *      wrong first guess nor a cluster of strays can shift the count over the history;
 *   3. a least-squares line t = a + k·P refines period and phase over the starts near the first line (the
 *      period through the anchor): within three robust spreads of each beat's nearest start, so that stray
 *      accesses — which share a beat with a run — neither pull the line nor widen the limit. Beats are
 *      reassigned from that line and fitted once more; for a periodic key's refit, while the starts the
 *      line leaves out are mostly such extras, the limit is tightened and the line refitted (`tightenLine`);
 *   4. the schedule is accepted when
 *      (a) the starts' phases on the fitted schedule are concentrated beyond what memoryless (Poisson)
 *          starts reach with probability `NULL_ALPHA`: 1 − r (r = mean resultant length, the Rayleigh
 *          statistic) is below a Monte-Carlo critical value for this many starts, computed with this very
 *          fit (`bench/calibrate-periodic.ts`), so six random starts that happen to line up are not a
 *          schedule; and the robust spread of starts around the line is at most `maxJitter` · P. A key
 *          refused so after the other estimates is fitted once more with the starts off its line taken for
 *          strays, each costing evidence (`fitPastStrays`: a nightly backup whose file is opened by day);
 *      (b) enough expected beats are present (`minFillRatio` while the starts are in phase, more with
 *          strays: `STRAYS_FILL_RATIO`), every residue class of the beats mod 2 and mod 3 holds some of
 *          them (`MIN_CLASS_SHARE`: not a fraction of the true period), and unless each start beyond a
 *          beat's first keeps its time, at most `MAX_STARTS_PER_BEAT` lie on each on average, and no
 *          more beats hold a second start than strays explain (`extrasCrowdBeats`): uses at random times
 *          within the same hours of every day are a habit, not a job;
 *      (c) the phase holds: a Gaussian likelihood-ratio test between "fixed schedule + independent timing
 *          errors" (gap errors are then anti-correlated: each late run is followed by a short gap) and
 *          "renewal process" (each gap independent: a steady reader whose errors accumulate, a random
 *          walk). With n starts on the line (sum of squared errors S) and m gaps between consecutive beats
 *          (sum of squared gap errors G) the log likelihood ratio is (m/2)·ln((G/m) / (S/(n−1))) − ln(n)/2.
 *          The ratio is ≈ 2 for a schedule and ≈ 15/n for a random walk, so the test separates them more
 *          surely with every start; with few starts neither model is clearly better, and the schedule is
 *          refused only once the random walk explains the starts `driftBayesFactor` times better. A
 *          schedule that moved once or twice (daylight saving time) is weighed the same way as two or
 *          three phases of one period (`findSteps`), and followed to its latest phase. A key refused by
 *          this test alone at a whole history of refits in a row must then pass it at a dozen in a row
 *          (`WALKED`): a random walk's windows pass now and then, a schedule's every time.
 *   5. two jobs a period at their own times (cron `0 9,17 * * *`) are one schedule with two runs a period
 *      when each job's starts pass as a schedule on their own, far apart beside their timing
 *      (`fitTwoPhases`).
 * A periodic key's refit must show that its schedule still holds rather than find one among noise
 * (`stayingFit`, hysteresis as for `sequential`): it starts from its own period when the estimate is near
 * it, the phase concentration is that of the starts on the line, a third of the starts near it will do, the
 * spread is that of each beat's nearest start, and one refusal by the drift test alone is let pass.
 * The confidence is the mean resultant length of the beat phases (1 = perfectly on time).
 */
export const HISTORY = 48;

export const periodicFields = {
  /** Start times of the last HISTORY occurrences, in ticks after `base` (DROPPED: none), a ring. */
  starts: ['u32', HISTORY],
  /** Epoch ms that `starts` count from (moved when a start falls outside the offsets' range). */
  base: ['f64', 1],
  /** Occurrences recorded (less those merged into the one before; the ring holds the last min(count, HISTORY)). */
  count: ['u32', 1],
  /** Fitted period (ms) and the fitted time of the latest beat; 0 while no schedule fits. */
  period: ['f64', 1],
  beat: ['f64', 1],
  /** Robust spread of starts around the schedule (ms). */
  jitter: ['f32', 1],
  /**
   * Phase concentration of the fit (0–1) in 65,535ths: two bytes, so that `second` fits in the row without
   * growing it past the 1 KiB a key may take.
   */
  concentration: ['u16', 1],
  /**
   * A schedule of two runs a period (`fitTwoPhases`): the other run's offset after each beat, in 65,536ths
   * of the period (1.3 s of a day); 0 for one run a period.
   */
  second: ['u16', 1],
  /**
   * 0 while not periodic; while periodic, 1 + the half periods the schedule waits for a run beyond
   * `missedPeriodsToExpire` (`extraHalfPeriods`: a job that skips runs often is given longer).
   */
  active: ['u8', 1],
} as const;

/**
 * Bookkeeping in the key's row that is never stored: whether refits of a key that is not periodic may be
 * skipped. A refit refused because too few starts lie on the schedule tells how many more must
 * (`shortBy`); each new start adds at most one while the schedule holds still, so refitting before then
 * would only refuse again — at every occurrence of every irregular key, the most common case there is.
 * The fit itself can land far off now and then on a noisy schedule (a stray start as the anchor, a period
 * locked onto a split gap), so only the second far refusal in a row skips, and only half of the starts
 * it fell short by (at most `MAX_SKIPPED_REFITS`): the estimate may move meanwhile, and a schedule that
 * appears is found at most that many starts late. Far is a quarter of the starts short from twice
 * `minOccurrences` of history on, and two starts short below (at six to eleven starts, where half of all
 * refits of memoryless keys happen: 17 % fewer refits and 8 % fewer instructions on 2 M single reads at
 * 100 k keys, no change in the periodic probe). A periodic key is refitted at every start (its period
 * and phase follow each run). `skipRefits` is 0 (refit), FAR (the last refit fell far short) or FAR + the
 * starts still to skip; for a periodic key, `HELD` and how its schedule has held (`driftRefusalKept`).
 */
export const periodicScratchFields = { skipRefits: ['u8', 1] } as const;
const MAX_SKIPPED_REFITS = 15;
const FAR = 1;
/**
 * The bit of `skipRefits` that marks a periodic key's count (cleared when the key is no longer periodic):
 * below it, the refits in a row that accepted its schedule, up to ESTABLISHED; then ESTABLISHED + the
 * refits in a row since refused by the drift test alone; REFUSED_ONCE for one such refusal of a schedule
 * not yet established.
 */
const HELD = 0x80;
const ESTABLISHED = HISTORY;
const REFUSED_ONCE = 0x7f;
/**
 * Refits in a row that an established schedule survives when refused by the drift test alone: a whole
 * history, after which every start that the first refusal weighed has been replaced. Half of it was not
 * enough for timing errors that wander like an AR(1) series of ρ 0.7 (`periodic.test.ts`).
 */
const ESTABLISHED_DRIFT_REFUSALS = HISTORY;

/** `skipRefits` of a key whose schedule was accepted at the refit that made it periodic. */
const HELD_NEW = HELD | 1;
/** Is the key (not periodic) skipping refits (FAR + the refits still to skip)? */
function skipsRefits(skip: number): boolean {
  return skip > FAR && skip <= FAR + MAX_SKIPPED_REFITS;
}

/**
 * A key that is not periodic counts its refits in a row refused by the drift test alone — regular gaps
 * whose phase wanders: a steady reader, a `sleep 60` loop — above `WALKING`, up to `WALKED`: a whole
 * history, every start of which has been weighed and found to wander. Such a key then keeps no schedule
 * until one is accepted at `CONFIRM_REFITS` refits in a row (counted above `CONFIRMING`). The test weighs
 * 48 starts, and about one window in thirty of a random walk stays close enough to a line to pass: steady
 * readers passed for periodic for three to fifteen starts at a time, some twenty times a day for a poller
 * every 20 s ± 4 % (an outside evaluation; the contract: "merely regular gaps without a stable phase are
 * not periodic"); twice a day now (`periodic.test.ts`). Consecutive windows share all but one start, so a
 * passing stretch of a walk is short, while a schedule that begins to keep time passes at every refit from
 * then on: it is found twelve runs later than it would be on a new key. A key that was periodic, or far
 * from any schedule, has no such count.
 */
const WALKING = 0x20;
const WALKED = HISTORY;
const CONFIRMING = WALKING + WALKED + 1;
const CONFIRM_REFITS = 12;

/** Refits in a row refused by the drift test alone, from `skipRefits` of a key that is not periodic. */
function walkedRefits(skip: number): number {
  if (skip >= CONFIRMING && skip < CONFIRMING + CONFIRM_REFITS) return WALKED;
  return skip > WALKING && skip <= WALKING + WALKED ? skip - WALKING : 0;
}

/** `skipRefits` of a walked key after a refit that accepted a schedule: `HELD_NEW` once confirmed. */
function confirmedAfterWalk(skip: number): number {
  const confirmed = skip >= CONFIRMING ? skip - CONFIRMING + 1 : 1;
  return confirmed >= CONFIRM_REFITS ? HELD_NEW : CONFIRMING + confirmed;
}

/**
 * Beats without a run beyond which a job is taken to have stopped rather than to have missed runs: ten
 * misses in a row are what the expiry waits for at most (a job that runs on half of its beats). A silence
 * longer than that — the device off for the night, a NAS rebooted — counts as that many missed runs in the
 * share of beats filled, not as all of them: a job every 30 s resumed on its schedule after an hour off
 * had 48 starts over 168 beats, short of the share until every start before the silence had left the
 * history (47 runs, 24 minutes). Counted between any two starts, on the line or off it: a job whose timer
 * restarted at another phase has its old starts off its new line, and the silence before it all the same.
 */
const SILENCE_BEATS = 10;

/** 16 ms resolution is far below any timing error that matters for periods of 8 s and more. */
const TICK_MS = 16;
/** Variance (ms²) of rounding a time to a tick, uniform over ±TICK_MS / 2. */
const TICK_VARIANCE = TICK_MS ** 2 / 12;
const DROPPED = 0xffffffff;
const MAX_TICKS = DROPPED - 1;

/**
 * Critical values of 1 − r for memoryless keys, by number of starts (index = n): the `NULL_ALPHA`
 * quantile of the statistic `fitSchedule` computes, from 20,000 simulated keys per n, under two nulls —
 * memoryless occurrence starts, and memoryless accesses made into occurrences by the detector (merging
 * makes their starts clumpier, so the first null is the binding one at every n) — the smaller value of
 * the two (`npm run calibrate:periodic` regenerates the table). The mean resultant length uses every start,
 * which makes it far more powerful at six to ten starts than a spread that ignores half of them.
 */
export const NULL_ALPHA = 0.001;
// biome-ignore format: a table
export const POISSON_CRITICAL = [0, 0, 0, 0, 0.0001, 0.0019, 0.0102, 0.0225, 0.0432, 0.0554, 0.0859, 0.1154, 0.1292, 0.1479, 0.1671, 0.1767, 0.1999, 0.211, 0.243, 0.248, 0.2541, 0.2649, 0.2893, 0.2925, 0.3037, 0.3147, 0.3292, 0.3325, 0.3325, 0.348, 0.348, 0.3651, 0.3818, 0.3818, 0.3896, 0.4019, 0.4056, 0.4056, 0.4103, 0.4207, 0.4254, 0.4327, 0.4383, 0.4425, 0.4536, 0.4536, 0.4616, 0.4653, 0.4653];

// Scratch space for a fit: one key at a time, never allocated per event.
const history = new Float64Array(HISTORY);
const intervals = new Float64Array(HISTORY);
const resid = new Float64Array(HISTORY);
const beats = new Float64Array(HISTORY);
const work = new Float64Array(HISTORY);
/** Residuals of the starts of one rank in their beats, for `laterStartsKeepTime`. */
const rankResid = new Float64Array(HISTORY);

/** The k-th smallest of the first n values (Hoare's quickselect, in place: the order is lost). */
function select(values: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    // Median of three as the pivot: the range shrinks faster, and on ~50 values the comparisons the CPU
    // cannot predict are most of the cost. Any value of the range is a valid pivot for this partition.
    const a = values[lo];
    const b = values[(lo + hi) >> 1];
    const c = values[hi];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        const v = values[i];
        values[i++] = values[j];
        values[j--] = v;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return values[k];
}

/** Median of the first n values, in O(n) and without allocating; reorders them. */
function medianOf(values: Float64Array, n: number): number {
  const upper = select(values, n, n >> 1);
  if (n % 2) return upper;
  let lower = values[0];
  for (let i = 1; i < n >> 1; i++) if (values[i] > lower) lower = values[i];
  return (lower + upper) / 2;
}

/**
 * A schedule may have at most `MAX_STARTS_PER_BEAT` starts per beat within `maxJitter` of it, on average,
 * unless every start beyond a beat's first keeps its time (`laterStartsKeepTime`). A key used several times a day
 * at random times within the same hours (the contract's "mostly in the evening at random times") has all of
 * its uses within a few hours of one phase, and phase concentration and spread alone took those hours for a
 * daily schedule with some jitter: it has a schedule (the `schedule` detail says which hours), not a
 * period. A job that touches its key twice per run (a backup resuming after a 40-minute pause, a second
 * task at 02:45 or 05:00) has several starts per beat too, but they keep time. Starts that kept within
 * 5 % of the period used to pass whatever their count: three to six uses at random times between 19:00
 * and 22:00 spread just under that, and 17 of 20 such keys were periodic after a month.
 * Counted within `maxJitter` rather than within the line's outlier bound: strays widen that bound (three
 * robust spreads, themselves inflated by strays near the beats), and a job with a stray per run had half
 * again as many starts as beats inside it.
 */
const MAX_STARTS_PER_BEAT = 1.5;
/**
 * The least distance from the schedule (share of the period) within which a start counts as on it, however
 * tight the fitted spread: "tolerant of 5 % jitter".
 */
const ON_SCHEDULE_SHARE = 0.05;
/** Rounds of `tightenLine`: each refit leaves fewer strays to widen the next limit. */
const TIGHTEN_ROUNDS = 4;
/**
 * A schedule whose beats all fall in some residue classes of 2 or 3 is not the schedule: half the true
 * period fits a job perfectly with every other beat left empty, and a third of an hour fits two hourly
 * jobs at :00 and :20 with every third beat empty. Missed runs leave beats out at random, so every class
 * keeps about its share; each must hold at least this share of the beats.
 */
const MIN_CLASS_SHARE = 0.1;
/**
 * How closely (robust spread, share of the period) the later starts of a beat must keep their time for
 * several starts per beat to be jobs: 14 minutes on a day. Two cron jobs keep it to seconds or minutes; the
 * second of a few uses at random times through an evening comes minutes to hours after the first, at any
 * time of the evening (its spread was 2-5 % of the day: an exponential wait is short more often than long).
 */
const LATER_START_SPREAD = 0.01;

/** Median absolute residual × 1.4826: a standard-deviation estimate that ignores a few outliers. */
const ROBUST = 1.4826;

/**
 * How many of the first n (non-negative) values are at most `bound` once scaled by ROBUST. ROBUST × their
 * median can be within the bound only if at least half of them are (x ↦ ROBUST·x rounds monotonically, so
 * the values that pass form a lower set; with an even count whose two middle values straddle the bound,
 * their mean decides). Most refits are refused by this count (memoryless starts spread ~30 % of the
 * period), which saves a selection on the common path without changing any answer.
 */
function countWithin(values: Float64Array, n: number, bound: number): number {
  let within = 0;
  // Counted without a branch, for the same reason as the gaps in fitSchedule's refinement.
  for (let i = 0; i < n; i++) within += +(ROBUST * values[i] <= bound);
  return within;
}

/** Appends the start times held in `starts[from..to)` to `history` from index n; returns the new count. */
function unpack(starts: Uint32Array, from: number, to: number, origin: number, n: number): number {
  for (let i = from; i < to; i++) {
    const offset = starts[i];
    if (offset !== DROPPED) history[n++] = origin + offset * TICK_MS;
  }
  return n;
}

export interface PeriodicFit {
  period: number;
  /** The schedule's time of its latest run (the latest beat with a start within `maxJitter` of it). */
  beat: number;
  /** Share of the beats from the first start to the last that hold a start on the schedule. */
  fill: number;
  jitter: number;
  score: number;
  ok: boolean;
  /**
   * When the starts were refused as too loose: how many more of them would have to lie on the fitted
   * schedule before the spread could pass (0 otherwise). One new start adds at most one to a schedule
   * that holds still, which is what lets a detector skip refits that cannot succeed yet.
   */
  shortBy: number;
  /** Refused by the drift test (c) alone: the schedule fit every other test. */
  drifted: boolean;
  /**
   * A schedule of two runs a period at their own times (`fitTwoPhases`): the time from each beat to the
   * other run's, in (0, period); 0 for one run a period.
   */
  second: number;
}

/** Is `span` within a quarter period of a whole number (one or more) of periods? */
function nearWholePeriods(span: number, period: number): boolean {
  const whole = Math.round(span / period);
  return whole >= 1 && Math.abs(span - whole * period) < period / 4;
}

/**
 * Beat numbers of the starts, 0 at the anchor `a`: walking away from it both ways, each start's beat is
 * counted from the nearest start that sat on a beat (phase unwrapping), so neither a slightly wrong
 * period nor a cluster of stray starts shifts the count.
 */
function unwrap(t: Float64Array, n: number, a: number, period: number): void {
  beats[a] = 0;
  for (let step = -1; step <= 1; step += 2) {
    let refT = t[a];
    let refK = 0;
    for (let i = a + step; i >= 0 && i < n; i += step) {
      const span = (t[i] - refT) * step;
      const whole = Math.round(span / period);
      beats[i] = refK + whole * step;
      if (Math.abs(span - whole * period) < period / 4) {
        refT = t[i];
        refK = beats[i];
      }
    }
  }
}

/** Least-squares line t − anchor = a + k·P over the starts within `limit` of the previous line; false if degenerate. */
function fitLine(t: Float64Array, n: number, anchor: number, limit: number, out: PeriodicFit): boolean {
  let m = 0;
  let sk = 0;
  let se = 0;
  let skk = 0;
  let ske = 0;
  for (let i = 0; i < n; i++) {
    if (Math.abs(resid[i]) > limit) continue;
    const k = beats[i];
    const e = t[i] - anchor;
    m++;
    sk += k;
    se += e;
    skk += k * k;
    ske += k * e;
  }
  const den = m * skk - sk * sk;
  if (m < 3 || den <= 0) return false;
  const p = (m * ske - sk * se) / den;
  if (!(p > 0)) return false;
  out.period = p;
  out.beat = anchor + (se - p * sk) / m;
  return true;
}

/** Residuals of the starts around the line in `out`; their absolute values also go to `work`. */
function residuals(t: Float64Array, n: number, out: PeriodicFit): void {
  for (let i = 0; i < n; i++) {
    const r = t[i] - out.beat - beats[i] * out.period;
    resid[i] = r;
    work[i] = Math.abs(r);
  }
}

/**
 * Starts the stray-tolerant period search needs: below this the median-gap estimate stands alone. Strays
 * can only be told from a schedule over several runs, and the Poisson critical values of fewer starts —
 * where a clean schedule is first reported — stay those of the median-gap fit alone.
 */
const STRAY_SEARCH_MIN_STARTS = 12;
/** Spans over up to this many consecutive gaps: a run followed by up to two strays still spans one period. */
const SPAN_STEPS = 3;
/** Relative half-width of a cluster of spans: twice the timing error of a cron job with a 2 % delay. */
const CLUSTER_TOLERANCE = 0.04;
/**
 * A sub-multiple of the densest span replaces it when its own cluster holds at least this share as many
 * spans: a schedule with many missed runs has about as many spans of two or three periods as of one,
 * while two jobs on a key (at :00 and :20) have only half as many spans of 20 minutes as of their hour.
 */
const HARMONIC_SHARE = 0.6;

/**
 * Share of the starts on an accepted schedule that a whole multiple of its period must hold to replace
 * it: the true period holds the runs that its half holds (less the strays near the half beats), twice a
 * schedule's period only every other run.
 */
const HOLDS_MOST = 0.75;

/**
 * Candidate periods are the spans that end at one of this many latest starts: one of them is nearly
 * always a run whose previous run is at most SPAN_STEPS starts back (with two, a periodic key whose two
 * latest starts were strays or pieces of a split run dropped out: 8 times per key in 4 days of an hourly
 * upload with pauses). Each candidate is a pass over the spans, the cost of the search.
 */
const CANDIDATE_ENDS = 4;
/** The cluster is counted among the spans of this many latest starts: half the history, half the cost. */
const CLUSTER_STARTS = HISTORY / 2;

/** Spans t[i + k] − t[i], k = 1..SPAN_STEPS, of the starts being fitted. */
const spans = new Float64Array(SPAN_STEPS * CLUSTER_STARTS);
/** Second fit (stray-tolerant period) of a refit, compared with the first. */
const strayFit = emptyFit();
const halfFit = emptyFit();
/** Number and mean of the spans within CLUSTER_TOLERANCE of a length, set by `cluster`. */
let clusterCount = 0;
let clusterMean = 0;

/** Counts the first m spans within CLUSTER_TOLERANCE of `length` (branch-free: most are not). */
function cluster(m: number, length: number): void {
  const low = length * (1 - CLUSTER_TOLERANCE);
  const high = length * (1 + CLUSTER_TOLERANCE);
  let count = 0;
  let sum = 0;
  for (let i = 0; i < m; i++) {
    const span = spans[i];
    const inside = +(span >= low) & +(span <= high);
    count += inside;
    sum += inside * span;
  }
  clusterCount = count;
  clusterMean = count > 0 ? sum / count : 0;
}

/**
 * The period as the densest cluster of spans over one to SPAN_STEPS consecutive gaps (a histogram of
 * short pairwise differences, evaluated at the spans ending at the latest starts): stray accesses split
 * a period's gap at random places, so the gaps' median falls to a fraction of it, but a run and the next
 * one still span one period with up to two strays between them, while the pieces spread over all
 * lengths. A sub-multiple of the densest span wins if nearly as many spans cluster there (missed runs
 * make spans of two periods as common as of one). Returns the mean span of the chosen cluster, 0 if the
 * densest is too sparse for a schedule. No sorting: a typed array's sort costs more than the whole first fit.
 */
function clusteredPeriod(t: Float64Array, n: number): number {
  const first = Math.max(0, n - CLUSTER_STARTS);
  let m = 0;
  for (let k = 1; k <= SPAN_STEPS; k++) for (let i = first + k; i < n; i++) spans[m++] = t[i] - t[i - k];
  let best = 0;
  let densest = 0;
  for (let j = n - 1; j >= n - CANDIDATE_ENDS && j >= 1; j--)
    for (let k = 1; k <= SPAN_STEPS && k <= j; k++) {
      const length = t[j] - t[j - k];
      if (!(length > 0)) continue;
      cluster(m, length);
      if (clusterCount > best) {
        best = clusterCount;
        densest = clusterMean;
      }
    }
  // Each run whose next run is at most SPAN_STEPS starts later adds a span to the cluster, so a schedule
  // with up to SPAN_STEPS − 1 strays per run fills it with about a SPAN_STEPS-th as many spans as starts;
  // 24 memoryless starts reach that about once in twenty, so their refits rarely pay for a second fit.
  if (best < Math.max(3, (n - first) / SPAN_STEPS)) return 0;
  for (let divisor = SPAN_STEPS; divisor >= 2; divisor--) {
    cluster(m, densest / divisor);
    if (clusterCount >= HARMONIC_SHARE * best) return clusterMean;
  }
  return densest;
}

/**
 * With about half the runs missed at random, the median gap is as often two periods as one: the period
 * settles on two, and every run that follows an odd number of periods sits half a period off that
 * schedule. Such gaps are an odd multiple of half the period; memoryless gaps fall near one about a
 * fifth of the time. From HALF_PERIOD_GAPS of the gaps on, half the period is fitted too (the residue
 * class rule, MIN_CLASS_SHARE, refuses it when the starts really fill only every other beat).
 */
const HALF_PERIOD_GAPS = 0.3;
/** Share of the starts that a schedule at half the period must hold on its line. */
const HOLDS_NEARLY_ALL = 0.85;
/**
 * Missed runs leave beats empty and every start in phase: half of them missed is still a schedule
 * (`minFillRatio`). Stray accesses are starts out of phase, and with many of them a fraction of the
 * period fits too, its beats those of the runs and of the few strays that happen to fall near one, the
 * rest empty. The two differ in phase concentration: runs with 10 % timing errors reach 0.82 on average
 * (0.76 at times over 48 starts, which 0.8 refused when half the runs were missed), a third of the starts
 * at random phases leaves at most 0.67. Below LOW_FILL_MIN_SCORE, a schedule needs STRAYS_FILL_RATIO of
 * its beats filled.
 */
const LOW_FILL_MIN_SCORE = 0.72;
const STRAYS_FILL_RATIO = 0.6;
/** How close to an odd multiple of half the period, in half periods: 10 % timing errors stay within. */
const HALF_PERIOD_TOLERANCE = 0.2;

/** Gaps (of the `n` − 1 in `intervals`) within HALF_PERIOD_TOLERANCE of an odd multiple of `period` / 2. */
function oddHalfGaps(n: number, period: number): number {
  let odd = 0;
  for (let i = 0; i < n - 1; i++) {
    const halves = (2 * intervals[i]) / period;
    const k = Math.round(halves);
    odd += k & 1 & +(Math.abs(halves - k) <= HALF_PERIOD_TOLERANCE);
  }
  return odd;
}

/** The latest start that ends a span of about `period` over at most SPAN_STEPS gaps: on the schedule. */
function latestOnPeriod(t: Float64Array, n: number, period: number): number {
  for (let j = n - 1; j > 0; j--)
    for (let i = j - 1; i >= 0 && i >= j - SPAN_STEPS; i--)
      if (Math.abs(t[j] - t[i] - period) <= CLUSTER_TOLERANCE * period) return j;
  return n - 1;
}

/**
 * Refining a period estimate: the band of periods scanned around it (relative half-width), and the
 * frequency steps per Rayleigh resolution (one cycle over the span of the starts), enough for a parabola
 * through the best three to place the peak.
 */
const REFINE_BAND = 0.1;
const REFINE_STEPS_PER_RESOLUTION = 3;
/** Each start's phasor at the current frequency, and its rotation per step. */
const phasorRe = new Float64Array(HISTORY);
const phasorIm = new Float64Array(HISTORY);
const turnRe = new Float64Array(HISTORY);
const turnIm = new Float64Array(HISTORY);

/**
 * The period near `period` (within REFINE_BAND) at which the starts' phases are most concentrated: the
 * peak of the Rayleigh periodogram. Returns 0 when the highest point of the band is at one of its ends
 * (the slope of a peak outside it). Why: the gaps' median and the span clusters estimate a period to a few
 * percent when runs carry 10 % timing errors, and over dozens of beats such an error miscounts them — the
 * line through the starts is then refused. The periodogram's peak weighs every start at once and lands
 * within a small fraction of a beat over the whole history. Each step turns every start's phasor by a
 * fixed angle (a complex product), so the trigonometry is two pairs per start whatever the steps.
 */
function refinePeriod(t: Float64Array, n: number, period: number): number {
  const span = t[n - 1] - t[0];
  const step = 1 / (REFINE_STEPS_PER_RESOLUTION * span);
  const lowest = 1 / (period * (1 + REFINE_BAND));
  const steps = Math.ceil((1 / (period * (1 - REFINE_BAND)) - lowest) / step);
  for (let i = 0; i < n; i++) {
    const x = 2 * Math.PI * (t[i] - t[0]);
    phasorRe[i] = Math.cos(x * lowest);
    phasorIm[i] = Math.sin(x * lowest);
    turnRe[i] = Math.cos(x * step);
    turnIm[i] = Math.sin(x * step);
  }
  let best = -1;
  let peak = -1;
  let beforePeak = 0;
  let afterPeak = 0;
  let previous = 0;
  for (let k = 0; k <= steps; k++) {
    let cs = 0;
    let sn = 0;
    for (let i = 0; i < n; i++) {
      const re = phasorRe[i];
      const im = phasorIm[i];
      cs += re;
      sn += im;
      phasorRe[i] = re * turnRe[i] - im * turnIm[i];
      phasorIm[i] = re * turnIm[i] + im * turnRe[i];
    }
    const power = cs * cs + sn * sn;
    if (k === best + 1) afterPeak = power;
    if (power > peak) {
      peak = power;
      best = k;
      beforePeak = previous;
    }
    previous = power;
  }
  if (best === 0 || best === steps) return 0;
  const curvature = beforePeak - 2 * peak + afterPeak;
  const offset = curvature < 0 ? (0.5 * (beforePeak - afterPeak)) / curvature : 0;
  return 1 / (lowest + (best + offset) * step);
}

/**
 * Fits a schedule to `n` ascending occurrence start times in `t`. Pure; exported for tests and calibration.
 * `critical` (of 1 − r) is the Poisson null's critical value for n starts; Infinity skips that test, and
 * −Infinity refuses every fit on it, so that both period estimates are always tried and the better phase
 * concentration is reported (what calibration must see: the engine accepts the second when the first fails).
 * `known`: the period of a key that is periodic (its refit, `stayingFit`), 0 for one that is not.
 *
 * The period comes first from the gaps' lower median (cheap, and right unless strays split the gaps);
 * when that schedule is refused, or accepted with starts off it, and there are STRAY_SEARCH_MIN_STARTS
 * starts, from the densest cluster of short spans (`clusteredPeriod`), fitted the same way. The second fit
 * replaces a refused first one if accepted, or if neither is and its phases are more concentrated
 * (`shortBy` is then the smaller of the two, so that refits are skipped only while both estimates are far
 * from a schedule); it replaces an accepted one only as a whole multiple of its period that holds most of
 * its starts. Each estimate that is refused is tried once more at the periodogram's peak near it
 * (`fitNear`).
 */
export function fitSchedule(
  t: Float64Array,
  n: number,
  cfg: EngineConfig['periodic'],
  out: PeriodicFit,
  critical = POISSON_CRITICAL[Math.min(n, HISTORY)],
  known = 0,
): void {
  stayingFit = known > 0;
  clearFit(out);
  if (n < 3) return;
  fitOnePhase(t, n, cfg, out, critical, known);
  clearFit(twoPhaseFit);
  if (!fitTwoPhases(t, n, cfg, twoPhaseFit, known)) return;
  if (!out.ok || !finerSchedule(t, n, out, twoPhaseFit)) Object.assign(out, twoPhaseFit);
}

/**
 * Is the accepted schedule `fit` a finer one than `twoRuns`: a whole fraction of its period whose beats,
 * counted in that fraction, all hold starts, keeping nearly as good time? An hourly job that skipped half its
 * runs at random also passes as two runs every three hours (the third run's beats emptied by chance for a
 * while): it is the hourly one. Jobs at 09:00 and 14:00 also pass as one run every 4.8 hours, with three of
 * each five beats never filled; jobs at 09:00 and 20:00 as one run every 12 hours, each half an hour off its
 * beats: they are the two runs a day.
 */
function finerSchedule(t: Float64Array, n: number, fit: PeriodicFit, twoRuns: PeriodicFit): boolean {
  const k = Math.round(twoRuns.period / fit.period);
  if (k < 2 || fit.jitter > FINER_JITTER * Math.max(twoRuns.jitter, TICK_MS)) return false;
  if (k > MAX_FINER) return true;
  residueStarts.fill(0);
  for (let i = 0; i < n; i++) {
    const beat = Math.round((t[i] - fit.beat) / fit.period);
    residueStarts[((beat % k) + k) % k]++;
  }
  for (let r = 0; r < k; r++) if (residueStarts[r] < (MIN_CLASS_SHARE * n) / k) return false;
  return true;
}

/** How much looser than the two runs' timing a finer schedule may be and still be the one (`finerSchedule`). */
const FINER_JITTER = 2;
/** Fractions of a period of two runs checked for a finer schedule; finer ones are finer without a look. */
const MAX_FINER = 12;
const residueStarts = new Int32Array(MAX_FINER);

/** `fitSchedule`'s fit of one run a period (with strays, missed runs, other periods tried). */
function fitOnePhase(
  t: Float64Array,
  n: number,
  cfg: EngineConfig['periodic'],
  out: PeriodicFit,
  critical: number,
  known: number,
): void {
  for (let i = 1; i < n; i++) {
    const g = t[i] - t[i - 1];
    intervals[i - 1] = g;
    work[i - 1] = g;
  }
  // The lower median: of an even number of gaps, the mean of the middle two is no gap at all when they are
  // far apart — as many gaps of one period as of two (half the runs missed) put it at one and a half, and
  // with a gap of three periods near a whole number of it the schedule was refused at every other run.
  const rough = select(work, n - 1, (n - 2) >> 1);
  if (!(rough > 0)) return;
  // Twice: the median of the gaps that are close to a whole number of periods, each divided by it.
  // Pieces of gaps split by stray accesses are not, and would drag the median down.
  let period = rough;
  for (let round = 0; round < 2; round++) {
    const quarter = period / 4;
    let m = 0;
    for (let i = 0; i < n - 1; i++) {
      const g = intervals[i];
      const whole = Math.round(g / period);
      // Written always, kept only if the gap qualifies: for memoryless starts whether a gap is near a
      // whole number of periods is a coin toss, and a mispredicted branch per gap cost more than the
      // division (a gap shorter than half a period leaves g / 0, overwritten or past m).
      work[m] = g / whole;
      m += +(whole >= 1) & +(Math.abs(g - whole * period) < quarter);
    }
    // No gap near a whole number of periods, or the same period again (about one refit in seven on the
    // engine benchmark): another round would only repeat this one.
    if (m === 0) break;
    const refined = medianOf(work, m);
    if (refined === period) break;
    period = refined;
  }
  // A periodic key's estimate near its period is that period, a few percent off: with a stray every few
  // runs and a fifth of them missed, the pieces of gaps that land near a whole period are short of it more
  // often than not, and a median 3-5 % short lost a minutely job's schedule every few hours. An estimate
  // further off is a change (a job moved from hourly to every two hours) and is fitted as it is.
  if (known > 0 && Math.abs(period - known) <= KNOWN_PERIOD_TOLERANCE * known) period = known;
  // Beats are counted from an anchor on the schedule: the latest start whose gap to the one before is
  // close to a whole number of periods. The latest start itself may be a stray (a manual read, a second
  // job on the key): counting from it would shift every beat by its offset, and the schedule would be
  // refused — and reported again at the next run — each time a stray came last.
  let a = n - 1;
  while (a > 0 && !nearWholePeriods(t[a] - t[a - 1], period)) a--;
  if (a === 0) a = n - 1;
  const offLine = fitNear(t, n, period, a, cfg, out, critical);
  // Whether the first fit got past the spread bound to its phase statistics (`score`), before the other
  // estimates take `out`: that bound refuses nearly every memoryless key, and the retry is not needed then.
  const retry = !out.ok && out.score > 0 && !stayingFit && Number.isFinite(critical);
  const otherOffLine = fitOtherPeriods(t, n, period, offLine, cfg, out, critical);
  if (!retry) return;
  clearFit(pastStraysFit);
  const strays = fitPastStrays(t, n, period, a, cfg, pastStraysFit, critical);
  if (!pastStraysFit.ok) return;
  // Half the period, accepted first, can hold the runs and a stray near the middle of their gaps: the
  // whole period is the schedule if it holds most of those starts, as for a multiple of a span cluster.
  const whole = out.ok ? Math.round(pastStraysFit.period / out.period) : 1;
  if (
    !out.ok ||
    (whole >= 2 &&
      Math.abs(pastStraysFit.period - whole * out.period) <= CLUSTER_TOLERANCE * pastStraysFit.period &&
      n - strays >= HOLDS_MOST * (n - otherOffLine))
  )
    Object.assign(out, pastStraysFit);
}

/**
 * The estimates that follow the gaps' median (`fitSchedule`): half its period, when gaps say runs were
 * missed, and the densest cluster of short spans, when strays split the gaps.
 */
/**
 * Two jobs a period at their own times — cron `0 9,17 * * *` — as one schedule: its period is every span
 * over two gaps, and each job's starts, told apart by their phase in it, must pass as a schedule of that
 * period on their own. Taken as one daily phase with the other job's runs for extras, runs 7-10 hours apart
 * were never periodic (the spread of all starts around one phase is half their distance), 5-6 hours apart
 * passed at a fifth or a quarter of the day, and where one phase passed, the next run named after each run
 * was the same one a day later (an outside evaluation). The two jobs must be far apart beside their timing
 * (`PHASE_SEPARATION` spreads, both ways round), and not half a period apart, which is one schedule of half
 * the period: uses at random times through an evening, split at the widest gap among them, are neither.
 * Returns true when `out` holds such a schedule: its beat is the latest run's, `second` the other's offset.
 */
function fitTwoPhases(
  t: Float64Array,
  n: number,
  cfg: EngineConfig['periodic'],
  out: PeriodicFit,
  known: number,
): boolean {
  if (n < 2 * cfg.minOccurrences) return false;
  for (let i = 2; i < n; i++) work[i - 2] = t[i] - t[i - 2];
  let period = medianOf(work, n - 2);
  if (known > 0 && Math.abs(period - known) <= KNOWN_PERIOD_TOLERANCE * known) period = known;
  if (!(period >= cfg.minPeriodMs && period <= cfg.maxPeriodMs)) return false;
  // Most spans over two gaps are a period, which memoryless starts' are not (spread half their mean): most
  // refits end here, before the phases are sorted.
  let spans = 0;
  for (let i = 0; i < n - 2; i++) spans += +(Math.abs(work[i] - period) <= cfg.maxJitter * period);
  if (spans < (n - 2) / 2) return false;
  // Most gaps close to half of it (`intervals`, the gaps `fitOnePhase` measured): one schedule of half the
  // period (the test below decides for gaps a little further off, such as jobs at 09:00 and 20:00).
  let halves = 0;
  for (let i = 0; i < n - 1; i++)
    halves += +(Math.abs(2 * intervals[i] - period) <= (cfg.maxJitter / 4) * period);
  if (halves >= (n - 1) / 2) return false;
  // Each start's phase in the period, and the two widest gaps between neighbouring phases around it: the
  // arc after the widest up to the second widest holds one job's starts, the rest the other's.
  for (let i = 0; i < n; i++) {
    const phase = (t[i] - t[n - 1]) % period;
    phaseOf[i] = phase < 0 ? phase + period : phase;
    sortedPhases[i] = phaseOf[i];
  }
  insertionSort(sortedPhases, n);
  let widest = -1;
  let widestAt = 0;
  let second = -1;
  let secondAt = 0;
  for (let j = 0; j < n; j++) {
    const gap = (j + 1 < n ? sortedPhases[j + 1] : sortedPhases[0] + period) - sortedPhases[j];
    if (gap > widest) {
      second = widest;
      secondAt = widestAt;
      widest = gap;
      widestAt = j;
    } else if (gap > second) {
      second = gap;
      secondAt = j;
    }
  }
  const from = sortedPhases[(widestAt + 1) % n];
  const to = sortedPhases[secondAt];
  // Each job's centre and spread, its phases counted from the start of its arc.
  let spreads = 0;
  let centre0 = 0;
  let centre1 = 0;
  for (let job = 0; job < 2; job++) {
    const start = job === 0 ? from : sortedPhases[(secondAt + 1) % n];
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (inArc(phaseOf[i], from, to) !== (job === 0)) continue;
      const u = phaseOf[i] - start;
      resid[m++] = u < 0 ? u + period : u;
    }
    if (m < cfg.minOccurrences) return false;
    const centre = start + medianOf(resid, m);
    if (job === 0) centre0 = centre;
    else centre1 = centre;
    spreads = Math.max(spreads, robustSpread(resid, m), TICK_MS);
  }
  const apart = (((centre1 - centre0) % period) + period) % period;
  if (
    Math.min(widest, second) < PHASE_SEPARATION * spreads ||
    Math.abs(apart - period / 2) < PHASE_SEPARATION * spreads
  )
    return false;
  for (let job = 0; job < 2; job++) {
    let m = 0;
    for (let i = 0; i < n; i++) if (inArc(phaseOf[i], from, to) === (job === 0)) phaseStarts[m++] = t[i];
    for (let i = 1; i < m; i++) intervals[i - 1] = phaseStarts[i] - phaseStarts[i - 1];
    const fit = job === 0 ? jobFit0 : jobFit1;
    clearFit(fit);
    fitNear(phaseStarts, m, period, m - 1, cfg, fit, POISSON_CRITICAL[m]);
    if (!fit.ok) return false;
  }
  if (Math.abs(jobFit0.period - jobFit1.period) > CLUSTER_TOLERANCE * period) return false;
  const latest = jobFit0.beat >= jobFit1.beat ? jobFit0 : jobFit1;
  const other = latest === jobFit0 ? jobFit1 : jobFit0;
  out.period = (jobFit0.period + jobFit1.period) / 2;
  out.beat = latest.beat;
  out.second = out.period - ((latest.beat - other.beat) % out.period);
  out.fill = Math.min(jobFit0.fill, jobFit1.fill);
  out.jitter = Math.max(jobFit0.jitter, jobFit1.jitter);
  out.score = Math.min(jobFit0.score, jobFit1.score);
  out.ok = true;
  return true;
}

/** Timing spreads the two jobs of a schedule with two runs a period must be apart (`fitTwoPhases`). */
const PHASE_SEPARATION = 6;
const phaseOf = new Float64Array(HISTORY);
const sortedPhases = new Float64Array(HISTORY);
const phaseStarts = new Float64Array(HISTORY);
const jobFit0 = emptyFit();
const jobFit1 = emptyFit();
const twoPhaseFit = emptyFit();

/** Is `phase` on the arc from `from` up to `to`, around the period (`to` < `from`: through 0)? */
function inArc(phase: number, from: number, to: number): boolean {
  return from <= to ? phase >= from && phase <= to : phase >= from || phase <= to;
}

/** Sorts the first n values in place (at most `HISTORY`: no allocation, unlike a typed array's sort). */
function insertionSort(values: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const v = values[i];
    let j = i - 1;
    for (; j >= 0 && values[j] > v; j--) values[j + 1] = values[j];
    values[j + 1] = v;
  }
}

function fitOtherPeriods(
  t: Float64Array,
  n: number,
  period: number,
  firstOffLine: number,
  cfg: EngineConfig['periodic'],
  out: PeriodicFit,
  critical: number,
): number {
  let offLine = firstOffLine;
  // The period can also settle on two and be accepted, a quarter or more of the starts off its line:
  // starts off the line add nothing to the phase concentration, as strays would, so the runs between
  // do not refuse it (2 % of jobs with half their runs missed were reported at twice their period).
  const manyOffLine = out.ok && offLine >= n / 4;
  if ((!out.ok || manyOffLine) && oddHalfGaps(n, period) >= HALF_PERIOD_GAPS * (n - 1)) {
    const half = period / 2;
    clearFit(halfFit);
    const halfOffLine = fitNear(t, n, half, latestOnPeriod(t, n, half), cfg, halfFit, critical);
    // It must hold nearly every start. A job with a stray access per run fits half its period too once
    // there are enough runs: its runs sit on every other beat, and the strays that happen to fall near
    // the beats between fill those; most strays fall elsewhere, while missed runs leave no start off.
    halfFit.ok &&= halfOffLine <= (1 - HOLDS_NEARLY_ALL) * n;
    if (out.ok) {
      if (halfFit.ok) {
        Object.assign(out, halfFit);
        offLine = halfOffLine;
      }
    } else if (weighAgainstRefused(out, halfFit)) offLine = halfOffLine;
  }
  // A schedule that holds every start has no strays to look past.
  if (n < STRAY_SEARCH_MIN_STARTS || (out.ok && offLine === 0)) return offLine;
  const clustered = clusteredPeriod(t, n);
  if (!(clustered > 0) || Math.abs(clustered - period) <= CLUSTER_TOLERANCE * clustered) return offLine;
  if (out.ok) {
    // An accepted schedule with strays can be a sub-multiple of the true period (strays near the middle
    // of the runs fill its other beats): a whole multiple of it that also holds is the schedule.
    const whole = Math.round(clustered / out.period);
    if (whole < 2 || Math.abs(clustered - whole * out.period) > CLUSTER_TOLERANCE * clustered) return offLine;
  }
  clearFit(strayFit);
  const strayOffLine = fitNear(t, n, clustered, latestOnPeriod(t, n, clustered), cfg, strayFit, critical);
  if (out.ok) {
    // The longer period must hold most starts of the shorter: a schedule with many missed runs also
    // passes at twice its period, but with only every other run on it.
    if (!strayFit.ok || n - strayOffLine < HOLDS_MOST * (n - offLine)) return offLine;
    Object.assign(out, strayFit);
    return strayOffLine;
  }
  return weighAgainstRefused(out, strayFit) ? strayOffLine : offLine;
}

/**
 * A key that is not periodic yet, tried again with the starts far off the schedule taken for strays (a
 * file that a nightly backup reads, opened once or twice by day). Each start counts in the Rayleigh
 * statistic at its own phase, so a stray counts against the schedule with up to a whole start: one among a
 * daily job's first nine runs took 1 − r from 0.0003 to 0.1, past the critical value of ten starts, two
 * to 0.18, and the job was found only from its 13th run; and the least-squares line over every start,
 * pulled by the strays, took a period 1-2 % off (15-30 minutes a night). So the retry draws its first line
 * as a periodic key's refit does (the period through the anchor, tightened while the starts beyond are a
 * run's extras: `tightenLine`), and tests the phase concentration of the starts on it, each start off it
 * costing evidence (`beatsChanceDespiteStrays`): a precise job is found through a stray or two a run or
 * two later than without, a loose one later still, and starts mostly off any line never. Only for a fit
 * refused after its phase statistics (past the spread bound, which refuses nearly every memoryless key);
 * replacing the plain test instead (up to an eighth of the starts left out, recalibrated) tightened the
 * critical values of 8-15 starts by half, and jobs with 10-15 % timing errors were found 2-3 runs later.
 * Last of the estimates: missed runs (half the period) and split gaps (span clusters) are explained
 * first, or a job with half its runs missed passed at twice its period, its other runs taken for strays.
 */
const pastStraysFit = emptyFit();
function fitPastStrays(
  t: Float64Array,
  n: number,
  period: number,
  a: number,
  cfg: EngineConfig['periodic'],
  out: PeriodicFit,
  critical: number,
): number {
  pastStrays = true;
  const strays = fitFrom(t, n, period, a, cfg, out, critical);
  pastStrays = false;
  return strays;
}

/**
 * A job whose period changed (a cron edited from every 15 to every 20 minutes) is refused over a history
 * that holds both periods, and its new schedule was found only once the old starts were a minority (~30
 * runs). When a periodic key's refit is refused, its latest starts are fitted on their own — the longest
 * of a few suffixes from `minOccurrences` starts up that fits — and taken if the starts before them fit a
 * schedule too, at a period at least `CHANGED_PERIOD` away: two schedules, one after the other. A steady
 * reader's latest starts often fit (its walk is small over a few runs), but at the period of the starts
 * before them.
 */
const CHANGED_PERIOD = 0.1;
const SUFFIX_GROWTH = Math.SQRT2;
const suffixFit = emptyFit();
const prefixFit = emptyFit();
const regime = new Float64Array(HISTORY);

function fitChangedPeriod(n: number, cfg: EngineConfig['periodic'], out: PeriodicFit): void {
  const min = cfg.minOccurrences;
  let longest = 0;
  for (let length = min; length <= n - min; length = Math.ceil(length * SUFFIX_GROWTH)) {
    if (!fitRange(n - length, n, cfg, suffixFit)) break;
    longest = length;
  }
  if (longest === 0 || !fitRange(n - longest, n, cfg, suffixFit) || latestOffSchedule(n, suffixFit)) return;
  // The new schedule reaches back as far as the starts keep to it; the starts before are the old one's
  // (a suffix grown in steps would leave some new starts with them, and the old schedule unfit). Unless
  // the old starts keep to it too (a period halved), and then the suffix itself is where it begins.
  let from = n - longest;
  while (from > 0 && !offSchedule(history[from - 1], suffixFit)) from--;
  if (!beginsChange(from, cfg)) {
    from = n - longest;
    if (!beginsChange(from, cfg)) return;
  }
  if (!fitRange(from, n, cfg, out)) Object.assign(out, suffixFit);
}

/** Do the starts before index `from` fit a schedule of their own, at a period other than `suffixFit`'s? */
function beginsChange(from: number, cfg: EngineConfig['periodic']): boolean {
  return (
    from >= cfg.minOccurrences &&
    fitRange(0, from, cfg, prefixFit) &&
    Math.abs(prefixFit.period - suffixFit.period) >= CHANGED_PERIOD * suffixFit.period
  );
}

/** `fitSchedule` over the starts in `history` from index `from` to `to` (exclusive). */
function fitRange(from: number, to: number, cfg: EngineConfig['periodic'], fit: PeriodicFit): boolean {
  for (let i = from; i < to; i++) regime[i - from] = history[i];
  fitSchedule(regime, to - from, cfg, fit);
  return fit.ok;
}

/**
 * Is `ts` on the schedule of `period`, `beat` and `jitter`: within `scheduleTolerance` of its nearest beat?
 * (Whether a run came on time, and whether a schedule holds a start.)
 */
function isOnSchedule(ts: number, period: number, beat: number, jitter: number): boolean {
  const k = Math.round((ts - beat) / period);
  return Math.abs(ts - beat - k * period) <= scheduleTolerance(period, jitter);
}

/** How far from its beat a run is still on time: three jitters, or 5 % of the period. */
function scheduleTolerance(period: number, jitter: number): number {
  return Math.max(3 * jitter, ON_SCHEDULE_SHARE * period);
}

function offSchedule(ts: number, fit: PeriodicFit): boolean {
  return !isOnSchedule(ts, fit.period, fit.beat, fit.jitter);
}

/** Starts at the end of the history that a schedule must hold to be the key's latest one. */
const LATEST_STARTS = 2;

/** Does the schedule in `fit` leave any of the latest starts in `history` (of n) off its line? */
function latestOffSchedule(n: number, fit: PeriodicFit): boolean {
  for (let i = Math.max(0, n - LATEST_STARTS); i < n; i++) if (offSchedule(history[i], fit)) return true;
  return false;
}

/**
 * A second estimate's fit against the refused one in `out`: it takes its place if accepted, or if its
 * phases are more concentrated (what calibration must see). The shortfall is the smaller of the two
 * either way, so that refits are skipped only while both estimates are far from a schedule. Returns
 * whether it took its place.
 */
function weighAgainstRefused(out: PeriodicFit, candidate: PeriodicFit): boolean {
  const shortBy = Math.min(out.shortBy, candidate.shortBy);
  const better = candidate.ok || candidate.score > out.score;
  if (better) Object.assign(out, candidate);
  out.shortBy = shortBy;
  return better;
}

/**
 * Share of the gaps within a quarter period of a whole number of periods from which a refused fit is
 * tried again at the refined period. A schedule's gaps are, give or take their timing errors and the
 * estimate's few percent (~0.8-0.9 of them with 10 % errors); memoryless gaps a third to a half of the
 * time, and 0.7 passes ~1 in 20 of their refused fits, which keeps the refinement to ~3 % of the engine
 * on single reads of 100 k keys.
 */
const REFINE_MIN_WHOLE_GAPS = 0.7;

/** Share of the gaps in `intervals` (of n starts) near a whole number of periods (`nearWholePeriods`). */
function wholeGapShare(n: number, period: number): number {
  let near = 0;
  for (let i = 0; i < n - 1; i++) near += +nearWholePeriods(intervals[i], period);
  return near / (n - 1);
}

const refinedFit = emptyFit();

/**
 * `fitFrom`, and when that is refused, from the periodogram's peak near the period (`refinePeriod`),
 * weighed against it as any second estimate is. Only with STRAY_SEARCH_MIN_STARTS starts or more (over
 * fewer beats a few percent off does not miscount them), gaps that look like a schedule's
 * (REFINE_MIN_WHOLE_GAPS), and no more beats than the starts could fill to `minFillRatio`.
 */
function fitNear(
  t: Float64Array,
  n: number,
  period: number,
  a: number,
  cfg: EngineConfig['periodic'],
  out: PeriodicFit,
  critical: number,
): number {
  let offLine = fitFrom(t, n, period, a, cfg, out, critical);
  if (
    out.ok ||
    n < STRAY_SEARCH_MIN_STARTS ||
    (t[n - 1] - t[0]) / period > n / cfg.minFillRatio ||
    wholeGapShare(n, period) < REFINE_MIN_WHOLE_GAPS
  )
    return offLine;
  const refined = refinePeriod(t, n, period);
  if (!(refined > 0)) return offLine;
  clearFit(refinedFit);
  const refinedOffLine = fitFrom(t, n, refined, latestOnPeriod(t, n, refined), cfg, refinedFit, critical);
  if (weighAgainstRefused(out, refinedFit)) offLine = refinedOffLine;
  return offLine;
}

/** A fit that holds nothing yet (the fit's scratch objects are made once and reused). */
export function emptyFit(): PeriodicFit {
  return {
    period: 0,
    beat: 0,
    fill: 0,
    jitter: 0,
    score: 0,
    ok: false,
    shortBy: 0,
    drifted: false,
    second: 0,
  };
}

function clearFit(out: PeriodicFit): void {
  out.ok = false;
  out.period = 0;
  out.fill = 0;
  out.score = 0;
  out.jitter = 0;
  out.shortBy = 0;
  out.drifted = false;
  out.second = 0;
}

/**
 * Log likelihood ratio of a fixed schedule over a random walk (see (c) in the header): `gaps` errors of
 * gaps between consecutive beats summing to `gapSq` squared, starts around the schedule summing to
 * `lineSq` over `lineDof` degrees of freedom, less `penalty` for the schedule's parameters. Both variances
 * get the error of rounding a start to a tick as a floor (a gap holds two of them): an exact schedule then
 * shows the schedule's ratio of 2 rather than 0 / 0, and a drift too small to be seen at that resolution is
 * no evidence either way. A drift that is merely small next to the period — a `sleep 60` loop whose work
 * takes 0.2 ± 0.1 s — is still a random walk, and refused.
 */
function scheduleOverWalk(
  gaps: number,
  gapSq: number,
  lineSq: number,
  lineDof: number,
  penalty: number,
): number {
  if (gaps <= 0 || lineDof <= 0) return Number.NEGATIVE_INFINITY;
  return (
    (gaps / 2) * Math.log((gapSq / gaps + 2 * TICK_VARIANCE) / (lineSq / lineDof + TICK_VARIANCE)) - penalty
  );
}

/**
 * The starts on the line, in order (`fitFrom`): their index, and the error of the gap from the one
 * before when that is one beat earlier (NaN otherwise). Read by the step search.
 */
const lineIndex = new Int32Array(HISTORY);
const lineGapError = new Float64Array(HISTORY);

/**
 * Daylight saving time moves a job at 02:00 local time an hour in UTC, twice a year, and a user may move a
 * job: a step in phase, which the drift test reads as a random walk — the starts after it lie far off a
 * line fitted through all of them, while the gaps keep time — until the starts before it leave the history
 * (~50 days of a daily job not periodic; a weekly job, whose 48 weeks of history nearly always hold both
 * moves of the year, never). A walk and a step differ in where the wander is: a walk spreads it over every
 * gap, a step puts it in one, far beyond the timing errors on either side. So when the drift test refuses,
 * the starts on the line are split into two or three parts with a common period, each at its own phase,
 * where that leaves the least squared error (prefix sums, at the largest jumps: `stepCandidates`). Each
 * step must exceed `STEP_SPREADS` of the starts' timing errors around their parts' phases — the best split
 * of a walk leaves each part wandering nearly as much as the whole, a schedule that moved does not — and
 * the model is then weighed against the walk as the plain schedule is, paying ln n / 2 for each step's
 * size (BIC). Charging its place as well (ln n more per step) refused weekly jobs through both moves a
 * year whose 43 gaps held less than the 2:1 ratio of squared errors they are expected to show. On 4,000
 * random-walk windows per cell (`fitSchedule`, gap errors 2-10 %, 12-48 starts) the steps add 0-1.5 points
 * to what is accepted (1.7-80 %).
 */
const STEP_SPREADS = 6;
const MAX_STEPS = 2;

/**
 * The moved schedule found by `findSteps`: `steps` (1 or 2), the index among the starts on the line at
 * which each part after the first begins (`from`), each part's offset from the line (`phase`) and the
 * change of period (`slope`).
 */
const moved = {
  steps: 0,
  from: new Int32Array(MAX_STEPS),
  phase: new Float64Array(MAX_STEPS + 1),
  slope: 0,
};

/** Prefix sums over the starts on the line of beat x, residual y and their products (index: starts so far). */
const sumX = new Float64Array(HISTORY + 1);
const sumY = new Float64Array(HISTORY + 1);
const sumXX = new Float64Array(HISTORY + 1);
const sumXY = new Float64Array(HISTORY + 1);
const sumYY = new Float64Array(HISTORY + 1);
/** Centered sums within the parts added so far (`addPart`). */
let partXX = 0;
let partXY = 0;
let partYY = 0;

/** Adds the centered sums of the starts on the line from index a to b (exclusive). */
function addPart(a: number, b: number): void {
  const m = b - a;
  const x = sumX[b] - sumX[a];
  const y = sumY[b] - sumY[a];
  partXX += sumXX[b] - sumXX[a] - (x * x) / m;
  partXY += sumXY[b] - sumXY[a] - (x * y) / m;
  partYY += sumYY[b] - sumYY[a] - (y * y) / m;
}

/** Squared error left by parts split at `c1` and `c2` (c2 = m: one split) with a common slope; Infinity if none fits. */
function splitError(m: number, c1: number, c2: number): number {
  partXX = 0;
  partXY = 0;
  partYY = 0;
  addPart(0, c1);
  addPart(c1, c2);
  if (c2 < m) addPart(c2, m);
  if (!(partXX > 0)) return Number.POSITIVE_INFINITY;
  return Math.max(partYY - (partXY * partXY) / partXX, 0);
}

/** Offset from the line of the starts on it from index a to b (exclusive), at the common `slope`. */
function partPhase(a: number, b: number, slope: number): number {
  return (sumY[b] - sumY[a] - slope * (sumX[b] - sumX[a])) / (b - a);
}

/** The best split `trySplit` has seen: its squared error and where its second and third parts begin. */
let splitLeast = Number.POSITIVE_INFINITY;
let splitFirst = 0;
let splitSecond = 0;

function trySplit(m: number, first: number, second: number): void {
  const error = splitError(m, first, second);
  if (error >= splitLeast) return;
  splitLeast = error;
  splitFirst = first;
  splitSecond = second;
}

/**
 * Where a step can be: the `STEP_CANDIDATES` starts on the line farthest from the one before (a step of
 * many timing errors is one of the largest jumps between consecutive residuals, whatever lies between), so
 * that two steps are searched among a few pairs, not all n² / 2. Returns how many there are.
 */
const STEP_CANDIDATES = 6;
const candidate = new Int32Array(STEP_CANDIDATES);
const candidateJump = new Float64Array(STEP_CANDIDATES);

function stepCandidates(m: number): number {
  let k = 0;
  for (let j = 1; j < m; j++) {
    const jump = Math.abs(resid[lineIndex[j]] - resid[lineIndex[j - 1]]);
    if (k === STEP_CANDIDATES && jump <= candidateJump[k - 1]) continue;
    // Insertion into the few kept so far, largest first.
    let at = k < STEP_CANDIDATES ? k++ : k - 1;
    while (at > 0 && candidateJump[at - 1] < jump) {
      candidateJump[at] = candidateJump[at - 1];
      candidate[at] = candidate[at - 1];
      at--;
    }
    candidateJump[at] = jump;
    candidate[at] = j;
  }
  return k;
}

/**
 * Is the schedule of the `m` starts on the line (`lineIndex`, with `beats` and `resid` from the fit) one
 * that moved once or twice, by the test above (`minLogRatio`: the drift test's bound)? Fills `moved`.
 */
function findSteps(m: number, minLogRatio: number): boolean {
  if (m < 4) return false;
  for (let j = 0; j < m; j++) {
    const x = beats[lineIndex[j]];
    const y = resid[lineIndex[j]];
    sumX[j + 1] = sumX[j] + x;
    sumY[j + 1] = sumY[j] + y;
    sumXX[j + 1] = sumXX[j] + x * x;
    sumXY[j + 1] = sumXY[j] + x * y;
    sumYY[j + 1] = sumYY[j] + y * y;
  }
  const k = stepCandidates(m);
  let bestRatio = minLogRatio;
  moved.steps = 0;
  for (let steps = 1; steps <= MAX_STEPS; steps++) {
    // The split with the least squared error for this many steps, among the candidates.
    splitLeast = Number.POSITIVE_INFINITY;
    for (let a = 0; a < k; a++)
      if (steps === 1) trySplit(m, candidate[a], m);
      else
        for (let b = a + 1; b < k; b++)
          trySplit(m, Math.min(candidate[a], candidate[b]), Math.max(candidate[a], candidate[b]));
    const least = splitLeast;
    const c1 = splitFirst;
    const c2 = splitSecond;
    if (!Number.isFinite(least)) continue;
    // Its sums again (the search left those of the last split tried).
    splitError(m, c1, c2);
    const slope = partXY / partXX;
    const dof = m - steps - 2;
    if (dof <= 0) continue;
    const spread = Math.sqrt(least / dof + TICK_VARIANCE);
    const phase0 = partPhase(0, c1, slope);
    const phase1 = partPhase(c1, c2, slope);
    const phase2 = steps === 1 ? phase1 : partPhase(c2, m, slope);
    if (Math.abs(phase1 - phase0) < STEP_SPREADS * spread) continue;
    if (steps === 2 && Math.abs(phase2 - phase1) < STEP_SPREADS * spread) continue;
    // Gap errors with the period's change taken out; a gap across a step is the step, not an error.
    let gaps = 0;
    let gapSq = 0;
    for (let j = 1; j < m; j++) {
      const d = lineGapError[j];
      if (j === c1 || j === c2 || Number.isNaN(d)) continue;
      gaps++;
      gapSq += (d - slope) ** 2;
    }
    const ratio = scheduleOverWalk(gaps, gapSq, least, dof, (0.5 + 0.5 * steps) * Math.log(m));
    if (ratio <= bestRatio) continue;
    bestRatio = ratio;
    moved.steps = steps;
    moved.from[0] = c1;
    moved.from[1] = c2;
    moved.phase[0] = phase0;
    moved.phase[1] = phase1;
    moved.phase[2] = phase2;
    moved.slope = slope;
  }
  return moved.steps > 0;
}

/**
 * A schedule that moved: it is the latest part's (its phase, the common period), and its jitter the spread
 * of the starts around their own part's phase.
 */
function followSteps(n: number, out: PeriodicFit): void {
  const second = lineIndex[moved.from[0]];
  const third = moved.steps === 2 ? lineIndex[moved.from[1]] : n;
  for (let i = 0; i < n; i++) {
    const part = i < second ? 0 : i < third ? 1 : 2;
    work[i] = Math.abs(resid[i] - moved.phase[part] - moved.slope * beats[i]);
  }
  out.jitter = ROBUST * medianOf(work, n);
  out.period += moved.slope;
  out.beat += moved.phase[moved.steps];
}

/**
 * Whether the fit in progress is a periodic key's refit, which must show that its schedule still holds,
 * not find one among noise: the phase concentration is then that of the starts on the line. Strays are off
 * it; counted, they diluted the concentration, and an hourly job with a stray every other run fell below
 * the bar to enter at one refit in ten and came back at the next. Module state like the scratch arrays:
 * set by each `fitSchedule`, so a changed period's fit (`fitRange`) is held to the bar to enter.
 */
let stayingFit = false;
/**
 * Whether the fit in progress is a key's second try to enter, past strays (`fitPastStrays`): its first
 * line is drawn as a periodic key's is, and its phase test leaves the starts off the line out.
 */
let pastStrays = false;
/** How close to a periodic key's period its refit's estimate is taken for that period (`fitSchedule`). */
const KNOWN_PERIOD_TOLERANCE = 0.1;

/**
 * Fits and tests the schedule of the starts from a first period and the index of a start on it. Returns
 * how many starts an accepted schedule leaves off its line (strays); n when refused before counting.
 */
function fitFrom(
  t: Float64Array,
  n: number,
  period: number,
  a: number,
  cfg: EngineConfig['periodic'],
  out: PeriodicFit,
  critical: number,
): number {
  const anchor = t[a];
  unwrap(t, n, a, period);
  if (stayingFit || pastStrays) {
    // A periodic key's first line is the period estimate through the anchor: a least-squares line over
    // every start is pulled off the runs by strays, and the limit from the distances to it took them all in
    // (a nightly backup of a document also edited by day was refitted at 23.4 hours, and dropped).
    out.period = period;
    out.beat = anchor;
  } else if (!fitLine(t, n, anchor, Number.POSITIVE_INFINITY, out)) return n;
  // (No residuals yet: no value exceeds an infinite limit, so that line takes every start whatever `resid`
  // holds from the previous fit.)
  residuals(t, n, out);
  const limit = onLineLimit(n, out.period);
  if (!fitLine(t, n, anchor, limit, out)) return n;
  for (let i = 0; i < n; i++) {
    const k = Math.round((t[i] - out.beat) / out.period);
    beats[i] = k;
    resid[i] = t[i] - out.beat - k * out.period;
  }
  if (!fitLine(t, n, anchor, limit, out)) return n;
  residuals(t, n, out);

  // A period out of range or starts too loose for any schedule are refused whatever their phases: skip
  // the phase statistics (the trigonometry is most of a refit, and most keys that reach here are not
  // periodic — this runs at each of their occurrences). `jitter` and `score` stay 0 for such a fit.
  if (out.period < cfg.minPeriodMs || out.period > cfg.maxPeriodMs) return n;
  const bound = cfg.maxJitter * out.period;
  // Half the starts near the line to enter; a third to stay, which two jobs on one key, each a run per
  // period, keep only by turns.
  const needed = stayingFit ? Math.ceil(n / 3) : n - (n >> 1);
  out.shortBy = Math.max(needed - countWithin(work, n, bound), 0);
  if (out.shortBy > 0) return n;
  // Staying, the spread of each beat's nearest start: the strays' distances are not timing errors of runs.
  const jitter = stayingFit ? nearestSpread(n) : ROBUST * medianOf(work, n);
  if (!(jitter <= bound)) return n;
  out.jitter = jitter;
  const lineLimit = stayingFit || pastStrays ? tightenLine(t, n, anchor, limit, out) : limit;
  // Phase concentration and sums of squares over the starts on the schedule (strays left out): errors
  // around the line, and the errors of gaps between consecutive beats.
  let cs = 0;
  let sn = 0;
  let distinct = 0;
  let lineSq = 0;
  let gapSq = 0;
  let onLine = 0;
  let near = 0;
  let gaps = 0;
  let silentBeats = 0;
  let prev = -1;
  // Beats in each residue class mod 2 and mod 3, counted from the first start's beat.
  let oddBeats = 0;
  let thirds0 = 0;
  let thirds1 = 0;
  const nearBound = cfg.maxJitter * out.period;
  let latestNear = -1;
  let nearAll = 0;
  let nearBeats = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0) silentBeats += Math.max(beats[i] - beats[i - 1] - SILENCE_BEATS, 0);
    if (Math.abs(resid[i]) <= nearBound) {
      nearAll++;
      nearBeats += +(latestNear < 0 || beats[i] !== beats[latestNear]);
      latestNear = i;
    }
    if (Math.abs(resid[i]) > lineLimit) continue;
    near += +(Math.abs(resid[i]) <= nearBound);
    if (prev < 0 || beats[i] !== beats[prev]) {
      distinct++;
      const k = beats[i] - beats[0];
      oddBeats += k & 1;
      thirds0 += +(k % 3 === 0);
      thirds1 += +(k % 3 === 1);
    }
    const theta = (2 * Math.PI * resid[i]) / out.period;
    cs += Math.cos(theta);
    sn += Math.sin(theta);
    lineIndex[onLine] = i;
    lineGapError[onLine] = Number.NaN;
    onLine++;
    lineSq += resid[i] * resid[i];
    if (prev >= 0 && beats[i] - beats[prev] === 1) {
      gaps++;
      gapSq += (resid[i] - resid[prev]) ** 2;
      lineGapError[onLine - 1] = resid[i] - resid[prev];
    }
    prev = i;
  }
  const expected = beats[n - 1] - beats[0] + 1 - silentBeats;
  out.fill = distinct / expected;
  out.score = Math.hypot(cs, sn) / n;
  const onLineConcentration = Math.hypot(cs, sn) / onLine;
  const concentration = stayingFit ? onLineConcentration : out.score;
  const minLogRatio = -Math.log(cfg.driftBayesFactor);
  const phaseHolds = scheduleOverWalk(gaps, gapSq, lineSq, onLine - 1, Math.log(onLine) / 2) > minLogRatio;
  out.ok =
    distinct >= cfg.minOccurrences &&
    (pastStrays
      ? beatsChanceDespiteStrays(onLine, n - onLine, onLineConcentration)
      : 1 - concentration <= critical) &&
    out.fill >=
      (concentration >= LOW_FILL_MIN_SCORE
        ? cfg.minFillRatio
        : Math.max(cfg.minFillRatio, STRAYS_FILL_RATIO)) &&
    Math.min(oddBeats, distinct - oddBeats, thirds0, thirds1, distinct - thirds0 - thirds1) >=
      MIN_CLASS_SHARE * distinct &&
    ((near <= MAX_STARTS_PER_BEAT * distinct &&
      !extrasCrowdBeats(nearAll - nearBeats, n - nearAll, 2 * cfg.maxJitter)) ||
      laterStartsKeepTime(n, nearBound, LATER_START_SPREAD * out.period));
  if (out.ok && !phaseHolds) {
    out.ok = findSteps(onLine, minLogRatio);
    out.drifted = !out.ok;
    if (out.ok) followSteps(n, out);
  }
  // The line's beat 0 is the anchor's, which can lie many runs back (the latest start a span of one
  // period ends at, when runs are missed and late): the key's schedule is the latest run's, from which
  // it expires when runs stop — a run within the timing errors the schedule allows, even if the line
  // was fitted without it.
  if (latestNear >= 0) out.beat += beats[latestNear] * out.period;
  return n - onLine;
}

/**
 * The phase test of a fit past strays (`pastStrays`): the starts on the line must beat chance as clearly
 * as the plain test demands of fewer starts, each start left off costing `STRAY_COST` starts of evidence
 * (one for its absence, one for the freedom of choosing it: a memoryless key whose worst starts are
 * dropped is more concentrated than its own count's table says). Evidence below the table's first
 * calibrated count (`CALIBRATED_FROM`) refuses.
 */
const STRAY_COST = 2;
const CALIBRATED_FROM = 4;
function beatsChanceDespiteStrays(onLine: number, strays: number, concentration: number): boolean {
  const evidence = onLine - STRAY_COST * strays;
  return strays > 0 && evidence >= CALIBRATED_FROM && 1 - concentration <= POISSON_CRITICAL[evidence];
}

/**
 * For a periodic key's refit: tightens the line's limit to three robust spreads of each beat's nearest
 * start while the starts beyond it are mostly extras of beats that hold a run (strays), refitting the line
 * over the starts within it; returns the limit. Left in, strays a tenth of a period off joined the line,
 * where the phase test (c) took them for timing errors of the schedule that the gaps did not show: an
 * hourly job with a stray every three runs was refused and found again five times in 90 runs. (Not for a
 * key without a schedule: the phase concentration that lets it enter counts every start and is calibrated
 * on the untightened line.)
 */
function tightenLine(t: Float64Array, n: number, anchor: number, limit: number, out: PeriodicFit): number {
  let current = limit;
  for (let round = 0; round < TIGHTEN_ROUNDS; round++) {
    const tight = onLineLimit(n, out.period);
    if (!(tight < current) || !leavesExtras(n, tight) || !fitLine(t, n, anchor, tight, out)) break;
    residuals(t, n, out);
    current = tight;
  }
  return current;
}

/**
 * How far from the line a start may lie and be on it: three robust spreads of each beat's start nearest to
 * the line (`work` holds the distances), or ON_SCHEDULE_SHARE of the period. A stray shares its beat with a
 * run, except where that run was missed, and is left out of the spread.
 */
function onLineLimit(n: number, period: number): number {
  return Math.max(3 * nearestSpread(n), ON_SCHEDULE_SHARE * period);
}

/** Robust spread of each beat's start nearest to the line (`work` holds the distances). */
function nearestSpread(n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (m > 0 && beats[i] === beats[i - 1]) rankResid[m - 1] = Math.min(rankResid[m - 1], work[i]);
    else rankResid[m++] = work[i];
  }
  return ROBUST * medianOf(rankResid, m);
}

/**
 * Are most of the starts beyond `tight` of the line extras — in a beat that also has a start within it —
 * rather than a beat's only start? Strays come on top of the runs; the starts of a steady reader whose
 * timing wanders off the line leave their beats empty, and looked past they made its walk a schedule.
 */
function leavesExtras(n: number, tight: number): boolean {
  let extras = 0;
  let orphans = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    let near = false;
    let far = 0;
    for (; j < n && beats[j] === beats[i]; j++) {
      if (work[j] <= tight) near = true;
      else far++;
    }
    if (near) extras += far;
    else orphans += far;
    i = j;
  }
  return extras > orphans;
}

/**
 * Are the `extras` (starts near a beat that already has one) more than strays explain, given the `far`
 * starts (near no beat) and the share `nearShare` of the period that is near a beat? A stray lands anywhere
 * in the period, so of the strays that are not a beat's only start about `nearShare` are near one; a key
 * used once or twice every evening at random times has its second uses near the beat and none far from
 * it. That is a habit, not a job with strays: at 1.5 starts per beat it passed `MAX_STARTS_PER_BEAT`, and
 * 17-20 of 20 such keys were periodic after a month (now 0-2; `laterStartsKeepTime` still lets
 * jobs that touch their key twice per run through). Tested at `HABIT_ALPHA` with the binomial tail's
 * Chernoff bound, which errs towards strays: six second uses in six evenings, none far, are a habit.
 */
const HABIT_ALPHA = 0.001;
function extrasCrowdBeats(extras: number, far: number, nearShare: number): boolean {
  return extras >= 3 && binomialUpperTail(extras, extras + far, nearShare) < HABIT_ALPHA;
}

/**
 * Do the beats with several starts near the schedule (within `near` of it) have each start beyond their
 * first keep its time, within a robust spread of `bound`: at the same offset from the beat's first start
 * (a run resuming after a pause), or at the same time of the schedule (a second job: two cron jobs at
 * 02:00 and 02:45, each with delays of its own, keep their times better than their distance)? Judged
 * rank by rank — the second starts of all beats, then the third starts — while at least three beats have
 * a start of that rank. Two jobs spread their starts over hours around the line fitted between them, as
 * uses at random times through an evening do; only the jobs' later starts keep time. The second use of an
 * evening can seem to: merging a run drops the gaps below its pause bound, which narrows the spread of
 * the second use's offset, and with ten evenings it came under 1 % of a day on some keys; the third uses
 * did not. Reuses `work`, after the fit has read it.
 */
function laterStartsKeepTime(n: number, near: number, bound: number): boolean {
  for (let rank = 2; ; rank++) {
    const m = startsOfRank(n, near, rank);
    if (m < 3) return rank > 2;
    if (!(robustSpread(work, m) <= bound || robustSpread(rankResid, m) <= bound)) return false;
  }
}

/**
 * Collects the `rank`-th start (2: the second) of each beat with that many within `near` of the schedule:
 * its offset from the beat's first start in `work`, its residual in `rankResid`. Returns how many.
 */
function startsOfRank(n: number, near: number, rank: number): number {
  let m = 0;
  let beat = Number.NaN;
  let first = 0;
  let seen = 0;
  for (let i = 0; i < n; i++) {
    if (Math.abs(resid[i]) > near) continue;
    if (beats[i] !== beat) {
      beat = beats[i];
      first = resid[i];
      seen = 1;
    } else if (++seen === rank) {
      work[m] = resid[i] - first;
      rankResid[m++] = resid[i];
    }
  }
  return m;
}

/** The robust spread (ROBUST × median absolute deviation) of the first m values; reorders them. */
function robustSpread(values: Float64Array, m: number): number {
  const usual = medianOf(values, m);
  for (let i = 0; i < m; i++) values[i] = Math.abs(values[i] - usual);
  return ROBUST * medianOf(values, m);
}

/**
 * What an occurrence is. A session (accesses less than `sessionGapMs` apart) is the unit of most keys, but a
 * job that pauses longer than that mid-run — a backup stopping to compress, an upload waiting for the next
 * clip — makes several sessions per run, and at 16 a night the history held three nights and the median gap
 * was seconds: such a job was never periodic. An occurrence is judged at the scale of the key's own timing
 * instead: a session continues the current occurrence when the quiet before it is under `PAUSE_SHARE` of the
 * key's usual interval between occurrences (a minute inside an hourly upload) and under `MAX_PAUSE_MS`
 * whatever the interval, and the occurrence so far has lasted under `RUN_SHARE` of it. A schedule's next run
 * comes a whole period less the run after the last, so runs of up to a quarter of the period, jitter and
 * missed runs pass with room; what is merged is the pauses of a run, or a stray access shortly after another.
 * The run bound keeps a busy key from one endless occurrence — a key read every second has occurrences of a
 * session or two, and a key that changes its habits is never stuck in an old run — and from being paced by
 * the rule: at half the interval, each occurrence of such a key lasted about half the one before, its starts
 * grew regular and memoryless keys read once a second were periodic now and then three times as often as with
 * sessions (a quarter: as often). Pause shares from 0.05 to 0.3 scored the same on
 * `bench/probe-periodic-correlated.ts` within a key or two per case (a larger one merges more strays into
 * runs, and more runs into strays just before them); a tenth bridges a minute's pause in a 10-minute job
 * while a schedule's quiet is ten times the bound.
 */
const PAUSE_SHARE = 0.1;
const RUN_SHARE = 0.25;
/**
 * The longest pause inside a run, whatever the key's timescale. A job's run pauses for seconds or a few
 * minutes (compressing, waiting for the next clip); a key used now and then through an evening has its
 * uses tens of minutes to hours apart, and a tenth of a day (2.4 hours) merged a whole evening of them into
 * one occurrence that began with its first use — a daily job with some delay, to every test that follows.
 */
const MAX_PAUSE_MS = 30 * 60_000;

/**
 * Does a session after `quiet` ms continue an occurrence that has lasted `lasted` ms so far, for a key
 * whose usual interval between occurrences is `interval` ms?
 */
function continuesOccurrence(quiet: number, lasted: number, interval: number): boolean {
  return quiet < Math.min(PAUSE_SHARE * interval, MAX_PAUSE_MS) && lasted < RUN_SHARE * interval;
}

/**
 * A schedule ends once runs were missed for `missedPeriodsToExpire` periods (3.5: the third miss in a row
 * of a job that misses one run in ten, a 1-in-1,000 event), or, for a job that misses more, once it missed
 * as many in a row as are that unlikely at its own rate (the share of beats it filled): ten in a row for a
 * job that runs on half its beats. Held to three, such a job stopped being periodic 2-5 times per 64
 * runs while it kept running.
 */
const EXPIRY_CHANCE = 0.001;
/**
 * The chance is per beat, and a fast job has many: a camera index written every 30 s with a fifth of its
 * writes missed ended about every 8 hours while it kept running (1,000 beats), and was found again at its
 * next write. For periods under a week's worth of 1,000 beats (10 minutes), the chance is lowered to one
 * false end a week: such a 30 s job then waits 7-9 periods instead of 4.5 (a stop shows within 4-5 minutes).
 */
const FALSE_END_EVERY_MS = 7 * 86_400_000;

/** Gaps that show a key's pace (`timingJitterOf`): its latest, so that a key is judged by the pace it keeps now. */
const PACE_GAPS = 16;
/** Fewest gaps that show a pace. */
const PACE_MIN_GAPS = 6;
/**
 * A steady pace: a robust spread of the gaps at most this share of their median. A memoryless key's is
 * about 1, a job run by hand now and then several times that; a poller's a few hundredths.
 */
const STEADY_PACE = 0.1;
/** A latest gap this many times the pace's median is a pause the key has just resumed from. */
const PACE_RESUMED = 3;
/**
 * An undecided schedule (`isUndecidedSchedule`) has at least three gaps (a leader with a rule has had four
 * episodes), which keep time (`gapsKeepTime`).
 */
const UNDECIDED_MIN_OCCURRENCES = 4;

/**
 * Starts that keep time: each gap within `KEEPS_TIME_TOLERANCE` of a whole number of the shortest. A
 * memoryless key's three gaps all land so about one time in a hundred, five about one in 3,000; one or two
 * a fifth of the time or always.
 */
const KEEPS_TIME_TOLERANCE = 0.1;

/** Do the starts in `history` from `from` to `to` (exclusive; the whole history by default) keep time? */
function gapsKeepTime(to: number, from = 0): boolean {
  let shortest = Number.POSITIVE_INFINITY;
  for (let i = from + 1; i < to; i++) shortest = Math.min(shortest, history[i] - history[i - 1]);
  if (!(shortest > 0)) return false;
  for (let i = from + 1; i < to; i++) {
    const whole = (history[i] - history[i - 1]) / shortest;
    if (Math.abs(whole - Math.round(whole)) > KEEPS_TIME_TOLERANCE) return false;
  }
  return true;
}

/**
 * A periodic key's `skipRefits` after a refit refused by the drift test alone, if its schedule is kept
 * (0: it ends). The test weighs the errors of the last 48 starts, and consecutive refits share all but one
 * of them. One refusal is let pass: with delays of a tenth of the period, the gaps' squared errors came out
 * near the starts' own at one refit in a few thousand instead of twice them, and a camera index written
 * every 30 s dropped 13 times in 10 days. A schedule that has held for a whole history of refits in a row
 * (`ESTABLISHED`) is let pass for a whole history more: its phase has held far longer than the window shows,
 * which a random walk with those gap errors would not have done. A device whose timing errors wander
 * slowly (runs late for a while, then early) made such windows look like a walk for eight refits in a row:
 * a job run every 60 s for days, its phase within 0.4 s, dropped `periodic` for eight minutes, two to four
 * times a week (an outside evaluation). A steady reader that passes for periodic now and then never holds
 * that long, and still drops at its second refusal.
 */
function driftRefusalKept(skip: number): number {
  if (!(skip & HELD)) return HELD | REFUSED_ONCE;
  const held = skip & ~HELD;
  if (held === REFUSED_ONCE) return 0;
  if (held < ESTABLISHED) return HELD | REFUSED_ONCE;
  return held < ESTABLISHED + ESTABLISHED_DRIFT_REFUSALS ? HELD | (held + 1) : 0;
}

/** A periodic key's count (without `HELD`) after a refit that accepted its schedule: see `HELD`. */
function heldAfterAccepted(held: number): number {
  if (held === REFUSED_ONCE) return 1;
  return held >= ESTABLISHED ? ESTABLISHED : held + 1;
}

/** Half periods a schedule of `period` filled to `fill` waits beyond `floor` periods (0-254, stored in `active`). */
function extraHalfPeriods(fill: number, floor: number, period: number): number {
  if (!(fill < 1)) return 0;
  const chance = Math.min(EXPIRY_CHANCE, period / FALSE_END_EVERY_MS);
  const misses = Math.ceil(Math.log(chance) / Math.log(1 - fill));
  // The last of k misses in a row is confirmed half a period after its beat, k + 0.5 after the last run.
  return Math.min(254, Math.max(0, Math.ceil(2 * (misses + 0.5 - floor))));
}

/** A period within this share of a day is a daily schedule, whose runs may skip days of the week. */
const DAILY_TOLERANCE = 0.01;

const HOUR_MS = 3_600_000;
/** Are all the hours from `at − lateness` to `at + lateness` among the `quiet` ones (bits of UTC hours)? */
function quietAround(at: number, lateness: number, quiet: number): boolean {
  const last = Math.floor((at + lateness) / HOUR_MS);
  for (let hour = Math.floor((at - lateness) / HOUR_MS); hour <= last; hour++)
    if (!(quiet & (1 << hourOf(hour * HOUR_MS)))) return false;
  return true;
}

/** Keys whose quiet hours are kept at once (`quietHoursOf`; a power of two). */
const QUIET_CACHE = 256;
/** Hours `expiresAt` walks at most: a fortnight, past any wait of a schedule shorter than a day. */
const MAX_QUIET_WALK_HOURS = 14 * 24;

/** `concentration` of a fit whose starts all lie on its beats. */
const MAX_CONCENTRATION = 65_535;

/** The unit of `second`: 65,536ths of the period. */
const SECOND_UNITS = 65_536;

/** `second` of an accepted fit: its other run's offset in `SECOND_UNITS`, never 0 (which says none). */
function secondCode(fit: PeriodicFit): number {
  if (!fit.ok || fit.second <= 0) return 0;
  return Math.min(Math.max(Math.round((fit.second / fit.period) * SECOND_UNITS), 1), SECOND_UNITS - 1);
}

export class PeriodicDetector {
  /** The engine's state row; this detector owns the section `periodicFields`. */
  private readonly row: RowTable;
  private readonly at: FieldIndex<typeof periodicFields>;
  private readonly scratch: FieldIndex<typeof periodicScratchFields>;
  private readonly fit = emptyFit();
  /** `quietHoursOf`'s cache: the slot, its occurrence count when the hours were read, and the hours. */
  private readonly quietSlot = new Int32Array(QUIET_CACHE).fill(-1);
  private readonly quietCount = new Uint32Array(QUIET_CACHE);
  private readonly quietMask = new Uint32Array(QUIET_CACHE);

  /**
   * `isQuietDay(slot, ts)`: does the key, by its weekly profile, never run on the UTC weekday of `ts`? A
   * daily schedule's next run skips such days (`nextBeat`). `quietHours(slot)`: the UTC hours (bits 0-23)
   * in which the key's job does not run, by its daily profile: a schedule shorter than a day neither names a
   * run in them nor counts them as missed (`awakeBeat`, `expiresAt`).
   */
  constructor(
    private readonly cfg: EngineConfig['periodic'],
    row: RowTable,
    private readonly isQuietDay: (slot: number, ts: number) => boolean = () => false,
    private readonly quietHours: (slot: number) => number = () => 0,
  ) {
    this.row = row;
    this.at = row.fieldsOf(periodicFields);
    this.scratch = row.fieldsOf(periodicScratchFields);
  }

  /** Index in the 8-byte view of the row of `slot`; in the 4-byte views it is twice that, bytes 8×. */
  private r8(slot: number): number {
    return slot * this.row.stride8;
  }

  /**
   * A session of the key started at `ts`, its previous access being at `previous`. Unless the session
   * continues the current occurrence, records a new occurrence and refits. Returns true if it began one.
   */
  sessionStarted(slot: number, ts: number, previous: number): boolean {
    const r8 = this.r8(slot);
    const origin = this.row.f64[r8 + this.at.base];
    const latest = this.startBack(slot, 0);
    const before = this.startBack(slot, 1);
    const earlier = this.startBack(slot, 2);
    if (earlier !== DROPPED && before !== DROPPED && latest !== DROPPED) {
      // The key's usual interval: the shorter of the last two, so that one long interval (an outage, a
      // night without runs) does not make the next runs look like pauses. A single interval is no usual
      // one: a key that ran a minutely job for half an hour and resumed after a night merged its next
      // runs, hours of them, into a few occurrences.
      const usual = Math.min(latest - before, before - earlier);
      const start = origin + latest * TICK_MS;
      if (continuesOccurrence(ts - previous, previous - start, usual * TICK_MS)) return false;
    }
    if (latest !== DROPPED) this.mergeLatestRun(slot, ts - (origin + latest * TICK_MS), previous);
    this.occurrenceStarted(slot, ts);
    return true;
  }

  /** The `back`-th newest start in ticks (0: the newest), DROPPED if the ring does not hold it. */
  private startBack(slot: number, back: number): number {
    const count = this.row.u32[2 * this.r8(slot) + this.at.count];
    if (back >= Math.min(count, HISTORY)) return DROPPED;
    return this.row.u32[this.ringIndex(slot, count, back)];
  }

  /** Index in the 4-byte view of the ring entry of the `back`-th newest of `count` starts. */
  private ringIndex(slot: number, count: number, back: number): number {
    return 2 * this.r8(slot) + this.at.starts + ((count - 1 - back) % HISTORY);
  }

  /**
   * A key's first runs had no interval to be judged by (a backup's first night made a dozen occurrences of
   * its pauses). When an occurrence starts, the interval that ends here is a scale for the starts at the end
   * of the history: if they are one run at the scale of the intervals on both of its sides (this one and
   * the one before the run, or none for the key's first run) — its gaps under a tenth, its length under a
   * quarter — they are merged into its first start. The gap between two starts stands for the quiet before
   * the later one (it is at least that long). A run separated by a long quiet on one side only (a job
   * resuming after an outage) is left as it is. O(run) per occurrence, like the refit that follows.
   */
  private mergeLatestRun(slot: number, interval: number, previous: number): void {
    const r4 = 2 * this.r8(slot);
    const count = this.row.u32[r4 + this.at.count];
    const origin = this.row.f64[this.r8(slot) + this.at.base];
    let run = 0;
    let widest = 0;
    for (;;) {
      const later = this.startBack(slot, run);
      const first = this.startBack(slot, run + 1);
      if (first === DROPPED) break;
      const gap = (later - first) * TICK_MS;
      if (!continuesOccurrence(gap, previous - (origin + first * TICK_MS), interval)) break;
      widest = Math.max(widest, gap);
      run++;
    }
    if (run === 0) return;
    const first = this.startBack(slot, run);
    const beforeRun = this.startBack(slot, run + 1);
    let scale = interval;
    if (beforeRun !== DROPPED) scale = Math.min(interval, (first - beforeRun) * TICK_MS);
    // Nothing before the run: it is the key's first, unless the ring has forgotten what came before it.
    else if (count > run + 1) return;
    if (!continuesOccurrence(widest, previous - (origin + first * TICK_MS), scale)) return;
    for (let i = 0; i < run; i++) this.row.u32[this.ringIndex(slot, count, i)] = DROPPED;
    this.row.u32[r4 + this.at.count] = count - run;
  }

  /** Records the start of an occurrence at `ts` and refits. */
  private occurrenceStarted(slot: number, ts: number): void {
    const { f64, f32, u32, u8 } = this.row;
    const { at } = this;
    const r8 = this.r8(slot);
    const r4 = 2 * r8;
    const count = u32[r4 + at.count];
    const base = r4 + at.starts;
    const kept = Math.min(count, HISTORY);
    if (count === 0 || ts < f64[r8 + at.base]) this.rebase(slot, ts, kept);
    else if ((ts - f64[r8 + at.base]) / TICK_MS > MAX_TICKS)
      this.rebase(slot, ts - (MAX_TICKS / 2) * TICK_MS, kept);
    u32[base + (count % HISTORY)] = Math.round((ts - f64[r8 + at.base]) / TICK_MS);
    u32[r4 + at.count] = count + 1;
    // Too few starts to fit yet (the history can hold no more than were seen).
    if (count + 1 < this.cfg.minOccurrences) return;
    const active = 8 * r8 + at.active;
    const skip = 8 * r8 + this.scratch.skipRefits;
    // A schedule kept through a refused refit that then expired leaves its mark, which counted as 127 refits
    // to skip: the key was not found again for ~128 runs (a third outside evaluation).
    if (u8[active] === 0 && u8[skip] & HELD) u8[skip] = 0;
    if (u8[active] === 0 && skipsRefits(u8[skip])) {
      u8[skip]--;
      return;
    }
    const n = this.loadHistory(slot);
    if (n < this.cfg.minOccurrences) return;
    fitSchedule(history, n, this.cfg, this.fit, undefined, u8[active] !== 0 ? f64[r8 + at.period] : 0);
    // A schedule that was, or whose latest starts keep time, may have changed its period.
    if (!this.fit.ok && (u8[active] !== 0 || gapsKeepTime(n, n - this.cfg.minOccurrences)))
      fitChangedPeriod(n, this.cfg, this.fit);
    const keptThroughDrift =
      !this.fit.ok && this.fit.drifted && u8[active] !== 0 ? driftRefusalKept(u8[skip]) : 0;
    // A schedule kept through a refusal by the drift test alone follows its runs as an accepted one does
    // (kept with its latest run where it was, it expired a few periods on), unless the refused fit is of
    // another period.
    const period = f64[r8 + at.period];
    if (keptThroughDrift !== 0 && Math.abs(this.fit.period - period) > KNOWN_PERIOD_TOLERANCE * period) {
      u8[skip] = keptThroughDrift;
      return;
    }
    const shortBy = this.fit.shortBy;
    const far = n >= 2 * this.cfg.minOccurrences ? shortBy >= n / 4 : shortBy >= 2;
    // A schedule the drift test ended over a whole history had walked as far as the test can tell.
    const walked = u8[active] === 0 ? walkedRefits(u8[skip]) : this.fit.drifted && n === HISTORY ? WALKED : 0;
    let accepted = this.fit.ok;
    if (keptThroughDrift !== 0) u8[skip] = keptThroughDrift;
    else if (this.fit.ok && walked === WALKED) {
      u8[skip] = confirmedAfterWalk(u8[skip]);
      accepted = u8[skip] === HELD_NEW;
    } else if (this.fit.ok)
      u8[skip] = u8[skip] & HELD ? HELD | heldAfterAccepted(u8[skip] & ~HELD) : HELD_NEW;
    else if (far && walked < WALKED)
      u8[skip] = u8[skip] === FAR ? FAR + Math.min(shortBy >> 1, MAX_SKIPPED_REFITS) : FAR;
    // Refused for other reasons (too few starts near the line, too spread), a walker keeps its count.
    else if (this.fit.drifted || walked > 0)
      u8[skip] = WALKING + Math.min(walked + (this.fit.drifted ? 1 : 0), WALKED);
    else u8[skip] = 0;
    if (keptThroughDrift === 0)
      u8[active] = accepted
        ? 1 + extraHalfPeriods(this.fit.fill, this.cfg.missedPeriodsToExpire, this.fit.period)
        : 0;
    if (keptThroughDrift === 0) this.row.u16[4 * r8 + at.second] = secondCode(this.fit);
    f64[r8 + at.period] = accepted || keptThroughDrift !== 0 ? this.fit.period : 0;
    f64[r8 + at.beat] = this.fit.beat;
    f32[r4 + at.jitter] = this.fit.jitter;
    this.row.u16[4 * r8 + at.concentration] = Math.round(this.fit.score * MAX_CONCENTRATION);
  }

  /** Unpacks the key's occurrence starts into `history`, ascending; returns how many there are. */
  private loadHistory(slot: number): number {
    const { u32 } = this.row;
    const r8 = this.r8(slot);
    const base = 2 * r8 + this.at.starts;
    const count = u32[2 * r8 + this.at.count];
    const origin = this.row.f64[r8 + this.at.base];
    // Oldest first: the ring from the entry after the newest to its end, then from its start.
    const newest = (count - 1) % HISTORY;
    let n = 0;
    if (count >= HISTORY) n = unpack(u32, base + newest + 1, base + HISTORY, origin, n);
    n = unpack(u32, base, base + newest + 1, origin, n);
    // Events can arrive slightly out of order; the fit needs ascending times.
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) sorted = history[i] >= history[i - 1];
    if (!sorted) history.subarray(0, n).sort();
    return n;
  }

  /** The key's recorded occurrence starts, ascending (a copy: for tests and calibration). */
  occurrenceStarts(slot: number): Float64Array {
    return history.slice(0, this.loadHistory(slot));
  }

  /**
   * Moves the offsets' origin to `origin`: before an out-of-order start, or a year back when offsets would
   * overflow (after two years). Starts that no longer fit are dropped from the history.
   */
  private rebase(slot: number, origin: number, kept: number): void {
    const { f64, u32 } = this.row;
    const r8 = this.r8(slot);
    const shift = Math.round((origin - f64[r8 + this.at.base]) / TICK_MS);
    const base = 2 * r8 + this.at.starts;
    for (let i = base; i < base + kept; i++) {
      if (u32[i] === DROPPED) continue;
      const moved = u32[i] - shift;
      u32[i] = moved >= 0 && moved <= MAX_TICKS ? moved : DROPPED;
    }
    f64[r8 + this.at.base] = f64[r8 + this.at.base] + shift * TICK_MS;
  }

  /**
   * The chance that a run of the key starts between `from` and `to` by its own schedule: the share of a
   * normal spread of `jitter` around the beats nearest that lies in the span (NaN while not periodic).
   * A periodic key does not come at a rate at any time: near its beat it comes almost surely, elsewhere
   * hardly ever, and "rate × span" says neither.
   */
  scheduleChance(slot: number, from: number, to: number): number {
    if (!this.isActive(slot)) return Number.NaN;
    const r8 = this.r8(slot);
    const period = this.row.f64[r8 + this.at.period];
    const spread = Math.max(this.row.f32[2 * r8 + this.at.jitter], TICK_MS);
    let chance = 0;
    for (let run = 0; run < this.runsPerPeriod(r8); run++) {
      const beat = this.beatOf(r8, run);
      const nearest = beat + Math.round(((from + to) / 2 - beat) / period) * period;
      for (let k = -1; k <= 1; k++) {
        const at = nearest + k * period;
        chance += normalCdf((to - at) / spread) - normalCdf((from - at) / spread);
      }
    }
    return Math.min(chance, 1);
  }

  /** Is a session starting at `ts` on schedule (so its intensity is expected, not a burst)? */
  onSchedule(slot: number, ts: number): boolean {
    if (!this.isActive(slot)) return false;
    const r8 = this.r8(slot);
    const { f64, f32 } = this.row;
    const period = f64[r8 + this.at.period];
    const jitter = f32[2 * r8 + this.at.jitter];
    for (let run = 0; run < this.runsPerPeriod(r8); run++)
      if (isOnSchedule(ts, period, this.beatOf(r8, run), jitter)) return true;
    return false;
  }

  /** Runs the key's schedule has a period: 1, or 2 for two jobs at their own times (`fitTwoPhases`). */
  private runsPerPeriod(r8: number): number {
    return this.row.u16[4 * r8 + this.at.second] === 0 ? 1 : 2;
  }

  /** A beat of run `run` of the schedule (0: the latest run's; 1: the other job's, one before it). */
  private beatOf(r8: number, run: number): number {
    const { f64, u16 } = this.row;
    const period = f64[r8 + this.at.period];
    const beat = f64[r8 + this.at.beat];
    return run === 0 ? beat : beat + (u16[4 * r8 + this.at.second] / SECOND_UNITS - 1) * period;
  }

  /**
   * Has the key too few occurrences to be judged yet (`UNDECIDED_MIN_OCCURRENCES` to `minOccurrences` − 1),
   * each gap between them within a tenth of a whole number of the shortest, so that a schedule may be found
   * at the next few? Two cron jobs at the same minute follow each other from their fourth run, before
   * either can be periodic, and their rule then lasted until both were (correlation waits for that when
   * both keys are like this).
   */
  isUndecidedSchedule(slot: number): boolean {
    const count = this.row.u32[2 * this.r8(slot) + this.at.count];
    if (count < UNDECIDED_MIN_OCCURRENCES || count >= this.cfg.minOccurrences) return false;
    return gapsKeepTime(this.loadHistory(slot));
  }

  /**
   * Spread (ms) of the key's timing: of its occurrences around the schedule while periodic; else, while its
   * latest gaps keep a steady pace (a poller whose every gap adds its error to the next start, so that it
   * keeps no schedule), the gaps' robust spread; NaN for a key with neither.
   */
  timingJitterOf(slot: number): number {
    if (this.isActive(slot)) return this.row.f32[2 * this.r8(slot) + this.at.jitter];
    const n = this.loadHistory(slot);
    const gaps = Math.min(n - 1, PACE_GAPS);
    if (gaps < PACE_MIN_GAPS) return Number.NaN;
    for (let i = 0; i < gaps; i++) work[i] = history[n - 1 - i] - history[n - 2 - i];
    const median = medianOf(work, gaps);
    for (let i = 0; i < gaps; i++) resid[i] = Math.abs(work[i] - median);
    const spread = ROBUST * medianOf(resid, gaps);
    // A key that has just resumed after a pause of several of its beats keeps no pace now: a film whose
    // player requests a range every 11 s kept that pace through its other playbacks, and its .nfo, read
    // 0.5-3 s after each playback begins, was asked to lag as steadily as the film's ranges come.
    if (history[n - 1] - history[n - 2] > PACE_RESUMED * median) return Number.NaN;
    return spread <= STEADY_PACE * median ? spread : Number.NaN;
  }

  isActive(slot: number): boolean {
    return this.row.u8[8 * this.r8(slot) + this.at.active] !== 0;
  }

  score(slot: number): number {
    return this.isActive(slot)
      ? this.row.u16[4 * this.r8(slot) + this.at.concentration] / MAX_CONCENTRATION
      : 0;
  }

  /**
   * When the key stops being periodic if no occurrence starts before then (missed beats). The hours in
   * which its job never runs are no misses: an hourly job of office hours, taken to miss its runs from
   * 19:00, ended at 03:30 and was found again at 08:00, twice a day, its `next_ts` naming runs through the
   * night that never came (an outside evaluation).
   */
  expiresAt(slot: number): number {
    if (!this.isActive(slot)) return Number.POSITIVE_INFINITY;
    const r8 = this.r8(slot);
    const extra = (this.row.u8[8 * r8 + this.at.active] - 1) / 2;
    const beat = this.row.f64[r8 + this.at.beat];
    const waits = (this.cfg.missedPeriodsToExpire + extra) * this.row.f64[r8 + this.at.period];
    const quiet = this.quietHoursOf(slot, r8);
    if (quiet === 0) return beat + waits;
    // The time at which `waits` of the hours the job runs in have passed since its latest run.
    let t = beat;
    let left = waits;
    for (let hours = 0; hours < MAX_QUIET_WALK_HOURS && left > 0; hours++) {
      const hourEnd = (Math.floor(t / HOUR_MS) + 1) * HOUR_MS;
      if (quiet & (1 << hourOf(t))) t = hourEnd;
      else {
        const awake = Math.min(left, hourEnd - t);
        left -= awake;
        t += awake;
      }
    }
    return t + left;
  }

  /**
   * The hours a schedule shorter than a day does not run in (`quietHours`); 0 for a longer one. Asked at
   * each access of a periodic key (its next change), and reading 24 bins each time cost a periodic trace
   * an eighth of its replay time: kept per occurrence in a small cache (the hours change far more slowly).
   */
  private quietHoursOf(slot: number, r8: number): number {
    const period = this.row.f64[r8 + this.at.period];
    if (period >= (1 - DAILY_TOLERANCE) * DAY_MS) return 0;
    const count = this.row.u32[2 * r8 + this.at.count];
    const i = slot & (QUIET_CACHE - 1);
    if (this.quietSlot[i] === slot && this.quietCount[i] === count) return this.quietMask[i];
    const mask = this.quietHours(slot);
    this.quietSlot[i] = slot;
    this.quietCount[i] = count;
    this.quietMask[i] = mask;
    return mask;
  }

  /**
   * The first beat (of the line through `beat`) from `next` on whose run could come in an hour outside the
   * `quiet` ones: within `lateness` of it either way, so that a job at 08:00 whose beat fell at 07:59:58
   * is not skipped for hour 7 being quiet.
   */
  private awakeBeat(next: number, beat: number, period: number, quiet: number, lateness: number): number {
    let at = next;
    for (let hours = 0; hours < 24 && quietAround(at, lateness, quiet); hours++) {
      // The first beat whose window reaches into the next hour.
      const hourEnd = (Math.floor((at + lateness) / HOUR_MS) + 1) * HOUR_MS;
      at = Math.max(beat + Math.ceil((hourEnd - lateness - beat) / period) * period, at + period);
    }
    return at;
  }

  /** Ends periodicity once the schedule was missed for too long. Returns true if `active` changed. */
  expire(slot: number, now: number): boolean {
    if (now < this.expiresAt(slot)) return false;
    this.row.u8[8 * this.r8(slot) + this.at.active] = 0;
    return true;
  }

  /**
   * The key's next run: the first beat of its schedule after its latest run whose time, with the lateness
   * its runs usually have (`lateness`), has not passed by `now`. A daily job that never runs on some days
   * of the week (a workday backup) runs next on the first day it does: its schedule is daily with the
   * weekend's runs missed, and named on Friday night, Saturday's run was predicted and prefetched for, and
   * never came (an outside evaluation).
   */
  private nextBeat(slot: number, r8: number, now: number): number {
    const p = this.row.f64[r8 + this.at.period];
    const quiet = this.quietHoursOf(slot, r8);
    let soonest = Number.POSITIVE_INFINITY;
    for (let run = 0; run < this.runsPerPeriod(r8); run++) {
      const beat = this.beatOf(r8, run);
      let next = beat + Math.max(1, Math.ceil((now - this.lateness(r8) - beat) / p)) * p;
      if (Math.abs(p - DAY_MS) <= DAILY_TOLERANCE * DAY_MS)
        for (let skipped = 0; skipped < 6 && this.isQuietDay(slot, next); skipped++) next += p;
      else if (quiet !== 0) next = this.awakeBeat(next, beat, p, quiet, this.lateness(r8));
      soonest = Math.min(soonest, next);
    }
    return soonest;
  }

  /**
   * How long after a beat its run may still come on time (`scheduleTolerance`, at most half a period).
   * Moved on at the beat itself, `next_ts` of a job run within ±10 minutes named the run after next for
   * three of four runs still on their way (an outside evaluation).
   */
  private lateness(r8: number): number {
    const period = this.row.f64[r8 + this.at.period];
    return Math.min(scheduleTolerance(period, this.row.f32[2 * r8 + this.at.jitter]), period / 2);
  }

  /**
   * When, after `after`, the view of a periodic key changes with time alone: its next run comes within
   * `announceMs` (predictions list it from then), or that run's time and usual lateness pass and `next_ts`
   * moves on.
   */
  viewChangesAt(slot: number, after: number, announceMs: number): number {
    if (!this.isActive(slot)) return Number.POSITIVE_INFINITY;
    const r8 = this.r8(slot);
    const next = this.nextBeat(slot, r8, after);
    return announceMs > 0 && next - announceMs > after
      ? next - announceMs
      : Math.floor(next + this.lateness(r8)) + 1;
  }

  detail(slot: number, now: number): PeriodicDetail {
    const { f64, f32, u32 } = this.row;
    const r8 = this.r8(slot);
    const p = f64[r8 + this.at.period];
    return {
      period_s: Math.round(p) / 1000,
      next_ts: Math.round(this.nextBeat(slot, r8, now)),
      jitter_s: Math.round(f32[2 * r8 + this.at.jitter]) / 1000,
      occurrences: u32[2 * r8 + this.at.count],
    };
  }
}
