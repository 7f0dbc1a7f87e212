import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { WatchList } from '../../src/homeassistant/watchlist.ts';
import { bridgeRequest, Observer, startService, tmpDir, uniqueBase } from '../support/harness.ts';

describe('watch list globs', () => {
  it('* spans any characters including /, ? exactly one character, everything else is literal', () => {
    const w = new WatchList(['media/*', 'cam?/x', 'a.b', '(x)+[y]', '🎬?'], 10);
    expect(w.matches('media/movies/big.mkv')).toBe(true);
    expect(w.matches('media/')).toBe(true);
    expect(w.matches('xmedia/a')).toBe(false);
    expect(w.matches('cam1/x')).toBe(true);
    expect(w.matches('cam12/x')).toBe(false);
    expect(w.matches('a.b')).toBe(true);
    expect(w.matches('axb')).toBe(false);
    expect(w.matches('(x)+[y]')).toBe(true);
    expect(w.matches('🎬😀')).toBe(true);
  });

  it('adds without duplicates, removes, announces changes and enforces its limit', () => {
    const w = new WatchList([], 3);
    let changes = 0;
    w.on('change', () => changes++);
    expect(w.matches('anything')).toBe(false);
    expect(w.add(['a', 'b', 'a'])).toEqual(['a', 'b']);
    expect(w.add(['b'])).toEqual(['a', 'b']);
    expect(changes).toBe(1);
    expect(() => w.add(['c', 'd'])).toThrow(/at most 3/);
    expect(w.remove(['a', 'zzz'])).toEqual(['b']);
    expect(w.matches('a')).toBe(false);
    expect(changes).toBe(2);
  });
});

describe('homeassistant and bridge settings', () => {
  const load = (overrides: unknown) => loadConfig({ env: {}, overrides });

  it('default to discovery on, nothing watched, bridge on', () => {
    const c = load({});
    expect(c.homeassistant).toMatchObject({ enabled: true, discoveryPrefix: 'homeassistant', watch: [] });
    expect(c.bridge.enabled).toBe(true);
  });

  it('reject a discovery prefix equal to the base topic, wildcards, and more bursting places than keys', () => {
    expect(() => load({ homeassistant: { discoveryPrefix: 'homecloud' } })).toThrow(
      /homeassistant.discoveryPrefix: must differ from mqtt.baseTopic/,
    );
    expect(() => load({ homeassistant: { discoveryPrefix: 'ha/#' } })).toThrow(/discoveryPrefix/);
    expect(() => load({ homeassistant: { maxKeys: 2, burstingTopN: 3 } })).toThrow(
      /homeassistant.burstingTopN: must not exceed maxKeys/,
    );
    expect(() => load({ homeassistant: { watch: [''] } })).toThrow(/homeassistant.watch.0/);
  });
});

describe('watch list across restarts', () => {
  it('keeps globs watched and unwatched through the bridge until the configured list is edited', async () => {
    // A restart kept the configured globs only: every key watched through the bridge lost its entities
    // (an outside evaluation).
    const dataDir = tmpDir();
    const base = uniqueBase();
    const start = (watch: string[]) =>
      startService({ base, dataDir, overrides: { homeassistant: { watch } } });
    const watchedAfterRestart = async (watch: string[]) => {
      const svc = await start(watch);
      const obs = await Observer.connect(svc.url, [`${base}/response/#`]);
      const info = await bridgeRequest(obs, base, 'info');
      await obs.close();
      await svc.stop();
      return (info.data as { homeassistant: { watch: string[] } }).homeassistant.watch.sort();
    };
    const svc = await start(['cfg/*', 'old/*']);
    const obs = await Observer.connect(svc.url, [`${base}/response/#`]);
    expect((await bridgeRequest(obs, base, 'watch', { globs: ['media/*.mkv'] })).status).toBe('ok');
    expect((await bridgeRequest(obs, base, 'unwatch', { globs: ['old/*'] })).status).toBe('ok');
    await obs.close();
    await svc.stop();
    expect(await watchedAfterRestart(['cfg/*', 'old/*'])).toEqual(['cfg/*', 'media/*.mkv']);
    // The file edited: it applies; the runtime changes made against the old list are dropped.
    expect(await watchedAfterRestart(['cfg/*', 'old/*', 'new/*'])).toEqual(['cfg/*', 'new/*', 'old/*']);
  });
});
