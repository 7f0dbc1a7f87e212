/**
 * `node --import tsx bench/probe-sequential-burst.ts [--seed N] [--verbose]`: an independent check of the
 * sequential/random and burst detectors (and the `schedule` and `trend` details) on noisy workloads built
 * from the contract's meaning of the patterns (/work/shared/CONTRACT.md), not from `bench/workloads.ts`,
 * whose choices the detectors were tuned on. A few seconds on one core.
 *
 * Every scenario is a row of keys generated at one noise level and replayed through the pure engine in
 * *delivery* order (so out-of-order batches from several devices arrive as they would over MQTT), with a
 * heartbeat key that moves engine time on while a scenario's key is silent, as other keys' traffic does.
 *
 * - Sequential/random: one line per case, a cell `end/on` per noise level. `end` is the share of keys whose
 *   final view is right (for sequential keys also direction, and stride where the workload has one); `on`
 *   the share of the key's accesses after its 20th during which `sequential` was reported (what a
 *   subscriber saw); `flips` the times per key that `sequential` went off again after it was first
 *   reported (flapping), `wrong` the final views with a wrong direction or stride, `first` the median
 *   access at which `sequential` was first reported (how soon a new reader is recognised), `early` the
 *   share of keys that reported it within their first 20 accesses (for random rows: false starts).
 * - Burst rows: a planted spike *should* be found when, over the minute at its peak, it holds at least 5×
 *   the key's usual count and at least 8 accesses more than it (the contract's "far above its own usual
 *   rate"); *should not* when it holds less than 2× or fewer than 3 more; between the two it is not scored.
 *   `found` counts reported bursts that start inside a spike (or within a window after it), `onset` is
 *   the delay from the spike's start, `end` the delay from the spike's end to the burst's end, `splits` the
 *   bursts that ended and started again inside a spike (flapping); `false/day` counts bursts that start
 *   anywhere else, per key-day.
 * - Schedule and trend are read from views at checkpoints.
 *
 * The last lines summarise the rows that fall short: a sequential row with fewer than 90 % of its keys
 * right at the end or on less than 80 % of the time, a random row with more than 2 % of its time
 * reported sequential, a burst row with a miss, an end later than 90 s, or a false alarm.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { BURST, type PatternState, SEQUENTIAL } from '../src/engine/types.ts';
import { episodes, type Transition, timelineRecorder } from './replay.ts';
import { Rng } from './workloads.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const KIB = 1024;
const MIB = 1024 * KIB;
/** A Monday, midnight UTC: hours of day and weekdays in the schedule checks are easy to read. */
const T0 = Date.UTC(2026, 10, 2);
const HEARTBEAT = '__probe/heartbeat';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    verbose: { type: 'boolean', default: false },
  },
});
const seed = Number(values.seed);
const cfg = loadConfig({ env: {} }).engine;

// ---------------------------------------------------------------------------------------------------------
// Events in delivery order, and the replay that records what a subscriber would have seen.

interface ProbeEvent {
  key: string;
  ts: number;
  /** When the event reaches patternd (≥ ts: batches, slow devices); events are observed in this order. */
  arrival: number;
  pos: number;
  size: number;
}

class Events {
  readonly list: ProbeEvent[] = [];
  constructor(readonly rng: Rng) {}
  add(key: string, ts: number, pos = Number.NaN, size = 0, arrival = ts): void {
    this.list.push({ key, ts, arrival, pos, size });
  }
}

interface Replayed {
  engine: Engine;
  timelines: Map<string, Transition[]>;
  end: number;
}

/**
 * Observes the events in arrival order, with a heartbeat key every 10 s so that time moves on for silent
 * keys, and calls `checkpoint` whenever engine time passes one of `checkpoints` (for mid-trace views).
 */
function replayEvents(
  events: Events,
  end: number,
  checkpoints: number[] = [],
  checkpoint: (e: Engine, at: number) => void = () => {},
): Replayed {
  const list = events.list;
  let start = end;
  for (const e of list) start = Math.min(start, e.arrival);
  for (let t = start; t < end; t += 10 * SECOND) events.add(HEARTBEAT, t);
  list.sort((a, b) => a.arrival - b.arrival);
  const engine = new Engine(cfg);
  const timelines = new Map<string, Transition[]>();
  const record = timelineRecorder(engine, timelines);
  const pending = [...checkpoints].sort((a, b) => a - b);
  for (const e of list) {
    while (pending.length > 0 && pending[0] <= e.ts) checkpoint(engine, pending.shift() as number);
    engine.observe(e.key, e.ts, e.pos, e.size);
    engine.drainChanges(record);
  }
  engine.now = Math.max(engine.now, end);
  engine.tick();
  engine.drainChanges(record);
  for (const at of pending) checkpoint(engine, at);
  return { engine, timelines, end };
}

// ---------------------------------------------------------------------------------------------------------
// Sequential and random workloads.

/** A reader's next access: where it starts and how much it reads (`size` 0: the event carries none). */
interface Access {
  pos: number;
  size: number;
}

/**
 * How a key is read. `reads` returns the accesses in order; `noise` is the scenario's noise level (the
 * share of stray random accesses, or what the scenario makes of it).
 */
