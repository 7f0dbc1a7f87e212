/**
 * Seeded, labelled access workloads for the detectors: the accuracy benchmark replays a long one, the
 * engine tests build small ones from the same pieces.
 *
 * Every generator adds its events to a `TraceBuilder` and records what a correct engine must say about
 * the key at the end of the trace (`expect`), plus the facts needed to score details (period, stride,
 * partners) and the planted burst intervals. Noise is part of every class on purpose — timing jitter,
 * missed beats, random jumps, stray accesses, background traffic — because the engine is judged on
 * workloads it has never seen, not on this one.
 */
import type { PatternName } from '../src/engine/types.ts';
import { mulberry32 } from './rng.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Seeded draws (mulberry32) with the distributions the workloads need. */
export class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hi: number): number {
    return Math.floor(this.uniform(lo, hi + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }
  /** Exponential waiting time with the given mean. */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
  normal(sd = 1): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next()) * sd;
  }
}

export interface KeyLabel {
  key: string;
  /** A short description of how the key was generated (the row of the report it falls in). */
  kind: string;
  /** Patterns a correct engine reports at the end of the trace (`random` alone for hard negatives). */
  expect: PatternName[];
  periodMs?: number;
  stride?: number;
  direction?: 'forward' | 'backward';
  /** Keys the engine must list as correlated partners, and keys it may list as well. */
  partners?: string[];
  related?: string[];
  /** Planted bursts: [start, end] event times. */
  bursts?: [number, number][];
  /** Bursts before this time are not judged (a key's sessions are not yet its habit). */
  judgeBurstsFrom?: number;
}

export interface Trace {
  start: number;
  end: number;
  labels: KeyLabel[];
  /** Events in time order, struct-of-arrays. */
  n: number;
  key: Int32Array;
  ts: Float64Array;
  pos: Float64Array;
  size: Float64Array;
  keyNames: string[];
}

export class TraceBuilder {
  readonly labels: KeyLabel[] = [];
  private readonly names: string[] = [];
  private readonly ids = new Map<string, number>();
  private keyIds: number[] = [];
  private times: number[] = [];
  private positions: number[] = [];
  private sizes: number[] = [];

  constructor(
    readonly rng: Rng,
    readonly start: number,
    readonly end: number,
  ) {}

  add(key: string, ts: number, pos = Number.NaN, size = 0): void {
    if (ts < this.start || ts >= this.end) return;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.names.push(key) - 1;
      this.ids.set(key, id);
    }
    this.keyIds.push(id);
    this.times.push(ts);
    this.positions.push(pos);
    this.sizes.push(size);
  }

  label(l: KeyLabel): void {
    this.labels.push(l);
  }

  build(): Trace {
    const n = this.times.length;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const times = this.times;
    order.sort((a, b) => times[a] - times[b] || a - b);
    const trace: Trace = {
      start: this.start,
      end: this.end,
      labels: this.labels,
      n,
      key: new Int32Array(n),
      ts: new Float64Array(n),
      pos: new Float64Array(n),
      size: new Float64Array(n),
      keyNames: this.names,
    };
    for (let i = 0; i < n; i++) {
      const j = order[i];
      trace.key[i] = this.keyIds[j];
      trace.ts[i] = times[j];
      trace.pos[i] = this.positions[j];
      trace.size[i] = this.sizes[j];
    }
    return trace;
  }
}

// ---- generators: each adds one key (or a group) and labels it ----

/** Memoryless accesses at `ratePerS` between `from` and `to`, optionally at random positions. */
export function poisson(
  b: TraceBuilder,
  key: string,
  ratePerS: number,
  opts: { from?: number; to?: number; positions?: boolean; label?: boolean } = {},
): void {
  const from = opts.from ?? b.start;
  const to = opts.to ?? b.end;
  for (let t = from + b.rng.exp(1000 / ratePerS); t < to; t += b.rng.exp(1000 / ratePerS)) {
    if (opts.positions) b.add(key, t, b.rng.int(0, 1 << 20) * 4096, 4096);
    else b.add(key, t);
  }
  if (opts.label !== false)
    b.label({ key, kind: opts.positions ? 'random positions' : 'poisson', expect: ['random'] });
}

