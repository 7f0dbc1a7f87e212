import type { EngineConfig } from '../config.ts';
import { Table } from './table.ts';
import type { PeriodicDetail } from './types.ts';

/**
 * Periodic access: a key whose *sessions* start on a schedule (a cron job, a nightly backup, a camera
 * that uploads every 10 minutes).
 *
 * Each key keeps the start times of its last `HISTORY` sessions in a ring — enough for a month of a
 * daily job, in 256 bytes, independent of how many accesses each session makes. When a session starts,
 * the detector refits:
 *   1. candidate period = median gap between session starts (robust to a few missed or extra runs);
 *   2. every start is assigned its beat number k = round((t − t_last) / P) and a least-squares line
 *      t = a + k·P refines the period and phase;
 *   3. the schedule is accepted only if (a) the starts sit tightly around their beats (robust spread
 *      ≤ `maxJitter` · P), (b) most expected beats are present (`minFillRatio`), and (c) the phase holds:
 *      for a real schedule the spread around the fitted line is smaller than the spread of the gaps
 *      (≈ 1/√2 of it), while a free-running reader whose small errors accumulate drifts away from any
 *      line and fails `maxDriftRatio`. Memoryless (Poisson) sessions fail (a): their starts are spread
 *      uniformly around any beat (~29 % of P).
 * The confidence is the mean resultant length of the beat phases (1 = perfectly on time).
 */
export const HISTORY = 32;

const schema = {
  /** Start times of the last HISTORY sessions (epoch ms), a ring. */
  starts: ['f64', HISTORY],
  /** Sessions seen in total (the ring holds the last min(count, HISTORY)). */
  count: ['u32', 1],
  /** Fitted period (ms) and the fitted time of the latest beat; 0 while no schedule fits. */
  period: ['f64', 1],
  beat: ['f64', 1],
  /** Robust spread of starts around the schedule (ms). */
  jitter: ['f32', 1],
  /** Phase concentration of the fit (0–1). */
  score: ['f32', 1],
  /** 1 while reported periodic. */
  active: ['u8', 1],
} as const;

// Scratch space for a fit: one key at a time, never allocated per event.
const history = new Float64Array(HISTORY);
const resid = new Float64Array(HISTORY);
const beats = new Float64Array(HISTORY);
const work = new Float64Array(HISTORY);