interface SequentialCase {
  name: string;
  expect: 'sequential' | 'random' | 'either';
  direction?: 'forward' | 'backward';
  stride?: number;
  reads(rng: Rng, n: number, noise: number): Access[];
  /**
   * How events reach patternd: at their own time (default), each delayed by up to `jitterMs` (several
   * devices, retries), 30 % of them twice, or without `ts` in batches every 5 s (stamped on receipt).
   */
  delivery?: 'in-order' | 'jittered' | 'duplicated' | 'batched-no-ts';
  jitterMs?: number;
  /** Several sessions a few hours apart (a file read again from its start). */
  sessions?: number;
}

const FILE_BYTES = 8 * 1024 * MIB;

/** Read sizes of a media player: 64 KiB to 1 MiB in 4 KiB pages. */
function mediaReadSize(rng: Rng): number {
  return 4 * KIB * rng.int(16, 256);
}

/**
 * A reader that starts at `start` and moves on by `advance` (which returns its access there and where it
 * reads next); with probability `stray` an access goes somewhere random (a thumbnail, an index lookup)
 * without moving the reader.
 */
function stream(
  rng: Rng,
  n: number,
  stray: number,
  start: number,
  advance: (pos: number) => [Access, number],
  randomPos: () => number,
): Access[] {
  const out: Access[] = [];
  let pos = start;
  while (out.length < n) {
    const [access, next] = advance(pos);
    if (rng.next() < stray) {
      // The same kind of read, elsewhere.
      out.push({ pos: randomPos(), size: access.size });
      continue;
    }
    out.push(access);
    pos = next;
  }
  return out;
}

const anyOffset = (rng: Rng) => () => Math.floor(rng.uniform(0, FILE_BYTES) / 4096) * 4096;
const anyChunk = (rng: Rng) => () => rng.int(0, 100_000);

/** Byte reads of `size()` bytes, each where the previous one ended; without a size field if asked. */
const readsOf =
  (size: () => number, sizeField = true) =>
  (pos: number): [Access, number] => {
    const bytes = size();
    return [{ pos, size: sizeField ? bytes : 0 }, pos + bytes];
  };

/** Chunk indexes without a size, moving by `step()` chunks. */
const chunks =
  (step: () => number) =>
  (pos: number): [Access, number] => [{ pos, size: 0 }, pos + step()];