/**
 * A steady reader: gaps of `meanGapMs` with independent errors (`cv` × gap), so its phase wanders —
 * regular, but not a schedule. Heavy hitters are the fast end of the same thing.
 */
export function steady(b: TraceBuilder, key: string, meanGapMs: number, cv: number, kind: string): void {
  for (let t = b.start + b.rng.uniform(0, meanGapMs); t < b.end; ) {
    b.add(key, t);
    t += Math.max(1, meanGapMs * (1 + b.rng.normal(cv)));
  }
  b.label({ key, kind, expect: ['random'] });
}

/**
 * A key used by day and quiet at night: memoryless at `nightPerS` until 07:00 UTC, ramping over an hour to
 * `dayPerS`, and back over an hour from 22:00 (`shiftH` moves the day). Every morning is a rise far above
 * the night's rate, and none of them is a burst once the key has a few days of history.
 */
export function diurnal(b: TraceBuilder, key: string, nightPerS: number, dayPerS: number, shiftH = 0): void {
  const level = (t: number) => {
    const h = (((t / HOUR - shiftH) % 24) + 24) % 24;
    if (h < 7 || h >= 23) return 0;
    if (h < 8) return h - 7;
    return h < 22 ? 1 : 23 - h;
  };
  // Thinning: candidates at the day's rate, each kept with the share of it that applies at its time.
  for (let t = b.start + b.rng.exp(1000 / dayPerS); t < b.end; t += b.rng.exp(1000 / dayPerS)) {
    if (b.rng.next() * dayPerS < nightPerS + (dayPerS - nightPerS) * level(t)) b.add(key, t);
  }
  // Its first mornings are news (a key that was quiet wakes up); from the fourth day on they are its habit.
  b.label({ key, kind: 'diurnal', expect: ['random'], judgeBurstsFrom: b.start + 3 * DAY });
}

export interface SequentialOptions {
  /** Units per access: the byte size (offsets) or 1 (chunk indexes). */
  size: number;
  /** Extra units skipped between accesses: the next access starts at position + size + gap·unit. */
  gap: number;
  backward?: boolean;
  /** Share of accesses that jump to a random place (the stream continues from there). */
  jumps: number;
  readers?: number;
  meanGapMs: number;
  from?: number;
  to?: number;
}

/** One or more readers streaming through a key, interleaved, with random jumps. */
export function sequential(b: TraceBuilder, key: string, o: SequentialOptions, kind = 'sequential'): void {
  const step = o.size + o.gap * (o.size === 1 ? 1 : o.size);
  const readers = o.readers ?? 1;
  const from = o.from ?? b.start;
  const to = o.to ?? b.end;
  const fileUnits = 1e6 * step;
  for (let r = 0; r < readers; r++) {
    let pos = o.backward ? fileUnits - r * (fileUnits / readers) : (r * fileUnits) / readers;
    for (let t = from + b.rng.exp(o.meanGapMs); t < to; t += b.rng.exp(o.meanGapMs)) {
      if (b.rng.next() < o.jumps) pos = Math.floor(b.rng.uniform(0, fileUnits) / step) * step;
      b.add(key, t, pos, o.size);
      pos += o.backward ? -step : step;
    }
  }
  b.label({
    key,
    kind,
    expect: ['sequential'],
    stride: step,
    direction: o.backward ? 'backward' : 'forward',
  });
}

/**
 * Occurrences after which a key's sessions are its known behaviour (two earlier ones alike), so one more
 * must no longer be called a burst. Before that, a key that was idle for a day and is suddenly busy *is* a
 * burst as far as anyone can tell.
 */
