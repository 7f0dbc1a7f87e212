import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.ts';
import { Persistence } from '../../src/store/persistence.ts';
import { RedisStore } from '../../src/store/redis.ts';
import {
  allViews,
  freePort,
  Observer,
  startService,
  type TestService,
  uniquePrefix,
} from '../support/harness.ts';
import { RedisServer, requireRedisServer } from '../support/redis.ts';

/**
 * Redis outages against a real redis-server of the test's own (a child process on a free port):
 *   1. Redis shuts down with a save and returns with its data (a restart of a Redis with persistence);
 *   2. Redis is killed and returns empty (no persistence, like the machine's Redis).
 * Meanwhile patternd keeps ingesting and publishing, reports `store.up=false` on B/stats, and once Redis
 * is back holds exactly the engine's state in Redis — including what changed during the outage, and
 * without the rows of the keys evicted meanwhile.
 */
const redisServer = await requireRedisServer();

const MAX_KEYS = 16;
const OUTAGE_MS = 3000;

/** Events for `keys`, one each, as one batch message, at increasing historic times. */
let clock = Date.parse('2026-11-02T00:00:00Z');
function batch(keys: string[]): string {
  const start = clock;
  clock += keys.length * 1000;
  return JSON.stringify(keys.map((key, i) => ({ key, ts: start + i * 1000, position: 0, size: 1 })));
}

function statsOf(
  obs: Observer,
  base: string,
): { store: { up: boolean; pending: number; dropped_deletes: number } } | undefined {
  const raw = obs.latest(`${base}/stats`);
  return raw ? JSON.parse(raw) : undefined;
}

describe.skipIf(!redisServer)('Redis outage', () => {
  let redis: RedisServer;
  let svc: TestService;
  let obs: Observer;
  let base: string;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    redis = new RedisServer(await freePort());
    await redis.start();
    svc = await startService({
      overrides: {
        store: { redisUrl: redis.url, keyPrefix: prefix },
        engine: { maxKeys: MAX_KEYS },
        http: { enabled: true, port: 0 },
      },
    });
    base = svc.config.mqtt.baseTopic;
    obs = await Observer.connect(svc.url, [`${base}/pattern/#`, `${base}/stats`]);
  });

  afterAll(async () => {
    await svc?.stop();
    await obs?.close();
    await redis?.stop(false);
  });

  /** What Redis holds, restored into a fresh engine, must equal the service's engine. */
  async function expectRedisHoldsEngineState(): Promise<void> {
    const engine = new Engine(svc.config.engine);
    const store = new RedisStore({ url: redis.url, keyPrefix: prefix, log: pino({ level: 'silent' }) });
    await store.open();
    const opts = { intervalMs: 1000, expireDays: 3650, maxPendingDeletes: MAX_KEYS };
    await new Persistence(engine, store, opts, svc.service.log).restore();
    await store.close();
    expect(allViews(engine)).toEqual(allViews(svc.service.engine));
  }

  async function outage(save: boolean, tag: string): Promise<void> {
    const accessTopic = `${base}/access/nas`;
    await obs.publish(accessTopic, batch(Array.from({ length: 8 }, (_, i) => `${tag}/before-${i}`)));
    await expect.poll(() => statsOf(obs, base)?.store, { timeout: 5000 }).toMatchObject({ pending: 0 });

    await redis.stop(save);
    await expect.poll(() => statsOf(obs, base)?.store.up, { timeout: 5000 }).toBe(false);
    // New keys evict old ones: the keys Redis holds need deletes; the new ones evicted during the outage
    // never reached it and need none, so the pending deletes stay within the bound (MAX_KEYS).
    for (let round = 0; round < 3; round++) {
      const keys = Array.from({ length: 12 }, (_, i) => `${tag}/during-${round}-${i}`);
      await obs.publish(accessTopic, batch(keys));
      const last = keys[keys.length - 1];
      const state = await obs.state(base, last);
      expect(state.accesses).toBe(1);
    }
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    expect(statsOf(obs, base)?.store).toMatchObject({ up: false });
    const http = `http://127.0.0.1:${svc.service.http?.port}`;
    expect((await fetch(`${http}/healthz`)).status).toBe(503);
    expect(await (await fetch(`${http}/metrics`)).text()).toMatch(/^patternd_store_up 0$/m);
    expect(svc.service.persistence.droppedDeletes).toBe(0);

    await redis.start();
    await expect
      .poll(() => statsOf(obs, base)?.store, { timeout: 10_000 })
      .toMatchObject({ up: true, pending: 0, dropped_deletes: 0 });
    await expectRedisHoldsEngineState();
    const rows = new Redis(redis.url);
    expect(await rows.hlen(`${prefix}keys`)).toBe(MAX_KEYS);
    rows.disconnect();
  }

  it('keeps working while Redis is down and writes everything back when it returns with its data', async () => {
    await outage(true, 'saved');
  });

  it('rewrites everything when Redis returns empty', async () => {
    await outage(false, 'empty');
  });
});
