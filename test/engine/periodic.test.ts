import { describe, expect, it } from 'vitest';
import { episodes } from '../../bench/replay.ts';
import { periodic, poisson, Rng, steady } from '../../bench/workloads.ts';
import { Engine } from '../../src/engine/engine.ts';
import { emptyFit, fitSchedule, HISTORY, type PeriodicFit } from '../../src/engine/periodic.ts';
import { PERIODIC } from '../../src/engine/types.ts';
import {
  builder,
  DAY,
  engineConfig,
  HOUR,
  MINUTE,
  reporting,
  restarted,
  run,
  SECOND,
  T0,
  view,
} from './helpers.ts';

const cfg = engineConfig().periodic;

/** Share of the time over `span` (ms) before `end` that `keys` were reported periodic, together. */
/**
 * Eight keys used `uses` times (a range) every evening for 40 days, each use at a random time between the
 * `hours` given: habits with a schedule, not jobs with a period.
 */
function eveningUses(seed: number, prefix: string, uses: [number, number], hours: [number, number]) {
  const b = builder(seed, 40 * DAY);
  const keys = Array.from({ length: 8 }, (_, i) => `${prefix}/${i}`);
  for (const key of keys)
    for (let day = T0; day < T0 + 40 * DAY; day += DAY) {
      const times = Array.from({ length: b.rng.int(...uses) }, () => day + b.rng.uniform(...hours) * HOUR);
      for (const t of times.sort((x, y) => x - y)) b.add(key, t);
    }
  const trace = b.build();
  return { r: run(trace), keys, end: trace.end };
}

function periodicShare(r: ReturnType<typeof run>, keys: string[], end: number, span: number): number {
  let time = 0;
  for (const key of keys)
    for (const [from, to] of episodes(r.timelines.get(key), PERIODIC, end)) time += to - from;
  return time / (keys.length * span);
}

function fitStarts(times: number[]): PeriodicFit {
  const out = emptyFit();
  fitSchedule(Float64Array.from(times), times.length, cfg, out);
  return out;
}

describe('fitSchedule', () => {
  it('fits an exact schedule, and one with missed runs and a stray access', () => {
    const exact = fitStarts(Array.from({ length: 12 }, (_, i) => T0 + i * HOUR));
    expect(exact.ok).toBe(true);
    expect(exact.period).toBeCloseTo(HOUR, -1);
    const holes = [0, 1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13].map((k) => T0 + k * HOUR + ((k * 7) % 5) * SECOND);
    holes.splice(6, 0, T0 + 5.4 * HOUR);
    const noisy = fitStarts(holes);
    expect(noisy.ok).toBe(true);
    expect(Math.abs(noisy.period - HOUR) / HOUR).toBeLessThan(0.01);
  });

  it('finds a job with half its runs missed, at its own period, not at twice it', () => {
    // Each run missed with probability 1/2, timing errors of 0-5 % of the period: the median gap is as
    // often two hours as one. With the old 60 % fill bound and the median alone, 0 of 40 were found; at a
    // full history, 2 % were accepted at two hours (the runs between off the line add nothing to the
    // phase concentration) until half the period was tried for accepted fits too.
    const rng = new Rng(41);
    for (const starts of [24, HISTORY])
      for (const sd of [0, 0.05]) {
        let right = 0;
        for (let key = 0; key < 40; key++) {
          const times: number[] = [];
          for (let k = 0; times.length < starts; k++)
            if (rng.next() < 0.5) times.push(T0 + k * HOUR + rng.normal(sd * HOUR));
          const fit = fitStarts(times.sort((x, y) => x - y));
          if (fit.ok && Math.abs(fit.period - HOUR) < 0.05 * HOUR) right++;
          else expect(fit.ok, `${starts} starts, key ${key}: ${fit.period / HOUR} h`).toBe(false);
        }
        expect(right, `${starts} starts, sd ${sd}`).toBeGreaterThanOrEqual(34);
      }
  });

  it('finds jobs with 10 % timing errors at their period, with none or half of their runs missed', () => {
    // Gaussian timing errors of a tenth of the period (the research notes' grid). The gaps' median and the
    // span clusters put the period a few percent off, which miscounted beats over the history: 84-90 % of
    // such jobs were found with every run, 61 % with half missed, before the periodogram refinement
    // (`refinePeriod`); now 96-100 % and 85-94 % (on 400 keys each).
    const rng = new Rng(43);
    for (const starts of [24, HISTORY])
      for (const [missed, least] of [
        [0, 37],
        [0.5, 28],
      ]) {
        let right = 0;
        for (let key = 0; key < 40; key++) {
          const times: number[] = [];
          for (let k = 0; times.length < starts; k++)
            if (rng.next() >= missed) times.push(T0 + k * HOUR + rng.normal(0.1 * HOUR));
          const fit = fitStarts(times.sort((x, y) => x - y));
          if (fit.ok && Math.abs(fit.period - HOUR) < 0.02 * HOUR) right++;
          else expect(fit.ok, `${starts} starts, key ${key}: ${fit.period / HOUR} h`).toBe(false);
        }
        expect(right, `${starts} starts, ${missed * 100} % missed`).toBeGreaterThanOrEqual(least);
      }
  });

  it('refuses a period whose beats leave every third one empty: two hourly jobs at :00 and :20', () => {
    // Every 20 minutes fits both jobs' starts perfectly, with every third beat (:40) empty.
    const twoJobs = Array.from(
      { length: 24 },
      (_, i) => T0 + Math.floor(i / 2) * HOUR + (i % 2) * 20 * MINUTE,
    );
    const fit = fitStarts(twoJobs);
    expect(
      fit.ok && Math.abs(fit.period - 20 * MINUTE) < 0.05 * 20 * MINUTE,
      `${fit.period / MINUTE} min`,
    ).toBe(false);
  });

  it('refuses too few starts, identical starts and memoryless starts', () => {
    expect(fitStarts([T0, T0 + HOUR, T0 + 2 * HOUR]).ok).toBe(false);
    expect(fitStarts(Array.from({ length: 10 }, () => T0)).ok).toBe(false);
    const rng = new Rng(20);
    let accepted = 0;
    for (let rep = 0; rep < 500; rep++) {
      let t = T0;
      const n = cfg.minOccurrences + (rep % (HISTORY - cfg.minOccurrences));
      if (
        fitStarts(
          Array.from({ length: n }, () => {
            t += rng.exp(HOUR);
            return t;
          }),
        ).ok
      )
        accepted++;
    }
    // The test's false-alarm rate is 1e-3 by construction; 500 tries may see one.
    expect(accepted).toBeLessThanOrEqual(2);
  });

  it('finds an hourly job through stray accesses between its runs, and still refuses memoryless starts', () => {
    // Runs up to 72 s late, 10 % missed, and strays at random times (someone opening the file the job
    // reads), the last 48 starts of 60 hours: the gaps' median falls to a fraction of the hour. Fitted
    // from it alone, 18 of 40 keys with a stray per two runs and none with one per run were found (one
    // with another period); from the densest cluster of spans too, 35 and 15 (one window each: the
    // detector refits at every start, so a schedule missed at one is found at a later one).
    const rng = new Rng(31);
    const fitWithStrays = (straysPerRun: number): PeriodicFit => {
      const times: number[] = [];
      for (let k = 0; k < 60; k++)
        if (rng.next() > 0.1) times.push(T0 + k * HOUR + rng.uniform(0, 0.02 * HOUR));
      for (let t = T0 + rng.exp(HOUR / straysPerRun); t < T0 + 60 * HOUR; t += rng.exp(HOUR / straysPerRun))
        times.push(t);
      return fitStarts(times.sort((x, y) => x - y).slice(-HISTORY));
    };
    for (const [straysPerRun, atLeast] of [
      [0.5, 30],
      [1, 12],
    ]) {
      const fits = Array.from({ length: 40 }, () => fitWithStrays(straysPerRun));
      const right = fits.filter((f) => f.ok && Math.abs(f.period - HOUR) < 0.05 * HOUR).length;
      expect(right, `${straysPerRun} strays per run`).toBeGreaterThanOrEqual(atLeast);
      expect(fits.filter((f) => f.ok).length - right, 'another period').toBeLessThanOrEqual(1);
    }
    // The search for a period among short spans runs from 12 starts on: memoryless starts of that many
    // and more stay refused (the Poisson critical values are calibrated with it).
    let accepted = 0;
    for (let rep = 0; rep < 500; rep++) {
      let t = T0;
      const n = 12 + (rep % (HISTORY - 11));
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        t += rng.exp(HOUR);
        times.push(t);
      }
      if (fitStarts(times).ok) accepted++;
    }
    expect(accepted).toBeLessThanOrEqual(2);
  });
});

