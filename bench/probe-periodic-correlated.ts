/**
 * `node --import tsx bench/probe-periodic-correlated.ts [--seed N] [--only text]`: an independent,
 * seeded, labelled probe of the periodic and correlated detectors on noisy home-cloud workloads.
 *
 * The workloads are built from the contract's meaning of the two patterns, not from the accuracy
 * benchmark's generator (`bench/workloads.ts`, whose builder and RNG are reused, none of its generators):
 *   - periodic: cron-like jobs from 1 minute to a week. Timing noise is a start delay drawn uniformly from
 *     [0, j·P] (what systemd's RandomizedDelaySec does) or Gaussian around the beat; runs are missed, stray
 *     accesses fall between runs, a run can be a session of many reads (a backup, with pauses), a job can
 *     change its period or phase midway, move an hour (DST), or share its key with a second job.
 *     Negatives: steady readers (a `sleep P` loop: regular gaps, drifting phase), memoryless keys, keys
 *     read in habit sessions, or used a few times, at random times of the evening.
 *   - correlated: A then B within 0.1-4.5 s with lag jitter, A episodes not followed, B also accessed on
 *     its own, chains, fan-out, busy followers. Negatives: independent busy keys, cron jobs sharing an hour,
 *     a hot key busy whenever everything else is, keys sharing a daily rhythm.
 *
 * Each scenario has its own trace and engine (default configuration), replayed event by event. Printed per
 * scenario, for periodic keys that should be periodic:
 *   found      keys periodic at the end with the period within 5 % of the truth
 *   wrongP     keys periodic at the end with another period (h: half/double/triple, o: other)
 *   occ        occurrences until first reported periodic (p50/p90, keys ever found)
 *   avail      share of the occurrences from the 12th on at which the key was periodic
 *   bad        share of those where it was periodic with a period matching no segment (nonsense)
 *   flaps      pattern drops per key while the job still runs
 *   next       median |next_ts − nominal next beat| at the end, % of the period
 *   relock     for jobs that change: runs after the change until the new period is reported for good (p50/p90)
 * for keys that should not be periodic: at the end, ever, and `avail` (share of their sessions from the
 * 12th on reported periodic); for correlated pairs: both sides listing each other at the end, the median
 * lag error, leader episodes until both list each other (p50/p90), partners listed that are neither true
 * nor related; for negatives: keys with any partner at the end and ever.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { CORRELATED } from '../src/engine/types.ts';
import { poisson, Rng, type Trace, TraceBuilder } from './workloads.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const T0 = Date.UTC(2026, 2, 2);
/** Keys per cell of a scenario: enough for a rate, few enough to keep the run in seconds. */
const REPLICAS = 8;
/** Occurrences after which a schedule should be reported all the time (the contract's ~6, twice). */
const SETTLED_AFTER = 12;

// ---- truth ----

/** A stretch of a job's life with one schedule: beats at `phase + k·periodMs`. */
interface Segment {
  from: number;
  periodMs: number;
  phase: number;
}

interface PeriodicTruth {
  key: string;
  segments: Segment[];
  /** Planted session starts (after jitter), ascending. */
  occurrences: number[];
}

interface PairTruth {
  leader: string;
  follower: string;
  lagMs: number;
  /** Leader episode starts, ascending. */
  episodes: number[];
  /** The follower's accesses that followed the leader. */
  followed: number[];
}

interface ScenarioTruth {
  periodic: PeriodicTruth[];
  notPeriodic: string[];
  pairs: PairTruth[];
  /** Partners a key may list besides its true ones (siblings of a fan-out, the far end of a chain). */
  related: Map<string, string[]>;
  notCorrelated: string[];
}

function emptyTruth(): ScenarioTruth {
  return { periodic: [], notPeriodic: [], pairs: [], related: new Map(), notCorrelated: [] };
}

interface Scenario {
  name: string;
  spanMs: number;
  build(b: TraceBuilder, truth: ScenarioTruth): void;
}

// ---- generators ----

/** A start's timing error (ms) for a beat of period `periodMs`. */
type Timing = (rng: Rng, periodMs: number) => number;
const onTime: Timing = () => 0;
/** A start delayed by up to `fraction` of the period, uniformly (systemd's RandomizedDelaySec). */
const delayUpTo =
  (fraction: number): Timing =>
  (rng, P) =>
    rng.uniform(0, fraction * P);
/** Gaussian timing error with a standard deviation of `fraction` of the period. */
const gaussian =
  (fraction: number): Timing =>
  (rng, P) =>
    rng.normal(fraction * P);
/** Gaussian error of a fixed size, whatever the period (a daily job a few minutes late or early). */
const gaussianMs =
  (sdMs: number): Timing =>
  (rng) =>
    rng.normal(sdMs);

/** What one occurrence of a job does, starting at `t`. */
type Run = (b: TraceBuilder, key: string, t: number) => void;
const singleAccess: Run = (b, key, t) => b.add(key, t);

/**
 * A job reading a file for minutes: `reads` accesses a few hundred ms apart, with a pause of 6-60 s
 * (longer than the session gap) after a share `pauses` of them — a backup stopping to compress.
 */
function reading(reads: number, pauses: number): Run {
  return (b, key, t) => {
    let at = t;
    for (let i = 0; i < reads; i++) {
      b.add(key, at, i * 65536, 65536);
      at += b.rng.uniform(100, 500) + (b.rng.next() < pauses ? b.rng.uniform(6, 60) * SECOND : 0);
    }
  };
}

