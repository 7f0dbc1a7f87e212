/**
 * Randomized workload shapes for the engine soak (bench/soak.ts). A shape is drawn from its seed alone —
 * engine config, key population, actors, time distortions, the operations around the events and the event
 * budget — so `--seed N` replays it exactly. The shapes go where the accuracy traces never do: eviction
 * under tiny key limits, rates from one a day to thousands a second, ts at the epoch or at the largest
 * valid date, clocks that jump by years, positions and sizes at the ends of the float range.
 */
import { type EngineConfig, engineSchema } from '../src/config.ts';
import { TimeHeap } from '../src/engine/heap.ts';
import { Rng } from './workloads.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;
/** The largest `ts` the service accepts (src/mqtt/validate.ts), and its smallest. */
export const MAX_TS = 8.64e15;

/** Positions and sizes a valid event may carry at the ends of the float range. */
const AWKWARD_NUMBERS = [
  0,
  -0,
  5e-324,
  0.1,
  -1,
  2 ** 31,
  2 ** 53,
  3.5e38,
  -3.5e38,
  1e300,
  -1e300,
  1.7e308,
  -1.7e308,
];

export interface Event {
  key: string;
  ts: number;
  pos: number;
  size: number;
}

type PositionMode = 'none' | 'bytes' | 'chunks' | 'backward' | 'random' | 'fractional' | 'awkward';

/** What an actor does: it emits an event at its next time and says when it acts again. */
interface Actor {
  act(t: number, emit: (key: string, pos: number, size: number) => void): number;
}

export interface Shape {
  seed: number;
  /** One line naming what was drawn, for the report. */
  summary: string;
  cfg: EngineConfig;
  /** Live traffic: an injected wall clock near the event times, `beginBatch()` per batch. */
  live: boolean;
  /** Event budget: the run stops after the batch that reaches it. */
  events: number;
  population: number;
  batchMax: number;
  /** Per-event chances of the time distortions. */
  lateChance: number;
  lateMeanMs: number;
  veryLateChance: number;
  jumpChance: number;
  /** ts rounded down to this (1: none); a frozen clock has one far larger than the run. */
  quantumMs: number;
  /** Per-batch chances of the operations around the events. */
  pauseChance: number;
  forgetChance: number;
  resetChance: number;
  restoreChance: number;
  exportChance: number;
  /** Per-batch chance that the wall clock of live traffic is off by an hour or a year (a bad NTP step). */
  wallGlitchChance: number;
  /** Per-event chance of a device clock running ahead, by up to the future skew the service accepts. */
  fastClockChance: number;
}

function pickLog(rng: Rng, lo: number, hi: number): number {
  return Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));
}