export const SESSIONS_KNOWN_AFTER = 3;

export interface PeriodicOptions {
  periodMs: number;
  /** Standard deviation of each occurrence's timing error, as a fraction of the period. */
  jitter: number;
  /** Share of occurrences that do not happen. */
  missed: number;
  /** Stray accesses at random times, per period. */
  strays?: number;
  /** Accesses per occurrence (a session) and their spacing; 1 for a single access. */
  session?: { accesses: number; gapMs: number; sequential: boolean };
  /** Occurrences to generate, ending at the trace's end (fewer when the trace is shorter). */
  beats?: number;
  /** Phase of the schedule (time of the first beat after `start`). */
  phaseMs?: number;
}

export function periodic(b: TraceBuilder, key: string, o: PeriodicOptions, kind = 'periodic'): void {
  const P = o.periodMs;
  const phase = o.phaseMs ?? b.rng.uniform(0, P);
  const total = Math.floor((b.end - b.start - phase) / P) + 1;
  const first = Math.max(0, total - (o.beats ?? total));
  let occurrences = 0;
  let judgeFrom = b.end;
  for (let k = first; k < total; k++) {
    if (b.rng.next() < o.missed) continue;
    const t = b.start + phase + k * P + b.rng.normal(o.jitter * P);
    occurrences++;
    if (occurrences === SESSIONS_KNOWN_AFTER) judgeFrom = t;
    const s = o.session;
    if (!s) {
      b.add(key, t);
      continue;
    }
    let pos = b.rng.int(0, 1000) * 65536;
    let at = t;
    for (let i = 0; i < s.accesses; i++) {
      if (s.sequential) b.add(key, at, pos, 65536);
      else b.add(key, at);
      pos += 65536;
      at += s.gapMs * b.rng.uniform(0.5, 1.5);
    }
  }
  const strayMean = o.strays ? P / o.strays : 0;
  if (strayMean > 0) {
    const from = b.start + phase + first * P;
    for (let t = from + b.rng.exp(strayMean); t < b.end; t += b.rng.exp(strayMean)) b.add(key, t);
  }
  const expect: PatternName[] = o.session?.sequential ? ['periodic', 'sequential'] : ['periodic'];
  b.label({
    key,
    kind,
    expect,
    periodMs: P,
    judgeBurstsFrom: judgeFrom,
    ...(o.session?.sequential ? { stride: 65536, direction: 'forward' as const } : {}),
  });
}

/** Background accesses of `key` with bursts of `multiplier` × the rate planted at the given times. */
export function bursty(
  b: TraceBuilder,
  key: string,
  ratePerS: number,
  bursts: { at: number; durationMs: number; multiplier: number }[],
  kind: string,
): void {
  poisson(b, key, ratePerS, { label: false });
  const windows: [number, number][] = [];
  for (const burst of bursts) {
    const rate = ratePerS * burst.multiplier;
    const end = burst.at + burst.durationMs;
    for (let t = burst.at + b.rng.exp(1000 / rate); t < end; t += b.rng.exp(1000 / rate)) b.add(key, t);
    windows.push([burst.at, end]);
  }
  b.label({ key, kind, expect: ['random'], bursts: windows });
}

/**
 * A leader accessed at memoryless times; each follower comes `lagMs` (± 30 %) later with probability
 * `confidence`, and also on its own now and then.
 */