interface JobOptions {
  segments: { periodMs: number; phaseMs: number; until?: number }[];
  timing: Timing;
  missed: number;
  /** Stray single accesses at memoryless times, per period (of the first segment). */
  strays?: number;
  run?: Run;
}

/** A run in two parts: `reads` reads, a pause of `pauseMs` to `pauseMs` + 10 minutes, `reads` more. */
function resuming(reads: number, pauseMs: number): Run {
  const part = reading(reads, 0);
  return (b, key, t) => {
    part(b, key, t);
    part(b, key, t + reads * 300 + pauseMs + b.rng.uniform(0, 10 * MINUTE));
  };
}

/** A scheduled job over the trace: its beats per segment, missed runs, timing errors, strays. */
function job(b: TraceBuilder, key: string, o: JobOptions): PeriodicTruth {
  const truth: PeriodicTruth = { key, segments: [], occurrences: [] };
  let from = b.start;
  for (const s of o.segments) {
    const until = s.until ?? b.end;
    const phase = b.start + s.phaseMs;
    truth.segments.push({ from, periodMs: s.periodMs, phase });
    const first = Math.ceil((from - phase) / s.periodMs);
    for (let k = first; phase + k * s.periodMs < until; k++) {
      if (b.rng.next() < o.missed) continue;
      const t = phase + k * s.periodMs + o.timing(b.rng, s.periodMs);
      if (t < b.start || t >= b.end) continue;
      (o.run ?? singleAccess)(b, key, t);
      truth.occurrences.push(t);
    }
    from = until;
  }
  if (o.strays) poisson(b, key, o.strays / (o.segments[0].periodMs / SECOND), { label: false });
  truth.occurrences.sort((x, y) => x - y);
  return truth;
}

/** A `sleep P` loop: each gap is the sleep plus the work's time (`work` ± `workSpread`), so the phase drifts. */
function sleepLoop(
  b: TraceBuilder,
  key: string,
  sleepMs: number,
  workMs: number,
  workSpreadMs: number,
): void {
  for (let t = b.start + b.rng.uniform(0, sleepMs); t < b.end; ) {
    b.add(key, t);
    t += sleepMs + Math.max(0, workMs + b.rng.uniform(-workSpreadMs, workSpreadMs));
  }
}

/** A steady reader whose gaps vary independently (`cv` × the mean gap, Gaussian). */
function steadyReader(b: TraceBuilder, key: string, meanGapMs: number, cv: number): void {
  for (
    let t = b.start + b.rng.uniform(0, meanGapMs);
    t < b.end;
    t += Math.max(SECOND, meanGapMs * (1 + b.rng.normal(cv)))
  )
    b.add(key, t);
}

/**
 * A habit: on most evenings (`share` of them) a session of a few to tens of accesses at a random time
 * between `fromHour` and `toHour` UTC. It has a schedule (evenings), not a period.
 */
function eveningHabit(b: TraceBuilder, key: string, fromHour: number, toHour: number, share: number): void {
  for (let day = b.start; day < b.end; day += DAY) {
    if (b.rng.next() > share) continue;
    let t = day + b.rng.uniform(fromHour, toHour) * HOUR;
    const reads = b.rng.int(3, 30);
    for (let i = 0; i < reads; i++, t += b.rng.uniform(0.5, 3) * SECOND) b.add(key, t);
  }
}

interface FollowOptions {
  /** Mean lag and its jitter (uniform ± `lagJitterMs`). */
  lagMs: number;
  lagJitterMs: number;
  /** Share of the leader's episodes the follower follows. */
  follows: number;
  /** The follower's own accesses, per second (memoryless). */
  ownRatePerS: number;
}

/**
 * A key used a few times most evenings, each use at its own random time between `fromHour` and `toHour`
 * UTC (a memoryless count with mean `perEvening`): the contract's "used mostly in the evening at random
 * times", which has a schedule but is not periodic.
 */
function eveningUses(
  b: TraceBuilder,
  key: string,
  fromHour: number,
  toHour: number,
  perEvening: number,
): void {
  const meanGap = ((toHour - fromHour) * HOUR) / perEvening;
  for (let day = b.start; day < b.end; day += DAY)
    for (let t = day + fromHour * HOUR + b.rng.exp(meanGap); t < day + toHour * HOUR; t += b.rng.exp(meanGap))
      b.add(key, t);
}

/** Leader episodes at the given times, each followed (or not) by the follower. */
function follow(
  b: TraceBuilder,
  leader: string,
  follower: string,
  episodes: number[],
  o: FollowOptions,
): PairTruth {
  const followed: number[] = [];
  for (const t of episodes) {
    if (b.rng.next() >= o.follows) continue;
    const at = t + o.lagMs + b.rng.uniform(-o.lagJitterMs, o.lagJitterMs);
    b.add(follower, at);
    followed.push(at);
  }
  if (o.ownRatePerS > 0) poisson(b, follower, o.ownRatePerS, { label: false });
  return { leader, follower, lagMs: o.lagMs, episodes, followed };
}

/** A film streamed from start to end of the trace: 64 KiB reads, one after the other, `readsPerS` a second. */
function film(b: TraceBuilder, key: string, readsPerS: number): void {
  let pos = 0;
  for (let t = b.start + b.rng.exp(1000 / readsPerS); t < b.end; t += b.rng.exp(1000 / readsPerS)) {
    b.add(key, t, pos, 65536);
    pos += 65536;
  }
}

