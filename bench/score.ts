/**
 * Scores a replay against the trace's labels. Key-level classes (sequential, periodic, correlated,
 * random) are judged on the view at the end of the trace; bursts are judged as episodes in time: a
 * reported burst that starts inside a planted one (or up to one burst window after it) finds it, any
 * other reported burst is a false alarm.
 */
import { median, quantile } from 'simple-statistics';
import {
  BURST,
  CORRELATED,
  PATTERN_BITS,
  type PatternName,
  PERIODIC,
  SEQUENTIAL,
} from '../src/engine/types.ts';
import { episodes, firstDetection, type Replay } from './replay.ts';
import type { KeyLabel, Trace } from './workloads.ts';

export const CLASSES = ['sequential', 'periodic', 'burst', 'correlated', 'random'] as const;
export type ScoredClass = (typeof CLASSES)[number];

export interface ClassScore {
  truth: number;
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
  /** Time to detect (s): median and 90th percentile over detected positives. */
  detectS: number;
  detectP90S: number;
  /** Accesses the key had when first detected (median). */
  detectAccesses: number;
}

export interface KindScore {
  kind: string;
  keys: number;
  /** Keys whose final pattern set is exactly what the label expects. */
  exact: number;
}

export interface Score {
  classes: Record<ScoredClass, ClassScore>;
  macroF1: number;
  /** Share of keys expected to show only `random` that show anything else at the end. */
  falseAlarmsEnd: number;
  /** Share of those keys that showed a pattern other than random at any time (planted bursts aside). */
  falseAlarmsEver: number;
  /** The same, per pattern: the kinds of keys on which that detector raised a passing alarm. */
  falseAlarmsEverBy: Record<string, string[]>;
  negatives: number;
  /** Share of periodic keys reported with a period within 5 % (of those labelled periodic). */
  periodWithin5: number;
  periodErrorMedian: number;
  /** Share of detected sequential keys with the right stride and direction. */
  strideAccuracy: number;
  /** Share of detected correlated keys that list every planted partner and nothing unrelated. */
  partnerAccuracy: number;
  /** Median delay (s) from a planted burst's end to the reported end. */
  burstEndDelayS: number;
  kinds: KindScore[];
}

function f1(tp: number, fp: number, fn: number) {
  const precision = tp + fp > 0 ? tp / (tp + fp) : 1;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 1;
  return {
    precision,
    recall,
    f1: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0,
  };
}

const stat = (xs: number[], q: number) => (xs.length ? quantile(xs, q) : Number.NaN);

function onlyRandom(l: KeyLabel): boolean {
  return l.expect.length === 1 && l.expect[0] === 'random';
}

