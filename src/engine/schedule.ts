import type { EngineConfig } from '../config.ts';
import type { FieldIndex, RowTable } from './table.ts';
import type { ScheduleDetail } from './types.ts';

/**
 * When in the day and week a key is used (UTC hours 0–23, days 0 = Sunday).
 *
 * 24 + 7 bins of exponentially decayed weight. Decaying 31 bins on every event would be O(31); instead
 * each new access is added with a weight that *grows* with time, 2^((t − ref)/halfLife), which gives the
 * same proportions, and the bins are rescaled only when the weights get large (every few hundred days).
 * Peaks are reported only when the profile differs from uniform by a chi-square test at α = 0.001, so a
 * key used at random times of day has no peak hours.
 */
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** χ² critical values at α = 0.001 for 23 and 6 degrees of freedom. */
const CHI2_HOURS = 49.73;
const CHI2_DAYS = 22.46;

export const scheduleFields = {
  hours: ['f32', 24],
  days: ['f32', 7],
  /** Reference time of the weights. */
  ref: ['f64', 1],
  /** Accesses counted (for the chi-square test's sample size). */
  n: ['u32', 1],
} as const;

/**
 * A weekday whose accesses weigh under this share of the busiest weekday's is one the key does not use: a
 * stray access now and then (a user opening a job's file at the weekend) keeps it under; a job's runs on it,
 * even one in two weeks, do not.
 */
const QUIET_DAY_SHARE = 0.05;
/** Share of the median busy hour's accesses under which an hour is a low one (`quietHours`). */
const QUIET_HOUR_SHARE = 0.5;
/** Low hours in a row that make a quiet time of day (`quietHours`). */
const QUIET_HOURS_IN_A_ROW = 4;
const hourScratch = new Float32Array(24);

const scratch = new Float64Array(24);
const dayScratch = new Float64Array(7);
const order = new Float64Array(24);

/** UTC day of the week (0 = Sunday) of an epoch-ms time, before 1970 too. */
function weekdayOf(ts: number): number {
  const day = (Math.floor(ts / DAY_MS) + 4) % 7; // 1970-01-01 was a Thursday
  return day < 0 ? day + 7 : day;
}

/** UTC hour of the day (0–23) of an epoch-ms time, before 1970 too. */
export function hourOf(ts: number): number {
  const hour = Math.floor(ts / HOUR_MS) % 24;
  return hour < 0 ? hour + 24 : hour;
}

export class ScheduleProfile {
  /** The engine's state row; this detector owns one section of it. */
  private readonly row: RowTable;
  private readonly at: FieldIndex<typeof scheduleFields>;
  /** ln 2 / half-life: `Math.exp` is several times cheaper per event than `2 **` a fraction. */
  private readonly growthPerMs: number;

  constructor(
    private readonly cfg: EngineConfig['schedule'],
    row: RowTable,
  ) {
    this.row = row;
    this.at = row.fieldsOf(scheduleFields);
    this.growthPerMs = Math.LN2 / (cfg.halfLifeDays * DAY_MS);
  }

  observe(slot: number, ts: number): void {
    const { f64, f32, u32 } = this.row;
    const r8 = slot * this.row.stride8;
    const r4 = 2 * r8;
    if (u32[r4 + this.at.n] === 0) f64[r8 + this.at.ref] = ts;
    u32[r4 + this.at.n]++;
    let w = Math.exp((ts - f64[r8 + this.at.ref]) * this.growthPerMs);
    if (w > 1e6) {
      this.rescale(slot, 1 / w);
      f64[r8 + this.at.ref] = ts;
      w = 1;
    }
    f32[r4 + this.at.hours + hourOf(ts)] += w;
    f32[r4 + this.at.days + weekdayOf(ts)] += w;
  }

  /**
   * The key's usual rate (per ms) at `now`'s hour of the day: the decayed accesses of that hour over the
   * decayed time spent in it since the key's `first` access (a 24th of all of it). 0 during the key's first
   * day, while some hours of the day have not been lived through yet.
   *
   * Not `minHistoryDays`, which is when peaks are worth reporting: the burst detector asks for this rate as
   * a bar, so that a key busy every morning is not bursting at 08:00, and one morning like the last is
   * already a morning like the others. Waiting three days, a NAS busy 08-18 burst on its second and third
   * mornings (bench/probe-sequential-burst.ts, "busy 08-18 daily").
   */
  hourlyRate(slot: number, now: number, first: number): number {
    const age = now - first;
    if (age < DAY_MS) return 0;
    const { f64, f32 } = this.row;
    const r8 = slot * this.row.stride8;
    const g = this.growthPerMs;
    // An access now would weigh this much: the bins divided by it are counts decayed to now.
    const weightNow = Math.exp((now - f64[r8 + this.at.ref]) * g);
    const exposure = (1 - Math.exp(-age * g)) / g / 24;
    return f32[2 * r8 + this.at.hours + hourOf(now)] / weightNow / exposure;
  }

