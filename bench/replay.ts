/**
 * Replays a labelled trace through a pure engine and records, for every key, when its pattern set
 * changed — the raw material for the accuracy figures (shared by `bench/accuracy.ts` and the tests).
 */
import type { EngineConfig } from '../src/config.ts';
import { patternsOf } from '../src/engine/combine.ts';
import { Engine } from '../src/engine/engine.ts';
import type { PatternName, PatternState } from '../src/engine/types.ts';
import type { Trace } from './workloads.ts';

export interface Transition {
  ts: number;
  /** Accesses of the key so far. */
  accesses: number;
  mask: number;
}

export interface Replay {
  engine: Engine;
  /** Per key name: its pattern-mask changes in time order. */
  timelines: Map<string, Transition[]>;
  /** Per key name: its view at the end of the trace. */
  final: Map<string, PatternState>;
  /** Per key name: time of its first access. */
  firstSeen: Map<string, number>;
}

/**
 * A `drainChanges` callback that appends a transition to the key's timeline whenever its pattern mask
 * differs from the one last recorded.
 */
export function timelineRecorder(
  engine: Engine,
  timelines: Map<string, Transition[]>,
): (slot: number) => void {
  const masks = new Map<number, number>();
  return (slot) => {
    const mask = engine.maskOf(slot);
    if ((masks.get(slot) ?? 0) === mask) return;
    masks.set(slot, mask);
    const key = engine.keys.keys[slot];
    const list = timelines.get(key) ?? [];
    timelines.set(key, list);
    list.push({ ts: engine.now, accesses: engine.accessesOf(slot), mask });
  };
}

export function replay(trace: Trace, cfg: EngineConfig, toEnd = true): Replay {
  const engine = new Engine(cfg);
  const timelines = new Map<string, Transition[]>();
  const firstSeen = new Map<string, number>();
  const record = timelineRecorder(engine, timelines);
  for (let i = 0; i < trace.n; i++) {
    const key = trace.keyNames[trace.key[i]];
    if (!firstSeen.has(key)) firstSeen.set(key, trace.ts[i]);
    engine.observe(key, trace.ts[i], trace.pos[i], trace.size[i]);
    engine.drainChanges(record);
  }
  if (toEnd) {
    // Let time run to the end of the trace so time-driven changes (burst ends, missed beats) happen.
    engine.now = Math.max(engine.now, trace.end);
    engine.tick();
    engine.drainChanges(record);
  }
  const final = new Map<string, PatternState>();
  for (const key of timelines.keys()) {
    const view = engine.viewOf(key);
    if (view) final.set(key, view);
  }
  return { engine, timelines, final, firstSeen };
}

/** Intervals [from, to) during which `pattern` was reported for the key. */
export function episodes(list: Transition[] | undefined, bit: number, end: number): [number, number][] {
  const out: [number, number][] = [];
  let from = -1;
  for (const t of list ?? []) {
    const on = (t.mask & bit) !== 0;
    if (on && from < 0) from = t.ts;
    if (!on && from >= 0) {
      out.push([from, t.ts]);
      from = -1;
    }
  }
  if (from >= 0) out.push([from, end]);
  return out;
}

/** The first transition that reports `bit`, or undefined. */
export function firstDetection(list: Transition[] | undefined, bit: number): Transition | undefined {
  return list?.find((t) => (t.mask & bit) !== 0);
}

export function patternsAtEnd(r: Replay, key: string): PatternName[] {
  return r.final.get(key)?.patterns ?? patternsOf(0);
}
