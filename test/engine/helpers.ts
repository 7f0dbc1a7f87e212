import { type Replay, replay } from '../../bench/replay.ts';
import { Rng, type Trace, TraceBuilder } from '../../bench/workloads.ts';
import { type EngineConfig, loadConfig } from '../../src/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import type { PatternState } from '../../src/engine/types.ts';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const T0 = Date.UTC(2026, 10, 1);

export function engineConfig(): EngineConfig {
  return loadConfig({ env: {} }).engine;
}

/** A builder over [T0, T0 + span) with a fixed seed. */
export function builder(seed: number, spanMs: number): TraceBuilder {
  return new TraceBuilder(new Rng(seed), T0, T0 + spanMs);
}

export function run(trace: Trace): Replay {
  return replay(trace, engineConfig());
}

export function view(r: Replay, key: string): PatternState {
  const v = r.final.get(key);
  if (!v) throw new Error(`no view of ${key}`);
  return v;
}

/** Keys (of those labelled) whose final view reports `pattern`. */
export function reporting(r: Replay, trace: Trace, pattern: string): string[] {
  return trace.labels
    .filter((l) => r.final.get(l.key)?.patterns.includes(pattern as never))
    .map((l) => l.key);
}

/**
 * A new engine holding what `engine` would leave in the store: every key's row at its slot, and the meta
 * record through JSON, as the file and Redis stores keep it.
 */
export function restarted(engine: Engine, cfg: EngineConfig = engineConfig()): Engine {
  const copy = new Engine(cfg);
  for (const slot of engine.keys.slots())
    copy.importRow(
      engine.keys.keys[slot] as string,
      slot,
      engine.keys.generation[slot],
      engine.exportRow(slot),
    );
  copy.finishRestore(JSON.parse(JSON.stringify(engine.exportMeta())));
  return copy;
}
