import { describe, expect, it } from 'vitest';
import { standardWorkload } from '../../bench/workloads.ts';
import { Engine } from '../../src/engine/engine.ts';
import type { PatternState } from '../../src/engine/types.ts';
import { DAY, engineConfig, HOUR, MINUTE, restarted, T0 } from './helpers.ts';

/** Every number in a view is finite, and the fields that must be numbers are never null. */
function expectClean(v: PatternState): void {
  const text = JSON.stringify(v);
  expect(text).not.toMatch(/NaN|Infinity/);
  const walk = (x: unknown, path: string): void => {
    if (typeof x === 'number') expect(Number.isFinite(x), path).toBe(true);
    else if (Array.isArray(x)) for (const [i, y] of x.entries()) walk(y, `${path}[${i}]`);
    else if (x && typeof x === 'object') for (const [k, y] of Object.entries(x)) walk(y, `${path}.${k}`);
  };
  walk(JSON.parse(text), v.key);
  for (const field of ['confidence', 'accesses', 'last_ts', 'updated_ts'] as const)
    expect(typeof v[field], `${v.key}.${field}`).toBe('number');
  for (const score of Object.values(v.scores)) expect(score).toBeGreaterThanOrEqual(0);
  expect(v.patterns.length).toBeGreaterThan(0);
  expect(v.patterns).toContain(v.pattern);
}

describe('engine edge cases', () => {
  it('has no view of an unknown key and a clean view after a single access', () => {
    const e = new Engine(engineConfig());
    expect(e.viewOf('nothing')).toBeNull();
    e.observe('once', T0, Number.NaN, 0);
    const v = e.viewOf('once');
    expect(v?.patterns).toEqual(['random']);
    if (v) expectClean(v);
  });

  it('survives identical timestamps, out-of-order events and clock jumps with clean views', () => {
    const e = new Engine(engineConfig());
    for (let i = 0; i < 50; i++) e.observe('same-ts', T0, i * 4096, 4096);
    for (let i = 0; i < 50; i++) e.observe('same-ts-nopos', T0, Number.NaN, 0);
    for (let i = 0; i < 50; i++) e.observe('shuffled', T0 + ((i * 37) % 50) * 1000, ((i * 37) % 50) * 10, 10);
    e.observe('jump', T0 + 365 * DAY, Number.NaN, 0);
    e.observe('jump', T0 - 365 * DAY, Number.NaN, 0);
    for (let i = 0; i < 20; i++) e.observe('jump', T0 + i * HOUR, 0, 0);
    e.observe('zero', 0, 0, 0);
    e.observe('negative-pos', T0, -5, 0);
    e.observe('huge-pos', T0, Number.MAX_SAFE_INTEGER, 1e12);
    e.tick();
    for (const key of ['same-ts', 'same-ts-nopos', 'shuffled', 'jump', 'zero', 'negative-pos', 'huge-pos']) {
      const v = e.viewOf(key);
      expect(v, key).not.toBeNull();
      if (v) expectClean(v);
    }
    expect(e.counters.lateEvents).toBeGreaterThan(0);
    expect(e.viewOf('same-ts')?.patterns).toContain('sequential');
  });

  it('gives clean views of every key of a mixed workload, and the same views after a snapshot round trip', () => {
    const trace = standardWorkload({ seed: 5, days: 2, scale: 0.3 });
    const cfg = engineConfig();
    const e = new Engine(cfg);
    for (let i = 0; i < trace.n; i++)
      e.observe(trace.keyNames[trace.key[i]], trace.ts[i], trace.pos[i], trace.size[i]);
    for (const slot of e.keys.slots()) expectClean(e.view(slot));
    const copy = restarted(e, cfg);
    for (const slot of e.keys.slots()) expect(copy.view(slot)).toEqual(e.view(slot));
  });

  it('starts over after a reset: a log from last week replayed after live traffic is not late', () => {
    // Engine time stayed at the live traffic's after a reset, and every replayed event was late: 1,468 late
    // events and no predictions (an outside evaluation).
    let wall = T0 + 7 * DAY;
    const e = new Engine(engineConfig(), { clock: () => wall });
    for (let i = 0; i < 50; i++) {
      e.beginBatch();
      e.observe('live/probe', wall, i * 4096, 4096);
      wall += 1000;
    }
    e.reset();
    expect(e.keys.size).toBe(0);
    for (let i = 0; i < 200; i++) {
      e.beginBatch();
      e.observe('media/last-week.mkv', T0 + i * 500, i * 65536, 65536);
    }
    expect(e.counters.lateEvents).toBe(0);
    const v = e.viewOf('media/last-week.mkv');
    expect(v?.pattern).toBe('sequential');
    expect(v?.updated_ts).toBe(T0 + 199 * 500);
  });

  it('keeps per-key state within 1 KiB', () => {
    expect(new Engine(engineConfig()).rowBytes).toBeLessThanOrEqual(1024);
  });

  it('keeps the tracked key set bounded and reports evictions', () => {
    const e = new Engine({ ...engineConfig(), maxKeys: 16 });
    for (let i = 0; i < 40; i++) e.observe(`k${i}`, T0 + i * MINUTE, Number.NaN, 0);
    expect(e.counters.keys).toBe(16);
    expect(e.drainRemoved()).toHaveLength(24);
    expect(e.viewOf('k39')).not.toBeNull();
    expect(e.viewOf('k0')).toBeNull();
  });
});

describe('forgetting a key', () => {
  it('drops it from its partners at once, not when its slot is reused', async () => {
    const { loadConfig } = await import('../../src/config.ts');
    const { Engine } = await import('../../src/engine/engine.ts');
    const engine = new Engine(loadConfig({ env: {} }).engine);
    let t = Date.parse('2026-11-02T00:00:00Z');
    for (let i = 0; i < 30; i++) {
      t += 60_000 + (i % 5) * 17_000;
      engine.observe('lead', t, Number.NaN, 0);
      engine.observe('follow', t + 300, Number.NaN, 0);
    }
    expect(engine.viewOf('lead')?.correlated.map((p) => p.key)).toEqual(['follow']);
    engine.forget('follow');
    const lead = engine.viewOf('lead');
    expect(lead?.correlated).toEqual([]);
    expect(lead?.patterns).not.toContain('correlated');
  });
});
