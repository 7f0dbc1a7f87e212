/**
 * Drives one soak shape through fresh engines and checks the engine's invariants after every batch
 * (bench/soak.ts runs this in a worker thread, so that a hang can be detected and the worker ended).
 */
import type { EngineConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { PATTERN_BITS, PATTERNS, type PatternState } from '../src/engine/types.ts';
import type { Workload } from './soak-shapes.ts';
import type { Rng } from './workloads.ts';

/** An invariant that did not hold: which one, and where in the run. */
export class SoakFailure extends Error {
  override name = 'SoakFailure';
}

export interface SoakStats {
  events: number;
  batches: number;
  views: number;
  restores: number;
  evicted: number;
  maxReviews: number;
  /** Views that held each pattern, summed over the run (what the shape exercised). */
  seen: Record<string, number>;
}

/** Fields of a view that the contract allows to be null. */
const NULLABLE = new Set(['sequential', 'periodic', 'burst', 'schedule', 'trend', 'source']);
const DETAILED = ['sequential', 'periodic', 'burst'] as const;

function fail(message: string): never {
  throw new SoakFailure(message);
}

/** Every number finite, and null only where the contract has an object that may be absent. */
function checkJson(value: unknown, path: string): void {
  if (value === null) {
    if (!NULLABLE.has(path)) fail(`${path} is null`);
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(`${path} is ${value}`);
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) checkJson(v, `${path}[${i}]`);
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) checkJson(v, path ? `${path}.${k}` : k);
  }
}

function inUnitRange(x: number): boolean {
  return x >= 0 && x <= 1;
}

/** The contract's promises about one view. */
export function checkView(e: Engine, v: PatternState): void {
  const where = `view of ${JSON.stringify(v.key)}`;
  try {
    checkJson(v, '');
    if (v.patterns.length === 0) fail('patterns is empty');
    if (new Set(v.patterns).size !== v.patterns.length) fail(`patterns repeat: ${v.patterns}`);
    if (v.patterns.includes('sequential') && v.patterns.includes('random')) fail('sequential and random');
    if (!v.patterns.includes(v.pattern)) fail(`pattern ${v.pattern} not in ${v.patterns}`);
    if (v.confidence !== v.scores[v.pattern]) fail(`confidence ${v.confidence} is not its score`);
    for (const p of PATTERNS) if (!inUnitRange(v.scores[p])) fail(`score ${p} ${v.scores[p]}`);
    for (const p of DETAILED) {
      if ((v[p] !== null) !== v.patterns.includes(p)) fail(`${p} detail ${JSON.stringify(v[p])} vs patterns`);
    }
    if (v.correlated.length > 0 !== v.patterns.includes('correlated'))
      fail(`correlated ${JSON.stringify(v.correlated)} vs patterns`);
    for (const partner of v.correlated) {
      if (partner.key === v.key) fail('correlated with itself');
      if (e.keys.slotOf(partner.key) < 0) fail(`partner ${partner.key} is not tracked`);
      if (!inUnitRange(partner.confidence)) fail(`partner confidence ${partner.confidence}`);
      if (partner.lag_s < 0) fail(`partner lag ${partner.lag_s}`);
    }
    if (v.schedule && !inUnitRange(v.schedule.concentration))
      fail(`concentration ${v.schedule.concentration}`);
    if (!(v.accesses >= 1 && Number.isInteger(v.accesses))) fail(`accesses ${v.accesses}`);
    // last_ts may be ahead of updated_ts: engine time does not follow a device clock past the wall clock.
    if (!(v.first_ts <= v.last_ts)) fail(`first_ts ${v.first_ts} after last_ts ${v.last_ts}`);
    if (v.periodic && !(v.periodic.period_s > 0 && v.periodic.next_ts > v.updated_ts - 1))
      fail(`periodic ${JSON.stringify(v.periodic)}`);
    JSON.parse(JSON.stringify(v));
  } catch (err) {
    if (err instanceof SoakFailure) fail(`${where}: ${err.message}`);
    throw err;
  }
}

/**
 * Engine-wide invariants, over every key: counters match a recount, no key left in a state that time alone
 * should have ended (a burst more than a window after its last access, a schedule past its expiry).
 */
export function checkEngine(e: Engine, cfg: EngineConfig): void {
  const counters = e.counters;
  if (counters.keys > cfg.maxKeys) fail(`${counters.keys} keys, more than maxKeys ${cfg.maxKeys}`);
  const recount = Object.fromEntries(PATTERNS.map((p) => [p, 0]));
  let keys = 0;
  for (const slot of e.keys.slots()) {
    keys++;
    const mask = e.maskOf(slot);
    if (mask === 0) fail(`key ${e.keys.keys[slot]} has no pattern`);
    for (const p of PATTERNS) if (mask & PATTERN_BITS[p]) recount[p]++;
    const key = JSON.stringify(e.keys.keys[slot]);
    if (mask & PATTERN_BITS.burst && e.now > e.lastAccess(slot) + cfg.burst.windowMs)
      fail(`${key} still bursting ${e.now - e.lastAccess(slot)} ms after its last access`);
    if (mask & PATTERN_BITS.periodic && e.now >= e.periodic.expiresAt(slot))
      fail(`${key} still periodic ${e.now - e.periodic.expiresAt(slot)} ms after its expiry`);
  }
  if (keys !== counters.keys) fail(`counters.keys ${counters.keys}, ${keys} tracked`);
  for (const p of PATTERNS)
    if (counters.patterns[p] !== recount[p])
      fail(`counters.patterns.${p} ${counters.patterns[p]}, ${recount[p]} keys`);
}