export function score(trace: Trace, r: Replay, burstWindowMs: number): Score {
  const classes = {} as Record<ScoredClass, ClassScore>;
  const labelled = trace.labels.filter((l) => r.firstSeen.has(l.key));
  for (const cls of ['sequential', 'periodic', 'correlated', 'random'] as const) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    const delays: number[] = [];
    const accesses: number[] = [];
    const bit = PATTERN_BITS[cls];
    for (const l of labelled) {
      const truth = cls === 'random' ? onlyRandom(l) : l.expect.includes(cls);
      const got = r.final.get(l.key)?.patterns.includes(cls) ?? false;
      if (truth && got) {
        tp++;
        const first = firstDetection(r.timelines.get(l.key), bit);
        if (first) {
          delays.push((first.ts - (r.firstSeen.get(l.key) ?? first.ts)) / 1000);
          accesses.push(first.accesses);
        }
      } else if (got) fp++;
      else if (truth) fn++;
    }
    classes[cls] = {
      truth: tp + fn,
      tp,
      fp,
      fn,
      ...f1(tp, fp, fn),
      detectS: stat(delays, 0.5),
      detectP90S: stat(delays, 0.9),
      detectAccesses: accesses.length ? median(accesses) : Number.NaN,
    };
  }

  // Bursts, as episodes in time.
  let found = 0;
  let planted = 0;
  let falseBursts = 0;
  const burstDelays: number[] = [];
  const burstAccesses: number[] = [];
  const endDelays: number[] = [];
  for (const l of labelled) {
    const list = r.timelines.get(l.key);
    const reported = episodes(list, BURST, trace.end);
    const windows = l.bursts ?? [];
    planted += windows.length;
    const matched = new Set<number>();
    for (const [from, to] of reported) {
      const w = windows.findIndex(([a, b]) => from >= a && from <= b + burstWindowMs);
      if (w < 0) {
        if (from >= (l.judgeBurstsFrom ?? trace.start)) falseBursts++;
        continue;
      }
      if (matched.has(w)) continue;
      matched.add(w);
      burstDelays.push((from - windows[w][0]) / 1000);
      endDelays.push((to - windows[w][1]) / 1000);
      const first = list?.find((t) => t.ts === from);
      if (first) burstAccesses.push(first.accesses);
    }
    found += matched.size;
  }
  classes.burst = {
    truth: planted,
    tp: found,
    fp: falseBursts,
    fn: planted - found,
    ...f1(found, falseBursts, planted - found),
    detectS: stat(burstDelays, 0.5),
    detectP90S: stat(burstDelays, 0.9),
    detectAccesses: Number.NaN,
  };

  // Hard negatives: keys that should show nothing but random.
  const negatives = labelled.filter(onlyRandom);
  let endAlarms = 0;
  let everAlarms = 0;
  const falseAlarmsEverBy: Record<string, string[]> = {};
  const raised = (pattern: string, kind: string) => {
    falseAlarmsEverBy[pattern] ??= [];
    falseAlarmsEverBy[pattern].push(kind);
  };
  const structuralBits = [
    ['sequential', SEQUENTIAL],
    ['periodic', PERIODIC],
    ['correlated', CORRELATED],
  ] as const;
  for (const l of negatives) {
    const final = r.final.get(l.key)?.patterns ?? [];
    if (final.some((p) => p !== 'random')) endAlarms++;
    const list = r.timelines.get(l.key);
    const structural = structuralBits.filter(([, bit]) => episodes(list, bit, trace.end).length > 0);
    for (const [name] of structural) raised(name, l.kind);
    const strayBurst = episodes(list, BURST, trace.end).some(
      ([from]) => !(l.bursts ?? []).some(([a, b]) => from >= a && from <= b + burstWindowMs),
    );
    if (strayBurst) raised('burst', l.kind);
    if (structural.length > 0 || strayBurst) everAlarms++;
  }

  const periodErrors: number[] = [];
  let periodic = 0;
  let strideOk = 0;
  let strideJudged = 0;
  let partnersOk = 0;
  let partnersJudged = 0;
  for (const l of labelled) {
    const v = r.final.get(l.key);
    if (l.periodMs && l.expect.includes('periodic')) {
      periodic++;
      if (v?.periodic) periodErrors.push(Math.abs(v.periodic.period_s * 1000 - l.periodMs) / l.periodMs);
    }
    if (l.stride && v?.sequential) {
      strideJudged++;
      if (v.sequential.stride === l.stride && v.sequential.direction === l.direction) strideOk++;
    }
    if (l.partners && v && v.correlated.length > 0) {
      partnersJudged++;
      const listed = new Set(v.correlated.map((p) => p.key));
      const allowed = new Set([...l.partners, ...(l.related ?? [])]);
      if (l.partners.every((k) => listed.has(k)) && [...listed].every((k) => allowed.has(k))) partnersOk++;
    }
  }

  const kinds = new Map<string, KindScore>();
  for (const l of labelled) {
    const k = kinds.get(l.kind) ?? { kind: l.kind, keys: 0, exact: 0 };
    kinds.set(l.kind, k);
    k.keys++;
    const got = new Set<PatternName>((r.final.get(l.key)?.patterns ?? []).filter((p) => p !== 'random'));
    const want = new Set<PatternName>(l.expect.filter((p) => p !== 'random'));
    if (got.size === want.size && [...want].every((p) => got.has(p))) k.exact++;
  }

  return {
    classes,
    macroF1: CLASSES.reduce((s, c) => s + classes[c].f1, 0) / CLASSES.length,
    falseAlarmsEnd: negatives.length ? endAlarms / negatives.length : 0,
    falseAlarmsEver: negatives.length ? everAlarms / negatives.length : 0,
    falseAlarmsEverBy,
    negatives: negatives.length,
    periodWithin5: periodic ? periodErrors.filter((e) => e <= 0.05).length / periodic : 1,
    periodErrorMedian: periodErrors.length ? median(periodErrors) : Number.NaN,
    strideAccuracy: strideJudged ? strideOk / strideJudged : 1,
    partnerAccuracy: partnersJudged ? partnersOk / partnersJudged : 1,
    burstEndDelayS: endDelays.length ? median(endDelays) : Number.NaN,
    kinds: [...kinds.values()],
  };
}