const sequentialCases: SequentialCase[] = [
  {
    name: 'media offsets, 64K-1M reads',
    expect: 'sequential',
    direction: 'forward',
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        readsOf(() => mediaReadSize(rng)),
        anyOffset(rng),
      ),
  },
  {
    name: 'media file looped, short last read',
    expect: 'sequential',
    direction: 'forward',
    reads: (rng, n, noise) => {
      // A file of 40 reads and a bit, played to its end (a short read) and again from its start.
      const length = 40 * 256 * KIB + 100 * KIB;
      const advance = (pos: number): [Access, number] => {
        const size = Math.min(256 * KIB, length - pos);
        return [{ pos, size }, pos + size >= length ? 0 : pos + size];
      };
      return stream(rng, n, noise, 0, advance, anyOffset(rng));
    },
  },
  {
    name: 'readahead, sizes doubling 16K-2M',
    expect: 'sequential',
    direction: 'forward',
    reads: (rng, n, noise) => {
      let size = 16 * KIB;
      const grow = () => {
        const now = size;
        size = Math.min(2 * size, 2 * MIB);
        return now;
      };
      return stream(rng, n, noise, 0, readsOf(grow), anyOffset(rng));
    },
  },
  {
    name: 'offsets 256K, no size field',
    expect: 'sequential',
    direction: 'forward',
    stride: 256 * KIB,
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        readsOf(() => 256 * KIB, false),
        anyOffset(rng),
      ),
  },
  {
    name: 'offsets 64K-1M, no size field',
    // Without sizes, varying steps of up to a MiB are not "a few units": the contract does not say.
    expect: 'either',
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        readsOf(() => mediaReadSize(rng), false),
        anyOffset(rng),
      ),
  },
  {
    name: 'chunk index +1, no size',
    expect: 'sequential',
    direction: 'forward',
    stride: 1,
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        chunks(() => 1),
        anyChunk(rng),
      ),
  },
  {
    name: 'chunk index, stride 3',
    expect: 'sequential',
    direction: 'forward',
    stride: 3,
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        chunks(() => 3),
        anyChunk(rng),
      ),
  },
  {
    name: 'chunk index, steps 1-4 varying',
    expect: 'sequential',
    direction: 'forward',
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        chunks(() => rng.int(1, 4)),
        anyChunk(rng),
      ),
  },
  {
    name: 'backward scan, 64K',
    expect: 'sequential',
    direction: 'backward',
    stride: 64 * KIB,
    reads: (rng, n, noise) =>
      stream(rng, n, noise, FILE_BYTES, (pos) => [{ pos, size: 64 * KIB }, pos - 64 * KIB], anyOffset(rng)),
  },
  {
    name: 'backward chunk index -1',
    expect: 'sequential',
    direction: 'backward',
    stride: 1,
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        1e6,
        chunks(() => -1),
        anyChunk(rng),
      ),
  },
  ...[2, 4, 5, 6, 8].map(
    (readers): SequentialCase => ({
      name: `${readers} interleaved readers`,
      expect: 'sequential',
      direction: 'forward',
      stride: 128 * KIB,
      reads: (rng, n, noise) => {
        // Each reader streams its own part of the file; which one reads next is random (threads, players).
        const parts = Array.from({ length: readers }, (_, r) => (r * FILE_BYTES) / readers);
        const out: Access[] = [];
        while (out.length < n) {
          if (rng.next() < noise) out.push({ pos: anyOffset(rng)(), size: 64 * KIB });
          const r = rng.int(0, readers - 1);
          out.push({ pos: parts[r], size: 128 * KIB });
          parts[r] += 128 * KIB;
        }
        return out;
      },
    }),
  ),
  {
    name: 'seek then stream (scrubbing)',
    expect: 'sequential',
    direction: 'forward',
    stride: 256 * KIB,
    // Noise is the share of reads that seek: the reader jumps and streams on from there.
    reads: (rng, n, noise) => {
      const out: Access[] = [];
      let pos = 0;
      while (out.length < n) {
        if (rng.next() < noise) pos = anyOffset(rng)();
        out.push({ pos, size: 256 * KIB });
        pos += 256 * KIB;
      }
      return out;
    },
  },
  {
    name: 'out of order (arrival jitter 0-0.5 s)',
    expect: 'sequential',
    direction: 'forward',
    stride: 128 * KIB,
    delivery: 'jittered',
    jitterMs: 500,
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        readsOf(() => 128 * KIB),
        anyOffset(rng),
      ),
  },
  {
    name: 'out of order (arrival jitter 0-3 s)',
    expect: 'sequential',
    direction: 'forward',
    stride: 128 * KIB,
    delivery: 'jittered',
    jitterMs: 3 * SECOND,
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        readsOf(() => 128 * KIB),
        anyOffset(rng),
      ),
  },
  {
    name: 'duplicated events (30 %)',
    expect: 'sequential',
    direction: 'forward',
    stride: 128 * KIB,
    delivery: 'duplicated',
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        readsOf(() => 128 * KIB),
        anyOffset(rng),
      ),
  },
  {
    name: 'no ts (receipt time, 5 s batches)',
    expect: 'sequential',
    direction: 'forward',
    stride: 128 * KIB,
    delivery: 'batched-no-ts',
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        readsOf(() => 128 * KIB),
        anyOffset(rng),
      ),
  },
  {
    name: 'file re-read from 0, 6 sessions',
    expect: 'sequential',
    direction: 'forward',
    stride: 1,
    sessions: 6,
    reads: (rng, n, noise) =>
      stream(
        rng,
        n,
        noise,
        0,
        chunks(() => 1),
        anyChunk(rng),
      ),
  },
  {
    name: 'random offsets, 4K',
    expect: 'random',
    reads: (rng, n) => Array.from({ length: n }, () => ({ pos: anyOffset(rng)(), size: 4 * KIB })),
  },
  {
    name: 'random offsets, 64K-1M',
    expect: 'random',
    reads: (rng, n) => Array.from({ length: n }, () => ({ pos: anyOffset(rng)(), size: mediaReadSize(rng) })),
  },
  ...[16, 64].map(
    (chunks): SequentialCase => ({
      name: `random chunks of a ${chunks}-chunk file`,
      expect: 'random',
      reads: (rng, n) => Array.from({ length: n }, () => ({ pos: rng.int(0, chunks - 1), size: 0 })),
    }),
  ),
  {
    name: 'db pages, random walk +-8 blocks',
    // No direction, no steady step: random by the contract even though every step is small.
    expect: 'random',
    reads: (rng, n) => {
      let block = 1e6;
      return Array.from({ length: n }, () => {
        block += rng.int(1, 8) * (rng.next() < 0.5 ? -1 : 1);
        return { pos: block * 4096, size: 4096 };
      });
    },
  },
  {
    name: 'db pages, hot spot +-8 blocks',
    expect: 'random',
    reads: (rng, n) => Array.from({ length: n }, () => ({ pos: (1e6 + rng.int(-8, 8)) * 4096, size: 4096 })),
  },
  {
    name: 'no positions at all',
    expect: 'random',
    reads: (_rng, n) => Array.from({ length: n }, () => ({ pos: Number.NaN, size: 0 })),
  },
];

/** Noise levels: the share of stray (or seeking) accesses. */
const SEQUENTIAL_NOISE = [0, 0.05, 0.15, 0.3];
const KEYS_PER_ROW = 12;
const READS_PER_KEY = 400;

interface SequentialRow {
  name: string;
  noise: number;
  expect: SequentialCase['expect'];
  keys: number;
  /** Keys right at the end (pattern, and direction/stride where known). */
  endRight: number;
  /** Mean share of accesses (after the 20th) during which `sequential` was reported. */
  onShare: number;
  /** Mean times `sequential` went off after first being reported. */
  flips: number;
  /** Per key that reported `sequential`: the access at which it first did. */
  firstOn: number[];
  /** Keys that reported `sequential` within their first 20 accesses. */
  early: number;
  /** Final views whose direction or stride is wrong (among those reporting sequential). */
  detailWrong: number;
}

function sequentialProbe(rng: Rng): SequentialRow[] {
  const events = new Events(rng);
  const labels: { key: string; c: SequentialCase; noise: number }[] = [];
  const span = 6 * HOUR;
  for (const c of sequentialCases) {
    for (const noise of SEQUENTIAL_NOISE) {
      if (c.expect === 'random' && noise > 0) continue;
      for (let k = 0; k < KEYS_PER_ROW; k++) {
        const key = `seq/${c.name}/${noise}/${k}`;
        labels.push({ key, c, noise });
        addReads(events, key, c, noise, span);
      }
    }
  }
  const r = replayEvents(events, T0 + span);
  return rowsOf(r, labels);
}

