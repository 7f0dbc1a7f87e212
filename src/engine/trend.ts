import { linearRegression } from 'simple-statistics';
import type { EngineConfig } from '../config.ts';
import { Table } from './table.ts';
import type { TrendDetail } from './types.ts';

/**
 * Is the key's access rate rising, falling or flat over the last days (Home Assistant's `trend` sensor,
 * for access rates)? A ring of daily counts; the trend is the least-squares slope of the daily rate
 * divided by its mean, i.e. the relative change per day. The current day is extrapolated from the
 * part of it that has passed, so a trend does not "fall" every morning.
 */
const DAY_MS = 86_400_000;

/** The ring holds exactly the configured number of days: no per-key bytes for days never fitted. */
function schemaFor(days: number) {
  return {
    counts: ['u32', days],
    /** Day number (ts / DAY_MS) of the newest bucket, and of the first access. */
    day: ['i32', 1],
    firstDay: ['i32', 1],
    seen: ['u8', 1],
  } as const;
}

export class TrendTracker {
  readonly table: Table<ReturnType<typeof schemaFor>>;
  private readonly width: number;

  constructor(
    private readonly cfg: EngineConfig['trend'],
    capacity: number,
  ) {
    this.width = cfg.days;
    this.table = new Table(schemaFor(cfg.days), capacity);
  }

  private bucket(slot: number, day: number): number {
    return slot * this.width + (((day % this.width) + this.width) % this.width);
  }

  observe(slot: number, ts: number): void {
    const c = this.table.c;
    const day = Math.floor(ts / DAY_MS);
    if (!c.seen[slot]) {
      c.seen[slot] = 1;
      c.day[slot] = day;
      c.firstDay[slot] = day;
    }
    this.advance(slot, day);
    const age = c.day[slot] - day;
    if (age >= 0 && age < this.cfg.days) c.counts[this.bucket(slot, day)]++;
    if (day < c.firstDay[slot]) c.firstDay[slot] = day;
  }

  /** Moves the newest bucket forward to `day`, zeroing the days in between. */
  private advance(slot: number, day: number): void {
    const c = this.table.c;
    const from = c.day[slot];
    if (day <= from) return;
    const steps = Math.min(day - from, this.width);
    for (let d = day - steps + 1; d <= day; d++) c.counts[this.bucket(slot, d)] = 0;
    c.day[slot] = day;
  }

  detail(slot: number, now: number): TrendDetail | null {
    const c = this.table.c;
    if (!c.seen[slot]) return null;
    const today = Math.floor(now / DAY_MS);
    this.advance(slot, today);
    const days = Math.min(this.cfg.days, today - c.firstDay[slot] + 1);
    if (days < 3) return null;
    const points: [number, number][] = [];
    let sum = 0;
    for (let i = days - 1; i >= 0; i--) {
      const d = today - i;
      let count = c.counts[this.bucket(slot, d)];
      if (i === 0) count /= Math.max((now - today * DAY_MS) / DAY_MS, 0.25);
      points.push([-i, count]);
      sum += count;
    }
    const mean = sum / days;
    if (!(mean > 0)) return { direction: 'flat', rate_change_per_day: 0 };
    const { m } = linearRegression(points);
    const rel = m / mean;
    const direction = rel > this.cfg.flatBelow ? 'rising' : rel < -this.cfg.flatBelow ? 'falling' : 'flat';
    return { direction, rate_change_per_day: Math.round(rel * 100) / 100 };
  }
}
