import { describe, expect, it } from 'vitest';
import { Rng } from '../../bench/workloads.ts';
import { Engine } from '../../src/engine/engine.ts';
import type { ScheduleDetail } from '../../src/engine/types.ts';
import { DAY, engineConfig, HOUR, MINUTE, T0 } from './helpers.ts';

/** The `schedule` detail of a key after `days` of accesses at the times `next` gives, one after another. */
function scheduleAfter(days: number, next: (t: number) => number): ScheduleDetail | null {
  const engine = new Engine(engineConfig());
  for (let t = next(T0); t < T0 + days * DAY; t = next(t)) engine.observe('k', t, Number.NaN, 0);
  return engine.viewOf('k')?.schedule ?? null;
}

describe('schedule', () => {
  it('gives a key used at random times of day no peak hours or days, however long its history', () => {
    // Once in five hours on average: the decayed profile holds the last few weeks of it, ~170 accesses,
    // whatever the key's age. Judged as all of its accesses, its noise passed the χ² test at 180 days.
    for (let seed = 1; seed <= 5; seed++) {
      const rng = new Rng(seed);
      for (const days of [60, 180]) {
        const schedule = scheduleAfter(days, (t) => t + rng.exp(5 * HOUR));
        expect(schedule?.peak_hours, `seed ${seed}, ${days} days`).toEqual([]);
        expect(schedule?.peak_days, `seed ${seed}, ${days} days`).toEqual([]);
      }
    }
  });

  it('gives a key used at random hours of Saturdays and Sundays those days as its peaks, concentrated', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const rng = new Rng(seed);
      // T0 is a Sunday: three uses a weekend day, at random hours.
      const next = (t: number): number => {
        const u = t + rng.exp(8 * HOUR);
        const weekday = new Date(u).getUTCDay();
        return weekday === 0 || weekday === 6 ? u : next(u);
      };
      const schedule = scheduleAfter(60, next);
      expect(schedule?.peak_days, `seed ${seed}`).toEqual([0, 6]);
      expect(schedule?.peak_hours, `seed ${seed}`).toEqual([]);
      expect(schedule?.concentration, `seed ${seed}`).toBeGreaterThan(0.9);
    }
  });

  it('gives a key used on weekdays, office hours, all five weekdays as its peaks, read on any day', () => {
    // 90 % of its uses Monday to Friday. Five days of seven cannot hold 1.5x the mean each, and recent
    // days weigh more: read at the end of a week, it listed no day, Friday alone, or Thursday and Friday.
    for (let seed = 1; seed <= 3; seed++) {
      const rng = new Rng(seed);
      const next = (t: number): number => {
        const u = t + rng.exp(HOUR);
        const weekday = new Date(u).getUTCDay();
        const hour = new Date(u).getUTCHours();
        const office = weekday >= 1 && weekday <= 5 && hour >= 9 && hour < 17;
        return office || rng.next() < 0.02 ? u : next(u);
      };
      for (const days of [16, 19, 26]) {
        const schedule = scheduleAfter(days, next);
        expect(schedule?.peak_days, `seed ${seed}, ${days} days`).toEqual([1, 2, 3, 4, 5]);
        for (const hour of schedule?.peak_hours ?? []) expect(hour).toBeGreaterThanOrEqual(9);
        for (const hour of schedule?.peak_hours ?? []) expect(hour).toBeLessThan(17);
      }
    }
  });

  it('keeps the evening hours of a key used once every evening at a random time, however long its history', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const rng = new Rng(seed);
      const evening = (day: number) => T0 + day * DAY + (18 + 4 * rng.next()) * HOUR;
      const schedule = scheduleAfter(180, (t) => evening(Math.floor((t - T0) / DAY) + 1));
      expect(schedule?.peak_hours, `seed ${seed}`).toEqual([18, 19, 20, 21]);
      expect(schedule?.concentration).toBeGreaterThan(0.9);
    }
  });
  it('gives a key used every day within one hour no peak days, whichever day its history ends on', () => {
    // 50 uses at random times between 02:00 and 03:00 every day. The day the history ends on had all of its
    // use by 03:00: counted as a day lived through only to its last access, it held eight days' share.
    for (let seed = 1; seed <= 3; seed++) {
      const rng = new Rng(seed);
      const next = (t: number): number => {
        const u = t + rng.exp(HOUR / 50);
        const hour = new Date(u).getUTCHours();
        return hour === 2 ? u : T0 + (Math.floor((u - T0) / DAY) + (hour < 2 ? 0 : 1)) * DAY + 2 * HOUR;
      };
      for (const days of [15, 18, 21, 24]) {
        const schedule = scheduleAfter(days, next);
        expect(schedule?.peak_days, `seed ${seed}, ${days} days`).toEqual([]);
        expect(schedule?.peak_hours, `seed ${seed}, ${days} days`).toEqual([2]);
      }
    }
  });

  it('gives a nightly job that reads for half a minute no peak days, read right after a run', () => {
    // 500 reads 50 ms apart from a random minute past 02:00 every night: by its latest read, the day had
    // lived through a 120th of the job's hour, and that day was the only peak day, a new one each day.
    for (let seed = 1; seed <= 3; seed++) {
      const rng = new Rng(seed);
      const reads: number[] = [];
      for (let night = 0; night < 19; night++) {
        const start = T0 + night * DAY + 2 * HOUR + Math.floor(rng.next() * 50) * MINUTE;
        for (let i = 0; i < 500; i++) reads.push(start + 50 * i);
      }
      for (const days of [8, 11, 15, 19]) {
        let at = 0;
        const schedule = scheduleAfter(days, () => reads[at++] ?? Number.POSITIVE_INFINITY);
        expect(schedule?.peak_days, `seed ${seed}, ${days} days`).toEqual([]);
        expect(schedule?.peak_hours, `seed ${seed}, ${days} days`).toEqual([2]);
      }
    }
  });
});