/** Times the reads of one key (sessions of reads ~5 per second) and delivers them as the case says. */
function addReads(events: Events, key: string, c: SequentialCase, noise: number, span: number): void {
  const rng = events.rng;
  const sessions = c.sessions ?? 1;
  const perSession = Math.ceil(READS_PER_KEY / sessions);
  for (let s = 0; s < sessions; s++) {
    const reads = c.reads(rng, perSession, noise);
    let t = T0 + rng.uniform(0, 10 * MINUTE) + (s * span) / sessions;
    for (const a of reads) {
      t += rng.exp(200);
      const delivery = c.delivery ?? 'in-order';
      if (delivery === 'jittered') events.add(key, t, a.pos, a.size, t + rng.uniform(0, c.jitterMs ?? 0));
      else if (delivery === 'batched-no-ts') {
        const batch = 5 * SECOND;
        const receipt = Math.ceil(t / batch) * batch;
        // Arrival order within the batch is the reading order (a fraction of a millisecond apart).
        events.add(key, receipt, a.pos, a.size, receipt + (t - receipt + batch) / batch);
      } else {
        events.add(key, t, a.pos, a.size);
        if (delivery === 'duplicated' && rng.next() < 0.3)
          events.add(key, t, a.pos, a.size, t + rng.uniform(0, 500));
      }
    }
  }
}

function rowsOf(r: Replayed, labels: { key: string; c: SequentialCase; noise: number }[]): SequentialRow[] {
  const rows = new Map<string, SequentialRow>();
  for (const { key, c, noise } of labels) {
    const id = `${c.name}@${noise}`;
    let row = rows.get(id);
    if (!row) {
      row = {
        name: c.name,
        noise,
        expect: c.expect,
        keys: 0,
        endRight: 0,
        onShare: 0,
        flips: 0,
        firstOn: [],
        early: 0,
        detailWrong: 0,
      };
      rows.set(id, row);
    }
    const view = r.engine.viewOf(key) as PatternState;
    const timeline = r.timelines.get(key) ?? [];
    row.keys++;
    const isSequential = view.patterns.includes('sequential');
    const detailRight =
      !isSequential ||
      ((c.direction === undefined || view.sequential?.direction === c.direction) &&
        (c.stride === undefined || view.sequential?.stride === c.stride));
    if (!detailRight) row.detailWrong++;
    if (c.expect === 'either') row.endRight++;
    else if (
      c.expect === 'sequential' ? isSequential && detailRight : !isSequential && view.pattern === 'random'
    )
      row.endRight++;
    const { share, flips } = onShare(timeline, SEQUENTIAL, view.accesses, 20);
    row.onShare += share;
    row.flips += flips;
    const first = timeline.find((t) => t.mask & SEQUENTIAL);
    if (first) row.firstOn.push(first.accesses);
    if (first && first.accesses <= 20) row.early++;
  }
  for (const row of rows.values()) {
    row.onShare /= row.keys;
    row.flips /= row.keys;
  }
  return [...rows.values()];
}

/** Share of a key's accesses after its `skip`th during which `bit` was reported, and its off-flips. */
function onShare(
  timeline: Transition[],
  bit: number,
  total: number,
  skip: number,
): { share: number; flips: number } {
  let on = false;
  let since = skip;
  let counted = 0;
  let flips = 0;
  let seen = false;
  for (const t of timeline) {
    const now = (t.mask & bit) !== 0;
    if (now === on) continue;
    if (on) counted += Math.max(0, t.accesses - Math.max(since, skip));
    else since = t.accesses;
    if (!now && seen) flips++;
    if (now) seen = true;
    on = now;
  }
  if (on) counted += Math.max(0, total - Math.max(since, skip));
  return { share: total > skip ? counted / (total - skip) : 0, flips };
}

// ---------------------------------------------------------------------------------------------------------
// Burst workloads.

interface Spike {
  from: number;
  to: number;
  /** Should it be found (true), must it not be (false), or is it not scored (undefined)? */
  should: boolean | undefined;
}

interface BurstKey {
  key: string;
  row: string;
  spikes: Spike[];
  /** Bursts are judged from this time on (a key with no history before it is not scored). */
  judgeFrom: number;
  /** Days of judged time, for the false-alarm rate. */
  days: number;
}

/** Memoryless accesses at `rate(t)` per second over [from, to), by thinning against `maxRate`. */
function poissonAccesses(
  events: Events,
  key: string,
  from: number,
  to: number,
  maxRate: number,
  rate: (t: number) => number = () => maxRate,
): void {
  const rng = events.rng;
  for (let t = from + rng.exp(SECOND / maxRate); t < to; t += rng.exp(SECOND / maxRate))
    if (rng.next() * maxRate < rate(t)) events.add(key, t);
}

/**
 * The contract's judgement of a spike of `multiplier` × `baseRate` (per s) lasting `durationMs`: over the
 * minute at its peak, how many times the usual count it holds and how many accesses more.
 */
function spikeShould(baseRate: number, multiplier: number, durationMs: number): boolean | undefined {
  const usual = baseRate * 60;
  const inSpike = Math.min(durationMs, MINUTE) / SECOND;
  const minute = baseRate * multiplier * inSpike + baseRate * (60 - inSpike);
  const ratio = minute / usual;
  const excess = minute - usual;
  if (ratio >= 5 && excess >= 8) return true;
  if (ratio < 2 || excess < 3) return false;
  return undefined;
}