/** A valid engine config: the defaults, or some fields pushed to the edges the schema allows. */
function drawConfig(rng: Rng, base: EngineConfig, population: number): EngineConfig {
  const cfg = structuredClone(base);
  // Small limits force eviction (the limit must stay below the population to matter).
  cfg.maxKeys = rng.next() < 0.6 ? rng.int(16, Math.max(16, Math.ceil(population / 2))) : population + 16;
  const edgy = rng.next() < 0.7;
  const maybe = (chance: number) => edgy && rng.next() < chance;
  if (maybe(0.3)) cfg.sessionGapMs = rng.pick([1, 10, 100 * DAY]);
  if (maybe(0.2)) cfg.liveWindowMs = rng.pick([1, 1000, YEAR]);
  if (maybe(0.3)) cfg.burst.windowMs = rng.pick([1, 3, 100, 10 * MINUTE]);
  if (maybe(0.2)) cfg.burst.baselineMs = rng.pick([1, cfg.burst.windowMs, 30 * DAY]);
  if (maybe(0.2)) cfg.burst.minEvents = rng.pick([2, 3, 1000]);
  if (maybe(0.2)) cfg.burst.minRatio = rng.pick([1.0001, 1.5, 1000]);
  if (maybe(0.2)) cfg.burst.maxPValue = rng.pick([1e-300, 0.5, 0.999]);
  if (maybe(0.2)) cfg.burst.exitRatio = rng.pick([1e-6, 0.99, 1, 5]);
  if (maybe(0.2)) cfg.burst.habitMs = rng.pick([1, 1000 * DAY]);
  if (maybe(0.3)) cfg.correlation.partnersPerKey = rng.pick([1, 2, 32]);
  if (maybe(0.2)) cfg.correlation.recentKeys = rng.pick([4, 256]);
  if (maybe(0.2)) cfg.correlation.maxLagMs = rng.pick([1, 50, HOUR]);
  if (maybe(0.2)) cfg.correlation.minSupport = rng.pick([2, 1000]);
  if (maybe(0.2)) cfg.correlation.minConfidence = rng.pick([1e-6, 1]);
  if (maybe(0.2)) cfg.correlation.maxPValue = rng.pick([1e-300, 0.999]);
  if (maybe(0.2)) cfg.periodic.minOccurrences = rng.pick([4, 32]);
  if (maybe(0.2)) cfg.periodic.minPeriodMs = rng.pick([1, 1000, DAY]);
  if (maybe(0.2)) cfg.periodic.maxPeriodMs = rng.pick([1, MINUTE, 365 * DAY]);
  if (maybe(0.2)) cfg.periodic.maxJitter = rng.pick([1e-6, 0.499]);
  if (maybe(0.2)) cfg.periodic.driftBayesFactor = rng.pick([1, 1e9]);
  if (maybe(0.2)) cfg.periodic.minFillRatio = rng.pick([1e-6, 1]);
  if (maybe(0.2)) cfg.periodic.missedPeriodsToExpire = rng.pick([1.0001, 100]);
  if (maybe(0.2)) cfg.sequential.maxGap = rng.pick([0, 1024]);
  if (maybe(0.2)) cfg.sequential.minLength = rng.pick([2, 64]);
  if (maybe(0.2)) cfg.sequential.smoothing = rng.pick([4, 256]);
  if (maybe(0.2)) cfg.sequential.threshold = rng.pick([0.01, 0.99]);
  if (maybe(0.2)) cfg.sequential.exitThreshold = rng.pick([0.01, 0.99]);
  if (maybe(0.2)) cfg.schedule.minHistoryDays = rng.pick([1e-6, 0.01, 365]);
  if (maybe(0.2)) cfg.schedule.halfLifeDays = rng.pick([1e-6, 1000]);
  if (maybe(0.2)) cfg.trend.days = rng.pick([3, 31]);
  if (maybe(0.2)) cfg.trend.flatBelow = rng.pick([0, 100]);
  if (maybe(0.2)) cfg.trend.significance = rng.pick([1e-9, 0.999]);
  return engineSchema.parse(cfg);
}

/** The keys of a shape: a fixed population, picked uniformly or with a few hot ones. */
class Keys {
  private readonly names: string[];
  constructor(
    private readonly rng: Rng,
    readonly population: number,
    private readonly skewed: boolean,
  ) {
    const prefix = rng.pick(['k', 'nas/share/folder/', 'ü/+/#/ ', '']);
    this.names = Array.from({ length: population }, (_, i) => `${prefix}${i}`);
  }
  any(): string {
    const u = this.rng.next();
    return this.names[Math.floor((this.skewed ? u ** 3 : u) * this.population)];
  }
}