function median(values: Float64Array, n: number): number {
  for (let i = 0; i < n; i++) work[i] = values[i];
  const sorted = work.subarray(0, n).sort();
  return n % 2 ? sorted[(n - 1) >> 1] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/** Median absolute value × 1.4826: a standard-deviation estimate that ignores a few outliers. */
function robustSpread(values: Float64Array, n: number): number {
  for (let i = 0; i < n; i++) work[i] = Math.abs(values[i]);
  const sorted = work.subarray(0, n).sort();
  const m = n % 2 ? sorted[(n - 1) >> 1] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return 1.4826 * m;
}

export interface PeriodicFit {
  period: number;
  beat: number;
  jitter: number;
  score: number;
  ok: boolean;
}

/**
 * Fits a schedule to `n` ascending session start times in `t`. Pure; exported for tests.
 */
export function fitSchedule(
  t: Float64Array,
  n: number,
  cfg: EngineConfig['periodic'],
  out: PeriodicFit,
): void {
  out.ok = false;
  out.period = 0;
  out.score = 0;
  if (n < 3) return;
  for (let i = 1; i < n; i++) beats[i - 1] = t[i] - t[i - 1];
  let period = median(beats, n - 1);
  if (!(period > 0)) return;
  const anchor = t[n - 1];
  // Two rounds: assign beats with the current period, refit period and phase by least squares.
  let a = 0;
  for (let round = 0; round < 2; round++) {
    let sk = 0;
    let se = 0;
    let skk = 0;
    let ske = 0;
    for (let i = 0; i < n; i++) {
      const k = Math.round((t[i] - anchor - a) / period);
      beats[i] = k;
      const e = t[i] - anchor;
      sk += k;
      se += e;
      skk += k * k;
      ske += k * e;
    }
    const den = n * skk - sk * sk;
    if (den <= 0) return;
    const p = (n * ske - sk * se) / den;
    if (!(p > 0)) return;
    a = (se - p * sk) / n;
    period = p;
  }
  // Residuals around the fitted line, and the phase concentration.
  let cs = 0;
  let sn = 0;
  let kMin = 0;
  let distinct = 0;
  let prevK = Number.NaN;
  for (let i = 0; i < n; i++) {
    const r = t[i] - anchor - a - beats[i] * period;
    resid[i] = r;
    const theta = (2 * Math.PI * r) / period;
    cs += Math.cos(theta);
    sn += Math.sin(theta);
    if (beats[i] !== prevK) distinct++;
    prevK = beats[i];
    if (beats[i] < kMin) kMin = beats[i];
  }
  const jitter = robustSpread(resid, n);
  // Gap residuals: each gap minus its whole number of periods. Their spread measures per-beat noise.
  for (let i = 1; i < n; i++) {
    const g = t[i] - t[i - 1];
    resid[i - 1] = g - Math.round(g / period) * period;
  }
  const gapSpread = robustSpread(resid, n - 1);
  const expected = -kMin + 1;
  out.period = period;
  out.beat = anchor + a;
  out.jitter = jitter;
  out.score = Math.hypot(cs, sn) / n;
  const phaseHolds = jitter <= cfg.maxDriftRatio * gapSpread || jitter <= 0.005 * period;
  out.ok =
    distinct >= cfg.minOccurrences &&
    period >= cfg.minPeriodMs &&
    period <= cfg.maxPeriodMs &&
    jitter <= cfg.maxJitter * period &&
    distinct / expected >= cfg.minFillRatio &&
    phaseHolds;
}

export class PeriodicDetector {
  readonly table: Table<typeof schema>;
  private readonly fit: PeriodicFit = { period: 0, beat: 0, jitter: 0, score: 0, ok: false };

  constructor(
    private readonly cfg: EngineConfig['periodic'],
    capacity: number,
  ) {
    this.table = new Table(schema, capacity);
  }

  /** Records the start of a session at `ts` and refits. Returns true if `active` changed. */
  sessionStarted(slot: number, ts: number): boolean {
    const c = this.table.c;
    const count = c.count[slot];
    const base = slot * HISTORY;
    c.starts[base + (count % HISTORY)] = ts;
    c.count[slot] = count + 1;
    const n = Math.min(count + 1, HISTORY);
    if (n < this.cfg.minOccurrences) return false;
    const first = count + 1 - n;
    for (let i = 0; i < n; i++) history[i] = c.starts[base + ((first + i) % HISTORY)];
    // Events can arrive slightly out of order; the fit needs ascending times.
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) sorted = history[i] >= history[i - 1];
    if (!sorted) history.subarray(0, n).sort();
    fitSchedule(history, n, this.cfg, this.fit);
    const was = c.active[slot];
    c.active[slot] = this.fit.ok ? 1 : 0;
    c.period[slot] = this.fit.ok ? this.fit.period : 0;
    c.beat[slot] = this.fit.beat;
    c.jitter[slot] = this.fit.jitter;
    c.score[slot] = this.fit.score;
    return c.active[slot] !== was;
  }

  /** Is a session starting at `ts` on schedule (so its intensity is expected, not a burst)? */
  onSchedule(slot: number, ts: number): boolean {
    const c = this.table.c;
    if (!c.active[slot]) return false;
    const p = c.period[slot];
    const off = (((ts - c.beat[slot]) % p) + p) % p;
    const dist = Math.min(off, p - off);
    return dist <= Math.max(3 * c.jitter[slot], 0.05 * p);
  }

  isActive(slot: number): boolean {
    return this.table.c.active[slot] === 1;
  }

  score(slot: number): number {
    return this.table.c.active[slot] ? this.table.c.score[slot] : 0;
  }

  /** When the key stops being periodic if no session starts before then (missed beats). */
  expiresAt(slot: number): number {
    const c = this.table.c;
    if (!c.active[slot]) return Number.POSITIVE_INFINITY;
    return c.beat[slot] + this.cfg.missedPeriodsToExpire * c.period[slot];
  }

  /** Ends periodicity once the schedule was missed for too long. Returns true if `active` changed. */
  expire(slot: number, now: number): boolean {
    if (now < this.expiresAt(slot)) return false;
    this.table.c.active[slot] = 0;
    return true;
  }

  detail(slot: number, now: number): PeriodicDetail {
    const c = this.table.c;
    const p = c.period[slot];
    const beat = c.beat[slot];
    const ahead = Math.max(1, Math.ceil((now - beat) / p));
    return {
      period_s: Math.round(p) / 1000,
      next_ts: Math.round(beat + ahead * p),
      jitter_s: Math.round(c.jitter[slot]) / 1000,
      occurrences: c.count[slot],
    };
  }
}
