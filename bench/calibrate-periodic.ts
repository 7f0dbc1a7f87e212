/**
 * `npm run calibrate:periodic`: Monte-Carlo critical values of the periodic detector's spread statistic
 * (1 − r, r the mean resultant length of the start phases on the fitted schedule) for memoryless keys, one
 * per number of starts, under two nulls: memoryless occurrence starts, and memoryless single accesses
 * that go through the detector itself, so that the starts fitted are occurrences as it records them (a
 * session that continues a run is none, a start merged into the one before is taken back). A memoryless
 * key must pass neither, so the table holds the smaller critical value of the two.
 * Paste the printed table into `POISSON_CRITICAL` in `src/engine/periodic.ts` after changing the fit or
 * what counts as an occurrence.
 */
import { quantile } from 'simple-statistics';
import { loadConfig } from '../src/config.ts';
import {
  emptyFit,
  fitSchedule,
  HISTORY,
  NULL_ALPHA,
  PeriodicDetector,
  periodicFields,
  periodicScratchFields,
} from '../src/engine/periodic.ts';
import { RowTable } from '../src/engine/table.ts';
import { Rng } from './workloads.ts';

const REPS = 20_000;
/** Mean gap (ms) between starts or accesses: far above the session gap, so each access is a session. */
const MEAN_GAP_MS = 1e6;
const defaults = loadConfig({ env: {} }).engine.periodic;
const cfg = { ...defaults, minOccurrences: 3, minFillRatio: 0, maxJitter: 0.49 };
const fit = emptyFit();

/** The NULL_ALPHA quantile of 1 − r over REPS draws of n starts, for each n (0 below four starts). */
function criticalValues(draw: (n: number) => Float64Array): number[] {
  const critical: number[] = [];
  for (let n = 0; n <= HISTORY; n++) {
    if (n < 4) {
      critical.push(0);
      continue;
    }
    const stats: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      fitSchedule(draw(n), n, cfg, fit, Number.NEGATIVE_INFINITY);
      stats.push(fit.period > 0 ? 1 - fit.score : Number.POSITIVE_INFINITY);
    }
    critical.push(Math.floor(quantile(stats, NULL_ALPHA) * 1e4) / 1e4);
  }
  return critical;
}

const startsRng = new Rng(20_261_124);
const starts = new Float64Array(HISTORY);
const memorylessStarts = criticalValues((n) => {
  let at = 0;
  for (let i = 0; i < n; i++) starts[i] = at += startsRng.exp(MEAN_GAP_MS);
  return starts;
});

const accessesRng = new Rng(20_261_206);
const row = new RowTable([periodicFields, periodicScratchFields], 1);
// It records occurrences only: too few of them for its configuration ever to fit.
const detector = new PeriodicDetector({ ...defaults, minOccurrences: Number.POSITIVE_INFINITY }, row);
const memorylessAccesses = criticalValues((n) => {
  row.clear(0);
  let at = 0;
  let occurrences = detector.occurrenceStarts(0);
  while (occurrences.length < n) {
    const previous = at;
    at += accessesRng.exp(MEAN_GAP_MS);
    detector.sessionStarted(0, at, previous);
    occurrences = detector.occurrenceStarts(0);
  }
  return occurrences;
});

const critical = memorylessStarts.map((value, n) => Math.min(value, memorylessAccesses[n]));
// More starts can only make chance alignment harder: smooth the sampling noise conservatively.
for (let n = HISTORY - 1; n >= 4; n--) critical[n] = Math.min(critical[n], critical[n + 1]);
console.log(`memoryless starts:   [${memorylessStarts.join(', ')}]`);
console.log(`memoryless accesses: [${memorylessAccesses.join(', ')}]`);
console.log(`export const POISSON_CRITICAL = [${critical.join(', ')}];`);
