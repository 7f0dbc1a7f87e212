import { errorFunction, gammaln } from 'simple-statistics';

/**
 * Small statistical helpers for the detectors. Tail probabilities use Chernoff bounds: they need no
 * special functions, cost a log or two, and over-estimate the p-value, so a test built on them errs on
 * the side of *not* reporting a pattern.
 */

/** h(x) = x ln x − x + 1, the Poisson rate function. */
function poissonRate(x: number): number {
  return x * Math.log(x) - x + 1;
}

/**
 * Upper bound of P(X ≥ k) for X ~ Poisson(mean): exp(−mean · h(k/mean)) when k > mean, else 1.
 * `k` may be fractional (a decayed count).
 */
function poissonUpperTail(k: number, mean: number): number {
  if (!(mean > 0)) return k > 0 ? 0 : 1;
  if (k <= mean) return 1;
  return Math.exp(-mean * poissonRate(k / mean));
}

/**
 * P(X ≥ ⌊k⌋) for X ~ Poisson(mean), exactly, for k at least twice the mean (the series of pmf terms then
 * shrinks by half or more per term); the Chernoff bound otherwise. Rounding a decayed count down keeps it
 * an upper bound of the tail at k. Ten times tighter than Chernoff for the small counts where a burst of
 * a quiet key is decided, which is what lets it be called within seconds.
 */
export function poissonTail(k: number, mean: number): number {
  const n = Math.floor(k);
  if (!(mean > 0)) return n > 0 ? 0 : 1;
  if (n <= 0) return 1;
  if (n < 2 * mean) return poissonUpperTail(n, mean);
  let term = Math.exp(n * Math.log(mean) - mean - gammaln(n + 1));
  let sum = 0;
  for (let j = n; term > sum * 1e-9 && j < n + 200; j++) {
    sum += term;
    term *= mean / (j + 1);
  }
  return Math.min(1, sum);
}

/** Kullback–Leibler divergence of Bernoulli(q) from Bernoulli(p). */
function bernoulliKl(q: number, p: number): number {
  const a = q <= 0 ? 0 : q * Math.log(q / p);
  const b = q >= 1 ? 0 : (1 - q) * Math.log((1 - q) / (1 - p));
  return a + b;
}

/** Upper bound of P(X ≥ k) for X ~ Binomial(n, p): exp(−n · KL(k/n ‖ p)) when k/n > p, else 1. */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (n <= 0) return 1;
  const q = k / n;
  if (q <= p) return 1;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  return Math.exp(-n * bernoulliKl(Math.min(q, 1), p));
}

/** Rounds for publishing: stable views avoid re-publishing noise in the last digits. */
export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The standard normal distribution function Φ(z). */
export function normalCdf(z: number): number {
  return 0.5 * (1 + errorFunction(z / Math.SQRT2));
}
