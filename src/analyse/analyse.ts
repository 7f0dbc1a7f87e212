import { type Config, loadConfig } from '../config.ts';
import { Engine } from '../engine/engine.ts';
import { type PredictionStats, Predictor } from '../engine/predict.ts';
import { PATTERNS, type PatternName } from '../engine/types.ts';
import { LruCache } from './cache.ts';
import { readEvents } from './reader.ts';

/**
 * `patternd analyse <file>`: the engine without MQTT over an event log. Reports how many keys show each
 * pattern, the top keys of each, prediction precision / coverage / lead time, and an LRU cache simulation
 * with and without patternd's prefetches.
 *
 * Cache objects are (key, position) pairs when events carry positions, else keys; an object's size is
 * its size when first seen, which is also the size a prefetch of it costs.
 */
export interface AnalyseOptions {
  csv?: string;
  cacheMiB: number[];
  top: number;
  config?: Config;
}

export interface AnalyseReport {
  events: number;
  rejectedLines: number;
  /** The first line skipped and why (`line 3: ts: …`), so that a wrong column mapping shows at once. */
  firstRejection?: string;
  keys: number;
  seconds: number;
  eventsPerSecond: number;
  patterns: Record<PatternName, number>;
  top: Record<PatternName, { key: string; confidence: number; accesses: number }[]>;
  predictions: PredictionStats;
  cache: { mib: number; lru: number; withPrefetch: number; prefetched: number; prefetchPrecision: number }[];
}

const MiB = 1024 * 1024;

export async function analyse(file: string, opts: AnalyseOptions): Promise<AnalyseReport> {
  const config = opts.config ?? loadConfig({ env: {} });
  const engine = new Engine({ ...config.engine, maxKeys: Math.max(config.engine.maxKeys, 1_000_000) });
  const predictor = new Predictor(engine, config.prediction);
  const plain = opts.cacheMiB.map((m) => new LruCache(m * MiB));
  const withPrefetch = opts.cacheMiB.map((m) => new LruCache(m * MiB));
  const sizes = new Map<string, number>();
  const objectId = (key: string, pos: number) => (Number.isNaN(pos) || pos < 0 ? key : `${key}\u0000${pos}`);
  predictor.onIssue = (slot, pos, size) => {
    const id = objectId(engine.keys.keys[slot], pos);
    const known = sizes.get(id);
    // "The key will be accessed", somewhere: a key requested whole is fetched whole, but of a key requested
    // at positions nothing is known to fetch. Prefetched as an object of its own, never requested, it only
    // took cache space (CloudPhysics: 72 prefetches at 128 MiB, none used; prefetch precision 0.001 lower).
    if (pos < 0 && known === undefined) return;
    const s = known ?? size;
    for (const c of withPrefetch) c.prefetch(id, s);
  };

  let events = 0;
  let rejectedLines = 0;
  let firstRejection: string | undefined;
  const skip = (line: number, reason: string) => {
    rejectedLines++;
    firstRejection ??= `line ${line}: ${reason}`;
  };
  const started = performance.now();
  for await (const ev of readEvents(file, opts.csv, skip)) {
    events++;
    const slot = engine.observe(ev.key, ev.ts, ev.position, ev.size);
    const id = objectId(ev.key, ev.position);
    let size = sizes.get(id);
    if (size === undefined) {
      size = ev.size > 0 ? ev.size : 1;
      sizes.set(id, size);
    }
    for (const c of plain) c.request(id, size);
    for (const c of withPrefetch) c.request(id, size);
    predictor.observe(slot, ev.ts, ev.position, ev.size);
    if ((events & 1023) === 0) engine.drainChanges(noop);
  }
  engine.tick();
  const seconds = (performance.now() - started) / 1000;

  const top = {} as AnalyseReport['top'];
  const candidates = {} as Record<PatternName, { key: string; confidence: number; accesses: number }[]>;
  for (const p of PATTERNS) candidates[p] = [];
  for (const slot of engine.keys.slots()) {
    const view = engine.view(slot);
    for (const p of view.patterns)
      candidates[p].push({ key: view.key, confidence: view.scores[p], accesses: view.accesses });
  }
  for (const p of PATTERNS) {
    top[p] = candidates[p]
      .sort((a, b) => b.confidence - a.confidence || b.accesses - a.accesses)
      .slice(0, opts.top);
  }
  return {
    events,
    rejectedLines,
    ...(firstRejection ? { firstRejection } : {}),
    keys: engine.keys.size,
    seconds: Math.round(seconds * 100) / 100,
    eventsPerSecond: Math.round(events / seconds),
    patterns: engine.counters.patterns,
    top,
    predictions: predictor.stats,
    cache: opts.cacheMiB.map((mib, i) => ({
      mib,
      lru: round3(plain[i].hitRatio),
      withPrefetch: round3(withPrefetch[i].hitRatio),
      prefetched: withPrefetch[i].prefetched,
      prefetchPrecision: round3(
        withPrefetch[i].prefetched > 0 ? withPrefetch[i].prefetchUsed / withPrefetch[i].prefetched : 0,
      ),
    })),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function noop() {}

export function formatReport(r: AnalyseReport): string {
  const lines: string[] = [];
  lines.push(
    `${r.events.toLocaleString()} events, ${r.keys.toLocaleString()} keys, ${r.seconds} s (${r.eventsPerSecond.toLocaleString()} events/s)${r.rejectedLines ? `, ${r.rejectedLines} lines skipped (the first: ${r.firstRejection})` : ''}`,
  );
  lines.push('');
  lines.push('pattern      keys   top keys (confidence, accesses)');
  for (const p of PATTERNS) {
    const tops = r.top[p].map((t) => `${t.key} (${t.confidence}, ${t.accesses})`).join('; ');
    lines.push(`${p.padEnd(11)} ${String(r.patterns[p]).padStart(5)}   ${tops}`);
  }
  const s = r.predictions;
  lines.push('');
  lines.push(
    `predictions: ${s.issued.toLocaleString()} issued, precision ${s.precision}, coverage ${s.coverage}, mean lead time ${(s.meanLeadMs / 1000).toFixed(2)} s`,
  );
  lines.push(
    `  by reason: ${Object.entries(s.byReason)
      .map(
        ([r, b]) =>
          `${r} ${b.issued.toLocaleString()} issued, precision ${b.precision}, lead ${(b.meanLeadMs / 1000).toFixed(1)} s`,
      )
      .join('; ')}`,
  );
  if (r.cache.length > 0) {
    lines.push('');
    lines.push('cache (LRU)   hit ratio   with prefetch   prefetched   prefetch precision');
    for (const c of r.cache) {
      lines.push(
        `${`${c.mib} MiB`.padEnd(12)} ${c.lru.toFixed(3).padStart(9)}   ${c.withPrefetch.toFixed(3).padStart(13)}   ${String(c.prefetched).padStart(10)}   ${c.prefetchPrecision.toFixed(3).padStart(18)}`,
      );
    }
  }
  return lines.join('\n');
}
