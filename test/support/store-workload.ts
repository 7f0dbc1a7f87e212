import { mulberry32 } from '../../bench/rng.ts';
import type { Engine } from '../../src/engine/engine.ts';

/**
 * A seeded, reproducible access workload with something for every detector: sequential readers,
 * random readers, keys without positions, follow-up pairs (correlation), hourly jobs (periodic), spread
 * over a few days of event time (schedule, trend). Arrays, not objects, so a benchmark measures the
 * engine and the store rather than the generator.
 */
export interface Workload {
  keys: string[];
  key: Int32Array;
  ts: Float64Array;
  pos: Float64Array;
  size: Float64Array;
  length: number;
}

export const WORKLOAD_START = Date.parse('2026-11-01T00:00:00Z');
const HOUR_MS = 3_600_000;
const CRON_JOBS = 4;

/** `n` events over `keyCount` keys (plus a few hourly jobs), mean gap `gapMs` of event time. */
export function makeWorkload(seed: number, n: number, keyCount: number, gapMs = 2000): Workload {
  const rnd = mulberry32(seed);
  const keys = Array.from({ length: keyCount }, (_, i) => `wl/${i % 3 === 0 ? 'media' : 'docs'}/${i}.bin`);
  for (let j = 0; j < CRON_JOBS; j++) keys.push(`wl/cron/job-${j}`);
  const w: Workload = {
    keys,
    key: new Int32Array(n),
    ts: new Float64Array(n),
    pos: new Float64Array(n),
    size: new Float64Array(n),
    length: n,
  };
  const cursor = new Float64Array(keyCount);
  let ts = WORKLOAD_START;
  let nextHour = WORKLOAD_START + HOUR_MS;
  let cron = CRON_JOBS;
  let follow = -1;
  for (let i = 0; i < n; i++) {
    let k: number;
    if (cron < CRON_JOBS) {
      k = keyCount + cron++;
      ts += 50;
    } else if (follow >= 0) {
      k = follow;
      follow = -1;
      ts += 300 + rnd() * 100;
    } else {
      ts += rnd() * 2 * gapMs;
      if (ts >= nextHour) {
        ts = nextHour;
        nextHour += HOUR_MS;
        cron = 0;
        k = keyCount + cron++;
      } else {
        // Skewed popularity: low indexes are hot.
        k = Math.floor(keyCount * rnd() * rnd());
        if (k % 7 === 0 && k + 1 < keyCount) follow = k + 1;
      }
    }
    w.key[i] = k;
    w.ts[i] = ts;
    if (k >= keyCount || k % 3 === 2) {
      w.pos[i] = Number.NaN;
      w.size[i] = 0;
    } else if (k % 3 === 0) {
      w.pos[i] = cursor[k];
      w.size[i] = 65536;
      cursor[k] += 65536;
    } else {
      w.pos[i] = Math.floor(rnd() * 1e9);
      w.size[i] = 4096;
    }
  }
  return w;
}

/** Feeds events [from, to) into the engine, one `beginBatch` per 100 like a batched MQTT message. */
export function feed(engine: Engine, w: Workload, from = 0, to = w.length): void {
  for (let i = from; i < to; i++) {
    if ((i - from) % 100 === 0) engine.beginBatch();
    engine.observe(w.keys[w.key[i]], w.ts[i], w.pos[i], w.size[i]);
  }
}

/** Events [from, to) as contract JSON messages (batches of `size`), ready to publish. */
export function toMessages(w: Workload, from: number, to: number, size: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i += size) {
    const batch: Record<string, unknown>[] = [];
    for (let j = i; j < Math.min(i + size, to); j++) {
      const e: Record<string, unknown> = { key: w.keys[w.key[j]], ts: w.ts[j] };
      if (!Number.isNaN(w.pos[j])) Object.assign(e, { position: w.pos[j], size: w.size[j] });
      batch.push(e);
    }
    out.push(JSON.stringify(batch));
  }
  return out;
}

/** Events per key in [from, to). */
export function countsByKey(w: Workload, from: number, to: number): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = from; i < to; i++) {
    const key = w.keys[w.key[i]];
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}