/**
 * The review heap bounded by the key limit, whatever the event rate: one entry per scheduled key, and stale
 * ones (dropped when due) where a key's time moved earlier or the key went.
 */
export function checkReviews(e: Engine, cfg: EngineConfig): void {
  const bound = 4 * cfg.maxKeys + 1024;
  if (e.pendingReviews > bound) fail(`review heap holds ${e.pendingReviews}, bound ${bound}`);
}

/**
 * A fresh engine holding a snapshot of `e`: every row exported and imported, as the store does, in the
 * store's own order (shuffled) and with a few rows handed back twice.
 */
function restored(e: Engine, cfg: EngineConfig, clock: () => number, rng: Rng): Engine {
  const copy = new Engine(cfg, { clock });
  const rows = [...e.keys.slots()].map((slot) => ({
    key: e.keys.keys[slot],
    slot,
    generation: e.keys.generation[slot],
    row: e.exportRow(slot),
  }));
  for (let i = 0; i < Math.min(rows.length, 8); i++) rows.push(rng.pick(rows));
  for (let i = rows.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  for (const r of rows) copy.importRow(r.key, r.slot, r.generation, r.row);
  copy.finishRestore(e.exportMeta());
  return copy;
}

export interface Progress {
  /** Called often (every event and view), so that a watcher can tell a slow run from a stalled one. */
  beat(events: number): void;
}

/** Runs a shape to its event budget; throws SoakFailure (or whatever the engine threw) on the first failure. */
export function runShape(workload: Workload, progress: Progress): SoakStats {
  const { shape, rng } = workload;
  const { cfg } = shape;
  let wall = shape.live ? workload.wall() : 0;
  const clock = () => wall;
  let e = new Engine(cfg, { clock });
  const stats: SoakStats = {
    events: 0,
    batches: 0,
    views: 0,
    restores: 0,
    evicted: 0,
    maxReviews: 0,
    seen: {},
  };
  let where = 'start';
  let unscanned = 0;
  let unrestored = 0;
  const checkChanged = () => {
    e.drainChanges((slot) => {
      const v = e.view(slot);
      checkView(e, v);
      for (const p of v.patterns) stats.seen[p] = (stats.seen[p] ?? 0) + 1;
      stats.views++;
      progress.beat(stats.events);
    });
  };
  try {
    while (stats.events < shape.events) {
      const batch = workload.batch();
      where = `batch ${stats.batches} (event ${stats.events})`;
      if (shape.live) {
        wall = workload.wall();
        e.beginBatch();
      }
      for (const ev of batch) {
        if (shape.live && ev.ts - wall > cfg.maxFutureSkewMs) continue; // the service rejects it
        e.observe(ev.key, ev.ts, ev.pos, ev.size);
        stats.events++;
        progress.beat(stats.events);
      }
      e.tick();
      stats.batches++;
      if (rng.next() < shape.pauseChance) {
        // Silence: with the wall clock moving on, live keys' bursts must end on ticks alone.
        const ms = rng.pick([1000, 60_000, 3_600_000]);
        for (let i = 0; i < 5; i++) {
          wall += ms / 5;
          e.tick();
          checkChanged();
        }
        workload.pause(ms);
      }
      if (rng.next() < shape.forgetChance) e.forget(batch[0].key);
      if (rng.next() < shape.resetChance) e.reset();
      e.drainRemoved();
      e.drainDeleted();
      const exportRows = rng.next() < shape.exportChance;
      e.drainUnsaved((slot) => exportRows && e.exportRow(slot));
      checkChanged();
      // The scan over every key is amortised: about one key per event.
      unscanned += batch.length;
      if (unscanned >= e.keys.size) {
        checkEngine(e, cfg);
        unscanned = 0;
      }
      checkReviews(e, cfg);
      stats.maxReviews = Math.max(stats.maxReviews, e.pendingReviews);
      // A restore exports and compares every key: at most one per key-count of events, like the scan.
      unrestored += batch.length;
      if (unrestored >= e.keys.size && rng.next() < shape.restoreChance) {
        unrestored = 0;
        where = `restore after batch ${stats.batches}`;
        const before = new Map<string, string>();
        for (const slot of e.keys.slots()) before.set(e.keys.keys[slot], JSON.stringify(e.view(slot)));
        stats.evicted += e.counters.evicted;
        e = restored(e, cfg, clock, rng);
        stats.restores++;
        for (const [key, json] of before) {
          const after = e.viewOf(key);
          if (JSON.stringify(after) !== json)
            fail(`${key} restored as ${JSON.stringify(after)}, was ${json}`);
        }
        checkEngine(e, cfg);
        e.drainChanges(() => {});
      }
    }
  } catch (err) {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    throw new SoakFailure(`${where}: ${message}`);
  }
  stats.evicted += e.counters.evicted;
  return stats;
}