  /**
   * Is `ts`'s UTC weekday one the key does not use: once every weekday has been lived through twice, its
   * bin holds under `QUIET_DAY_SHARE` of the busiest one's? Raw bins suffice for "never": exposure only
   * tilts the days of the latest week by a few tens of percent (see `weekdaysPerExposure`).
   */
  isQuietWeekday(slot: number, ts: number, first: number, last: number): boolean {
    if (last - first < 14 * DAY_MS) return false;
    const f32 = this.row.f32;
    const days = 2 * slot * this.row.stride8 + this.at.days;
    let busiest = 0;
    for (let d = 0; d < 7; d++) busiest = Math.max(busiest, f32[days + d]);
    return f32[days + weekdayOf(ts)] < QUIET_DAY_SHARE * busiest;
  }

  /**
   * The UTC hours in which a job does not run, as bits 0-23: once every hour has been lived through twice,
   * runs of `QUIET_HOURS_IN_A_ROW` or more hours in a row whose accesses weigh under `QUIET_HOUR_SHARE` of
   * the median hour with any. Against the busiest hour, a 15-minute job's hours looked quiet beside the
   * nightly backup reading the same file in thousands of requests; against a run at every beat, so did a
   * job's that skips half its runs. A run now and then that came a few seconds before its hour is in a
   * quiet hour, and one such hour alone, or a few hours a job happened to miss, are not a quiet time of day.
   */
  quietHours(slot: number, first: number, last: number): number {
    if (last - first < 2 * DAY_MS) return 0;
    const f32 = this.row.f32;
    const hours = 2 * slot * this.row.stride8 + this.at.hours;
    let busy = 0;
    for (let h = 0; h < 24; h++) if (f32[hours + h] > 0) hourScratch[busy++] = f32[hours + h];
    if (busy === 0) return 0;
    hourScratch.subarray(0, busy).sort();
    const bar = QUIET_HOUR_SHARE * hourScratch[busy >> 1];
    let low = 0;
    for (let h = 0; h < 24; h++) if (f32[hours + h] < bar) low |= 1 << h;
    // Keep the low hours that lie in a run of enough of them, around midnight too.
    let quiet = 0;
    for (let h = 0; h < 24; h++) {
      let run = 1;
      while (run < QUIET_HOURS_IN_A_ROW && low & (1 << ((h + run) % 24))) run++;
      if (low & (1 << h) && run >= QUIET_HOURS_IN_A_ROW)
        for (let i = 0; i < run; i++) quiet |= 1 << ((h + i) % 24);
    }
    return quiet;
  }

  private rescale(slot: number, f: number): void {
    const { f32 } = this.row;
    const r4 = 2 * slot * this.row.stride8;
    for (let i = 0; i < 24; i++) f32[r4 + this.at.hours + i] *= f;
    for (let i = 0; i < 7; i++) f32[r4 + this.at.days + i] *= f;
  }

  /**
   * The weekday bins, each divided by the weight that steady use would have put there from `first` to
   * `last` (into `dayScratch`). Why: recent accesses weigh more, and over a week the weight grows by a
   * third (two weeks' half-life), so a key used every weekday had Friday above Monday whenever the
   * profile was read at the end of a week — with the bar a peak must reach, often Friday alone or no day
   * at all. Hours need no such care: a day is a 14th of the half-life.
   *
   * Steady use means use at the key's own hours: a day lived through only in part (the first and the
   * latest) counts the share of the hour profile that its part covers, not the share of its 24 hours. A
   * key used only between 02:00 and 03:00 has had all of its latest day's use by 03:00, and counted as an
   * eighth of a day lived through, that day's weekday held eight days' share and was its only peak day.
   * The hours of the first and latest accesses count as lived through whole: the profile knows no finer
   * time, and a nightly job that reads for half a minute from 02:00 had lived through a 120th of its hour
   * by its latest access, which made that day its only peak day, a different one each day.
   */
  private weekdaysPerExposure(slot: number, first: number, last: number): Float64Array {
    const { f64, f32 } = this.row;
    const r8 = slot * this.row.stride8;
    const g = this.growthPerMs;
    const ref = f64[r8 + this.at.ref];
    dayScratch.fill(0);
    // Weight before the last ten half-lives is under a thousandth of the latest: not worth a loop.
    const from = Math.floor(Math.max(first, last - 10 * this.cfg.halfLifeDays * DAY_MS) / HOUR_MS) * HOUR_MS;
    const until = (Math.floor(last / HOUR_MS) + 1) * HOUR_MS;
    for (let dayStart = Math.floor(from / DAY_MS) * DAY_MS; dayStart < until; dayStart += DAY_MS) {
      const a = Math.max(dayStart, from);
      const b = Math.min(dayStart + DAY_MS, until);
      const wholeDay = (Math.exp((dayStart + DAY_MS - ref) * g) - Math.exp((dayStart - ref) * g)) / g;
      const lived = b - a === DAY_MS ? 1 : this.useBetween(2 * r8, a, b);
      dayScratch[weekdayOf(dayStart)] += wholeDay * lived;
    }
    for (let d = 0; d < 7; d++) {
      const bin = f32[2 * r8 + this.at.days + d];
      dayScratch[d] = dayScratch[d] > 0 ? bin / dayScratch[d] : 0;
    }
    return dayScratch;
  }

