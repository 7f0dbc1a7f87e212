import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { PatterndProcess } from '../support/child.ts';
import {
  accessesByKey,
  clearRetained,
  freePort,
  MOSQUITTO_URL,
  Observer,
  reachable,
  tmpDir,
  uniqueBase,
  waitUntil,
} from '../support/harness.ts';
import { makeWorkload, toMessages } from '../support/store-workload.ts';

/**
 * patternd on the machine's Mosquitto with its persistent session (fixed client id, clean: false, QoS 1):
 * events published while it is down — killed with -9, or stopping gracefully in the middle of a stream —
 * are delivered when it returns, and together with the embedded store nothing is lost or counted twice.
 */
const mosquittoUp = await reachable(MOSQUITTO_URL);
if (process.env.CI && !mosquittoUp) throw new Error(`CI: Mosquitto must be running at ${MOSQUITTO_URL}`);

const base = uniqueBase();
const clientId = `patternd-${base}`;
const loadedId = `patternd-${base}-loaded`;

afterAll(async () => {
  PatterndProcess.killAll();
  if (!mosquittoUp) return;
  // Drop the persistent session and the retained topics this test left on the shared broker.
  for (const id of [clientId, loadedId]) {
    const c = await mqtt.connectAsync(MOSQUITTO_URL, { clientId: id, clean: true, reconnectPeriod: 0 });
    await c.endAsync();
  }
  await clearRetained(MOSQUITTO_URL, base);
});