/** Positions of one reader, in one of the modes. */
class Positions {
  private pos: number;
  private readonly size: number;
  constructor(
    private readonly rng: Rng,
    private readonly mode: PositionMode,
  ) {
    this.size = rng.pick([0, 1, 4096, 65536, 0.5, 1e300, 3.5e38]);
    this.pos = mode === 'backward' ? rng.uniform(0, 1e9) : rng.pick([0, -1e6, rng.uniform(0, 1e12)]);
  }
  next(): [number, number] {
    const rng = this.rng;
    switch (this.mode) {
      case 'none':
        return [Number.NaN, rng.next() < 0.5 ? 0 : this.size];
      case 'bytes':
        this.pos += this.size;
        return [this.pos, this.size];
      case 'chunks':
        this.pos += rng.next() < 0.9 ? 1 : rng.int(-3, 50);
        return [this.pos, 0];
      case 'backward':
        this.pos -= this.size || 1;
        return [this.pos, this.size];
      case 'random':
        return [rng.uniform(-1e12, 1e12), rng.next() < 0.5 ? 0 : this.size];
      case 'fractional':
        this.pos += rng.pick([0.1, 0.30000000000000004, 1e-9]);
        return [this.pos, rng.pick([0, 0.1, 1e-9])];
      case 'awkward':
        return [
          rng.next() < 0.2 ? Number.NaN : rng.pick(AWKWARD_NUMBERS),
          Math.abs(rng.pick(AWKWARD_NUMBERS)),
        ];
    }
  }
}

const MODES: PositionMode[] = ['none', 'bytes', 'chunks', 'backward', 'random', 'fractional', 'awkward'];

/** Concurrent sessions: a reader picks a key, reads it for a while, pauses, picks another. */
function sessionReader(rng: Rng, keys: Keys, meanLength: number, gapMs: number, idleMs: number): Actor {
  let key = keys.any();
  let left = 0;
  let positions = new Positions(rng, rng.pick(MODES));
  return {
    act(t, emit) {
      if (left <= 0) {
        key = keys.any();
        left = Math.max(1, Math.round(rng.exp(meanLength)));
        positions = new Positions(rng, rng.pick(MODES));
      }
      const [pos, size] = positions.next();
      emit(key, pos, size);
      return --left > 0 ? t + rng.exp(gapMs) : t + rng.exp(idleMs);
    },
  };
}

/** Memoryless accesses over the population at `ratePerMs`, in one position mode. */
function poissonKeys(rng: Rng, keys: Keys, ratePerMs: number): Actor {
  const positions = new Positions(rng, rng.pick(['none', 'random', 'awkward'] as const));
  return {
    act(t, emit) {
      const [pos, size] = positions.next();
      emit(keys.any(), pos, size);
      return t + rng.exp(1 / ratePerMs);
    },
  };
}

/** One key at a background rate with spikes `factor` times faster, now and then. */
function spiker(rng: Rng, key: string, ratePerMs: number, factor: number, spikeMs: number): Actor {
  let spikeEnds = 0;
  return {
    act(t, emit) {
      emit(key, Number.NaN, 0);
      if (t > spikeEnds && rng.next() < 0.01) spikeEnds = t + rng.exp(spikeMs);
      return t + rng.exp(1 / (t < spikeEnds ? ratePerMs * factor : ratePerMs));
    },
  };
}

/** A scheduled job: a session of a few quick accesses every period, with jitter and missed runs. */
function periodicJob(rng: Rng, key: string, periodMs: number, jitterMs: number, runLength: number): Actor {
  let beat = 0;
  let left = 0;
  return {
    act(t, emit) {
      if (left <= 0) left = runLength;
      if (rng.next() > 0.1) emit(key, left, 1);
      if (--left > 0) return t + rng.exp(SECOND);
      beat = Math.max(beat + periodMs, t);
      return beat + Math.abs(rng.normal(jitterMs));
    },
  };
}

/** A leader key and a follower that is read `lagMs` after it (mostly). */
function correlatedPair(rng: Rng, leader: string, follower: string, ratePerMs: number, lagMs: number): Actor {
  let followerNext = false;
  return {
    act(t, emit) {
      emit(followerNext ? follower : leader, Number.NaN, 0);
      followerNext = !followerNext && rng.next() < 0.9;
      return followerNext ? t + Math.abs(rng.normal(lagMs)) : t + rng.exp(1 / ratePerMs);
    },
  };
}