  /** Share of the key's hour profile (row at `r4`) between `a` and `b`, two times within one day. */
  private useBetween(r4: number, a: number, b: number): number {
    const { f32 } = this.row;
    let total = 0;
    for (let h = 0; h < 24; h++) total += f32[r4 + this.at.hours + h];
    if (!(total > 0)) return (b - a) / DAY_MS;
    let within = 0;
    for (let hourStart = Math.floor(a / HOUR_MS) * HOUR_MS; hourStart < b; hourStart += HOUR_MS) {
      const covered = Math.min(b, hourStart + HOUR_MS) - Math.max(a, hourStart);
      within += (covered / HOUR_MS) * f32[r4 + this.at.hours + hourOf(hourStart)];
    }
    return within / total;
  }

  /** The profile, once the key's accesses (`first` to `last`, kept by the engine) span enough days. */
  detail(slot: number, first: number, last: number): ScheduleDetail | null {
    const { f32, u32 } = this.row;
    const r4 = 2 * slot * this.row.stride8;
    if (last - first < this.cfg.minHistoryDays * DAY_MS) return null;
    const samples = effectiveSamples(u32[r4 + this.at.n], this.growthPerMs * (last - first));
    const hours = peaks(f32, r4 + this.at.hours, 24, samples, CHI2_HOURS);
    // Weekdays are compared once each has been lived through: before, the days to come held nothing.
    const days =
      last - first >= 7 * DAY_MS
        ? peaks(this.weekdaysPerExposure(slot, first, last), 0, 7, samples, CHI2_DAYS, true)
        : { bins: [], concentration: 0 };
    // How concentrated use is in its peaks, hours or days: a key used only at weekends, at any hour, is
    // as concentrated as one used only in the evening, every day (it read 0, "spread evenly").
    return {
      peak_hours: hours.bins,
      peak_days: days.bins,
      concentration: Math.max(hours.concentration, days.concentration),
    };
  }
}

/**
 * How many accesses the decayed profile weighs as, for the χ² test: (Σw)² / Σw², for `n` accesses at a
 * steady rate over a span of `decay` e-foldings of their weights — n · tanh(decay / 2) / (decay / 2). Why:
 * the bins hold the last few half-lives of use, not all `n` accesses, and judged as `n` a key's sampling
 * noise grew with its age until it passed the test: a key read at random times once in five hours had
 * peak hours after 60 days on 3 of 10 seeds, after 180 days on all 10. (No per-key sum of squared weights
 * is kept for it: the row has no bytes to spare, and the span is known.)
 */
function effectiveSamples(n: number, decay: number): number {
  const half = decay / 2;
  return half > 1e-9 ? (n * Math.tanh(half)) / half : n;
}

/**
 * Bins holding clearly more than their share (≥ 1.5× the mean), when the profile is not uniform by χ².
 * For the days of the week, also the bins above the widest gap between two shares (a natural break) when
 * those average 1.2× the mean or more: a peak as broad as five weekdays of seven cannot reach 1.5× the
 * mean (all use in them is 1.4×), and a key used 90 % on weekdays listed no day, or the one or two that
 * sampling noise lifted highest.
 */
function peaks(
  bins: ArrayLike<number>,
  offset: number,
  width: number,
  samples: number,
  critical: number,
  naturalBreak = false,
): { bins: number[]; concentration: number } {
  let total = 0;
  for (let i = 0; i < width; i++) total += bins[offset + i];
  if (!(total > 0)) return { bins: [], concentration: 0 };
  const expected = samples / width;
  let chi2 = 0;
  for (let i = 0; i < width; i++) {
    scratch[i] = (bins[offset + i] / total) * samples;
    chi2 += (scratch[i] - expected) ** 2 / expected;
  }
  if (chi2 < critical) return { bins: [], concentration: 0 };
  const bar = Math.min(
    1.5 * expected,
    naturalBreak ? breakAbove(width, 1.2 * expected) : Number.POSITIVE_INFINITY,
  );
  const out: number[] = [];
  let share = 0;
  for (let i = 0; i < width; i++) {
    if (scratch[i] >= bar) {
      out.push(i);
      share += scratch[i] / samples;
    }
  }
  const uniform = out.length / width;
  const concentration = uniform < 1 ? Math.max(0, (share - uniform) / (1 - uniform)) : 0;
  return { bins: out, concentration: Math.round(concentration * 100) / 100 };
}

/**
 * The lowest value above the widest gap between the sorted values of `scratch[0, width)`, when the values
 * above it average at least `least`; else Infinity.
 */
function breakAbove(width: number, least: number): number {
  const sorted = order.subarray(0, width);
  for (let i = 0; i < width; i++) sorted[i] = scratch[i];
  sorted.sort().reverse();
  let cut = 1;
  for (let k = 2; k < width; k++) if (sorted[k - 1] - sorted[k] > sorted[cut - 1] - sorted[cut]) cut = k;
  let sum = 0;
  for (let k = 0; k < cut; k++) sum += sorted[k];
  return sum / cut >= least ? sorted[cut - 1] : Number.POSITIVE_INFINITY;
}