/** Memoryless times between `from` and `to` at `ratePerS`, at least `minGapMs` apart (separate episodes). */
function memorylessTimes(b: TraceBuilder, ratePerS: number, minGapMs = 6 * SECOND): number[] {
  const out: number[] = [];
  for (let t = b.start + b.rng.exp(1000 / ratePerS); t < b.end; t += minGapMs + b.rng.exp(1000 / ratePerS))
    out.push(t);
  return out;
}

/** A leader whose episodes are memoryless and which is accessed once per episode. */
function leaderAt(b: TraceBuilder, key: string, ratePerS: number): number[] {
  const times = memorylessTimes(b, ratePerS);
  for (const t of times) b.add(key, t);
  return times;
}

// ---- scenarios ----

const PERIODS: [string, number][] = [
  ['1m', MINUTE],
  ['15m', 15 * MINUTE],
  ['1h', HOUR],
  ['1d', DAY],
  ['1w', WEEK],
];
/** Beats in a grid scenario: more than the history holds, so the end is judged on a full history. */
const GRID_BEATS = 64;

function cronGrid(): Scenario[] {
  const out: Scenario[] = [];
  for (const [label, P] of PERIODS)
    for (const missed of [0, 0.2, 0.4])
      for (const delay of [0, 0.05, 0.1, 0.15])
        out.push({
          name: `cron ${label} delay<=${delay * 100}% miss ${missed * 100}%`,
          spanMs: GRID_BEATS * P,
          build(b, truth) {
            for (let i = 0; i < REPLICAS; i++)
              truth.periodic.push(
                job(b, `cron/${i}`, {
                  segments: [{ periodMs: P, phaseMs: b.rng.uniform(0, P) }],
                  timing: delay ? delayUpTo(delay) : onTime,
                  missed,
                }),
              );
          },
        });
  return out;
}

/**
 * The grid that the research notes propose for judging a periodic detector
 * (`reference/detection-algorithms.md` §8): periods of 5 minutes, an hour and a day, Gaussian timing
 * errors of 0-10 % of the period, 0-50 % of runs missed.
 */
function referenceGrid(): Scenario[] {
  const out: Scenario[] = [];
  for (const [label, P] of [
    ['5m', 5 * MINUTE],
    ['1h', HOUR],
    ['1d', DAY],
  ] as const)
    for (const missed of [0, 0.2, 0.5])
      for (const sd of [0, 0.01, 0.05, 0.1])
        out.push(
          jobs(`grid ${label} sd ${sd * 100}% miss ${missed * 100}%`, P, GRID_BEATS, {
            timing: gaussian(sd),
            missed,
          }),
        );
  return out;
}

/** A single-segment job per replica, for the scenarios below. */
function jobs(name: string, periodMs: number, beats: number, o: Omit<JobOptions, 'segments'>): Scenario {
  return {
    name,
    spanMs: beats * periodMs,
    build(b, truth) {
      for (let i = 0; i < REPLICAS; i++)
        truth.periodic.push(
          job(b, `job/${i}`, { ...o, segments: [{ periodMs, phaseMs: b.rng.uniform(0, periodMs) }] }),
        );
    },
  };
}

/** A job whose schedule changes at the middle of the trace (`second` of the first segment's period). */
function changing(
  name: string,
  first: number,
  second: (P: number) => { periodMs: number; phaseMs: number },
): Scenario {
  const beats = 60;
  return {
    name,
    spanMs: 2 * beats * first,
    build(b, truth) {
      for (let i = 0; i < REPLICAS; i++) {
        const phaseMs = b.rng.uniform(0, first);
        const next = second(first);
        truth.periodic.push(
          job(b, `job/${i}`, {
            segments: [
              { periodMs: first, phaseMs, until: b.start + beats * first },
              { periodMs: next.periodMs, phaseMs: phaseMs + next.phaseMs },
            ],
            timing: delayUpTo(0.02),
            missed: 0.1,
          }),
        );
      }
    },
  };
}

/**
 * A weekly job at a fixed local time, up to a minute late, 5 % of runs missed, over two years of daylight
 * saving time: an hour earlier in UTC for 31 weeks of each 52, so its 48-week history holds both moves.
 */
function weeklyThroughDst(): Scenario {
  const summer = 31 * WEEK;
  const year = 52 * WEEK;
  return {
    name: 'DST: weekly job, both moves a year',
    spanMs: 2 * year,
    build(b, truth) {
      for (let i = 0; i < REPLICAS; i++) {
        const phaseMs = b.rng.uniform(0, WEEK);
        const segments = [];
        for (let from = 0; from < 2 * year; from += year)
          segments.push(
            { periodMs: WEEK, phaseMs, until: b.start + from + 12 * WEEK },
            { periodMs: WEEK, phaseMs: phaseMs - HOUR, until: b.start + from + 12 * WEEK + summer },
          );
        segments.push({ periodMs: WEEK, phaseMs });
        truth.periodic.push(
          job(b, `job/${i}`, { segments, timing: (rng) => rng.uniform(0, MINUTE), missed: 0.05 }),
        );
      }
    },
  };
}

/** A cron job with a start delay of up to 2 % of its period and 10 % of its runs missed. */
const cron = { timing: delayUpTo(0.02), missed: 0.1 };