const BURST_BASE_RATES: [string, number][] = [
  ['1/hour', 1 / 3600],
  ['1/min', 1 / 60],
  ['6/min', 0.1],
  ['1/s', 1],
  ['10/s', 10],
];
const MULTIPLIERS = [5, 10, 30, 100];
const DURATIONS: [string, number][] = [
  ['10 s', 10 * SECOND],
  ['10 min', 10 * MINUTE],
];

function burstProbe(rng: Rng): { keys: BurstKey[]; r: Replayed; liveEnd: LiveEnd } {
  const events = new Events(rng);
  const keys: BurstKey[] = [];
  const span = 3 * DAY;
  const end = T0 + span;

  // Spikes on steady backgrounds: two days of history, then a spike every 8 hours (far apart against the
  // 6-hour usual rate, which a spike of minutes barely moves), each multiplier and duration in turn.
  for (const [rateName, base] of BURST_BASE_RATES) {
    // Heavy keys get a shorter history: the usual rate needs hours, not days, and events cost time.
    const history = base >= 1 ? 6 * HOUR : 2 * DAY;
    for (const [durationName, duration] of DURATIONS) {
      for (const m of MULTIPLIERS) {
        if (base * m > 200) continue;
        const key = `burst/${rateName} x${m} for ${durationName}`;
        const from = end - history - HOUR;
        const at = end - HOUR + rng.uniform(0, 10 * MINUTE);
        poissonAccesses(events, key, from, end, base);
        poissonAccesses(events, key, at, at + duration, base * (m - 1));
        keys.push({
          key,
          row: `spike ${durationName} x${m} on ${rateName}`,
          spikes: [{ from: at, to: at + duration, should: spikeShould(base, m, duration) }],
          judgeFrom: from + 2 * HOUR,
          days: (end - from - 2 * HOUR) / DAY,
        });
      }
    }
  }

  // A spike, then the key is never accessed again: only other keys move engine time.
  for (let k = 0; k < 6; k++) {
    const key = `burst/then silent ${k}`;
    const at = T0 + DAY + k * HOUR;
    poissonAccesses(events, key, T0, at, 1 / 120);
    poissonAccesses(events, key, at, at + 2 * MINUTE, 1);
    keys.push({
      key,
      row: 'spike 2 min x120 then silence',
      spikes: [{ from: at, to: at + 2 * MINUTE, should: true }],
      judgeFrom: T0 + 2 * HOUR,
      days: 1,
    });
  }

  // Keys with almost no history: first seen minutes (or seconds) before their spike.
  for (const [name, lead] of [
    ['2 min', 2 * MINUTE],
    ['10 min', 10 * MINUTE],
    ['1 hour', HOUR],
  ] as [string, number][]) {
    for (let k = 0; k < 4; k++) {
      const key = `burst/new key, history ${name} ${k}`;
      const at = T0 + DAY + k * 2 * HOUR;
      poissonAccesses(events, key, at - lead, at, 1 / 60);
      poissonAccesses(events, key, at, at + 3 * MINUTE, 1);
      keys.push({
        key,
        row: `new key (${name} at 1/min) x60 for 3 min`,
        spikes: [{ from: at, to: at + 3 * MINUTE, should: true }],
        judgeFrom: at - lead,
        days: 0,
      });
    }
  }

  // A key busy 08-18 UTC every day (0.02/s at night, 0.5/s by day), with a 20x spike on its last day
  // inside its busy hours: mornings are its habit, the spike is not.
  for (let k = 0; k < 4; k++) {
    const key = `burst/busy by day ${k}`;
    const busy = (t: number) => {
      const h = ((t - T0) / HOUR) % 24;
      return h >= 8 && h < 18 ? 0.5 : 0.02;
    };
    poissonAccesses(events, key, T0, end, 0.5, busy);
    const at = T0 + 2 * DAY + 11 * HOUR + k * HOUR;
    poissonAccesses(events, key, at, at + 3 * MINUTE, 0.5 * 19);
    keys.push({
      key,
      row: 'busy 08-18 daily, x20 3 min on day 3',
      spikes: [{ from: at, to: at + 3 * MINUTE, should: true }],
      judgeFrom: T0 + DAY,
      days: 2,
    });
  }

  // Repeated bursts: 50x for 2 minutes every 4 hours on a 1/min key. Each spike stands out from the rate
  // the key keeps between them, so each is a burst: its spikes are few of its sessions, no habit.
  for (let k = 0; k < 3; k++) {
    const key = `burst/repeated ${k}`;
    poissonAccesses(events, key, T0, end, 1 / 60);
    const spikes: Spike[] = [];
    for (let at = T0 + 6 * HOUR + k * MINUTE * 17; at < end - HOUR; at += 4 * HOUR) {
      poissonAccesses(events, key, at, at + 2 * MINUTE, 49 / 60);
      spikes.push({ from: at, to: at + 2 * MINUTE, should: true });
    }
    keys.push({
      key,
      row: 'repeated x50 2 min every 4 h',
      spikes,
      judgeFrom: T0 + 2 * HOUR,
      days: 3 - 2 / 24,
    });
  }

  // Negatives. Steady Poisson keys, slow ramps, idle then steady use, and periodic sessions on time.
  for (const [name, rate] of [
    ['1/s', 1],
    ['10/s', 10],
    ['1/min', 1 / 60],
  ] as [string, number][]) {
    for (let k = 0; k < 2; k++) {
      const key = `burst/steady ${name} ${k}`;
      const from = rate >= 1 ? end - 8 * HOUR : T0;
      poissonAccesses(events, key, from, end, rate);
      keys.push({
        key,
        row: `steady poisson ${name}`,
        spikes: [],
        judgeFrom: from + 10 * MINUTE,
        days: (end - from - 10 * MINUTE) / DAY,
      });
    }
  }
  for (let k = 0; k < 4; k++) {
    // 1/min to 60/min over six hours, then stays.
    const key = `burst/ramp ${k}`;
    const from = T0 + DAY;
    const ramp = (t: number) => (1 + 59 * Math.min(1, Math.max(0, (t - from) / (6 * HOUR)))) / 60;
    poissonAccesses(events, key, T0, end, 1, ramp);
    keys.push({
      key,
      row: 'ramp 1 -> 60/min over 6 h',
      spikes: [],
      judgeFrom: T0 + 2 * HOUR,
      days: 3 - 2 / 24,
    });
  }
  for (let k = 0; k < 4; k++) {
    // A new key that starts at a steady 1/s (no history at all), and one that was idle for a day first.
    const key = `burst/new key, steady 1/s ${k}`;
    const from = T0 + DAY + k * HOUR;
    poissonAccesses(events, key, from, from + 12 * HOUR, 1);
    keys.push({
      key,
      row: 'new key at steady 1/s',
      spikes: [{ from, to: from + 2 * MINUTE, should: undefined }],
      judgeFrom: from,
      days: 0.5,
    });
    const idle = `burst/1/day, then steady 1/s ${k}`;
    poissonAccesses(events, idle, T0, from, 4 / (DAY / SECOND));
    poissonAccesses(events, idle, from, from + 12 * HOUR, 1);
    keys.push({
      key: idle,
      row: 'rare key, then steady 1/s',
      spikes: [{ from, to: from + 2 * MINUTE, should: undefined }],
      judgeFrom: T0 + 2 * HOUR,
      days: 1,
    });
  }
  for (const [name, period] of [
    ['hourly', HOUR],
    ['every 6 h', 6 * HOUR],
  ] as [string, number][]) {
    for (let k = 0; k < 3; k++) {
      // A backup reading 150 blocks in ~30 s on schedule (1 % jitter); a stray access now and then.
      const key = `burst/periodic session ${name} ${k}`;
      const phase = rng.uniform(0, period);
      for (let t = T0 + phase; t < end; t += period) {
        const at = t + rng.normal(0.01 * period);
        for (let i = 0, s = at; i < 150; i++, s += rng.exp(200)) events.add(key, s, i, 1);
      }
      poissonAccesses(events, key, T0, end, 1 / (4 * HOUR));
      // Judged once the schedule can be known (six sessions) and its first two sessions are past.
      const from = T0 + phase + 7 * period;
      keys.push({
        key,
        row: `periodic session ${name} (on time)`,
        spikes: [],
        judgeFrom: from,
        days: (end - from) / DAY,
      });
    }
  }
  const r = replayEvents(events, end);
  return { keys, r, liveEnd: liveBurstEnd(rng) };
}

