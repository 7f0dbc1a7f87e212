import { afterAll, describe, expect, it } from 'vitest';
import {
  clearRetained,
  MOSQUITTO_URL,
  Observer,
  reachable,
  startService,
  tmpDir,
  uniqueBase,
} from './support/harness.ts';

const mosquittoUp = await reachable(MOSQUITTO_URL);
if (process.env.CI && !mosquittoUp) throw new Error(`CI: Mosquitto must be running at ${MOSQUITTO_URL}`);

const bases: string[] = [];
afterAll(async () => {
  for (const base of bases) await clearRetained(MOSQUITTO_URL, base);
});

describe.skipIf(!mosquittoUp)('pattern states an earlier run left on an external broker', () => {
  it('clears the states of keys the store does not know and keeps those it restored', async () => {
    const base = uniqueBase();
    bases.push(base);
    const dataDir = tmpDir();
    const topic = (key: string) => `${base}/pattern/${encodeURIComponent(key)}`;
    const obs = await Observer.connect(MOSQUITTO_URL, [`${base}/pattern/#`]);

    const first = await startService({ broker: 'mosquitto', base, dataDir });
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'kept/b' }));
    await obs.state(base, 'kept/b');
    await first.stop();
    // What a run that crashed before its store caught up leaves behind: states of keys the store lacks.
    const ghosts = ['ghost/a#1', 'ghost+2', 'ghost $3 ü'];
    for (const key of ghosts)
      await obs.publish(topic(key), JSON.stringify({ key, patterns: ['burst'] }), true);
    // Not a topic patternd publishes (two levels): not touched.
    await obs.publish(`${base}/pattern/other/level`, 'x', true);

    const second = await startService({ broker: 'mosquitto', base, dataDir });
    // A key that becomes live while the sweep listens: its own state comes back to the sweep, not marked
    // retained, and must not be taken for stale.
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'new/c' }));
    await obs.state(base, 'new/c');
    await second.service.staleStates?.finished();
    expect(second.service.staleStates?.cleared).toBe(ghosts.length);
    for (const key of ghosts) await obs.waitFor(topic(key), (p) => p === '');
    await second.stop();

    const fresh = await Observer.connect(MOSQUITTO_URL, [`${base}/pattern/#`]);
    await fresh.waitFor(topic('kept/b'), (p) => p.length > 0);
    await fresh.waitFor(topic('new/c'), (p) => p.length > 0);
    await fresh.waitFor(`${base}/pattern/other/level`, (p) => p === 'x');
    expect(fresh.messages.filter((m) => ghosts.some((k) => m.topic === topic(k)))).toEqual([]);
    await fresh.close();
    await obs.close();
  });

  it('clears at most maxKeys of them per start, and the rest at the next start', async () => {
    const base = uniqueBase();
    bases.push(base);
    const dataDir = tmpDir();
    const obs = await Observer.connect(MOSQUITTO_URL, []);
    const ghosts = Array.from({ length: 20 }, (_, i) => `ghost/${i}`);
    for (const key of ghosts)
      await obs.publish(`${base}/pattern/${encodeURIComponent(key)}`, JSON.stringify({ key }), true);
    const overrides = { engine: { maxKeys: 16 } };
    for (const expected of [16, 4, 0]) {
      const run = await startService({ broker: 'mosquitto', base, dataDir, overrides });
      await run.service.staleStates?.finished();
      expect(run.service.staleStates?.cleared).toBe(expected);
      await run.stop();
    }
    await obs.close();
  });
});