function periodicScenarios(): Scenario[] {
  return [
    ...cronGrid(),
    ...referenceGrid(),
    ...[0.02, 0.05, 0.08, 0.1, 0.15].map((sd) =>
      jobs(`hourly gaussian sd ${sd * 100}% miss 10%`, HOUR, GRID_BEATS, {
        timing: gaussian(sd),
        missed: 0.1,
      }),
    ),
    ...[2, 5, 15].map((min) =>
      jobs(`daily gaussian sd ${min} min miss 10%`, DAY, 40, {
        timing: gaussianMs(min * MINUTE),
        missed: 0.1,
      }),
    ),
    ...[0.5, 1, 2].map((strays) =>
      jobs(`hourly strays ${strays}/period`, HOUR, GRID_BEATS, { ...cron, strays }),
    ),
    ...[0.5, 1].map((strays) => jobs(`daily strays ${strays}/period`, DAY, 40, { ...cron, strays })),
    jobs('nightly backup 1500 reads', DAY, 40, {
      ...cron,
      timing: gaussianMs(3 * MINUTE),
      run: reading(1500, 0),
    }),
    jobs('nightly backup, pauses 1%', DAY, 40, {
      ...cron,
      timing: gaussianMs(3 * MINUTE),
      run: reading(1500, 0.01),
    }),
    jobs('hourly upload 40 reads, pauses 5%', HOUR, GRID_BEATS, { ...cron, run: reading(40, 0.05) }),
    jobs('nightly backup, resumes after 40-50 min', DAY, 40, {
      ...cron,
      timing: gaussianMs(3 * MINUTE),
      run: resuming(300, 40 * MINUTE),
    }),
    changing('period 15m -> 20m', 15 * MINUTE, () => ({ periodMs: 20 * MINUTE, phaseMs: 0 })),
    changing('period 1h -> 2h', HOUR, () => ({ periodMs: 2 * HOUR, phaseMs: 0 })),
    changing('period 2h -> 1h', 2 * HOUR, () => ({ periodMs: HOUR, phaseMs: 0 })),
    changing('phase jump half period', HOUR, (P) => ({ periodMs: P, phaseMs: P / 2 })),
    changing('DST: daily job 1 h earlier', DAY, (P) => ({ periodMs: P, phaseMs: -HOUR })),
    weeklyThroughDst(),
    twoJobs(
      'two jobs: hourly + daily on one key',
      20 * DAY,
      (rng) => ({ periodMs: HOUR, phaseMs: rng.uniform(0, HOUR) }),
      (rng) => ({ periodMs: DAY, phaseMs: rng.uniform(0, DAY) }),
    ),
    twoJobs(
      'two jobs: 15m + hourly at :07',
      4 * DAY,
      () => ({ periodMs: 15 * MINUTE, phaseMs: 0 }),
      () => ({ periodMs: HOUR, phaseMs: 7 * MINUTE }),
    ),
    twoJobs(
      'two jobs: daily at 02:00 and 02:45',
      40 * DAY,
      () => ({ periodMs: DAY, phaseMs: 2 * HOUR }),
      () => ({ periodMs: DAY, phaseMs: 2.75 * HOUR }),
    ),
    twoJobs(
      'two jobs: daily at 02:00 and 05:00',
      40 * DAY,
      () => ({ periodMs: DAY, phaseMs: 2 * HOUR }),
      () => ({ periodMs: DAY, phaseMs: 5 * HOUR }),
    ),
    twoJobs(
      'two jobs: hourly at :00 and :20',
      4 * DAY,
      () => ({ periodMs: HOUR, phaseMs: 0 }),
      () => ({ periodMs: HOUR, phaseMs: 20 * MINUTE }),
    ),
  ];
}

/** One schedule of a job, drawn when the job is built. */
type Schedule = (rng: Rng) => JobOptions['segments'][number];

/**
 * Two jobs on one key, each a `cron` with one schedule: the first job's schedule is the one to report,
 * the second's runs are strays to it.
 */
function twoJobs(name: string, spanMs: number, first: Schedule, second: Schedule): Scenario {
  return {
    name,
    spanMs,
    build(b, truth) {
      for (let i = 0; i < REPLICAS; i++) {
        const key = `two/${i}`;
        const main = job(b, key, { ...cron, segments: [first(b.rng)] });
        const other = job(b, key, { ...cron, segments: [second(b.rng)] });
        main.occurrences = [...main.occurrences, ...other.occurrences].sort((x, y) => x - y);
        truth.periodic.push(main);
      }
    },
  };
}