interface LiveEnd {
  /** Seconds from the spike's last access to the burst's end, with engine time moved only by tick(). */
  endS: number;
}

/** Live traffic: a spike, then silence; the wall clock (through tick()) alone must end the burst. */
function liveBurstEnd(rng: Rng): LiveEnd {
  let wall = T0;
  const engine = new Engine(cfg, { clock: () => wall });
  for (let t = T0 - 6 * HOUR; t < T0; t += rng.exp(2 * MINUTE)) engine.observe('live', t, Number.NaN, 0);
  let last = T0;
  for (let t = T0; t < T0 + MINUTE; t += rng.exp(500)) {
    wall = t;
    engine.beginBatch();
    engine.observe('live', t, Number.NaN, 0);
    last = t;
  }
  for (wall = last; wall < last + 10 * MINUTE; wall += 250) {
    engine.tick();
    if (!engine.viewOf('live')?.patterns.includes('burst')) break;
  }
  return { endS: (wall - last) / SECOND };
}

interface BurstRow {
  row: string;
  keys: number;
  should: number;
  found: number;
  notScored: number;
  notScoredFound: number;
  /** Spikes that should not be found, and were. */
  shouldNot: number;
  shouldNotFound: number;
  onsetS: number[];
  endS: number[];
  /** Extra bursts that start inside a spike: the burst ended and started again while it lasted. */
  splits: number;
  falseAlarms: number;
  days: number;
}

