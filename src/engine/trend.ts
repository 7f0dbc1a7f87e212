import { median, probit } from 'simple-statistics';
import type { EngineConfig } from '../config.ts';
import type { FieldIndex, RowTable } from './table.ts';
import type { TrendDetail } from './types.ts';

/**
 * Is the key's access rate rising, falling or flat over the last days (Home Assistant's `trend` sensor,
 * for access rates)? A ring of daily counts; the trend is the Theil–Sen slope of the daily rate divided
 * by its mean, i.e. the relative change per day, and it is rising or falling only when the days also pass
 * the Mann–Kendall test (the usual companion of Sen's slope). The current day is extrapolated from the
 * part of it that has passed, so a trend does not "fall" every morning.
 */
export const DAY_MS = 86_400_000;

/** The ring holds exactly the configured number of days: no per-key bytes for days never fitted. */
export function trendFields(days: number) {
  return {
    counts: ['u32', days],
    /** Day number (ts / DAY_MS) of the newest bucket, and of the first access. */
    day: ['i32', 1],
    firstDay: ['i32', 1],
    seen: ['u8', 1],
  } as const;
}

type TrendFields = ReturnType<typeof trendFields>;

export class TrendTracker {
  /** The engine's state row; this detector owns one section of it. */
  private readonly row: RowTable;
  private readonly width: number;
  private readonly at: FieldIndex<TrendFields>;
  /** |Z| of the Mann–Kendall statistic that a trend must reach (two-sided, `cfg.significance`). */
  private readonly zCritical: number;

  /** `fields`: the row section made with `trendFields(cfg.days)`. */
  constructor(
    private readonly cfg: EngineConfig['trend'],
    row: RowTable,
    fields: TrendFields,
  ) {
    this.width = cfg.days;
    this.row = row;
    this.at = row.fieldsOf(fields);
    this.zCritical = probit(1 - cfg.significance / 2);
  }

  /** Index in the 4-byte views of the count of `day` in the key's ring. */
  private bucket(slot: number, day: number): number {
    return 2 * slot * this.row.stride8 + this.at.counts + (((day % this.width) + this.width) % this.width);
  }

  observe(slot: number, ts: number): void {
    const { u32, i32, u8 } = this.row;
    const { at } = this;
    const r4 = 2 * slot * this.row.stride8;
    const day = Math.floor(ts / DAY_MS);
    if (!u8[4 * r4 + at.seen]) {
      u8[4 * r4 + at.seen] = 1;
      i32[r4 + at.day] = day;
      i32[r4 + at.firstDay] = day;
    }
    this.advance(slot, day);
    const age = i32[r4 + at.day] - day;
    if (age >= 0 && age < this.cfg.days) u32[this.bucket(slot, day)]++;
    if (day < i32[r4 + at.firstDay]) i32[r4 + at.firstDay] = day;
  }

  /** Moves the newest bucket forward to `day`, zeroing the days in between. */
  private advance(slot: number, day: number): void {
    const { u32, i32 } = this.row;
    const newest = 2 * slot * this.row.stride8 + this.at.day;
    const from = i32[newest];
    if (day <= from) return;
    const steps = Math.min(day - from, this.width);
    for (let d = day - steps + 1; d <= day; d++) u32[this.bucket(slot, d)] = 0;
    i32[newest] = day;
  }

  /** The day (UTC) of `ts`: the trend's buckets, and when its view changes with time alone. */
  static dayOf(ts: number): number {
    return Math.floor(ts / DAY_MS);
  }

  /**
   * Does the new day `today` change the trend of a key last accessed at `last`? It does until that access
   * has left the window of days; then the trend is flat at no accesses, and stays so.
   */
  changesOn(slot: number, today: number, last: number): boolean {
    return (
      this.row.u8[8 * slot * this.row.stride8 + this.at.seen] === 1 &&
      today - TrendTracker.dayOf(last) <= this.cfg.days
    );
  }

  detail(slot: number, now: number): TrendDetail | null {
    const { u32, i32, u8 } = this.row;
    const r4 = 2 * slot * this.row.stride8;
    if (!u8[4 * r4 + this.at.seen]) return null;
    const today = Math.floor(now / DAY_MS);
    this.advance(slot, today);
    const days = Math.min(this.cfg.days, today - i32[r4 + this.at.firstDay] + 1);
    if (days < 3) return null;
    const points: [number, number][] = [];
    let sum = 0;
    for (let i = days - 1; i >= 0; i--) {
      const d = today - i;
      let count = u32[this.bucket(slot, d)];
      if (i === 0) count /= Math.max((now - today * DAY_MS) / DAY_MS, 0.25);
      points.push([-i, count]);
      sum += count;
    }
    const mean = sum / days;
    if (!(mean > 0)) return { direction: 'flat', rate_change_per_day: 0 };
    const rel = theilSen(points) / mean;
    const z = mannKendallZ(points);
    const direction =
      Math.abs(z) < this.zCritical || Math.sign(z) !== Math.sign(rel) || Math.abs(rel) <= this.cfg.flatBelow
        ? 'flat'
        : rel > 0
          ? 'rising'
          : 'falling';
    return { direction, rate_change_per_day: Math.round(rel * 100) / 100 };
  }
}

/**
 * Theil–Sen slope: the median of the slopes between every two points. A least-squares slope over a week
 * of daily counts tilts with a weekly habit: a key three times as busy at weekends read rising or falling
 * on most days, depending on where the weekend fell in the window. Its two busy days are 2 of 7 points,
 * within what the median of pairwise slopes ignores (29 %), while a steady rise tilts every pair.
 */
function theilSen(points: [number, number][]): number {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++)
    for (let j = i + 1; j < points.length; j++)
      slopes.push((points[j][1] - points[i][1]) / (points[j][0] - points[i][0]));
  return median(slopes);
}

/**
 * Mann–Kendall's Z: S, the number of later days busier than an earlier one less those quieter, over its
 * standard deviation when the days are exchangeable (ties corrected, continuity corrected). Why: the
 * slope alone, at a few accesses a day, is mostly Poisson noise — a flat key read 3-10 times a day was
 * `rising` or `falling` on 43-59 % of days, 16 % at 30 a day (7 days, simulated). The test asks for a
 * change that most pairs of days agree on: at `significance` 0.1 flat keys then read rising or falling on
 * 5-8 % of days, while a rise of 20 %/day at 30 accesses a day is still found on 99.7 % (100 % by the
 * slope alone), one of 10 %/day on 74 % (92 %).
 */
function mannKendallZ(points: [number, number][]): number {
  const n = points.length;
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += Math.sign(points[j][1] - points[i][1]);
  // Each group of t days with the same count takes t(t − 1)(2t + 5) off the variance.
  const counts = points.map((p) => p[1]).sort((a, b) => a - b);
  let ties = 0;
  let run = 1;
  for (let i = 1; i <= n; i++) {
    if (i < n && counts[i] === counts[i - 1]) run++;
    else {
      ties += run * (run - 1) * (2 * run + 5);
      run = 1;
    }
  }
  const variance = (n * (n - 1) * (2 * n + 5) - ties) / 18;
  if (!(variance > 0) || s === 0) return 0;
  return (s - Math.sign(s)) / Math.sqrt(variance);
}