function notPeriodicScenarios(): Scenario[] {
  const negatives = (
    name: string,
    spanMs: number,
    add: (b: TraceBuilder, key: string) => void,
  ): Scenario => ({
    name,
    spanMs,
    build(b, truth) {
      for (let i = 0; i < REPLICAS; i++) {
        add(b, `neg/${i}`);
        truth.notPeriodic.push(`neg/${i}`);
      }
    },
  });
  return [
    ...[
      [MINUTE, 2 * SECOND, 1 * SECOND],
      [MINUTE, 200, 100],
      [15 * MINUTE, 20 * SECOND, 10 * SECOND],
      [HOUR, 30 * SECOND, 30 * SECOND],
    ].map(([sleep, work, spread]) =>
      negatives(
        `sleep ${sleep / SECOND}s loop, work ${work / SECOND}±${spread / SECOND}s`,
        100 * sleep,
        (b, key) => sleepLoop(b, key, sleep, work, spread),
      ),
    ),
    ...[0.03, 0.1, 0.2].flatMap((cv) =>
      [MINUTE, HOUR].map((gap) =>
        negatives(`steady reader ${gap / SECOND}s cv ${cv * 100}%`, 100 * gap, (b, key) =>
          steadyReader(b, key, gap, cv),
        ),
      ),
    ),
    ...[1 / 30, 1 / 300, 1 / 3600, 1 / 21600, 1 / 86400].map((rate) =>
      negatives(`poisson 1/${1 / rate}s`, Math.max(DAY, (80 / rate) * SECOND), (b, key) =>
        poisson(b, key, rate, { label: false }),
      ),
    ),
    ...[
      [18, 23],
      [19, 22],
      [20, 21],
    ].map(([from, to]) =>
      negatives(`evening habit ${from}-${to}h, 85% of days`, 60 * DAY, (b, key) =>
        eveningHabit(b, key, from, to, 0.85),
      ),
    ),
    ...[1, 3].map((uses) =>
      negatives(`evening uses 18-23h, ~${uses} at random times`, 60 * DAY, (b, key) =>
        eveningUses(b, key, 18, 23, uses),
      ),
    ),
  ];
}

function correlatedScenarios(): Scenario[] {
  const pairs = (name: string, leaderRatePerS: number, o: (rng: Rng) => FollowOptions): Scenario => ({
    name,
    spanMs: DAY,
    build(b, truth) {
      for (let i = 0; i < REPLICAS; i++) {
        const leader = `a/${i}`;
        truth.pairs.push(follow(b, leader, `b/${i}`, leaderAt(b, leader, leaderRatePerS), o(b.rng)));
      }
    },
  });
  const lag = (lo: number, hi: number) => (rng: Rng) => rng.uniform(lo, hi) * SECOND;
  const busyHome = (name: string, background: (b: TraceBuilder) => void): Scenario => {
    const plain = pairs(name, 1 / 600, (rng) => {
      const lagMs = lag(0.2, 3)(rng);
      return { lagMs, lagJitterMs: 0.2 * lagMs, follows: 0.85, ownRatePerS: 1 / 1800 };
    });
    return {
      name,
      spanMs: 8 * HOUR,
      build(b, truth) {
        plain.build(b, truth);
        background(b);
      },
    };
  };
  // The research notes' grid (reference/detection-algorithms.md §8): rules of confidence 0.3-0.9 among
  // 200 background keys of Zipf popularity, 2 accesses/s in all.
  const zipfGrid = [0.9, 0.6, 0.3].map((follows): Scenario => {
    const plain = pairs(`grid: A->B follows ${follows * 100}%, Zipf background`, 1 / 600, (rng) => {
      const lagMs = lag(0.2, 3)(rng);
      return { lagMs, lagJitterMs: 0.2 * lagMs, follows, ownRatePerS: 1 / 1800 };
    });
    return {
      name: plain.name,
      spanMs: DAY,
      build(b, truth) {
        plain.build(b, truth);
        let harmonic = 0;
        for (let rank = 1; rank <= 200; rank++) harmonic += 1 / rank;
        for (let rank = 1; rank <= 200; rank++)
          poisson(b, `zipf/${rank}`, 2 / rank / harmonic, { label: false });
      },
    };
  });
  return [
    ...zipfGrid,
    ...[0.9, 0.7, 0.5].map((follows) =>
      pairs(`A->B lag 0.1-4.5s ±20%, follows ${follows * 100}%`, 1 / 600, (rng) => {
        const lagMs = lag(0.1, 4.5)(rng);
        return { lagMs, lagJitterMs: 0.2 * lagMs, follows, ownRatePerS: 1 / 1800 };
      }),
    ),
    pairs('A->B lag 3.5-4.5s ±0.5s, follows 80%', 1 / 600, (rng) => ({
      lagMs: lag(3.5, 4.5)(rng),
      lagJitterMs: 500,
      follows: 0.8,
      ownRatePerS: 1 / 1800,
    })),
    ...[1 / 300, 1 / 60, 1 / 20].map((own) =>
      pairs(`A->B follows 80%, B alone 1/${1 / own}s`, 1 / 600, (rng) => ({
        lagMs: lag(0.2, 2)(rng),
        lagJitterMs: 200,
        follows: 0.8,
        ownRatePerS: own,
      })),
    ),
    // A busy home: what else happens at the same time must not hide the pairs.
    busyHome('A->B while 2 films stream, 20 reads/s each', (b) => {
      for (const key of ['films/1.mkv', 'films/2.mkv']) film(b, key, 20);
    }),
    ...[20, 40].map((keys) =>
      busyHome(`A->B among ${keys} random keys, ${keys / 5}/s in all`, (b) => {
        for (let i = 0; i < keys; i++) poisson(b, `noise/${i}`, 0.2, { label: false });
      }),
    ),
    pairs('A->B busy leader 1/30s, follows 80%', 1 / 30, (rng) => ({
      lagMs: lag(0.2, 2)(rng),
      lagJitterMs: 200,
      follows: 0.8,
      ownRatePerS: 1 / 1800,
    })),
    {
      name: 'chain A->B->C (1 s, 1.5 s), follows 85%',
      spanMs: DAY,
      build(b, truth) {
        for (let i = 0; i < REPLICAS; i++) {
          const [A, B, C] = [`a/${i}`, `b/${i}`, `c/${i}`];
          const options = { lagJitterMs: 200, follows: 0.85, ownRatePerS: 1 / 3600 };
          const ab = follow(b, A, B, leaderAt(b, A, 1 / 600), { ...options, lagMs: 1000 });
          truth.pairs.push(ab, follow(b, B, C, ab.followed, { ...options, lagMs: 1500 }));
          truth.related.set(A, [C]);
          truth.related.set(C, [A]);
        }
      },
    },
    {
      name: 'fan-out: 1 leader, 5 followers 0.3-4 s',
      spanMs: DAY,
      build(b, truth) {
        for (let i = 0; i < REPLICAS; i++) {
          const leader = `a/${i}`;
          const episodes = leaderAt(b, leader, 1 / 600);
          const followers = Array.from({ length: 5 }, (_, j) => `f/${i}/${j}`);
          for (const f of followers) {
            const lagMs = b.rng.uniform(0.3, 4) * SECOND;
            truth.pairs.push(
              follow(b, leader, f, episodes, {
                lagMs,
                lagJitterMs: 200,
                follows: 0.85,
                ownRatePerS: 1 / 3600,
              }),
            );
            truth.related.set(
              f,
              followers.filter((g) => g !== f),
            );
          }
        }
      },
    },
  ];
}

