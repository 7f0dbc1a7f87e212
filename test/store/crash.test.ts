import { afterAll, describe, expect, it } from 'vitest';
import { PatterndProcess } from '../support/child.ts';
import {
  accessesByKey,
  dropRedisPrefix,
  freePort,
  Observer,
  REDIS_URL,
  requireRedis,
  tmpDir,
  uniqueBase,
  uniquePrefix,
  waitUntil,
} from '../support/harness.ts';
import { countsByKey, makeWorkload, toMessages } from '../support/store-workload.ts';

/**
 * kill -9 of a real patternd process in the middle of a replay, with the embedded store and with Redis:
 * after a restart everything ingested more than one flush interval before the kill is back (the
 * durability bound), and nothing is invented.
 */
const FLUSH_MS = 300;
/** fdatasync, timer and scheduling slack on a busy 2-core machine, on top of the flush interval. */
const SLACK_MS = 400;

/** A B/stats message and when it arrived. */
interface Stamped {
  at: number;
  events: number;
  pending: number;
}

/** Where the state goes: a data directory, or a key prefix on the machine's Redis. */
interface Target {
  dataDir: string;
  prefix?: string;
}

async function startChild(base: string, target: Target): Promise<{ child: PatterndProcess; obs: Observer }> {
  const port = await freePort();
  const redis: Record<string, string> = target.prefix ? { REDIS_URL } : {};
  const child = await PatterndProcess.start({
    config: {
      mqtt: { baseTopic: base, publishIntervalMs: 50, statsIntervalMs: 100 },
      store: { flushIntervalMs: FLUSH_MS, ...(target.prefix ? { keyPrefix: target.prefix } : {}) },
    },
    env: { DATA_DIR: target.dataDir, BROKER_PORT: String(port), ...redis },
  });
  const obs = await Observer.connect(`mqtt://127.0.0.1:${port}`, [`${base}/pattern/#`, `${base}/stats`]);
  return { child, obs };
}

/** Accesses per key from the republished states, once every restored key's state arrived. */
async function restoredAccesses(obs: Observer, base: string): Promise<Map<string, number>> {
  const stats = JSON.parse(await obs.waitFor(`${base}/stats`)) as { keys: number };
  await waitUntil(() => accessesByKey(obs, base).size >= stats.keys, 10_000, `${stats.keys} states`);
  return accessesByKey(obs, base);
}

const redisUp = await requireRedis();
const prefixes: string[] = [];

afterAll(async () => {
  PatterndProcess.killAll();
  for (const p of prefixes) await dropRedisPrefix(REDIS_URL, p);
});

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe.each(['file', 'redis'])('kill -9 with the %s store', (kind) => {
  it.skipIf(kind === 'redis' && !redisUp)(
    'restores everything ingested more than one flush interval before the kill',
    async () => {
      const base = uniqueBase();
      const target: Target = { dataDir: tmpDir() };
      if (kind === 'redis') {
        target.prefix = uniquePrefix();
        prefixes.push(target.prefix);
      }
      const w = makeWorkload(9, 120_000, 60);
      const messages = toMessages(w, 0, w.length, 200);
      const settled = 50; // messages (10,000 events) ingested and flushed before the replay goes on

      const { child, obs } = await startChild(base, target);
      const stamped: Stamped[] = [];
      obs.client.on('message', (topic, payload) => {
        if (topic !== `${base}/stats`) return;
        const s = JSON.parse(String(payload)) as { events: number; store: { pending: number } };
        stamped.push({ at: Date.now(), events: s.events, pending: s.store.pending });
      });
      const topic = `${base}/access/nas`;
      for (const m of messages.slice(0, settled)) await obs.publish(topic, m);
      const stored = (s?: Stamped) => s?.events === settled * 200 && s.pending === 0;
      await waitUntil(() => stored(stamped.at(-1)), 10_000, 'the first events stored');

      // The replay goes on at full speed; kill -9 lands in the middle of it.
      let sent = settled;
      let killedAt = 0;
      const killed = new Promise<number | string>((resolve) =>
        setTimeout(() => {
          killedAt = Date.now();
          resolve(child.stop('SIGKILL'));
        }, 1200),
      );
      while (killedAt === 0 && sent < messages.length) {
        await Promise.race([obs.publish(topic, messages[sent]), new Promise((r) => setTimeout(r, 200))]);
        sent++;
      }
      expect(await killed).toBe('SIGKILL');
      await obs.close();
      const durable = stamped.filter((s) => s.at <= killedAt - FLUSH_MS - SLACK_MS).at(-1)?.events ?? 0;
      expect(durable).toBeGreaterThan(settled * 200);
      expect(sent).toBeLessThan(messages.length);

      const again = await startChild(base, target);
      const restored = await restoredAccesses(again.obs, base);
      expect(sum(restored)).toBeGreaterThanOrEqual(durable);
      expect(sum(restored)).toBeLessThanOrEqual(sent * 200);
      for (const [key, n] of countsByKey(w, 0, settled * 200))
        expect(restored.get(key) ?? 0).toBeGreaterThanOrEqual(n);
      expect(await again.child.stop('SIGTERM')).toBe(0);
      await again.obs.close();
    },
  );
});

describe('an uncaught exception', () => {
  it('stops as a signal stops it, saving the state, and exits 1 so that a supervisor restarts the service', async () => {
    const base = uniqueBase();
    const port = await freePort();
    const dataDir = tmpDir();
    const config = { mqtt: { baseTopic: base, publishIntervalMs: 50 } };
    const env = { DATA_DIR: dataDir, BROKER_PORT: String(port) };
    // A fault injected from outside the code: on SIGUSR2, an exception nothing catches.
    const fault = `data:text/javascript,process.on('SIGUSR2', () => setImmediate(() => { throw new Error('injected fault'); }));`;
    const child = await PatterndProcess.start({ config, env, execArgv: ['--import', fault] });
    const obs = await Observer.connect(`mqtt://127.0.0.1:${port}`, [`${base}/status`, `${base}/pattern/#`]);
    await obs.publish(`${base}/access/nas`, JSON.stringify([{ key: 'kept' }, { key: 'kept' }]));
    await obs.state(base, 'kept', (s) => s.accesses === 2);
    expect(await child.stop('SIGUSR2')).toBe(1);
    expect(child.output.join('')).toContain('injected fault');
    await obs.close();

    const again = await PatterndProcess.start({ config, env });
    const late = await Observer.connect(`mqtt://127.0.0.1:${port}`, [`${base}/pattern/#`]);
    expect((await late.state(base, 'kept')).accesses).toBe(2);
    expect(await again.stop('SIGTERM')).toBe(0);
    await late.close();
  });
});
