import { describe, expect, it } from 'vitest';
import { bridgeDeviceId, keyDeviceId, keyDiscovery, slug } from '../../src/homeassistant/payloads.ts';
import { topics } from '../../src/mqtt/topics.ts';

/** HA's discovery topic level `[a-zA-Z0-9_-]`, narrowed to what also fits inside an entity id. */
const ID = /^patternd(_[a-z0-9]+)+$/;

describe('discovery ids', () => {
  it('are legal for HA whatever the key, and readable when the key allows it', () => {
    const keys = ['a/b #1+$', 'ünïcødé/日本語/🎬', '日本語', 'k'.repeat(512), '__x__', '$SYS/x', ' ', 'Ab-C'];
    for (const key of keys) {
      const id = keyDeviceId('homecloud', key);
      expect(id).toMatch(ID);
      expect(id.length).toBeLessThanOrEqual('patternd_'.length + 40 + 1 + 12);
    }
    expect(keyDeviceId('homecloud', 'media/Movies/Big.mkv')).toMatch(
      /^patternd_media_movies_big_mkv_[0-9a-f]{12}$/,
    );
    expect(keyDeviceId('homecloud', 'café')).toMatch(/^patternd_cafe_/);
    expect(bridgeDeviceId('home/cloud')).toMatch(ID);
  });

  it('tell apart keys whose slugs collide, and the same key under two base topics', () => {
    expect(slug('a b')).toBe(slug('a_b'));
    expect(keyDeviceId('homecloud', 'a b')).not.toBe(keyDeviceId('homecloud', 'a_b'));
    expect(keyDeviceId('one', 'k')).not.toBe(keyDeviceId('two', 'k'));
    expect(keyDeviceId('one', 'k')).toBe(keyDeviceId('one', 'k'));
  });

  it('suggest entity ids from the key hash when the key has nothing to slug', () => {
    const d = keyDiscovery('homeassistant', topics('homecloud'), '日本語');
    expect(d.payload.components.pattern.default_entity_id).toMatch(/^sensor\.patternd_[0-9a-f]{12}_pattern$/);
    expect(d.payload.device.name).toBe('日本語');
    const long = keyDiscovery('homeassistant', topics('homecloud'), 'x'.repeat(512));
    expect((long.payload.device.name as string).length).toBe(100);
  });
});