function burstRows(keys: BurstKey[], r: Replayed): BurstRow[] {
  const rows = new Map<string, BurstRow>();
  for (const k of keys) {
    let row = rows.get(k.row);
    if (!row) {
      row = {
        row: k.row,
        keys: 0,
        should: 0,
        found: 0,
        notScored: 0,
        notScoredFound: 0,
        shouldNot: 0,
        shouldNotFound: 0,
        onsetS: [],
        endS: [],
        splits: 0,
        falseAlarms: 0,
        days: 0,
      };
      rows.set(k.row, row);
    }
    row.keys++;
    row.days += k.days;
    const found = episodes(r.timelines.get(k.key), BURST, r.end);
    const matched = new Set<number>();
    for (const s of k.spikes) {
      const inSpike: number[] = [];
      found.forEach(([from], i) => {
        if (from >= s.from && from < s.to + cfg.burst.windowMs) inSpike.push(i);
      });
      for (const i of inSpike) matched.add(i);
      if (s.should === true) row.should++;
      else if (s.should === false) row.shouldNot++;
      else row.notScored++;
      if (inSpike.length === 0) continue;
      if (s.should === true) row.found++;
      else if (s.should === false) row.shouldNotFound++;
      else row.notScoredFound++;
      row.onsetS.push((found[inSpike[0]][0] - s.from) / SECOND);
      row.endS.push((found[inSpike[inSpike.length - 1]][1] - s.to) / SECOND);
      row.splits += inSpike.length - 1;
    }
    found.forEach(([from], i) => {
      if (!matched.has(i) && from >= k.judgeFrom) row.falseAlarms++;
    });
  }
  return [...rows.values()];
}

// ---------------------------------------------------------------------------------------------------------
// Schedule and trend details.

interface DetailCheck {
  name: string;
  expected: string;
  got: string;
  right: boolean;
}

function detailProbe(rng: Rng): DetailCheck[] {
  const events = new Events(rng);
  const days = 15;
  const end = T0 + days * DAY;
  // The weekend-busy key is read every evening of its second week, when its window holds a whole week.
  const checkpoints = [1, 2, 2.9, 3.5, 5, 7.9, 8.9, 9.9, 10.9, 11.9, 12.9, 13.9, 14.9].map(
    (d) => T0 + d * DAY,
  );
  // Evening-heavy: 18-22 UTC at 30/hour, otherwise 1/hour, at random times (a schedule, not periodic).
  const evening = (t: number) => {
    const h = ((t - T0) / HOUR) % 24;
    return (h >= 18 && h < 22 ? 30 : 1) / 3600;
  };
  poissonAccesses(events, 'schedule/evening', T0, end, 30 / 3600, evening);
  poissonAccesses(events, 'schedule/uniform', T0, end, 5 / 3600);
  // Trends: daily rate rising 20 %/day, falling 15 %/day, flat, and flat with a busy weekend.
  const daysIn = (t: number) => (t - T0) / DAY;
  const week = T0 + 8 * DAY;
  poissonAccesses(events, 'trend/rising', T0, week, 200 / 3600, (t) => (20 / 3600) * 1.2 ** daysIn(t));
  poissonAccesses(events, 'trend/falling', T0, week, 100 / 3600, (t) => (100 / 3600) * 0.85 ** daysIn(t));
  poissonAccesses(events, 'trend/flat', T0, week, 20 / 3600);
  const weekday = (t: number) => Math.floor(daysIn(t)) % 7;
  poissonAccesses(
    events,
    'trend/busy weekend',
    T0,
    end,
    60 / 3600,
    (t) => (weekday(t) >= 5 ? 60 : 20) / 3600,
  );

  const checks: DetailCheck[] = [];
  const check = (name: string, expected: string, got: string, right: boolean) =>
    checks.push({ name, expected, got, right });
  replayEvents(events, end, checkpoints, (engine, at) => {
    const day = ((at - T0) / DAY).toFixed(1);
    const evening = engine.viewOf('schedule/evening') as PatternState;
    const early = at - T0 < cfg.schedule.minHistoryDays * DAY;
    const peaks = evening.schedule?.peak_hours ?? [];
    if (early)
      check(
        `evening schedule, day ${day}`,
        'null',
        JSON.stringify(evening.schedule),
        evening.schedule === null,
      );
    else
      check(
        `evening schedule, day ${day}`,
        'peaks in 18-21, most of them',
        JSON.stringify(evening.schedule),
        peaks.length >= 3 && peaks.every((h) => h >= 18 && h <= 21),
      );
    const uniform = engine.viewOf('schedule/uniform') as PatternState;
    if (!early)
      check(
        `uniform schedule, day ${day}`,
        'no peak hours',
        JSON.stringify(uniform.schedule),
        (uniform.schedule?.peak_hours.length ?? 0) === 0,
      );
    if (at - T0 < 3 * DAY) return;
    // The steady trends rise and fall for eight days; the weekly habit is judged over its second week.
    for (const [key, direction] of [
      ['trend/rising', 'rising'],
      ['trend/falling', 'falling'],
      ['trend/flat', 'flat'],
      ['trend/busy weekend', 'flat'],
    ]) {
      if (key === 'trend/busy weekend' ? at - T0 < 7 * DAY : at - T0 > 8 * DAY) continue;
      const trend = (engine.viewOf(key) as PatternState).trend;
      check(`${key}, day ${day}`, direction, JSON.stringify(trend), trend?.direction === direction);
    }
  });
  return checks;
}

// ---------------------------------------------------------------------------------------------------------
// Report.

const pct = (x: number) => `${(100 * x).toFixed(0)}%`.padStart(5);
const median = (xs: number[]) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const secs = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(0));
/** A table line: the first cell left-aligned to its width, the others right-aligned to theirs. */
const columns = (...cells: [string | number, number][]) =>
  cells.map(([v, w], i) => (i === 0 ? String(v).padEnd(w) : String(v).padStart(w))).join(' ');

const began = performance.now();
const rng = new Rng(seed);
const sequentialRows = sequentialProbe(rng);
const bursts = burstProbe(rng);
const burstTable = burstRows(bursts.keys, bursts.r);
const details = detailProbe(rng);
const shortfalls: string[] = [];

