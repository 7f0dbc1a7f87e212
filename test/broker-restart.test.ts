import { afterAll, describe, expect, it } from 'vitest';
import { Observer, startService, type TestService } from './support/harness.ts';
import { OwnMosquitto } from './support/mosquitto.ts';

describe('external broker restart', () => {
  let mosq: OwnMosquitto;
  let svc: TestService;

  afterAll(async () => {
    await svc?.stop();
    await mosq?.down();
  });

  it('reconnects, resubscribes and re-publishes online and its retained states', async () => {
    mosq = await OwnMosquitto.start();
    svc = await startService({ broker: 'mosquitto', overrides: { mqtt: { url: mosq.url } } });
    const base = svc.config.mqtt.baseTopic;
    let obs = await Observer.connect(mosq.url, [`${base}/#`]);
    await obs.publish(`${base}/access/cam`, JSON.stringify({ key: 'cam/clip-1.mp4', position: 0 }));
    await obs.state(base, 'cam/clip-1.mp4');
    await obs.close().catch(() => {});

    // The broker dies and comes back empty: no sessions, no retained messages.
    await mosq.down();
    await new Promise((r) => setTimeout(r, 300));
    await mosq.up();

    obs = await Observer.connect(mosq.url, [`${base}/#`]);
    expect(await obs.waitFor(`${base}/status`, (p) => p === 'online', 10_000)).toBe('online');
    const restored = await obs.state(base, 'cam/clip-1.mp4', () => true, 10_000);
    expect(restored.accesses).toBe(1);
    // Resubscribed: new events are processed again.
    await obs.publish(`${base}/access/cam`, JSON.stringify({ key: 'cam/clip-2.mp4' }));
    await obs.state(base, 'cam/clip-2.mp4', () => true, 10_000);
    await obs.close();
  }, 40_000);
});
