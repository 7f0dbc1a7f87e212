import mqtt from 'mqtt';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startBroker } from '../src/mqtt/broker.ts';
import { Observer, startService, uniqueBase, waitUntil } from './support/harness.ts';

describe('embedded broker retained states', () => {
  it('delivers a retained state published just before a plain message, and both in order', async () => {
    // aedes sends a client only packets numbered above the last it sent it, and a retained publish used to
    // reach its subscribers a microtask after a plain one published right after it: dropped. patternd hit
    // it with a key's state followed by an error report within one message.
    const cfg = { ...loadConfig({ env: {} }).broker, host: '127.0.0.1', port: 0 };
    const broker = await startBroker(cfg, { prefixes: [], starts: [] }, pino({ level: 'silent' }));
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 });
    const got: string[] = [];
    client.on('message', (topic) => got.push(topic));
    await client.subscribeAsync('p/#', { qos: 1 });
    for (let i = 0; i < 20; i++) {
      for (const [topic, retain] of [
        [`p/state/${i}`, true],
        [`p/errors`, false],
      ] as const)
        broker.aedes.publish(
          { cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, retain, dup: false },
          () => {},
        );
    }
    const deadline = Date.now() + 5000;
    while (got.length < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => [`p/state/${i}`, 'p/errors']).flat());
    await client.endAsync();
    await broker.disconnectClients();
    await broker.close();
  });

  it('gives a subscriber that arrives while states are published the latest state of every topic', async () => {
    // aedes sends the retained map through buffered streams while the subscription is already live: a copy
    // read before a newer live publish used to arrive after it, and stayed the topic's state.
    const cfg = { ...loadConfig({ env: {} }).broker, host: '127.0.0.1', port: 0 };
    const broker = await startBroker(cfg, { prefixes: [], starts: [] }, pino({ level: 'silent' }));
    const topics = 300;
    const version = new Array<number>(topics).fill(0);
    const publish = (t: number) =>
      new Promise<void>((resolve) =>
        broker.aedes.publish(
          {
            cmd: 'publish',
            topic: `p/state/${t}`,
            payload: Buffer.from(String(++version[t])),
            qos: 0,
            retain: true,
            dup: false,
          },
          () => resolve(),
        ),
      );
    for (let t = 0; t < topics; t++) await publish(t);

    const subscribers: { client: mqtt.MqttClient; last: Map<string, string> }[] = [];
    let publishing = true;
    // As patternd's publisher flushes: a run of states at once, then a pause.
    const publisher = (async () => {
      for (let i = 0; publishing; ) {
        const flush: Promise<void>[] = [];
        for (let n = 0; n < 40; n++) flush.push(publish(i++ % topics));
        await Promise.all(flush);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    for (let s = 0; s < 6; s++) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 });
      const last = new Map<string, string>();
      client.on('message', (topic, payload) => last.set(topic, payload.toString()));
      await client.subscribeAsync('p/state/#', { qos: 1 });
      subscribers.push({ client, last });
    }
    publishing = false;
    await publisher;
    // Every subscriber has every topic's final state once the broker has delivered what it had.
    const deadline = Date.now() + 5000;
    const stale = () =>
      subscribers.flatMap(({ last }, s) =>
        version.flatMap((v, t) => (last.get(`p/state/${t}`) === String(v) ? [] : [`${s}:${t}`])),
      );
    while (stale().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(stale()).toEqual([]);
    // Subscribers that leave while their retained states are being sent leave nothing behind.
    for (let s = 0; s < 5; s++) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 });
      client.subscribe('p/state/#', { qos: 1 });
      await new Promise((r) => setTimeout(r, s));
      client.end(true);
    }
    while (broker.retained.pending > 0 && Date.now() < deadline + 5000)
      await new Promise((r) => setTimeout(r, 50));
    expect(broker.retained.pending).toBe(0);
    for (const { client } of subscribers) await client.endAsync();
    await broker.disconnectClients();
    await broker.close();
  });
});

describe('retained states under eviction', () => {
  it('keeps the retained state of a key evicted and tracked again within one batch', async () => {
    // maxKeys 20, 30 keys read in turn in one batch per round: every key is evicted and most come back
    // within the same batch. Their clears went out after their new states (or in place of an unchanged
    // one), and 10-20 of the 20 tracked keys had no retained state (an outside evaluation).
    const base = uniqueBase();
    const svc = await startService({ base, overrides: { engine: { maxKeys: 20 } } });
    const obs = await Observer.connect(svc.url, [`${base}/pattern/#`]);
    const t0 = Date.parse('2026-11-20T10:00:00Z');
    for (let round = 0; round < 3; round++) {
      const batch = Array.from({ length: 30 }, (_, k) => ({
        key: `churn/k${k}`,
        ts: t0 + (30 * round + k) * 1000,
        position: round,
        size: 1,
      }));
      await obs.publish(`${base}/access/nas`, JSON.stringify(batch));
      await waitUntil(() => svc.service.ingest.counters.events === 30 * (round + 1), 5000, 'the batch');
      await new Promise((r) => setTimeout(r, 300));
    }
    const late = await Observer.connect(svc.url, [`${base}/pattern/#`]);
    await new Promise((r) => setTimeout(r, 500));
    const tracked = [...svc.service.engine.keys.slots()].map((s) => svc.service.engine.keys.keys[s]).sort();
    const retained = Array.from({ length: 30 }, (_, k) => `churn/k${k}`)
      .filter((key) => (late.latest(`${base}/pattern/${encodeURIComponent(key)}`) ?? '') !== '')
      .sort();
    expect(tracked).toHaveLength(20);
    expect(retained).toEqual(tracked);
    await late.close();
    await obs.close();
    await svc.stop();
  });
});