console.log(`probe: seed ${seed}, ${KEYS_PER_ROW} keys x ${READS_PER_KEY} reads per sequential cell`);
console.log('');
// One line per case, one "end/on" cell per noise level; flips and wrong details summed over the levels.
const noiseColumns = SEQUENTIAL_NOISE.map((n): [string, number] => [`${pct(n).trim()} noise`, 11]);
console.log(
  columns(
    ['sequential / random', 40],
    ['expect', 10],
    ...noiseColumns,
    ['flips', 6],
    ['wrong', 6],
    ['first', 6],
    ['early', 6],
  ),
);
for (const c of sequentialCases) {
  const cells = sequentialRows.filter((row) => row.name === c.name);
  const cell = (noise: number): [string, number] => {
    const row = cells.find((r) => r.noise === noise);
    return [row ? `${pct(row.endRight / row.keys).trim()}/${pct(row.onShare).trim()}` : '', 11];
  };
  const flips = cells.reduce((sum, row) => sum + row.flips, 0) / cells.length;
  const wrong = cells.reduce((sum, row) => sum + row.detailWrong, 0);
  const firstOn = cells.flatMap((row) => row.firstOn).sort((a, b) => a - b);
  const first = firstOn.length ? firstOn[firstOn.length >> 1] : '-';
  const early =
    cells.reduce((sum, row) => sum + row.early, 0) / cells.reduce((sum, row) => sum + row.keys, 0);
  console.log(
    columns(
      [c.name, 40],
      [c.expect, 10],
      ...SEQUENTIAL_NOISE.map(cell),
      [flips.toFixed(1), 6],
      [wrong, 6],
      [first, 6],
      [pct(early).trim(), 6],
    ),
  );
}
for (const row of sequentialRows) {
  const label = `${row.name} @ ${pct(row.noise).trim()} noise`;
  if (row.expect === 'sequential' && (row.endRight / row.keys < 0.9 || row.onShare < 0.8))
    shortfalls.push(
      `${label}: ${pct(row.endRight / row.keys).trim()} right at end, on ${pct(row.onShare).trim()}`,
    );
  if (row.expect === 'random' && (row.endRight < row.keys || row.onShare > 0.02))
    shortfalls.push(`${label}: sequential ${pct(row.onShare).trim()} of the time`);
}
console.log('');
const burstColumns = [40, 5, 6, 6, 9, 7, 13, 7, 10];
const burstLine = (...cells: (string | number)[]) =>
  columns(...cells.map((v, i): [string | number, number] => [v, burstColumns[i]]));
console.log(
  burstLine('burst', 'keys', 'found', '(n/s)', 'FP-spike', 'onset-s', 'end-s p50/max', 'splits', 'false/day'),
);
let quietRows = 0;
for (const row of burstTable) {
  const ends = row.endS;
  const lastEnd = ends.length > 0 ? Math.max(...ends) : Number.NaN;
  const quiet = ends.length === 0 && row.should === 0 && row.falseAlarms === 0;
  if (quiet && !values.verbose) {
    quietRows++;
    continue;
  }
  console.log(
    burstLine(
      row.row,
      row.keys,
      `${row.found}/${row.should}`,
      `${row.notScoredFound}/${row.notScored}`,
      `${row.shouldNotFound}/${row.shouldNot}`,
      secs(median(row.onsetS)),
      `${secs(median(ends))}/${secs(lastEnd)}`,
      row.splits,
      (row.days > 0 ? row.falseAlarms / row.days : row.falseAlarms).toFixed(1),
    ),
  );
  if (row.found < row.should) shortfalls.push(`${row.row}: found ${row.found} of ${row.should}`);
  if (row.shouldNotFound > 0)
    shortfalls.push(`${row.row}: ${row.shouldNotFound} spikes below "far above" called bursts`);
  if (lastEnd > 90) shortfalls.push(`${row.row}: a burst ended ${lastEnd.toFixed(0)} s after its spike`);
  if (row.splits > 0)
    shortfalls.push(`${row.row}: ${row.splits} bursts ended and started again inside a spike`);
  if (row.falseAlarms > 0) shortfalls.push(`${row.row}: ${row.falseAlarms} false bursts`);
}
if (quietRows > 0)
  console.log(`(${quietRows} rows of spikes too small to be bursts, rightly not found: --verbose)`);
const liveEnd = bursts.liveEnd.endS.toFixed(1);
console.log(
  `live traffic, key silent after its spike: burst ended ${liveEnd} s after its last access (tick only)`,
);
if (bursts.liveEnd.endS > 90) shortfalls.push(`live burst end: ${bursts.liveEnd.endS.toFixed(0)} s`);
console.log('');
for (const d of details) {
  if (values.verbose || !d.right)
    console.log(`${d.right ? 'ok  ' : 'FAIL'} ${d.name}: expected ${d.expected}, got ${d.got}`);
  if (!d.right) shortfalls.push(`${d.name}: expected ${d.expected}, got ${d.got}`);
}
console.log(`schedule/trend checks: ${details.filter((d) => d.right).length}/${details.length} right`);
console.log('');
console.log(`shortfalls (${shortfalls.length}), ${((performance.now() - began) / 1000).toFixed(1)} s:`);
for (const s of shortfalls) console.log(`  ${s}`);