describe('periodic detector', () => {
  it('finds periods from 10 s to a day with 5 % jitter and 10 % missed runs, period within 5 %', () => {
    const b = builder(21, 9 * DAY);
    const periods = [10 * SECOND, MINUTE, 15 * MINUTE, HOUR, 6 * HOUR, DAY];
    for (const P of periods)
      periodic(b, `p/${P / 1000}`, {
        periodMs: P,
        jitter: 0.05,
        missed: 0.1,
        beats: Math.min(60, 9 * (DAY / P)),
      });
    const trace = b.build();
    const r = run(trace);
    for (const l of trace.labels) {
      const v = view(r, l.key);
      expect(v.patterns, l.key).toContain('periodic');
      const err = Math.abs((v.periodic?.period_s ?? 0) * 1000 - (l.periodMs ?? 0)) / (l.periodMs ?? 1);
      expect(err, l.key).toBeLessThan(0.05);
      expect(v.periodic?.next_ts).toBeGreaterThan(v.last_ts);
    }
  });

  it('never fires on memoryless keys of any rate, at the end or on the way', () => {
    const b = builder(22, 3 * DAY);
    const rates = [1 / 20, 1 / 120, 1 / 600, 1 / 3600, 1 / 20000];
    for (const rate of rates) for (let i = 0; i < 3; i++) poisson(b, `poisson/${rate}/${i}`, rate);
    const trace = b.build();
    const r = run(trace);
    expect(reporting(r, trace, 'periodic')).toEqual([]);
    const flashes = trace.labels.filter((l) => r.timelines.get(l.key)?.some((t) => t.mask & 2));
    expect(flashes.length).toBeLessThanOrEqual(1);
  });

  it('does not call a steady reader whose timing errors accumulate periodic once it has history', () => {
    const b = builder(23, 5 * DAY);
    for (let i = 0; i < 6; i++) steady(b, `steady/${i}`, 10 * MINUTE, 0.08, 'steady');
    const trace = b.build();
    const r = run(trace);
    expect(reporting(r, trace, 'periodic')).toEqual([]);
  });

  it('keeps a free-running poller from flashing periodic once its phase has been seen to wander', () => {
    // Pollers every 20 s ± 4 %, each gap independent (a timer restarted after each poll): their phase
    // wanders as a random walk, and about one window of 48 starts in thirty stays close enough to a line to
    // pass the drift test. They flashed periodic for a minute or so, 20-30 times a day (an outside
    // evaluation).
    const b = builder(31, DAY);
    const keys = Array.from({ length: 8 }, (_, i) => `poller/${i}`);
    for (const key of keys) steady(b, key, 20 * SECOND, 0.04, 'steady');
    const trace = b.build();
    const r = run(trace);
    // Their first hour is left out: a new key's few starts cannot tell a walk from a schedule yet.
    const flashes = keys.flatMap((key) =>
      episodes(r.timelines.get(key), PERIODIC, trace.end).filter(([from]) => from > T0 + HOUR),
    );
    // 148 flashes and 2.9 % of the day before; two a day remain.
    expect(flashes.length).toBeLessThanOrEqual(2 * keys.length);
    expect(periodicShare(r, keys, trace.end, DAY)).toBeLessThan(0.015);
  });

  it('finds the schedule of a poller that starts keeping time, a dozen runs after its walk left the history', () => {
    // Six hours of a free-running poller, then a job every 20 s up to 0.5 s late.
    const b = builder(32, 8 * HOUR);
    const switched = T0 + 6 * HOUR;
    let t = T0;
    for (; t < switched; t += 20 * SECOND * (1 + 0.04 * b.rng.normal(1))) b.add('poller', t);
    for (let k = 1; t + k * 20 * SECOND < T0 + 8 * HOUR; k++)
      b.add('poller', t + k * 20 * SECOND + b.rng.uniform(0, 500));
    const trace = b.build();
    const r = run(trace);
    const found = episodes(r.timelines.get('poller'), PERIODIC, trace.end).filter(
      ([from]) => from > switched,
    );
    // Found at its 35th run (its 19th before the walk counted, flapping once), and held from then on.
    expect(found).toHaveLength(1);
    expect(found[0][0] - switched).toBeLessThan(48 * 20 * SECOND);
    expect(found[0][1]).toBe(trace.end);
  });

  it('does not call a key used a few times every evening at random times periodic: it has a schedule', () => {
    // The contract's own example. Each use at its own random time between 18:00 and 23:00, three on
    // average (a memoryless count): every use falls within a few hours of one daily phase, which phase
    // concentration and spread alone took for a daily job with some delay.
    const b = builder(26, 40 * DAY);
    const keys = Array.from({ length: 6 }, (_, i) => `evening/${i}`);
    for (const key of keys)
      for (let day = T0; day < T0 + 40 * DAY; day += DAY)
        for (
          let t = day + 18 * HOUR + b.rng.exp((HOUR * 5) / 3);
          t < day + 23 * HOUR;
          t += b.rng.exp((HOUR * 5) / 3)
        )
          b.add(key, t);
    const trace = b.build();
    const r = run(trace);
    for (const key of keys) {
      const v = view(r, key);
      expect(v.patterns, key).not.toContain('periodic');
      expect(v.schedule?.peak_hours, key).toEqual(expect.arrayContaining([19, 20, 21]));
    }
    // Nor for long on the way (such keys were periodic 80 % of the time).
    expect(periodicShare(r, keys, trace.end, 40 * DAY)).toBeLessThan(0.05);
  });

  it('does not call a key used three to six times every evening within three hours periodic', () => {
    // Uses within 19:00-22:00 spread just under 5 % of the day around one daily phase, where several
    // starts per beat used to pass as a job with a tight schedule: 17 of 20 such keys were periodic.
    const { r, keys, end } = eveningUses(28, 'evening3h', [3, 6], [19, 22]);
    for (const key of keys) expect(view(r, key).patterns, key).not.toContain('periodic');
    expect(periodicShare(r, keys, end, 40 * DAY)).toBeLessThan(0.05);
  });

  it('does not call a key used once or twice every evening at random times periodic', () => {
    // 1.5 starts per beat pass the several-starts-per-beat bound, but the second uses all fall near the
    // daily phase and none far from it, as no stray would: 17-20 of 20 such keys were periodic.
    const { r, keys } = eveningUses(29, 'diary', [1, 2], [18, 23]);
    for (const key of keys) expect(view(r, key).patterns, key).not.toContain('periodic');
  });

  it('keeps jobs that touch their key more than once per run periodic: a second job, a run resuming', () => {
    // Several starts per beat are a habit only when they wander: two or three jobs at fixed times of day
    // and a backup that resumes after a long pause, once or twice, have them too, at the same offsets
    // every day.
    const b = builder(27, 30 * DAY);
    const session = (key: string, at: number, reads: number) => {
      for (let i = 0; i < reads; i++) b.add(key, at + i * 300, i * 65536, 65536);
    };
    for (let i = 0; i < 4; i++)
      for (let day = T0; day < T0 + 30 * DAY; day += DAY) {
        const jitter = () => b.rng.uniform(0, 60 * SECOND);
        session(`jobs/0245/${i}`, day + 2 * HOUR + jitter(), 20);
        session(`jobs/0245/${i}`, day + 2.75 * HOUR + jitter(), 20);
        session(`jobs/0500/${i}`, day + 2 * HOUR + jitter(), 20);
        session(`jobs/0500/${i}`, day + 5 * HOUR + jitter(), 20);
        const backup = day + 3 * HOUR + jitter();
        session(`backup/${i}`, backup, 300);
        session(`backup/${i}`, backup + 300 * 300 + 40 * MINUTE + b.rng.uniform(0, 10 * MINUTE), 300);
        session(`jobs/three/${i}`, day + 2 * HOUR + jitter(), 20);
        session(`jobs/three/${i}`, day + 2.75 * HOUR + jitter(), 20);
        session(`jobs/three/${i}`, day + 4 * HOUR + jitter(), 20);
        let resumed = day + 3 * HOUR + jitter();
        for (let part = 0; part < 3; part++, resumed += 300 * 300 + b.rng.uniform(40, 50) * MINUTE)
          session(`backup/twice/${i}`, resumed, 300);
      }
    const trace = b.build();
    const r = run(trace);
    for (const key of r.final.keys()) {
      const v = view(r, key);
      expect(v.patterns, key).toContain('periodic');
      expect(Math.abs((v.periodic?.period_s ?? 0) - DAY / 1000), key).toBeLessThan(0.05 * (DAY / 1000));
    }
  });

  it('keeps a job run twice a day periodic at its day, and names whichever of its runs comes next', () => {
    // cron `0 9,H * * *`: each run 0-60 s late, one to three reads. As one daily phase with its other run
    // for extras, runs 7-10 hours apart were never periodic (the spread of all starts around one phase is
    // half their distance), 5-6 hours apart passed at a fifth or a quarter of the day, and where one phase
    // passed, the next run named after each run was the same one a day later (an outside evaluation).
    for (const second of [12, 14, 16, 17, 19, 20]) {
      const e = new Engine(engineConfig());
      const rng = new Rng(second);
      const key = `twice/09+${second}`;
      const runs: number[] = [];
      for (let day = 0; day < 28; day++)
        for (const hour of [9, second]) runs.push(T0 + day * DAY + hour * HOUR + rng.uniform(0, 60) * SECOND);
      let periodicHours = 0;
      let judgedHours = 0;
      let nextRight = 0;
      let nextJudged = 0;
      let r = 0;
      for (let t = T0; t < T0 + 28 * DAY; t += 10 * MINUTE) {
        for (; r < runs.length && runs[r] < t; r++) {
          const reads = rng.int(1, 3);
          for (let i = 0; i < reads; i++)
            e.observe(key, runs[r] + i * rng.uniform(0.3, 1.8) * SECOND, Number.NaN, 0);
          const v = e.viewOf(key);
          if (r >= 14 * 2 && r + 1 < runs.length && v?.periodic) {
            nextJudged++;
            nextRight += +(Math.abs(v.periodic.next_ts - runs[r + 1]) < 5 * MINUTE);
          }
        }
        e.observe('clock/tick', t, Number.NaN, 0);
        if (t < T0 + 7 * DAY || (t - T0) % HOUR !== 0) continue;
        judgedHours++;
        periodicHours += +(e.viewOf(key)?.patterns.includes('periodic') ?? false);
      }
      const v = e.viewOf(key);
      expect(v?.periodic?.period_s, key).toBeCloseTo(DAY / 1000, -3);
      expect(periodicHours / judgedHours, key).toBeGreaterThan(0.95);
      expect(nextRight / nextJudged, key).toBeGreaterThan(0.9);
    }
  });

  it('keeps a job of office hours periodic through the night, names its first run of the morning, and ends it when it stops', () => {
    // An hourly job 08:00-17:00 and a solar inverter polled every 5 minutes 06:00-19:55, each run up to
    // 30 s late (the hourly one up to 10 s early), for 12 days; the hourly one stops for good at noon on day 10. Its nights counted as missed
    // runs, the hourly job ended at 03:30 and was found again at 08:00 every day, its next run named
    // through the night as 19:00, 20:00, … (an outside evaluation).
    const e = new Engine(engineConfig());
    const rng = new Rng(61);
    const stop = T0 + 9 * DAY + 12 * HOUR;
    const runs = new Map<string, number[]>([
      ['office/hourly', []],
      ['solar/inverter', []],
    ]);
    for (let day = 0; day < 12; day++) {
      // Some of its runs come a few seconds early, in the hour before: a beat at 07:59:58 is not skipped
      // for hour 7 being one the job does not run in.
      for (let h = 8; h < 18; h++)
        runs.get('office/hourly')?.push(T0 + day * DAY + h * HOUR + rng.uniform(-10, 30) * SECOND);
      for (let m = 6 * 60; m < 20 * 60; m += 5)
        runs.get('solar/inverter')?.push(T0 + day * DAY + m * MINUTE + rng.uniform(0, 30) * SECOND);
    }
    const events = [...runs].flatMap(([key, ts]) =>
      ts.filter((t) => key !== 'office/hourly' || t < stop).map((t) => [key, t] as const),
    );
    for (let t = T0; t < T0 + 12 * DAY; t += 10 * MINUTE) events.push(['clock/tick', t]);
    events.sort((a, b) => a[1] - b[1]);
    const judged = new Map<string, number>();
    const periodicHours = new Map<string, number>();
    let nightNextRight = 0;
    let nights = 0;
    for (const [key, t] of events) {
      e.observe(key, t, Number.NaN, 0);
      if (key !== 'clock/tick' || (t - T0) % HOUR !== 0 || t < T0 + 3 * DAY || t >= stop) continue;
      for (const k of runs.keys()) {
        judged.set(k, (judged.get(k) ?? 0) + 1);
        const v = e.viewOf(k);
        periodicHours.set(k, (periodicHours.get(k) ?? 0) + +(v?.patterns.includes('periodic') ?? false));
        const hour = ((t - T0) % DAY) / HOUR;
        if (k === 'office/hourly' && (hour >= 20 || hour < 6)) {
          nights++;
          const due = runs.get(k)?.find((r) => r > t) ?? Number.NaN;
          nightNextRight += +(v?.periodic !== null && Math.abs((v?.periodic?.next_ts ?? 0) - due) < MINUTE);
        }
      }
    }
    for (const k of runs.keys())
      expect((periodicHours.get(k) ?? 0) / (judged.get(k) ?? 1), k).toBeGreaterThan(0.97);
    expect(nightNextRight / nights).toBeGreaterThan(0.95);
    // Stopped at noon: its hours 12:00-17:00 pass without a run, and the schedule ends by the next morning.
    expect(e.viewOf('office/hourly')?.patterns).not.toContain('periodic');
  });

  it('refuses a sleep loop whose drift is small next to the period, and keeps exact schedules', () => {
    // `while true; do work; sleep 60; done`, the work taking 0.2 ± 0.1 s: its phase drifts by a random
    // walk that stays within 0.5 % of the period over the history, yet it has no schedule.
    const b = builder(28, 3 * HOUR);
    for (let i = 0; i < 4; i++)
      for (let t = T0 + b.rng.uniform(0, MINUTE); t < T0 + 3 * HOUR; t += MINUTE + b.rng.uniform(100, 300))
        b.add(`loop/${i}`, t);
    for (let k = 0; k < 180; k++) b.add('cron/exact', T0 + k * MINUTE);
    const trace = b.build();
    const r = run(trace);
    for (let i = 0; i < 4; i++) expect(view(r, `loop/${i}`).patterns, `loop/${i}`).not.toContain('periodic');
    expect(view(r, 'cron/exact').periodic?.period_s).toBe(60);
  });

  it('keeps a schedule while a stray access is the latest start (a second job on the key, a manual read)', () => {
    // A job every 15 minutes (up to 18 s late, 10 % of runs missed) and another at :07 past each hour on
    // the same key: every fourth or fifth start is off the schedule. While such a start was the latest,
    // beats were counted from it and the schedule was refused: 82 drops in 4 days. The 8 left come from
    // the strays' one phase pulling the first least-squares line (docs/detection.md).
    const b = builder(29, 4 * DAY);
    for (let k = 0; k < 4 * 96; k++)
      if (b.rng.next() > 0.1) b.add('cron/15m', T0 + k * 15 * MINUTE + b.rng.uniform(0, 18 * SECOND));
    for (let h = 0; h < 4 * 24; h++)
      if (b.rng.next() > 0.1) b.add('cron/15m', T0 + h * HOUR + 7 * MINUTE + b.rng.uniform(0, 72 * SECOND));
    const trace = b.build();
    const r = run(trace);
    const drops = (r.timelines.get('cron/15m') ?? []).filter((t) => !(t.mask & 2) && t.accesses > 12);
    expect(drops.length).toBeLessThanOrEqual(12);
    expect(view(r, 'cron/15m').periodic?.period_s).toBeCloseTo(900, -1);
  });

  it('keeps an hourly job periodic through stray accesses between its runs, without dropping it now and then', () => {
    // Someone opens the file an hourly job reads at random times, a stray per two to three runs (a third
    // of the starts), over 100 hours. Refitted like a new key at every start, the strays widened the line's
    // limit, joined the line and failed its phase test, and diluted the phase concentration below the bar
    // to enter: the keys were dropped and found again 39 times in all (up to 8 each), and periodic 86 % of
    // the time after their first 12 hours (95 % now).
    const b = builder(43, 100 * HOUR);
    const keys = Array.from({ length: 8 }, (_, i) => `cron/hourly-${i}`);
    for (const key of keys) {
      for (let k = 0; k < 100; k++)
        if (b.rng.next() > 0.1) b.add(key, T0 + k * HOUR + b.rng.uniform(0, 72 * SECOND));
      for (let t = T0 + b.rng.exp(2.5 * HOUR); t < T0 + 100 * HOUR; t += b.rng.exp(2.5 * HOUR)) b.add(key, t);
    }
    const trace = b.build();
    const r = run(trace);
    const drops = keys.map(
      (key) =>
        (r.timelines.get(key) ?? []).filter((t) => !(t.mask & PERIODIC) && t.ts > T0 + 12 * HOUR).length,
    );
    expect(Math.max(...drops), drops.join(' ')).toBeLessThanOrEqual(2);
    expect(drops.reduce((a, x) => a + x, 0)).toBeLessThanOrEqual(10);
    expect(periodicShare(r, keys, trace.end, trace.end - T0 - 12 * HOUR)).toBeGreaterThan(0.93);
    const hourly = keys.filter((key) => Math.abs((view(r, key).periodic?.period_s ?? 0) - 3600) < 5);
    expect(hourly.length).toBeGreaterThanOrEqual(6);
  });

  it('keeps a minutely job periodic through late runs, missed runs and strays together', () => {
    // Runs up to ~20 s late (half-normal, a tenth of the period), a fifth of them missed, and a stray access
    // in a fifth of the minutes, over two days. The periodic key's refit took the gaps' median as its period
    // estimate, 3-5 % short with so many split gaps, and lost the schedule: 28 drops (13 now; an outside
    // evaluation's 10 days at its noise level 3: 52, now 12).
    const b = builder(67, 2 * DAY);
    for (let k = 0; k < 2 * 24 * 60; k++) {
      const beat = T0 + 7 * SECOND + k * MINUTE;
      if (b.rng.next() >= 0.2) b.add('cron/healthcheck', beat + Math.abs(b.rng.normal(6 * SECOND)));
      if (b.rng.next() < 0.2) b.add('cron/healthcheck', beat + b.rng.uniform(0, MINUTE));
    }
    const trace = b.build();
    const r = run(trace);
    const drops = (r.timelines.get('cron/healthcheck') ?? []).filter((t) => !(t.mask & PERIODIC)).length - 1;
    expect(drops).toBeLessThanOrEqual(20);
    expect(periodicShare(r, ['cron/healthcheck'], trace.end, trace.end - T0)).toBeGreaterThan(0.97);
  });

  it('keeps camera indexes written every 30 s periodic while they run, and ends them when they stop', () => {
    // Delays of up to ~9 s (half-normal, a tenth of the period) and a fifth of the writes missed, six keys
    // over four days. Four misses in a row, a 1-in-600 event, ended a schedule: every ~5 hours per key at
    // 2,880 beats a day, 78 drops in all. (And now and then the drift test's 48 starts came out like a
    // walk's: a periodic key now keeps its schedule through one such refit.)
    const b = builder(71, 4 * DAY);
    const keys = Array.from({ length: 6 }, (_, i) => `camera/${i}/index.db`);
    for (const key of keys)
      for (let k = 0; k < 4 * 2880; k++)
        if (b.rng.next() >= 0.2) b.add(key, T0 + k * 30 * SECOND + Math.abs(b.rng.normal(3 * SECOND)), k, 1);
    const r = run(b.build());
    const drops = keys.map((key) => episodes(r.timelines.get(key), PERIODIC, T0 + 4 * DAY).length - 1);
    expect(
      drops.reduce((a, x) => a + x, 0),
      drops.join(' '),
    ).toBeLessThanOrEqual(15);
    // A camera that stops is no longer periodic within a few minutes, engine time moved by another key.
    const e = new Engine(engineConfig());
    for (let k = 0; k < 2880; k++)
      if (k % 5 !== 0) e.observe('camera/stops', T0 + k * 30 * SECOND + (k % 7) * 400, k, 1);
    const stop = T0 + 2880 * 30 * SECOND;
    e.observe('clock', stop + 2 * MINUTE, Number.NaN, 0);
    expect(e.viewOf('camera/stops')?.patterns).toContain('periodic');
    e.observe('clock', stop + 5 * MINUTE, Number.NaN, 0);
    expect(e.viewOf('camera/stops')?.patterns).not.toContain('periodic');
  });

  it('finds a job every 30 s again as soon as it resumes after an hour off, on its old phase or a new one', () => {
    // Six hours of runs up to 1 s late, an hour without any (the device off), then two more hours: on the
    // same schedule, or 11 s off it (its timer restarted). Another device's key moves engine time meanwhile,
    // so the schedule ends during the hour. Its 48 starts then lay over 168 beats, short of the share filled
    // until every start from before the hour had left the history: found again at the 47th run back.
    const b = builder(83, 9 * HOUR);
    const off = T0 + 6 * HOUR;
    const back = off + HOUR;
    const shiftOf: Record<string, number> = { 'job/same': 0, 'job/moved': 11 * SECOND };
    for (const [key, shift] of Object.entries(shiftOf))
      for (let t = T0; t < T0 + 9 * HOUR; t += 30 * SECOND)
        if (t < off || t >= back) b.add(key, t + (t >= back ? shift : 0) + b.rng.uniform(0, SECOND));
    for (let t = T0; t < T0 + 9 * HOUR; t += b.rng.uniform(7, 13) * SECOND) b.add('other/clock', t);
    const trace = b.build();
    const r = run(trace);
    for (const key of Object.keys(shiftOf)) {
      const spells = episodes(r.timelines.get(key), PERIODIC, trace.end);
      // Periodic before the hour, ended within it, back at its first or second run and held to the end.
      expect(spells, key).toHaveLength(2);
      expect(spells[0][1], key).toBeLessThan(off + 5 * MINUTE);
      expect(spells[1][0], key).toBeLessThan(back + MINUTE + 2 * SECOND);
      expect(spells[1][1], key).toBe(trace.end);
      expect(view(r, key).periodic?.period_s, key).toBeCloseTo(30, 1);
      // The next run named at the phase the job keeps now.
      const phase = ((view(r, key).periodic?.next_ts ?? 0) - T0) % (30 * SECOND);
      expect(Math.abs(phase - (shiftOf[key] + SECOND / 2)), key).toBeLessThan(SECOND);
    }
  });

  it('keeps a schedule whose timing errors wander slowly periodic for days', () => {
    // Jobs every minute, each run late by an error that wanders (an AR(1) series, ρ 0.7, ~0.06 s spread) on
    // top of up to 0.2 s at random, so the phase stays within half a second for days. Now and then the last
    // 48 runs look like a random walk's to the drift test for several refits in a row: an outside
    // evaluation's energy log written every 60 s dropped `periodic` for eight minutes two to four times a
    // week. A schedule that held for a whole history survives that.
    const b = builder(79, 3 * DAY);
    const keys = Array.from({ length: 8 }, (_, i) => `plug/${i}/energy.csv`);
    for (const key of keys) {
      let error = 0;
      for (let k = 0; k < 3 * 24 * 60; k++) {
        error = 0.7 * error + b.rng.normal(45);
        b.add(key, T0 + 7 * SECOND + k * MINUTE + 250 + error + b.rng.uniform(0, 200));
      }
    }
    const r = run(b.build());
    const drops = keys.map((key) => episodes(r.timelines.get(key), PERIODIC, T0 + 3 * DAY).length - 1);
    // 172 drops before (7 a key and day); a window can still look like a walk for a whole history.
    expect(
      drops.reduce((a, x) => a + x, 0),
      drops.join(' '),
    ).toBeLessThanOrEqual(12);
  });

  it('finds a schedule again soon after it ended, also after a refit the drift test refused', () => {
    // Jobs every 10 minutes (up to a minute late) moved to every 12 minutes after 12-13 hours. A schedule kept
    // through a refit the drift test refused, then expired, left a mark that counted as 127 refits to skip:
    // 3 of 40 keys were not periodic again for 25 hours.
    const b = builder(73, 48 * HOUR);
    const keys = Array.from({ length: 40 }, (_, i) => `jobs/moved-${i}`);
    for (const key of keys) {
      const moved = T0 + 12 * HOUR + b.rng.uniform(0, HOUR);
      let t = T0 + b.rng.uniform(0, 10 * MINUTE);
      for (; t < moved; t += 10 * MINUTE) b.add(key, t + b.rng.uniform(0, MINUTE));
      for (; t < T0 + 48 * HOUR; t += 12 * MINUTE) b.add(key, t + b.rng.uniform(0, 72 * SECOND));
    }
    // Engine time moves on with other devices' events: schedules expire between runs.
    for (let t = T0; t < T0 + 48 * HOUR; t += 10 * SECOND) b.add('clock/tick', t);
    const trace = b.build();
    const r = run(trace);
    const longestOff = keys.map((key) => {
      let longest = 0;
      let on = T0;
      for (const [from, to] of episodes(r.timelines.get(key), PERIODIC, trace.end)) {
        if (from > T0 + 2 * HOUR) longest = Math.max(longest, from - on);
        on = to;
      }
      return Math.max(longest, trace.end - on);
    });
    expect(Math.max(...longestOff) / HOUR).toBeLessThan(10);
  });

  it('finds a nightly backup through a daytime open or two of its files, and keeps it', () => {
    // 40 files read whole by a backup at 02:00 ± 10 min (8 chunks 40 ms apart, file after file), one night
    // skipped; half of them opened by day (09:00-18:00), once or twice in all, by a person. An outside
    // evaluation found 7 of 10 such files periodic at the end of 10 nights with one open and 2 of 10 with
    // two: counted at its own phase, one open among nine runs put the phase test past the bar to enter.
    // Memoryless keys read about as often stay unperiodic.
    for (const nights of [10, 14]) {
      const found = [0, 0, 0];
      const files = [0, 0, 0];
      let drops = 0;
      let memorylessPeriodic = 0;
      for (let seed = 1; seed <= 4; seed++) {
        const rng = new Rng(1000 * nights + seed);
        const events: [number, string, number][] = [];
        const opens = new Map<string, number>();
        const missed = rng.int(2, nights - 3);
        for (let night = 0; night < nights; night++) {
          if (night === missed) continue;
          let t = T0 + night * DAY + 2 * HOUR + rng.uniform(-10, 10) * MINUTE;
          for (let f = 0; f < 40; f++) {
            for (let chunk = 0; chunk < 8; chunk++) events.push([t + chunk * 40, `docs/${f}.pdf`, chunk]);
            t += 8 * 40 + rng.uniform(200, 2000);
          }
        }
        for (let f = 0; f < 40; f++) {
          const count = f % 2 === 0 ? 0 : f % 4 === 1 ? 1 : 2;
          opens.set(`docs/${f}.pdf`, count);
          for (let i = 0; i < count; i++) {
            const at = T0 + rng.int(2, nights - 1) * DAY + rng.uniform(9, 18) * HOUR;
            for (let chunk = 0; chunk < 8; chunk++) events.push([at + chunk * 30, `docs/${f}.pdf`, chunk]);
          }
        }
        for (let k = 0; k < 10; k++)
          for (let t = T0 + rng.exp(DAY); t < T0 + nights * DAY; t += rng.exp(DAY))
            events.push([t, `memoryless/${k}`, 0]);
        events.sort((a, b) => a[0] - b[0]);
        const engine = new Engine(engineConfig());
        const wasPeriodic = new Set<string>();
        for (const [ts, key, chunk] of events) {
          const slot = engine.observe(key, ts, chunk * 65536, 65536);
          const active = engine.periodic.isActive(slot);
          if (!active && wasPeriodic.has(key)) drops++;
          if (active) wasPeriodic.add(key);
          else wasPeriodic.delete(key);
        }
        engine.observe('clock', T0 + nights * DAY, Number.NaN, 0);
        for (const [key, count] of opens) {
          files[count]++;
          const period = engine.viewOf(key)?.periodic?.period_s ?? 0;
          if (Math.abs(period - 86400) < 0.01 * 86400) found[count]++;
        }
        for (let k = 0; k < 10; k++) memorylessPeriodic += +!!engine.viewOf(`memoryless/${k}`)?.periodic;
      }
      expect(found[0], `${nights} nights`).toBe(files[0]);
      for (const opens of [1, 2])
        expect(
          found[opens],
          `${nights} nights, ${opens} open(s): ${found[opens]} of ${files[opens]}`,
        ).toBeGreaterThanOrEqual(0.9 * files[opens]);
      expect(drops, `${nights} nights: backups dropped while they ran`).toBeLessThanOrEqual(2);
      expect(memorylessPeriodic, `${nights} nights`).toBe(0);
    }
  });

  it('keeps a nightly backup of a document also edited by day periodic more steadily', () => {
    // 40 documents read by a backup at 02:00 (a few minutes late, one night in seven skipped) and edited
    // in the daytime on half of the days, over 30 days. A periodic key's refit began from a least-squares
    // line over every start, edits included, and from a limit that took them all in: 28 drops in all (21).
    // Found through their edits since (`fitPastStrays`), 12 of them days earlier, the keys are periodic
    // more of the time (47 → 51 %), and with more time periodic come more drops (21 → 26).
    const b = builder(53, 30 * DAY);
    const keys = Array.from({ length: 40 }, (_, i) => `docs/report-${i}.odt`);
    for (const key of keys)
      for (let day = 0; day < 30; day++) {
        if (b.rng.next() >= 1 / 7) b.add(key, T0 + day * DAY + 2 * HOUR + Math.abs(b.rng.normal(3 * MINUTE)));
        if (b.rng.next() < 0.5) {
          const at = T0 + day * DAY + b.rng.uniform(9, 18) * HOUR;
          for (let i = 0; i < 3; i++) b.add(key, at + i * 800);
        }
      }
    const trace = b.build();
    const r = run(trace);
    const drops = keys.map(
      (key) => (r.timelines.get(key) ?? []).filter((t) => !(t.mask & PERIODIC)).length - 1,
    );
    expect(drops.reduce((a, x) => a + Math.max(x, 0), 0)).toBeLessThanOrEqual(28);
    expect(keys.filter((key) => view(r, key).periodic?.period_s === undefined).length).toBeLessThanOrEqual(6);
    expect(periodicShare(r, keys, trace.end, 30 * DAY)).toBeGreaterThan(0.5);
  });

  it('counts a nightly backup reading a file as one occurrence per night: periodic and sequential, no burst', () => {
    const b = builder(24, 12 * DAY);
    periodic(
      b,
      'backup/nightly.tar',
      {
        periodMs: DAY,
        phaseMs: 2 * HOUR,
        jitter: 0.005,
        missed: 0,
        session: { accesses: 400, gapMs: 100, sequential: true },
      },
      'nightly backup',
    );
    const trace = b.build();
    const r = run(trace);
    const v = view(r, 'backup/nightly.tar');
    expect(v.patterns).toEqual(expect.arrayContaining(['periodic', 'sequential']));
    expect(Math.abs((v.periodic?.period_s ?? 0) - 86400)).toBeLessThan(0.05 * 86400);
    const bursts = r.timelines.get('backup/nightly.tar')?.filter((t) => t.mask & 1 && t.ts > T0 + 9 * DAY);
    expect(bursts).toEqual([]);
  });

  it('counts a backup that pauses longer than a session gap as one occurrence per night, and runs at random times as none', () => {
    // 1,500 reads 100-500 ms apart, 1 % of them followed by a 6-60 s pause (the job compressing): some 15
    // sessions a night. Counted per session, the 48-start history held three nights and the median gap
    // was seconds: never periodic. The same runs at memoryless times and memoryless keys (one busy enough
    // for sessions of many accesses) must not become periodic through the merging, nor a steady reader.
    const nights = 12;
    const b = builder(31, nights * DAY);
    const backup = (key: string, start: number) => {
      let t = start;
      for (let i = 0; i < 1500; i++) {
        b.add(key, t, i * 65536, 65536);
        t += b.rng.uniform(100, 500) + (b.rng.next() < 0.01 ? b.rng.uniform(6, 60) * SECOND : 0);
      }
    };
    for (let night = 0; night < nights; night++)
      backup('backup/pausing', T0 + night * DAY + 2 * HOUR + b.rng.normal(3 * MINUTE));
    for (let t = T0 + b.rng.exp(DAY / 2); t < T0 + nights * DAY; t += HOUR + b.rng.exp(DAY / 2))
      backup('runs/memoryless', t);
    poisson(b, 'memoryless/busy', 1 / 3);
    poisson(b, 'memoryless/minutes', 1 / 60);
    steady(b, 'steady', 20 * MINUTE, 0.08, 'steady');
    const r = run(b.build());
    const v = view(r, 'backup/pausing');
    expect(v.periodic?.occurrences).toBe(nights);
    expect(Math.abs((v.periodic?.period_s ?? 0) - 86400)).toBeLessThan(0.01 * 86400);
    const found = r.timelines.get('backup/pausing')?.find((t) => t.mask & 2);
    expect(found?.ts).toBeLessThan(T0 + 9 * DAY);
    // Its sessions after a pause continue a run that arrived on schedule: not a burst either.
    const bursts = r.timelines.get('backup/pausing')?.filter((t) => t.mask & 1 && t.ts > T0 + 9 * DAY);
    expect(bursts).toEqual([]);
    for (const key of ['runs/memoryless', 'memoryless/busy', 'memoryless/minutes'])
      expect(
        r.timelines.get(key)?.some((t) => t.mask & 2),
        key,
      ).toBe(false);
    // A steady reader is periodic now and then before its drift shows (docs/detection.md), at any rate not
    // at the end: that is as before, its sessions are single accesses.
    expect(view(r, 'steady').patterns).not.toContain('periodic');
  });

  it('keeps each run of a job that resumes after an outage an occurrence of its own, on an old key and a new one', () => {
    // One long interval must not make the runs after it pauses of one long occurrence: the scale is the
    // shorter of the last two intervals, and the runs before the outage are not merged either (the quiet
    // is long on one side of them only). Judged by the long interval alone, the 24 runs after a day off
    // were merged into a few occurrences and the job was periodic again only 3.5 days later.
    const b = builder(32, 8 * DAY);
    const resume = T0 + 4 * DAY;
    let runs = 0;
    for (let k = 0; k < 8 * 24; k++) {
      const t = T0 + k * HOUR + b.rng.uniform(0, 30 * SECOND);
      if (t >= T0 + 3 * DAY && t < resume) continue;
      b.add('cron/hourly', t);
      runs++;
    }
    // A new key that ran a minutely job for half an hour, then resumed after ten hours: its first half hour
    // is one run (a long quiet after it, nothing before), and each run after the night one occurrence, so
    // it is periodic again within the hour. Judged by the single interval of its history, the resumed runs
    // merged for hours and it was periodic again only hours later.
    const newKey = T0 + 5 * DAY;
    for (let k = 0; k < 30; k++) b.add('cron/new', newKey + k * MINUTE + b.rng.uniform(0, SECOND));
    for (let k = 0; k < 120; k++)
      b.add('cron/new', newKey + 10 * HOUR + k * MINUTE + b.rng.uniform(0, SECOND));
    const r = run(b.build());
    const v = view(r, 'cron/hourly');
    expect(v.periodic?.occurrences).toBe(runs);
    const dropped = (r.timelines.get('cron/hourly') ?? []).filter(
      (t) => t.ts > resume + HOUR && !(t.mask & 2),
    );
    expect(dropped).toEqual([]);
    const back = r.timelines.get('cron/new')?.find((t) => t.ts > newKey + 10 * HOUR && t.mask & 2);
    expect(back?.ts).toBeLessThan(newKey + 11 * HOUR);
  });

  it('keeps a daily and a weekly job periodic for years (the start history rebases instead of overflowing)', () => {
    const b = builder(26, 800 * DAY);
    periodic(b, 'daily', { periodMs: DAY, jitter: 0.01, missed: 0.05 });
    periodic(b, 'weekly', { periodMs: 7 * DAY, jitter: 0.01, missed: 0.05 });
    const trace = b.build();
    const r = run(trace);
    for (const key of ['daily', 'weekly']) {
      const periods = r.timelines.get(key)?.filter((t) => t.ts > T0 + 100 * DAY) ?? [];
      expect(
        periods.every((t) => t.mask & 2),
        key,
      ).toBe(true);
      expect(view(r, key).patterns, key).toContain('periodic');
    }
  });

  it('keeps a job with half its runs missed periodic until runs stop: it expires from its latest run', () => {
    // The schedule's beat was that of the start the fit was anchored at, which with runs missed and late
    // could be a dozen runs back: the key expired right after it was found (at the end, 107-130 of 200
    // such keys were periodic; 158-168 since).
    const engine = new Engine(engineConfig());
    const rng = new Rng(44);
    const runs: [number, string][] = [];
    for (let key = 0; key < 40; key++) {
      const phase = rng.uniform(0, HOUR);
      for (let k = 0; k < 64; k++)
        if (rng.next() < 0.5) runs.push([T0 + phase + k * HOUR + rng.normal(0.02 * HOUR), `job/${key}`]);
    }
    runs.sort((a, b) => a[0] - b[0]);
    let checked = 0;
    for (const [ts, key] of runs) {
      const slot = engine.observe(key, ts, Number.NaN, 0);
      if (!engine.periodic.isActive(slot)) continue;
      checked++;
      // In periods of the schedule found (on the way it can be another than the job's).
      const period = engine.periodic.detail(slot, ts).period_s * 1000;
      const expiresIn = (engine.periodic.expiresAt(slot) - ts) / period;
      expect(expiresIn, key).toBeGreaterThan(engineConfig().periodic.missedPeriodsToExpire - 0.5);
    }
    expect(checked).toBeGreaterThan(600);
  });

  it('keeps a job that skips half its runs periodic while it runs, and ends it when it stops', () => {
    // Held to missedPeriodsToExpire (three misses in a row), and with its first period estimate at one and
    // a half periods (the mean of a one- and a two-period gap), such a job stopped being periodic 248 times
    // here while it kept running; its schedule now waits for as many misses in a row as are a 1-in-1,000
    // event at its own rate (ten at half), and a schedule at 0-2 % timing errors is rarely refused.
    const engine = new Engine(engineConfig());
    const rng = new Rng(45);
    const runs: [number, string][] = [];
    for (let key = 0; key < 40; key++)
      for (let k = 0; k < 96; k++)
        if (rng.next() < 0.5) runs.push([T0 + k * HOUR + rng.normal(0.02 * HOUR), `job/${key}`]);
    runs.sort((a, b) => a[0] - b[0]);
    const lastRun = new Map(runs.map(([ts, key]) => [key, ts]));
    const periodic = new Set<string>();
    let lost = 0;
    for (const [ts, key] of runs) {
      const slot = engine.observe(key, ts, Number.NaN, 0);
      for (const k of periodic)
        if (!engine.periodic.isActive(engine.keys.slotOf(k))) {
          if ((lastRun.get(k) ?? 0) > ts) lost++;
          periodic.delete(k);
        }
      if (engine.periodic.isActive(slot)) periodic.add(key);
    }
    expect(lost, 'times a periodic job stopped being periodic while it ran').toBeLessThanOrEqual(40);
    expect(periodic.size).toBeGreaterThanOrEqual(36);
    const end = Math.max(...lastRun.values());
    engine.observe('other', end + 24 * HOUR, Number.NaN, 0);
    for (const key of lastRun.keys())
      expect(engine.periodic.isActive(engine.keys.slotOf(key)), key).toBe(false);
  });

  it('keeps a nightly job periodic when daylight saving time moves it an hour, and follows it there', () => {
    // Jobs at 02:00 local time, up to a minute late, 10 % of nights missed: 60 nights, then an hour
    // earlier in UTC. The drift test read the move as a random walk and refused every night until the
    // nights before it had left the history: ~50 nights not periodic, twice a year.
    const engine = new Engine(engineConfig());
    const rng = new Rng(47);
    const jobs = 12;
    let lost = 0;
    for (let night = 0; night < 80; night++)
      for (let key = 0; key < jobs; key++) {
        if (rng.next() < 0.1) continue;
        const ts = T0 + night * DAY + 2 * HOUR - (night >= 60 ? HOUR : 0) + rng.uniform(0, MINUTE);
        const slot = engine.observe(`backup/${key}`, ts, Number.NaN, 0);
        if (night >= 50 && !engine.periodic.isActive(slot)) lost++;
      }
    expect(lost, 'nights a job was not periodic from ten nights before the move on').toBeLessThanOrEqual(
      jobs,
    );
    const now = T0 + 80 * DAY;
    for (let key = 0; key < jobs; key++) {
      const detail = engine.periodic.detail(engine.keys.slotOf(`backup/${key}`), now);
      expect(detail.period_s).toBeCloseTo(DAY / 1000, -2);
      // The next run is expected at the new time, 01:00 UTC, not at 02:00 or between.
      expect(Math.abs(detail.next_ts - (now + HOUR)), `backup/${key}`).toBeLessThan(2 * MINUTE);
    }
  });

  it('keeps a weekly job periodic through both changes of daylight saving time in its history', () => {
    // Sunday 03:00 in Central Europe for three years: an hour earlier in UTC from the last Sunday of March
    // to the last Sunday of October. 48 weeks of history nearly always hold both moves, which no single
    // step explains: such a job was never periodic after its first spring.
    const lastSunday = (year: number, month: number) => {
      const last = new Date(Date.UTC(year, month + 1, 0));
      return Date.UTC(year, month, last.getUTCDate() - last.getUTCDay());
    };
    const summer = (t: number) => {
      const year = new Date(t).getUTCFullYear();
      return t >= lastSunday(year, 2) && t < lastSunday(year, 9);
    };
    const engine = new Engine(engineConfig());
    const rng = new Rng(48);
    const firstSunday = Date.UTC(2027, 0, 3, 3);
    let runs = 0;
    let periodicRuns = 0;
    for (let week = 0; week < 156; week++)
      for (let key = 0; key < 6; key++) {
        if (rng.next() < 0.05) continue;
        const local = firstSunday + week * 7 * DAY;
        const ts = local - (summer(local) ? HOUR : 0) + rng.uniform(0, 30 * SECOND);
        const slot = engine.observe(`scrub/${key}`, ts, Number.NaN, 0);
        if (week < 20) continue;
        runs++;
        periodicRuns += +engine.periodic.isActive(slot);
      }
    expect(periodicRuns / runs, 'share of runs on which the job was periodic').toBeGreaterThanOrEqual(0.8);
  });

  it('re-locks a job whose period changed once the new period has a score of runs', () => {
    // Every 15 minutes for 60 runs, then every 20 minutes (cron delays up to 18 s, 10 % of runs missed).
    // Over a history holding both periods the new one was found when the old starts were a minority:
    // ~31-38 runs after the change (median of the probe's replicas).
    const engine = new Engine(engineConfig());
    const rng = new Rng(49);
    const jobs = 12;
    const changed = T0 + 60 * 15 * MINUTE;
    const runs: [number, number, number][] = [];
    for (let key = 0; key < jobs; key++)
      for (let run = 0; run < 60 + 45; run++) {
        if (rng.next() < 0.1) continue;
        const at = run < 60 ? T0 + run * 15 * MINUTE : changed + (run - 60) * 20 * MINUTE;
        runs.push([at + rng.uniform(0, 18 * SECOND), key, run]);
      }
    runs.sort((a, b) => a[0] - b[0]);
    const lastWrong = new Array<number>(jobs).fill(-1);
    for (const [ts, key, run] of runs) {
      const slot = engine.observe(`job/${key}`, ts, Number.NaN, 0);
      const detail = engine.periodic.isActive(slot) ? engine.periodic.detail(slot, ts) : undefined;
      if (run >= 60 && !(detail && Math.abs(detail.period_s - 1200) < 60)) lastWrong[key] = run - 60;
    }
    const relock = lastWrong.map((run) => run + 1).sort((a, b) => a - b);
    expect(relock[jobs / 2], 'median runs after the change until the new period holds').toBeLessThanOrEqual(
      26,
    );
    expect(relock[jobs - 1]).toBeLessThan(45);
  });

  it('expires when the schedule stops, with engine time moved by other keys', () => {
    const b = builder(25, 3 * DAY);
    for (let k = 0; k < 24; k++) b.add('cron', T0 + k * HOUR);
    for (let t = T0; t < T0 + 3 * DAY; t += MINUTE) b.add('clock', t);
    b.label({ key: 'cron', kind: 'stopped', expect: ['random'] });
    const trace = b.build();
    const r = run(trace);
    expect(r.timelines.get('cron')?.some((t) => t.mask & 2)).toBe(true);
    expect(view(r, 'cron').patterns).not.toContain('periodic');
  });

  it('keeps the schedule of a device that uploads its accesses in batches, while other devices are live', () => {
    // A camera writes its index every 30 s and uploads its log every two minutes; a cron job on another
    // device reports each access as it happens, moving engine time on. Between two batches the camera's
    // runs are missing for four periods: it dropped its schedule and found it again at every batch (142
    // drops in six hours). Yet a schedule that stops on such a device still ends.
    const e = new Engine(engineConfig());
    const camera = e.sourceId('camera'),
      cron = e.sourceId('cron');
    const batch: number[] = [];
    let drops = 0;
    let was = false;
    const periodic = () => e.viewOf('camera/garage/index.db')?.patterns.includes('periodic') ?? false;
    const note = () => {
      const is = periodic();
      if (was && !is) drops++;
      was = is;
    };
    const end = T0 + 6 * HOUR;
    for (let t = T0; t < end; t += 10 * SECOND) {
      e.observe('cron/heartbeat', t, Number.NaN, 0, cron);
      note();
      if ((t - T0) % (30 * SECOND) === 0) batch.push(t + 200);
      if (batch.length > 0 && t - batch[0] >= 2 * MINUTE) {
        for (const ts of batch.splice(0))
          e.observe('camera/garage/index.db', ts, (ts - T0) / (30 * SECOND), 1, camera);
        note();
      }
    }
    expect(drops).toBeLessThanOrEqual(1);
    expect(periodic()).toBe(true);
    // The camera stops: its schedule ends, a batch window late at most.
    for (let t = end; t < end + HOUR; t += 10 * SECOND) e.observe('cron/heartbeat', t, Number.NaN, 0, cron);
    expect(periodic()).toBe(false);
  });

  it('names a run still on its way next until its usual lateness has passed, and the following run once it came', () => {
    // A scrub every 6 h within ±10 minutes, and a job on the minute. Moved on at the beat itself, `next_ts`
    // of the scrub named the run after next for 79 % of runs still on their way (an outside evaluation).
    const e = new Engine(engineConfig());
    const rng = new Rng(31);
    const nextTs = (key: string) => e.viewOf(key)?.periodic?.next_ts ?? Number.NaN;
    let pending = 0;
    let pendingRight = 0;
    let exactChecks = 0;
    let exactRight = 0;
    for (let beat = T0; beat < T0 + 30 * DAY; beat += 6 * HOUR) {
      const scrubAt = beat + rng.uniform(-10, 10) * MINUTE;
      const exactAt = beat + 3 * HOUR;
      for (let t = beat - 20 * MINUTE; t < beat + 6 * HOUR - 20 * MINUTE; t += MINUTE) {
        e.observe('clock', t, Number.NaN, 0);
        const periodic = e.viewOf('nas/scrub.idx')?.patterns.includes('periodic');
        if (periodic && t >= beat + 2 * MINUTE && t < scrubAt) {
          pending++;
          // Its fitted time, within the spread of its runs.
          pendingRight += +(Math.abs(nextTs('nas/scrub.idx') - beat) < 10 * MINUTE);
        }
        // A minute after the exact job's run: next_ts names the following one.
        if (e.viewOf('nas/exact.db')?.patterns.includes('periodic') && t === exactAt + MINUTE) {
          exactChecks++;
          exactRight += +(Math.abs(nextTs('nas/exact.db') - (exactAt + 6 * HOUR)) < MINUTE);
        }
        if (t <= scrubAt && scrubAt < t + MINUTE) e.observe('nas/scrub.idx', scrubAt, Number.NaN, 0);
        if (t === exactAt) e.observe('nas/exact.db', exactAt, Number.NaN, 0);
      }
    }
    expect(pending).toBeGreaterThan(20);
    expect(pendingRight / pending).toBeGreaterThan(0.9);
    expect(exactChecks).toBeGreaterThan(100);
    expect(exactRight).toBe(exactChecks);
  });

  it('names Monday as the next run of a workday job on Friday night, and tomorrow for a job that runs every day', () => {
    // Backups at 02:00 within ±3 minutes, 20 reads over half a minute: one Monday to Friday, one every day.
    // Named from its daily schedule, the workday job's next run was Saturday's, which never comes.
    const e = new Engine(engineConfig());
    const rng = new Rng(7);
    const nextTs = (key: string) => e.viewOf(key)?.periodic?.next_ts ?? Number.NaN;
    let weekendChecks = 0;
    let mondayNamed = 0;
    let dailyChecks = 0;
    let tomorrowNamed = 0;
    let mondaysPeriodic = 0;
    // T0 is a Sunday (UTC weekday 0).
    for (let day = 0; day < 42; day++) {
      const midnight = T0 + day * DAY;
      const weekday = day % 7;
      for (const [key, runs] of [
        ['office/backup.tar', weekday >= 1 && weekday <= 5],
        ['nas/nightly.db', true],
      ] as const) {
        if (!runs) continue;
        const start = midnight + 2 * HOUR + rng.uniform(-3, 3) * MINUTE;
        for (let i = 0; i < 20; i++) e.observe(key, start + i * 1500, i * 65536, 65536);
      }
      // The day goes on: other keys move engine time, and the views are read at noon.
      for (let t = midnight + 3 * HOUR; t < midnight + DAY; t += 30 * MINUTE)
        e.observe('clock', t, Number.NaN, 0);
      if (day < 21) continue;
      const monday = midnight + ((8 - weekday) % 7 || 7) * DAY + 2 * HOUR;
      if (weekday >= 5 && e.viewOf('office/backup.tar')?.patterns.includes('periodic')) {
        weekendChecks++;
        mondayNamed += +(Math.abs(nextTs('office/backup.tar') - monday) < 10 * MINUTE);
      }
      if (weekday === 1)
        mondaysPeriodic += +(e.viewOf('office/backup.tar')?.patterns.includes('periodic') ?? false);
      if (e.viewOf('nas/nightly.db')?.patterns.includes('periodic')) {
        dailyChecks++;
        tomorrowNamed += +(Math.abs(nextTs('nas/nightly.db') - (midnight + DAY + 2 * HOUR)) < 10 * MINUTE);
      }
    }
    expect(weekendChecks).toBe(6);
    expect(mondayNamed).toBe(weekendChecks);
    expect(mondaysPeriodic).toBe(3);
    expect(dailyChecks).toBe(21);
    expect(tomorrowNamed).toBe(dailyChecks);
  });

  it('keeps the schedule of a batched device through a restart', () => {
    // The lag a device's batches arrive with is stored with the engine's meta record. Restarted without it,
    // the camera's schedule dropped at its first batch and was found again at the next.
    let e = new Engine(engineConfig());
    const camera = e.sourceId('camera');
    const cron = e.sourceId('cron');
    const periodic = () => e.viewOf('camera/garage/index.db')?.patterns.includes('periodic') ?? false;
    const batch: number[] = [];
    let periodicSinceRestart = 0;
    let checks = 0;
    for (let t = T0; t < T0 + 4 * HOUR; t += 10 * SECOND) {
      if (t === T0 + 3 * HOUR) {
        expect(periodic()).toBe(true);
        e = restarted(e);
        checks = 0;
        periodicSinceRestart = 0;
      }
      e.observe('cron/heartbeat', t, Number.NaN, 0, cron);
      checks++;
      if (periodic()) periodicSinceRestart++;
      if ((t - T0) % (30 * SECOND) === 0) batch.push(t + 200);
      if (batch.length > 0 && t - batch[0] >= 2 * MINUTE)
        for (const ts of batch.splice(0))
          e.observe('camera/garage/index.db', ts, (ts - T0) / (30 * SECOND), 1, camera);
    }
    expect(periodicSinceRestart).toBe(checks);
  });

  it('finds a schedule that replaces a long irregular history at most three starts after a refit at every start would', () => {
    // Irregular keys skip refits that cannot succeed yet; the bound on the delay that costs is what a user
    // sees. The reference is the fit itself, run over the same last HISTORY starts at every start.
    const rng = new Rng(27);
    const starts: number[] = [];
    let t = T0;
    for (let i = 0; i < 80; i++) {
      t += 10 * SECOND + rng.exp(20 * MINUTE);
      starts.push(t);
    }
    for (let k = 1; k <= 60; k++) starts.push(t + k * HOUR + rng.normal(0.01 * HOUR));
    // The history the detector keeps (occurrences, at most HISTORY of them), fitted at every start.
    const refitting = new Engine(engineConfig());
    const reference = starts.findIndex((ts, i) => {
      const slot = refitting.observe('cron', ts, Number.NaN, 0);
      return i >= 80 && fitStarts([...refitting.periodic.occurrenceStarts(slot)]).ok;
    });
    expect(reference).toBeGreaterThan(80);
    const engine = new Engine(engineConfig());
    const detected = starts.findIndex((ts) =>
      engine.periodic.isActive(engine.observe('cron', ts, Number.NaN, 0)),
    );
    expect(detected).toBeGreaterThanOrEqual(reference);
    expect(detected).toBeLessThanOrEqual(reference + 3);
    for (const ts of starts.slice(detected + 1)) engine.observe('cron', ts, Number.NaN, 0);
    expect(engine.view(engine.keys.slotOf('cron')).patterns).toContain('periodic');
  });
});
