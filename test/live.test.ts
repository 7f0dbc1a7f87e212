import { afterAll, describe, expect, it } from 'vitest';
import { Observer, startService, type TestService } from './support/harness.ts';

/**
 * Live traffic: engine time follows the wall clock, so a burst ends — and the end is published — even
 * when the key is never accessed again and no other key sends anything. The clock is injected, so the
 * test moves time instead of sleeping for a minute.
 */
describe('live traffic', () => {
  let svc: TestService;
  let obs: Observer;
  let now = Date.parse('2026-11-24T12:00:00Z');

  afterAll(async () => {
    await obs?.close();
    await svc?.stop();
  });

  it('publishes the end of a burst on the wall clock alone', async () => {
    svc = await startService({ clock: () => now });
    const base = svc.config.mqtt.baseTopic;
    obs = await Observer.connect(svc.url, [`${base}/pattern/#`]);
    const key = 'photos/album.zip';
    // Six hours of a quiet usual rate (about one access every 20 minutes, at irregular times so it is not a
    // schedule), then half a minute of heavy reading.
    const gaps = [7, 31, 12, 26, 18, 9, 35, 22, 14, 28, 11, 19, 33, 8, 24, 16, 29, 3];
    let t = now - 6 * 3_600_000;
    const history = gaps.map((g) => {
      t += g * 60_000;
      return { key, ts: t };
    });
    await obs.publish(`${base}/access/nas`, JSON.stringify(history));
    const burst = Array.from({ length: 60 }, (_, i) => ({ key, ts: now - 30_000 + i * 500 }));
    await obs.publish(`${base}/access/nas`, JSON.stringify(burst));
    const during = await obs.state(base, key, (s) => (s.patterns as string[]).includes('burst'));
    expect(during.burst).toMatchObject({ since_ts: expect.any(Number) });

    // Nothing more arrives; only the clock moves on, by two minutes.
    obs.messages.length = 0;
    now += 120_000;
    const after = await obs.state(base, key, (s) => !(s.patterns as string[]).includes('burst'), 3000);
    expect(after.burst).toBeNull();
    expect(after.updated_ts).toBeGreaterThanOrEqual(now - 1000);
  });
});
