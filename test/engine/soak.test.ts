import { describe, expect, it } from 'vitest';
import { reproduction, soakSeed } from '../../bench/soak-runner.ts';

/**
 * A short engine soak (bench/soak.ts runs the long one): a few randomized shapes at a tenth of their event
 * budget, each in a watched worker thread, so that a hang fails this test within seconds instead of
 * blocking the run.
 */
// Seed 25 froze the engine within its first 30 events before the burst end time fix (def195a).
const SEEDS = [1, 2, 3, 4, 5, 6, 25];

describe('engine soak', () => {
  it(
    'holds the engine invariants on randomized workload shapes, without hanging',
    { timeout: 30_000 },
    async () => {
      const failures: string[] = [];
      for (const seed of SEEDS) {
        const o = await soakSeed(seed, { scale: 0.1, stallMs: 3000 });
        if (o.failure) failures.push(`${reproduction(o)}: ${o.failure.split('\n')[0]}`);
      }
      expect(failures).toEqual([]);
    },
  );
});
