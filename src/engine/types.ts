/** The five pattern kinds, in the order used for bit masks and tie-breaking of the dominant pattern. */
export const PATTERNS = ['burst', 'periodic', 'correlated', 'sequential', 'random'] as const;
export type PatternName = (typeof PATTERNS)[number];

export const BURST = 1;
export const PERIODIC = 2;
export const CORRELATED = 4;
export const SEQUENTIAL = 8;
export const RANDOM = 16;
export const PATTERN_BITS: Record<PatternName, number> = {
  burst: BURST,
  periodic: PERIODIC,
  correlated: CORRELATED,
  sequential: SEQUENTIAL,
  random: RANDOM,
};

export interface SequentialDetail {
  direction: 'forward' | 'backward';
  stride: number;
  streams: number;
}

export interface PeriodicDetail {
  period_s: number;
  next_ts: number;
  jitter_s: number;
  occurrences: number;
}

export interface BurstDetail {
  since_ts: number;
  rate_per_min: number;
  baseline_per_min: number;
  ratio: number;
}

export interface CorrelatedPartner {
  key: string;
  confidence: number;
  lag_s: number;
  /** `after`: the partner follows this key; `before`: the partner precedes it. */
  direction: 'after' | 'before';
  support: number;
}

export interface ScheduleDetail {
  peak_hours: number[];
  peak_days: number[];
  concentration: number;
}

export interface TrendDetail {
  direction: 'rising' | 'falling' | 'flat';
  rate_change_per_day: number;
}

/** The contract's retained pattern state of one key. */
export interface PatternState {
  key: string;
  pattern: PatternName;
  confidence: number;
  patterns: PatternName[];
  scores: Record<PatternName, number>;
  sequential: SequentialDetail | null;
  periodic: PeriodicDetail | null;
  burst: BurstDetail | null;
  correlated: CorrelatedPartner[];
  schedule: ScheduleDetail | null;
  trend: TrendDetail | null;
  /** The device (topic levels after `access/`) of the latest access; null when published to `B/access`. */
  source: string | null;
  accesses: number;
  first_ts: number;
  last_ts: number;
  updated_ts: number;
}