/** Keys never seen before, one after the other (eviction pressure). */
function flood(rng: Rng, ratePerMs: number): Actor {
  let n = 0;
  return {
    act(t, emit) {
      emit(`flood/${n++}`, rng.next() < 0.5 ? Number.NaN : n, 0);
      return t + rng.exp(1 / ratePerMs);
    },
  };
}

export function drawShape(seed: number, base: EngineConfig, scale: number): Shape {
  const rng = new Rng(seed);
  const population = Math.round(pickLog(rng, 1, 200_000));
  const cfg = drawConfig(rng, base, population);
  const live = rng.next() < 0.4;
  const shape: Shape = {
    seed,
    summary: '',
    cfg,
    live,
    events: Math.max(100, Math.round(pickLog(rng, 2_000, 400_000) * scale)),
    population,
    batchMax: rng.pick([1, 10, 1000]),
    lateChance: rng.pick([0, 0, 0.01, 0.3]),
    lateMeanMs: pickLog(rng, 1, DAY),
    veryLateChance: rng.pick([0, 0, 1e-4, 0.01]),
    jumpChance: rng.pick([0, 0, 1e-5, 1e-3]),
    quantumMs: rng.pick([1, 1, 1, 1000, MINUTE, 1e15]),
    pauseChance: rng.pick([0, 0.01, 0.1]),
    forgetChance: rng.pick([0, 0.01, 0.1]),
    resetChance: rng.pick([0, 0, 0.001]),
    restoreChance: rng.pick([0, 0.002, 0.02]),
    exportChance: rng.pick([0, 0.05, 0.5]),
    wallGlitchChance: live ? rng.pick([0, 0, 0.001]) : 0,
    fastClockChance: live ? rng.pick([0, 0, 1e-4, 0.01]) : 0,
  };
  const overrides = Object.entries(cfg).filter(
    ([k, v]) => JSON.stringify(v) !== JSON.stringify(base[k as never]),
  );
  shape.summary = [
    `keys=${population}`,
    `maxKeys=${cfg.maxKeys}`,
    live ? 'live' : 'replay',
    `budget=${shape.events}`,
    `batch<=${shape.batchMax}`,
    `late=${shape.lateChance}`,
    `veryLate=${shape.veryLateChance}`,
    `jumps=${shape.jumpChance}`,
    `quantum=${shape.quantumMs}`,
    `wallGlitch=${shape.wallGlitchChance}`,
    `fastClock=${shape.fastClockChance}`,
    `config:${overrides.map(([k]) => k).join(',') || 'default'}`,
  ].join(' ');
  return shape;
}

/**
 * The events of a shape, in delivery order, batch by batch. True time `t` runs on a heap of actors; the
 * delivered `ts` is `t` moved by the shape's distortions (clock jumps, late delivery, coarse clocks) and
 * kept inside the range the service accepts.
 */
export class Workload {
  readonly rng: Rng;
  private readonly actors: Actor[] = [];
  private readonly due = new TimeHeap(64);
  /** Added to true time: clock jumps (forward or back) and pauses. */
  private offset: number;
  private emitted: Event[] = [];
  readonly actorSummary: string;

