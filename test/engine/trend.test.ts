import { describe, expect, it } from 'vitest';
import { Rng } from '../../bench/workloads.ts';
import { Engine } from '../../src/engine/engine.ts';
import type { TrendDetail } from '../../src/engine/types.ts';
import { DAY, engineConfig, HOUR, T0 } from './helpers.ts';

/**
 * The `trend` detail: relative change per day of a key's access rate over the last week. Keys read at
 * memoryless times with a rate that changes by day; the trend is read at 22:00 UTC every day (another
 * key's access then moves engine time there, so that a day without accesses after 22:00 is read too).
 */
function dailyTrends(seed: number, days: number, perHourOnDay: (day: number) => number): TrendDetail[] {
  const rng = new Rng(seed);
  const engine = new Engine(engineConfig());
  const out: TrendDetail[] = [];
  let t = T0;
  for (let day = 0; day < days; day++) {
    const checkpoint = T0 + day * DAY + 22 * HOUR;
    const end = T0 + (day + 1) * DAY;
    for (; t < end; t += rng.exp(HOUR / perHourOnDay(day))) {
      if (t >= checkpoint && out.length === day) out.push(trendAt(engine, checkpoint));
      engine.observe('k', t, Number.NaN, 0);
    }
    if (out.length === day) out.push(trendAt(engine, checkpoint));
  }
  return out;
}

function trendAt(engine: Engine, at: number): TrendDetail {
  engine.observe('clock', at, Number.NaN, 0);
  return engine.viewOf('k')?.trend ?? { direction: 'flat', rate_change_per_day: Number.NaN };
}

describe('trend', () => {
  it('reads a steady rise, a steady fall and a flat rate', () => {
    const rising = dailyTrends(1, 9, (day) => 20 * 1.2 ** day);
    const falling = dailyTrends(2, 9, (day) => 100 * 0.85 ** day);
    const flat = dailyTrends(3, 9, () => 20);
    // From the fourth day on, when the trend has three days to go by.
    for (let day = 3; day < 9; day++) {
      expect(rising[day].direction, `rising, day ${day}`).toBe('rising');
      expect(rising[day].rate_change_per_day).toBeGreaterThan(0.1);
      expect(falling[day].direction, `falling, day ${day}`).toBe('falling');
      expect(falling[day].rate_change_per_day).toBeLessThan(-0.07);
      expect(flat[day].direction, `flat, day ${day}`).toBe('flat');
    }
  });

  it('reads a key used a few times a day at a steady rate as flat, not as its Poisson noise', () => {
    // 3, 8 and 20 accesses a day on average, three seeds each, judged from the fourth day on.
    const days = 30;
    for (const perDay of [3, 8, 20]) {
      const flat = [11, 12, 13].map(
        (seed) =>
          dailyTrends(seed, days, () => perDay / 24)
            .slice(3)
            .filter((trend) => trend.direction === 'flat').length,
      );
      // By the slope alone, 45-60 % of these days read rising or falling.
      const share = flat.reduce((a, b) => a + b) / (3 * (days - 3));
      expect(share, `${perDay} a day`).toBeGreaterThanOrEqual(0.85);
    }
  });

  it('reads a weekly habit as flat, not as a rise before each weekend and a fall after it', () => {
    // Three times as busy on Saturdays and Sundays (T0 is a Sunday), over three weeks; judged from the
    // second week on, when the trend's week holds one of each weekday.
    const weekday = (day: number) => (new Date(T0 + day * DAY).getUTCDay() + 7) % 7;
    const flatDays = [5, 6, 7].map((seed) =>
      dailyTrends(seed, 21, (day) => (weekday(day) === 0 || weekday(day) === 6 ? 60 : 20))
        .slice(7)
        .filter((trend) => trend.direction === 'flat'),
    );
    // Fitted by least squares, 5-6 of these 14 days read flat (the slope tilts with where the weekend
    // falls in the week); by the median of pairwise slopes 11-14.
    for (const flat of flatDays) expect(flat.length).toBeGreaterThanOrEqual(10);
    expect(flatDays.flat().length).toBeGreaterThanOrEqual(35);
  });
});
