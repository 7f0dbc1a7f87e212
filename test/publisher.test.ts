import { Aedes } from 'aedes';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Publisher } from '../src/mqtt/publisher.ts';
import { AedesTransport } from '../src/mqtt/transport.ts';

/**
 * "An unchanged view is not re-published" (contract, Publishing rules), on an in-process aedes: what
 * decides "unchanged" is the payload before `updated_ts`, and nothing else.
 */
describe('publisher', () => {
  let aedes: Aedes;
  let transport: AedesTransport;
  const received: string[] = [];

  beforeAll(async () => {
    aedes = await Aedes.createBroker();
    transport = new AedesTransport(aedes);
    await transport.subscribe('b/pattern/#', 1, (_topic, payload) => received.push(payload.toString()));
  });

  afterAll(async () => {
    await transport.close();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  });

  it('skips a view that differs from the last one published only in updated_ts', async () => {
    let json = '';
    const publisher = new Publisher(
      transport,
      {
        generation: () => 1,
        render: () => ({ key: 'k', json, compared: json.lastIndexOf(',"updated_ts"') }),
        isTracked: () => true,
      },
      {
        intervalMs: 1000,
        window: 10,
        queuedChanges: 10,
        qos: 1,
        topicOf: (key) => `b/pattern/${key}`,
        now: () => 1,
        log: pino({ level: 'silent' }),
      },
    );
    const publish = async (view: string) => {
      json = view;
      publisher.offer(0, true);
      await publisher.flush();
    };

    await publish('{"key":"k","accesses":1,"updated_ts":1}');
    await publish('{"key":"k","accesses":1,"updated_ts":2}');
    expect(publisher.skippedUnchanged).toBe(1);
    await publish('{"key":"k","accesses":2,"updated_ts":2}');
    await publish('{"key":"k","accesses":2,"updated_ts":3}');
    expect(received).toEqual([
      '{"key":"k","accesses":1,"updated_ts":1}',
      '{"key":"k","accesses":2,"updated_ts":2}',
    ]);
    expect(publisher.skippedUnchanged).toBe(2);
    publisher.stop();
  });

  it('sends each change of patterns as it was when it happened while the window is full, and none of a key gone since', async () => {
    const views = new Map<number, string>();
    const generations = [1, 1, 1];
    const topics: string[] = [];
    const publisher = new Publisher(
      {
        publish: (topic, payload, _opts, done) => {
          topics.push(`${topic} ${payload}`);
          setImmediate(() => done());
        },
      } as AedesTransport,
      {
        generation: (slot) => generations[slot],
        render: (slot, gen) =>
          generations[slot] === gen
            ? { key: `k${slot}`, json: views.get(slot) ?? '', compared: (views.get(slot) ?? '').length }
            : null,
        // A key is tracked while its slot still holds it (generation 1).
        isTracked: (key) => generations[Number(key.slice(1))] === 1,
      },
      {
        intervalMs: 1000,
        window: 1,
        queuedChanges: 10,
        qos: 1,
        topicOf: (key) => `b/pattern/${key}`,
        now: () => 1,
        log: pino({ level: 'silent' }),
      },
    );
    const change = (slot: number, view: string) => {
      views.set(slot, view);
      publisher.offer(slot, true);
    };
    change(0, 'random');
    change(1, 'random');
    change(1, 'burst');
    change(2, 'random');
    change(1, 'random again');
    // Key 2 goes (its slot is reused) before its turn comes.
    generations[2] = 2;
    publisher.clear('k2');
    await publisher.flush();
    expect(topics).toEqual([
      'b/pattern/k0 random',
      'b/pattern/k1 random',
      'b/pattern/k1 burst',
      'b/pattern/k1 random again',
    ]);
    publisher.stop();
  });
});
