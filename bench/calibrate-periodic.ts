/**
 * `npm run calibrate:periodic`: Monte-Carlo critical values of the periodic detector's spread statistic
 * (1 − r, r the mean resultant length of the start phases on the fitted schedule) for memoryless session starts, one per number of starts.
 * Paste the printed table into `POISSON_CRITICAL` in `src/engine/periodic.ts` after changing the fit.
 */
import { quantile } from 'simple-statistics';
import { loadConfig } from '../src/config.ts';
import { fitSchedule, HISTORY, NULL_ALPHA, type PeriodicFit } from '../src/engine/periodic.ts';
import { Rng } from './workloads.ts';

const REPS = 20_000;
const cfg = {
  ...loadConfig({ env: {} }).engine.periodic,
  minOccurrences: 3,
  minFillRatio: 0,
  maxJitter: 0.49,
};
const rng = new Rng(20_261_124);
const fit: PeriodicFit = { period: 0, beat: 0, jitter: 0, score: 0, ok: false, shortBy: 0 };
const t = new Float64Array(HISTORY);
const critical: number[] = [];
for (let n = 0; n <= HISTORY; n++) {
  if (n < 4) {
    critical.push(0);
    continue;
  }
  const stats: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    let at = 0;
    for (let i = 0; i < n; i++) t[i] = at += rng.exp(1e6);
    fitSchedule(t, n, cfg, fit, Number.NEGATIVE_INFINITY);
    stats.push(fit.period > 0 ? 1 - fit.score : Number.POSITIVE_INFINITY);
  }
  critical.push(Math.floor(quantile(stats, NULL_ALPHA) * 1e4) / 1e4);
}
// More starts can only make chance alignment harder: smooth the sampling noise conservatively.
for (let n = HISTORY - 1; n >= 4; n--) critical[n] = Math.min(critical[n], critical[n + 1]);
console.log(`export const POISSON_CRITICAL = [${critical.join(', ')}];`);
