import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { Predictor } from '../src/engine/predict.ts';
import { memoryBudget } from '../src/memory.ts';

/**
 * The memory budget's off-heap terms against what the structures really allocate, so a change of a
 * detector's or the predictor's layout cannot leave the budget behind. (The whole budget against a real
 * process under a flood: flood.test.ts.)
 */
const config = loadConfig({
  env: {},
  // At 1024 keys every per-slot table is allocated at its final size from the start.
  overrides: { engine: { maxKeys: 1024 }, prediction: { tableSize: 1 << 18 } },
});

/** ArrayBuffer bytes `make` allocates. */
function allocated(make: () => unknown): { bytes: number; made: unknown } {
  const before = process.memoryUsage().arrayBuffers;
  const made = make();
  return { bytes: process.memoryUsage().arrayBuffers - before, made };
}

const term = (engine: Engine, name: string) => {
  const t = memoryBudget(config, { rss: 0, heapUsed: 0 }, engine).terms.find((x) => x.name === name);
  if (!t) throw new Error(`no term ${name}`);
  return t.bytes;
};

describe('memory budget', () => {
  it("counts the engine's rows, flags and LRU links", () => {
    const { bytes, made } = allocated(() => new Engine(config.engine));
    const rows = term(made as Engine, 'engine rows');
    // Besides the rows the engine has a few small fixed arrays (review heap, change lists, the ring).
    expect(bytes).toBeGreaterThanOrEqual(rows);
    expect(bytes - rows).toBeLessThan(64 * 1024);
  });

  it("counts the predictor's per-key state and issued-prediction table", () => {
    const engine = new Engine(config.engine);
    const { bytes } = allocated(() => new Predictor(engine, config.prediction));
    // Besides them: its review heap (1024 entries of 16 B) and the stream length model's counters.
    const other = bytes - term(engine, 'predictor');
    expect(other).toBeGreaterThanOrEqual(1024 * 16);
    expect(other).toBeLessThan(1024 * 16 + 1024);
  });
});
