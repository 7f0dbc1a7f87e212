import { round } from './stats.ts';
import { PATTERN_BITS, PATTERNS, type PatternName, RANDOM } from './types.ts';

/**
 * The one place where detector results become the contract's pattern set.
 *
 * `patterns` holds every pattern detected now. `random` is in it when positions are present but not
 * sequential, or when nothing else is detected, so the set is never empty.
 *
 * The dominant `pattern` is the detected pattern with the highest score, except that `random` only
 * dominates when it is alone: "random" says what a key is *not*, so a periodic key with random positions
 * is reported as periodic. Ties go to the order burst > periodic > correlated > sequential, the order
 * in which a user would act on them (a burst is happening now; a schedule is the most specific fact).
 */
export function patternsOf(mask: number): PatternName[] {
  const out: PatternName[] = [];
  for (const name of PATTERNS) if (mask & PATTERN_BITS[name]) out.push(name);
  return out;
}

export function dominant(mask: number, scores: Record<PatternName, number>): PatternName {
  let best: PatternName = 'random';
  let bestScore = -1;
  for (const name of PATTERNS) {
    if (name === 'random' || !(mask & PATTERN_BITS[name])) continue;
    if (scores[name] > bestScore) {
      best = name;
      bestScore = scores[name];
    }
  }
  return bestScore < 0 && mask & RANDOM ? 'random' : best;
}

export function roundScores(scores: Record<PatternName, number>): Record<PatternName, number> {
  return {
    sequential: round(scores.sequential, 2),
    random: round(scores.random, 2),
    periodic: round(scores.periodic, 2),
    burst: round(scores.burst, 2),
    correlated: round(scores.correlated, 2),
  };
}
