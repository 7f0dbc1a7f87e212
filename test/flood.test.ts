import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Observer, startService, type TestService } from './support/harness.ts';

/**
 * A flood of unique keys (a broken device, or someone scanning): the tracked set stays at `maxKeys`, the
 * memory stays under a bound derived from the config, evicted keys' retained topics are cleared, and the
 * service stays responsive (stats keep flowing) while the flood runs.
 */
const MAX_KEYS = 2000;
const UNIQUE_KEYS = Number(process.env.FLOOD_KEYS ?? 300_000);

describe('unique-key flood', () => {
  let svc: TestService;
  let obs: Observer;
  let base: string;

  beforeAll(async () => {
    svc = await startService({
      overrides: { engine: { maxKeys: MAX_KEYS }, mqtt: { statsIntervalMs: 100 } },
    });
    base = svc.config.mqtt.baseTopic;
    obs = await Observer.connect(svc.url, [
      `${base}/stats`,
      `${base}/pattern/${encodeURIComponent('flood/0')}`,
    ]);
  });

  afterAll(async () => {
    await obs.close();
    await svc.stop();
  });

  it(`keeps ${MAX_KEYS} keys and bounded memory through ${UNIQUE_KEYS.toLocaleString()} unique keys`, async () => {
    const { engine, ingest } = svc.service;
    const topic = `${base}/access/flooder`;
    ingest.handle(topic, Buffer.from(JSON.stringify({ key: 'flood/0', position: 0 })));
    await obs.state(base, 'flood/0');
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    const statsBefore = obs.on(`${base}/stats`).length;
    let maxLagMs = 0;
    for (let b = 0; b < UNIQUE_KEYS / 1000; b++) {
      const batch = Array.from({ length: 1000 }, (_, i) => ({
        key: `flood/${b * 1000 + i + 1}`,
        position: i,
      }));
      ingest.handle(topic, Buffer.from(JSON.stringify(batch)));
      // Yield like the broker does between messages, and measure how long timers waited.
      const t = performance.now();
      await new Promise((r) => setImmediate(r));
      maxLagMs = Math.max(maxLagMs, performance.now() - t);
      expect(engine.keys.size).toBeLessThanOrEqual(MAX_KEYS);
    }
    expect(engine.counters.evicted).toBe(UNIQUE_KEYS + 1 - MAX_KEYS);
    // State rows are ~1 KiB per key; allow generous slack for publisher queues and V8 overhead.
    const bound = 64 * 1024 * 1024 + MAX_KEYS * engine.rowBytes * 4;
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(bound);
    // The first key was evicted long ago: its retained state is cleared (empty payload).
    await obs.waitFor(`${base}/pattern/${encodeURIComponent('flood/0')}`, (p) => p === '', 10_000);
    // Stats kept flowing during the flood, and the event loop was never blocked for long.
    expect(obs.on(`${base}/stats`).length).toBeGreaterThan(statsBefore);
    expect(maxLagMs).toBeLessThan(500);
    const stats = JSON.parse(obs.latest(`${base}/stats`) as string);
    expect(stats.keys).toBeLessThanOrEqual(MAX_KEYS);
  }, 120_000);
});
