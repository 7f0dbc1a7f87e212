import { describe, expect, it } from 'vitest';
import { replay } from '../../bench/replay.ts';
import { score } from '../../bench/score.ts';
import { standardWorkload } from '../../bench/workloads.ts';
import { engineConfig } from './helpers.ts';

describe('accuracy on a mixed, noisy workload (a small version of npm run bench:accuracy)', () => {
  it('keeps every class and the hard negatives above their floors', () => {
    const cfg = engineConfig();
    const trace = standardWorkload({ seed: 7, days: 10, scale: 0.4 });
    const s = score(trace, replay(trace, cfg), cfg.burst.windowMs);
    expect(s.macroF1).toBeGreaterThanOrEqual(0.9);
    for (const c of Object.values(s.classes)) expect(c.f1).toBeGreaterThanOrEqual(0.8);
    expect(s.falseAlarmsEnd).toBeLessThanOrEqual(0.05);
    expect(s.periodWithin5).toBeGreaterThanOrEqual(0.85);
    expect(s.strideAccuracy).toBeGreaterThanOrEqual(0.9);
  });
});