  constructor(readonly shape: Shape) {
    // The actors draw from their own stream, so the shape's fields do not depend on them.
    const rng = new Rng(shape.seed ^ 0x5eed);
    this.rng = rng;
    this.offset = rng.pick([0, 1000, Date.UTC(2026, 10, 1), MAX_TS - YEAR]);
    const keys = new Keys(rng, shape.population, rng.next() < 0.5);
    const kinds: string[] = [];
    const add = (kind: string, actor: Actor) => {
      kinds.push(kind);
      this.actors.push(actor);
    };
    if (rng.next() < 0.6) {
      const concurrency = rng.pick([1, 4, 64, 256]);
      const length = pickLog(rng, 1, 2000);
      const gap = pickLog(rng, 0.1, 10 * SECOND);
      const idle = pickLog(rng, 1, DAY);
      for (let i = 0; i < concurrency; i++) add('sessions', sessionReader(rng, keys, length, gap, idle));
    }
    if (rng.next() < 0.6) add('poisson', poissonKeys(rng, keys, pickLog(rng, 1 / DAY, 10)));
    if (rng.next() < 0.4) {
      const n = rng.int(1, 50);
      for (let i = 0; i < n; i++) {
        const rate = pickLog(rng, 1 / HOUR, 10 / SECOND);
        add('spiker', spiker(rng, `spike/${i}`, rate, pickLog(rng, 2, 1000), pickLog(rng, SECOND, HOUR)));
      }
    }
    if (rng.next() < 0.4) {
      const n = rng.int(1, 200);
      for (let i = 0; i < n; i++) {
        const period = pickLog(rng, SECOND, 14 * DAY);
        const jitter = period * rng.pick([0, 0.001, 0.05, 0.3]);
        add('periodic', periodicJob(rng, `job/${i}`, period, jitter, rng.pick([1, 1, 3, 20])));
      }
    }
    if (rng.next() < 0.4) {
      const n = rng.int(1, 100);
      for (let i = 0; i < n; i++) {
        const rate = pickLog(rng, 1 / DAY, 1 / SECOND);
        add('pair', correlatedPair(rng, `lead/${i}`, `follow/${i}`, rate, pickLog(rng, 0.1, 10 * SECOND)));
      }
    }
    if (rng.next() < 0.3) add('flood', flood(rng, pickLog(rng, 1 / MINUTE, 10)));
    if (this.actors.length === 0) add('poisson', poissonKeys(rng, keys, 1 / SECOND));
    for (let i = 0; i < this.actors.length; i++) this.due.push(rng.uniform(0, MINUTE), i);
    const counts = new Map<string, number>();
    for (const k of kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
    this.actorSummary = [...counts].map(([k, n]) => `${k}x${n}`).join(',');
  }

  /**
   * The wall clock of live traffic: true time moved by the same jumps and pauses (events arrive now), and
   * now and then off by an hour or a year for a moment.
   */
  wall(): number {
    const { rng } = this;
    const glitch = rng.next() < this.shape.wallGlitchChance ? rng.pick([-1, 1]) * rng.pick([HOUR, YEAR]) : 0;
    return Math.min(MAX_TS, Math.max(1, this.due.peekTime() + this.offset + glitch));
  }

  /** Silence: nothing happens for `ms` (the actors resume after it). */
  pause(ms: number): void {
    this.offset += ms;
  }

  /** The next batch of events, in delivery order. */
  batch(): Event[] {
    const { rng, shape } = this;
    this.emitted = [];
    const n = rng.int(1, shape.batchMax);
    while (this.emitted.length < n) {
      const t = this.due.peekTime();
      const id = this.due.peekId();
      this.due.pop();
      const next = this.actors[id].act(t, (key, pos, size) => this.emit(t, key, pos, size));
      this.due.push(next, id);
    }
    return this.emitted;
  }

  private emit(t: number, key: string, pos: number, size: number): void {
    const { rng, shape } = this;
    if (rng.next() < shape.jumpChance) this.offset += rng.pick([1, -1]) * rng.pick([HOUR, YEAR, 30 * YEAR]);
    let ts = t + this.offset;
    if (rng.next() < shape.lateChance) ts -= rng.exp(shape.lateMeanMs);
    if (rng.next() < shape.veryLateChance) ts -= rng.uniform(DAY, 10 * YEAR);
    if (rng.next() < shape.fastClockChance) ts += rng.uniform(0, shape.cfg.maxFutureSkewMs);
    ts = Math.floor(ts / shape.quantumMs) * shape.quantumMs;
    ts = Math.min(MAX_TS, Math.max(0, ts));
    this.emitted.push({ key, ts, pos, size });
  }
}