function notCorrelatedScenarios(): Scenario[] {
  const cronPair = (delayMs: number): Scenario => ({
    name: `2 hourly crons at :00, delay<=${delayMs / SECOND}s`,
    spanMs: 3 * DAY,
    build(b, truth) {
      for (let i = 0; i < REPLICAS; i++) {
        const phaseMs = b.rng.uniform(0, HOUR);
        for (const key of [`x/${i}`, `y/${i}`]) {
          job(b, key, {
            segments: [{ periodMs: HOUR, phaseMs }],
            timing: (rng) => rng.uniform(0, delayMs),
            missed: 0.05,
          });
          truth.notCorrelated.push(key);
        }
      }
    },
  });
  return [
    {
      name: 'independent busy pairs 1/5s..1/120s',
      spanMs: 6 * HOUR,
      build(b, truth) {
        for (const rate of [1 / 5, 1 / 30, 1 / 120])
          for (let i = 0; i < REPLICAS / 2; i++)
            for (const key of [`x/${rate}/${i}`, `y/${rate}/${i}`]) {
              poisson(b, key, rate, { label: false });
              truth.notCorrelated.push(key);
            }
      },
    },
    cronPair(60 * SECOND),
    cronPair(5 * SECOND),
    cronPair(500),
    {
      name: 'hot key + 16 keys, shared evening rush',
      spanMs: 3 * DAY,
      build(b, truth) {
        // Every key is ten times busier from 19:00 to 22:00 UTC: a common cause, not a rule between keys.
        const busy = (key: string, quietPerS: number) => {
          for (let day = b.start; day < b.end; day += DAY) {
            poisson(b, key, quietPerS, { from: day, to: day + 19 * HOUR, label: false });
            poisson(b, key, 10 * quietPerS, { from: day + 19 * HOUR, to: day + 22 * HOUR, label: false });
            poisson(b, key, quietPerS, { from: day + 22 * HOUR, to: day + DAY, label: false });
          }
          truth.notCorrelated.push(key);
        };
        busy('hot', 1 / 40);
        for (let i = 0; i < 2 * REPLICAS; i++) busy(`k/${i}`, 1 / 1800);
      },
    },
  ];
}

// ---- replay and scoring ----

interface KeyRecord {
  slot: number;
  /** Session starts seen by the probe and whether the key was periodic (with which period) after each. */
  sessions: number[];
  periodicAfter: number[];
  /** Mask transitions: [ts, mask]. */
  masks: [number, number][];
  /** Partner key -> first time listed. */
  partnersFirst: Map<string, number>;
}

function replayProbe(trace: Trace): { engine: Engine; records: Map<string, KeyRecord> } {
  const cfg = loadConfig({ env: {} }).engine;
  const engine = new Engine(cfg);
  const records = new Map<string, KeyRecord>();
  const lastTs = new Map<string, number>();
  const recordOf = (key: string, slot: number) => {
    let r = records.get(key);
    if (!r) {
      r = { slot, sessions: [], periodicAfter: [], masks: [], partnersFirst: new Map() };
      records.set(key, r);
    }
    return r;
  };
  const onChange = (slot: number) => {
    const key = engine.keys.keys[slot];
    const r = recordOf(key, slot);
    const mask = engine.maskOf(slot);
    if (r.masks.length === 0 || r.masks[r.masks.length - 1][1] !== mask) r.masks.push([engine.now, mask]);
    if (mask & CORRELATED)
      for (const p of engine.view(slot).correlated)
        if (!r.partnersFirst.has(p.key)) r.partnersFirst.set(p.key, engine.now);
  };
  for (let i = 0; i < trace.n; i++) {
    const key = trace.keyNames[trace.key[i]];
    const ts = trace.ts[i];
    const slot = engine.observe(key, ts, trace.pos[i], trace.size[i]);
    engine.drainChanges(onChange);
    const previous = lastTs.get(key);
    lastTs.set(key, Math.max(ts, previous ?? ts));
    if (previous === undefined || ts - previous > cfg.sessionGapMs) {
      const r = recordOf(key, slot);
      r.sessions.push(ts);
      r.periodicAfter.push(
        engine.periodic.isActive(slot) ? engine.periodic.detail(slot, ts).period_s * 1000 : 0,
      );
    }
  }
  engine.now = Math.max(engine.now, trace.end);
  engine.tick();
  engine.drainChanges(onChange);
  return { engine, records };
}