describe.skipIf(!mosquittoUp)('persistent MQTT session', () => {
  it('delivers what was published while patternd was down, exactly once', async () => {
    const dataDir = tmpDir();
    const start = () =>
      PatterndProcess.start({
        config: {
          mqtt: { baseTopic: base, clientId, publishIntervalMs: 50, statsIntervalMs: 100 },
          store: { flushIntervalMs: 300 },
        },
        env: { DATA_DIR: dataDir, MQTT_URL: MOSQUITTO_URL },
      });
    const obs = await Observer.connect(MOSQUITTO_URL, [`${base}/pattern/#`, `${base}/stats`]);
    const sum = () => [...accessesByKey(obs, base).values()].reduce((a, b) => a + b, 0);
    const reach = (n: number, what: string) =>
      waitUntil(
        () => sum() === n,
        10_000,
        () => `${n} accesses (${what}); have ${sum()}`,
      );
    const stats = () =>
      JSON.parse(obs.latest(`${base}/stats`) ?? '{}') as { events?: number; store?: { pending: number } };
    const topic = `${base}/access/nas`;
    const w = makeWorkload(11, 6000, 30);
    const messages = toMessages(w, 0, w.length, 50);

    // Ingested and flushed, then kill -9; more events arrive while patternd is gone.
    let child = await start();
    for (const m of messages.slice(0, 40)) await obs.publish(topic, m);
    await reach(2000, 'the first events');
    await waitUntil(() => stats().events === 2000 && stats().store?.pending === 0, 10_000, 'all stored');
    expect(await child.stop('SIGKILL')).toBe('SIGKILL');
    for (const m of messages.slice(40, 80)) await obs.publish(topic, m);
    child = await start();
    await reach(4000, 'events published during the kill -9 downtime');

    // A graceful stop in the middle of a stream: whatever patternd did not take stays with the broker.
    let stopped: Promise<number | string> | undefined;
    for (const [i, m] of messages.slice(80).entries()) {
      if (i === 10) stopped = child.stop('SIGTERM');
      await obs.publish(topic, m);
    }
    expect(await stopped).toBe(0);
    child = await start();
    await reach(6000, 'events published around the graceful stop');
    await new Promise((r) => setTimeout(r, 300));
    expect(sum()).toBe(6000);
    expect(await child.stop('SIGTERM')).toBe(0);
    await obs.close();
  });

  it(
    'stops promptly in the middle of live traffic, and counts what it took once',
    { timeout: 60_000 },
    async () => {
      const dataDir = tmpDir();
      const start = () =>
        PatterndProcess.start({
          config: { mqtt: { baseTopic: base, clientId: loadedId, statsIntervalMs: 100 } },
          env: { DATA_DIR: dataDir, MQTT_URL: MOSQUITTO_URL },
        });
      const obs = await Observer.connect(MOSQUITTO_URL, [`${base}/pattern/#`, `${base}/stats`]);
      const sum = () =>
        [...accessesByKey(obs, base)]
          .filter(([key]) => key.startsWith('live/'))
          .reduce((a, [, n]) => a + n, 0);
      const events = () =>
        (JSON.parse(obs.latest(`${base}/stats`) ?? '{}') as { events?: number }).events ?? 0;
      // Live events (stamped now) on 16 keys, one per message, 200 a second: every key's view changes at
      // every event, and the publisher may send it only once a second, so it always has a newer view due
      // while events come. (Not faster: Mosquitto keeps at most 1,000 messages queued for a client and
      // drops the rest, and the stream goes on while patternd restarts.)
      const total = 2000;
      let child = await start();
      const device = await mqtt.connectAsync(MOSQUITTO_URL, { clientId: `dev-${base}`, reconnectPeriod: 0 });
      let sent = 0;
      const stream = Promise.all(
        Array.from({ length: 10 }, async () => {
          while (sent < total) {
            const i = sent++;
            const event = { key: `live/${i % 16}`, ts: Date.now(), position: i * 4096, size: 4096 };
            await device.publishAsync(`${base}/access/nas`, JSON.stringify(event), { qos: 1 });
            await new Promise((r) => setTimeout(r, 50));
          }
        }),
      );
      await waitUntil(() => events() >= 600, 20_000, 'the stream under way');
      const stopping = Date.now();
      expect(await child.stop('SIGTERM')).toBe(0);
      const stopMs = Date.now() - stopping;
      expect(child.output.join('')).not.toContain('timed out');
      expect(stopMs).toBeLessThan(2500);
      child = await start();
      await stream;
      await waitUntil(
        () => sum() === total,
        20_000,
        () => `${total} accesses; have ${sum()}`,
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(sum()).toBe(total);
      expect(await child.stop('SIGTERM')).toBe(0);
      await device.endAsync();
      await obs.close();
    },
  );
});

describe('graceful stop on the embedded broker', () => {
  it('takes every event it acknowledged; the rest are resent to the next run', async () => {
    const dataDir = tmpDir();
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    const start = () =>
      PatterndProcess.start({
        config: { mqtt: { baseTopic: base, publishIntervalMs: 50 }, store: { flushIntervalMs: 300 } },
        env: { DATA_DIR: dataDir, BROKER_PORT: String(port) },
      });
    const w = makeWorkload(12, 6000, 30);
    const messages = toMessages(w, 0, w.length, 50);
    let child = await start();
    // A device that keeps publishing, awaiting each PUBACK, and reconnects to the next run: what was
    // acknowledged must be in patternd's store, what was not is resent.
    const device = await mqtt.connectAsync(url, { clientId: `dev-${base}`, reconnectPeriod: 100 });
    let stopped: Promise<number | string> | undefined;
    const stream = (async () => {
      for (const [i, m] of messages.entries()) {
        if (i === 40) stopped = child.stop('SIGTERM');
        await device.publishAsync(`${base}/access/nas`, m, { qos: 1 });
      }
    })();
    await waitUntil(() => stopped !== undefined, 10_000, 'the stop');
    expect(await stopped).toBe(0);
    child = await start();
    await stream;
    const obs = await Observer.connect(url, [`${base}/pattern/#`]);
    // What a subscriber's dashboard shows: the latest state received per key.
    const sum = () => {
      const latest = new Map<string, number>();
      for (const m of obs.messages) {
        if (m.payload === '') continue;
        const { key, accesses } = JSON.parse(m.payload) as { key: string; accesses: number };
        latest.set(key, accesses);
      }
      return [...latest.values()].reduce((a, b) => a + b, 0);
    };
    await waitUntil(
      () => sum() === 6000,
      10_000,
      () => `6000 accesses; have ${sum()}`,
    );
    await device.endAsync();
    await obs.close();
    expect(await child.stop('SIGTERM')).toBe(0);
  });
});