export function correlatedGroup(
  b: TraceBuilder,
  leader: string,
  followers: { key: string; lagMs: number; confidence: number }[],
  ratePerS: number,
  kind: string,
): void {
  for (let t = b.start + b.rng.exp(1000 / ratePerS); t < b.end; t += b.rng.exp(1000 / ratePerS)) {
    b.add(leader, t);
    for (const f of followers)
      if (b.rng.next() < f.confidence) b.add(f.key, t + f.lagMs * b.rng.uniform(0.7, 1.3));
  }
  for (const f of followers) poisson(b, f.key, ratePerS * 0.15, { label: false });
  b.label({ key: leader, kind, expect: ['correlated'], partners: followers.map((f) => f.key) });
  // Followers of one leader also come within the lag of each other, in either order: listing a sibling
  // is right, not listing it is not wrong.
  const keys = followers.map((f) => f.key);
  for (const f of followers)
    b.label({
      key: f.key,
      kind,
      expect: ['correlated'],
      partners: [leader],
      related: keys.filter((k) => k !== f.key),
    });
}

/** Key names a careless implementation would trip over (topic wildcards, unicode, spaces, length). */
export const AWKWARD_NAMES = [
  'media/films/Amélie (2001) #1.mkv',
  'sensors/+/temp',
  'a'.repeat(400),
  'ünïcödé/日本語/ファイル.bin',
  ' leading and trailing space ',
  'emoji/📷/IMG_0001.jpg',
  'null',
  '__proto__',
  'constructor',
  'percent%20encoded%2Fkey',
];

export interface WorkloadOptions {
  seed: number;
  start?: number;
  days?: number;
  /** Multiplies the number of keys of each class (1 = the benchmark). */
  scale?: number;
}

/**
 * The benchmark's mixed workload: every class with its hard negatives, over `days` days (10 by default,
 * so a daily job that misses some runs still has the ~6 occurrences the contract asks for). Fast keys are active only for the last
 * hours of the trace, to keep the event count (and the replay) small; their patterns do not need days.
 */