const within = (got: number, want: number, tolerance: number) => Math.abs(got - want) <= tolerance * want;

/** A multiple or fraction (×2, ×3, ÷2, ÷3) of the true period: a harmonic rather than nonsense. */
function harmonic(got: number, want: number): boolean {
  return [2, 3, 1 / 2, 1 / 3].some((f) => within(got, want * f, 0.05));
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** How many of `times` are at or before `t`. */
const countUpTo = (times: number[], t: number) => times.filter((x) => x <= t).length;

const pct = (x: number) => (Number.isNaN(x) ? '    -' : `${(100 * x).toFixed(0).padStart(4)}%`);
const num = (x: number, digits = 0) =>
  Number.isNaN(x) ? '-' : Number.isFinite(x) ? x.toFixed(digits) : 'never';
const ratio = (part: number, whole: number) => (whole === 0 ? Number.NaN : part / whole);

interface Row {
  scenario: string;
  cells: string[];
  /** Shares feeding the summary: found (positives) or clean (negatives). */
  good: number;
}

function scorePeriodic(
  name: string,
  truth: PeriodicTruth[],
  records: Map<string, KeyRecord>,
  engine: Engine,
): Row {
  let found = 0;
  let harmonics = 0;
  let others = 0;
  let settled = 0;
  let settledOn = 0;
  let nonsense = 0;
  let flaps = 0;
  const occurrencesToFind: number[] = [];
  const relock: number[] = [];
  const nextError: number[] = [];
  for (const t of truth) {
    const r = records.get(t.key);
    if (!r) continue;
    const last = t.segments[t.segments.length - 1];
    const right = (P: number, segment: Segment) => within(P, segment.periodMs, 0.05);
    const view = engine.view(r.slot);
    const P = (view.periodic?.period_s ?? 0) * 1000;
    if (P > 0 && right(P, last)) {
      found++;
      // Distance to the nearest nominal beat (the job's scheduled time, before its delay).
      const next = view.periodic?.next_ts ?? 0;
      const k = Math.round((next - last.phase) / last.periodMs);
      nextError.push(Math.abs(next - (last.phase + k * last.periodMs)) / last.periodMs);
    } else if (P > 0 && harmonic(P, last.periodMs)) harmonics++;
    else if (P > 0) others++;
    // Per session start: the period reported after it, judged against the segment of that time (or the
    // previous one, while the history still holds its starts).
    let firstFound = -1;
    for (let i = 0; i < r.sessions.length; i++) {
      const at = r.sessions[i];
      const reported = r.periodicAfter[i];
      const s = t.segments.findLastIndex((x) => x.from <= at);
      const fits =
        reported > 0 && (right(reported, t.segments[s]) || (s > 0 && right(reported, t.segments[s - 1])));
      if (fits && firstFound < 0) firstFound = i;
      const occurrence = countUpTo(t.occurrences, at);
      if (occurrence >= SETTLED_AFTER) {
        settled++;
        if (reported > 0) settledOn++;
        if (reported > 0 && !fits) nonsense++;
      }
    }
    if (firstFound >= 0) occurrencesToFind.push(countUpTo(t.occurrences, r.sessions[firstFound]));
    if (t.segments.length > 1) {
      // Until the new schedule is reported for good: the run after the last one without it.
      const miss = r.sessions.findLastIndex((at, j) => at >= last.from && !right(r.periodicAfter[j], last));
      const settledAt = miss < 0 ? last.from : r.sessions[miss + 1];
      relock.push(
        settledAt === undefined
          ? Number.POSITIVE_INFINITY
          : countUpTo(t.occurrences, settledAt) - countUpTo(t.occurrences, last.from),
      );
    }
    const lastRun = t.occurrences[t.occurrences.length - 1];
    for (let i = 1; i < r.masks.length; i++) {
      const [at, mask] = r.masks[i];
      if (!(mask & 2) && r.masks[i - 1][1] & 2 && at < lastRun) flaps++;
    }
  }
  const n = truth.length;
  return {
    scenario: name,
    good: found / n,
    cells: [
      pct(found / n),
      `${harmonics}h ${others}o`.padStart(6),
      `${num(quantile(occurrencesToFind, 0.5))}/${num(quantile(occurrencesToFind, 0.9))}`.padStart(7),
      pct(ratio(settledOn, settled)),
      pct(ratio(nonsense, settledOn)),
      num(flaps / n, 1).padStart(5),
      `${num(100 * quantile(nextError, 0.5), 1)}%`.padStart(6),
      relock.length ? `${num(quantile(relock, 0.5))}/${num(quantile(relock, 0.9))}`.padStart(7) : '       ',
    ],
  };
}

function scoreNotPeriodic(
  name: string,
  keys: string[],
  records: Map<string, KeyRecord>,
  engine: Engine,
): Row {
  let atEnd = 0;
  let ever = 0;
  let settled = 0;
  let settledOn = 0;
  for (const key of keys) {
    const r = records.get(key);
    if (!r) continue;
    if (engine.periodic.isActive(r.slot)) atEnd++;
    if (r.masks.some(([, mask]) => mask & 2)) ever++;
    for (let i = SETTLED_AFTER; i < r.sessions.length; i++) {
      settled++;
      if (r.periodicAfter[i] > 0) settledOn++;
    }
  }
  return {
    scenario: name,
    good: 1 - atEnd / keys.length,
    cells: [pct(atEnd / keys.length), pct(ever / keys.length), pct(ratio(settledOn, settled))],
  };
}

function scorePairs(
  name: string,
  truth: ScenarioTruth,
  records: Map<string, KeyRecord>,
  engine: Engine,
): Row {
  let both = 0;
  let extra = 0;
  const lagError: number[] = [];
  const episodesToFind: number[] = [];
  const partnersOf = (key: string) => engine.viewOf(key)?.correlated ?? [];
  for (const p of truth.pairs) {
    const onLeader = partnersOf(p.leader).find((x) => x.key === p.follower);
    const onFollower = partnersOf(p.follower).find((x) => x.key === p.leader);
    if (onLeader && onFollower) {
      both++;
      lagError.push(Math.abs(onLeader.lag_s * SECOND - p.lagMs) / SECOND);
    }
    const first = Math.max(
      records.get(p.leader)?.partnersFirst.get(p.follower) ?? Number.POSITIVE_INFINITY,
      records.get(p.follower)?.partnersFirst.get(p.leader) ?? Number.POSITIVE_INFINITY,
    );
    if (first < Number.POSITIVE_INFINITY) episodesToFind.push(countUpTo(p.episodes, first));
  }
  const keys = new Set(truth.pairs.flatMap((p) => [p.leader, p.follower]));
  for (const key of keys) {
    const right = new Set(truth.related.get(key) ?? []);
    for (const p of truth.pairs) {
      if (p.leader === key) right.add(p.follower);
      if (p.follower === key) right.add(p.leader);
    }
    extra += partnersOf(key).filter((x) => !right.has(x.key)).length;
  }
  const n = truth.pairs.length;
  return {
    scenario: name,
    good: both / n,
    cells: [
      pct(both / n),
      `${num(quantile(lagError, 0.5), 2)}s`.padStart(6),
      `${num(quantile(episodesToFind, 0.5))}/${num(quantile(episodesToFind, 0.9))}`.padStart(7),
      String(extra).padStart(5),
    ],
  };
}

function scoreNotCorrelated(
  name: string,
  keys: string[],
  records: Map<string, KeyRecord>,
  engine: Engine,
): Row {
  const atEnd = keys.filter((key) => (engine.viewOf(key)?.correlated.length ?? 0) > 0).length;
  const ever = keys.filter((key) => records.get(key)?.masks.some(([, mask]) => mask & CORRELATED)).length;
  return {
    scenario: name,
    good: 1 - atEnd / keys.length,
    cells: [pct(atEnd / keys.length), pct(ever / keys.length)],
  };
}

// ---- main ----

const { values } = parseArgs({
  options: { seed: { type: 'string', default: '1' }, only: { type: 'string', default: '' } },
});
const seed = Number(values.seed);

/** Each scenario's own seed, from its name: adding, removing or selecting (`--only`) one moves no other. */
function seedOf(name: string): number {
  let hash = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

interface Section {
  title: string;
  header: string[];
  scenarios: Scenario[];
  score(name: string, truth: ScenarioTruth, records: Map<string, KeyRecord>, engine: Engine): Row;
}

const sections: Section[] = [
  {
    title: 'periodic: should be periodic',
    header: [' found', 'wrongP', '    occ', ' avail', '  bad', 'flaps', '  next', ' relock'],
    scenarios: periodicScenarios(),
    score: (name, truth, records, engine) => scorePeriodic(name, truth.periodic, records, engine),
  },
  {
    title: 'periodic: should not be periodic',
    header: ['  end', ' ever', 'avail'],
    scenarios: notPeriodicScenarios(),
    score: (name, truth, records, engine) => scoreNotPeriodic(name, truth.notPeriodic, records, engine),
  },
  {
    title: 'correlated: pairs that should be listed on both keys',
    header: [' both', '   lag', ' episod', 'extra'],
    scenarios: correlatedScenarios(),
    score: scorePairs,
  },
  {
    title: 'correlated: keys that should have no partner',
    header: ['  end', ' ever'],
    scenarios: notCorrelatedScenarios(),
    score: (name, truth, records, engine) => scoreNotCorrelated(name, truth.notCorrelated, records, engine),
  },
];

const began = performance.now();
let events = 0;
const summary: string[] = [];
for (const section of sections) {
  const scenarios = section.scenarios.filter((x) => x.name.includes(values.only));
  if (scenarios.length === 0) continue;
  console.log(`\n${section.title}`);
  console.log(`${'scenario'.padEnd(44)} ${section.header.join(' ')}`);
  const goods: number[] = [];
  for (const scenario of scenarios) {
    const b = new TraceBuilder(new Rng(seedOf(scenario.name)), T0, T0 + scenario.spanMs);
    const truth = emptyTruth();
    scenario.build(b, truth);
    const trace = b.build();
    events += trace.n;
    const { engine, records } = replayProbe(trace);
    const row = section.score(scenario.name, truth, records, engine);
    goods.push(row.good);
    console.log(`${row.scenario.padEnd(44)} ${row.cells.join(' ')}`);
  }
  summary.push(`${section.title.padEnd(54)} ${pct(goods.reduce((x, y) => x + y, 0) / goods.length)}`);
}
console.log(
  `\nsummary (seed ${seed}, ${events} events in ${((performance.now() - began) / 1000).toFixed(1)} s): mean share right per scenario`,
);
for (const line of summary) console.log(`  ${line}`);
