import { afterAll, describe, expect, it } from 'vitest';
import { PatterndProcess } from '../support/child.ts';
import { accessesByKey, freePort, Observer, tmpDir, uniqueBase, waitUntil } from '../support/harness.ts';
import { countsByKey, makeWorkload, toMessages } from '../support/workload.ts';

/**
 * kill -9 of a real patternd process in the middle of a replay, with the embedded store: after a restart
 * everything ingested more than one flush interval before the kill is back (the durability bound), and
 * nothing is invented.
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

async function startChild(base: string, dataDir: string): Promise<{ child: PatterndProcess; obs: Observer }> {
  const port = await freePort();
  const child = await PatterndProcess.start({
    config: {
      mqtt: { baseTopic: base, publishIntervalMs: 50, statsIntervalMs: 100 },
      store: { flushIntervalMs: FLUSH_MS },
    },
    env: { DATA_DIR: dataDir, BROKER_PORT: String(port) },
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

afterAll(() => PatterndProcess.killAll());

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

describe('kill -9 with the embedded store', () => {
  it('restores everything ingested more than one flush interval before the kill', async () => {
    const base = uniqueBase();
    const dataDir = tmpDir();
    const w = makeWorkload(9, 120_000, 60);
    const messages = toMessages(w, 0, w.length, 200);
    const settled = 50; // messages (10,000 events) ingested and flushed before the replay goes on

    const { child, obs } = await startChild(base, dataDir);
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

    const again = await startChild(base, dataDir);
    const restored = await restoredAccesses(again.obs, base);
    expect(sum(restored)).toBeGreaterThanOrEqual(durable);
    expect(sum(restored)).toBeLessThanOrEqual(sent * 200);
    for (const [key, n] of countsByKey(w, 0, settled * 200))
      expect(restored.get(key) ?? 0).toBeGreaterThanOrEqual(n);
    expect(await again.child.stop('SIGTERM')).toBe(0);
    await again.obs.close();
  });
});