export function standardWorkload(o: WorkloadOptions): Trace {
  const rng = new Rng(o.seed);
  const start = o.start ?? Date.UTC(2026, 10, 1);
  const days = o.days ?? 10;
  const end = start + days * DAY;
  const b = new TraceBuilder(rng, start, end);
  const scale = o.scale ?? 1;
  const count = (n: number) => Math.max(1, Math.round(n * scale));
  const lastHours = (h: number) => ({ from: end - h * HOUR, to: end });
  let id = 0;
  const name = (prefix: string) => `${prefix}/${(id++).toString(36)}`;

  // Memoryless keys from once a day to twice a second (the fast ones over the last hours only).
  for (let i = 0; i < count(24); i++) {
    const rate = 10 ** rng.uniform(-5, 0.3);
    const window = rate > 1 / 60 ? lastHours(rng.uniform(3, 10)) : {};
    poisson(b, name('poisson'), rate, window);
  }
  for (let i = 0; i < count(8); i++)
    poisson(b, name('randpos'), 10 ** rng.uniform(-3, 0), { positions: true, ...lastHours(6) });
  // Steady heavy hitters and steady readers (regular gaps, drifting phase).
  for (let i = 0; i < count(4); i++) {
    const k = name('heavy');
    const gap = rng.uniform(100, 500);
    const from = end - rng.uniform(2, 5) * HOUR;
    for (let t = from; t < end; t += rng.exp(gap)) b.add(k, t);
    b.label({ key: k, kind: 'heavy hitter', expect: ['random'] });
  }
  for (let i = 0; i < count(8); i++)
    steady(b, name('steady'), rng.pick([30, 60, 300, 600, 3600]) * SECOND, rng.uniform(0.05, 0.15), 'steady');

  // Sequential: offsets and chunk indexes, forward and backward, gaps, jumps, interleaved readers.
  for (let i = 0; i < count(16); i++) {
    const chunks = rng.next() < 0.4;
    const readers = rng.next() < 0.3 ? rng.int(2, 3) : 1;
    const from = end - rng.uniform(1, 12) * HOUR;
    sequential(
      b,
      name(readers > 1 ? 'interleaved' : 'seq'),
      {
        size: chunks ? 1 : rng.pick([4096, 65536, 1 << 20]),
        gap: rng.next() < 0.3 ? rng.int(1, 3) : 0,
        backward: rng.next() < 0.3,
        jumps: rng.uniform(0, 0.12),
        readers,
        meanGapMs: rng.uniform(200, 5000),
        from,
        to: from + rng.uniform(0.3, 1) * HOUR,
      },
      readers > 1 ? 'interleaved' : 'sequential',
    );
  }

  // Periodic: 10 s to a day, jitter up to 5 %, up to 15 % missed beats, some stray accesses.
  const periods = [10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400].map((s) => s * SECOND);
  for (let i = 0; i < count(27); i++) {
    const P = periods[i % periods.length];
    periodic(b, name('periodic'), {
      periodMs: P,
      jitter: rng.pick([0, 0.01, 0.02, 0.03, 0.05]),
      missed: rng.uniform(0, 0.15),
      strays: rng.next() < 0.3 ? 0.1 : 0,
      beats: Math.min(200, Math.floor((days * DAY) / P) - 1),
    });
  }
  // Sessions on schedule: nightly backups reading a file, hourly camera uploads.
  for (let i = 0; i < count(4); i++)
    periodic(
      b,
      name('backup'),
      {
        periodMs: DAY,
        phaseMs: 2 * HOUR + rng.uniform(0, HOUR),
        jitter: 0.005,
        missed: 0.1,
        session: { accesses: rng.int(200, 800), gapMs: rng.uniform(50, 300), sequential: true },
      },
      'nightly backup',
    );
  for (let i = 0; i < count(4); i++)
    periodic(
      b,
      name('camera'),
      {
        periodMs: HOUR,
        jitter: 0.01,
        missed: 0.1,
        session: { accesses: rng.int(5, 30), gapMs: 500, sequential: false },
        beats: 48,
      },
      'session',
    );
  // Two schedules that coincide (same hour, same phase) are periodic, not correlated.
  for (let i = 0; i < count(2); i++) {
    const phaseMs = rng.uniform(0, HOUR);
    for (const k of [name('cron'), name('cron')])
      periodic(b, k, { periodMs: HOUR, phaseMs, jitter: 0.0005, missed: 0.05, beats: 100 }, 'coinciding');
  }

  // Bursts on memoryless backgrounds: recent, and ended hours ago (only random by the end).
  for (let i = 0; i < count(12); i++) {
    const rate = 10 ** rng.uniform(-3, -1);
    const multiplier = Math.max(rng.uniform(20, 100), 0.3 / rate);
    const at = rng.uniform(start + DAY, end - 10 * MINUTE);
    bursty(b, name('bursty'), rate, [{ at, durationMs: rng.uniform(1, 5) * MINUTE, multiplier }], 'burst');
  }

  // Correlated pairs and one-to-many groups, with lags up to 3 s and followers that also come alone.
  for (let i = 0; i < count(8); i++) {
    const leader = name('lead');
    const n = rng.next() < 0.35 ? rng.int(2, 3) : 1;
    const followers = Array.from({ length: n }, () => ({
      key: name('follow'),
      lagMs: rng.uniform(100, 3000),
      confidence: rng.uniform(0.8, 1),
    }));
    correlatedGroup(b, leader, followers, 1 / rng.uniform(120, 1800), n > 1 ? 'one-to-many' : 'pair');
  }

  // Awkward names carry ordinary patterns.
  AWKWARD_NAMES.forEach((key, i) => {
    if (i % 2 === 0) poisson(b, key, 1 / rng.uniform(60, 3600));
    else sequential(b, key, { size: 4096, gap: 0, jumps: 0.05, meanGapMs: 1000, ...lastHours(1) });
  });
  // Busy by day, quiet at night (last, so that adding them moved no other key of the trace).
  for (let i = 0; i < count(2); i++) {
    const night = rng.uniform(0.003, 0.01);
    diurnal(b, name('diurnal'), night, night * rng.uniform(10, 20), rng.uniform(0, 24));
  }
  return b.build();
}
