import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATTERNS } from '../../src/engine/types.ts';
import {
  bridgeRequest,
  clearRetained,
  MOSQUITTO_URL,
  Observer,
  poll,
  reachable,
  startService,
  type TestService,
  tmpDir,
  uniqueBase,
} from '../support/harness.ts';

/**
 * Home Assistant MQTT discovery against the real embedded aedes broker (and Mosquitto for what needs a
 * broker that keeps retained messages across a restart). Every payload is checked against the option
 * names HA documents (shared/reference/home-assistant-mqtt.md §1.3–1.7): the allow-lists below are the
 * options patternd uses, so a misspelt or invented option fails here instead of being ignored by HA.
 */
const ROOT_KEYS = ['device', 'origin', 'availability_topic', 'state_topic', 'components'];
const DEVICE_KEYS = ['identifiers', 'name', 'manufacturer', 'model', 'sw_version', 'via_device'];
const ORIGIN_KEYS = ['name', 'sw_version', 'support_url'];
const COMPONENT_KEYS = [
  'platform',
  'name',
  'unique_id',
  'default_entity_id',
  'value_template',
  'json_attributes_topic',
  'json_attributes_template',
  'device_class',
  'state_class',
  'unit_of_measurement',
  'options',
  'entity_category',
  'icon',
  'suggested_display_precision',
];
const REQUIRED_COMPONENT_KEYS = ['platform', 'name', 'unique_id', 'default_entity_id', 'value_template'];
const DEVICE_CLASSES: Record<string, string[]> = {
  sensor: ['enum', 'duration'],
  binary_sensor: ['connectivity'],
};
const STATE_CLASSES = ['measurement', 'total', 'total_increasing'];
/** HA's `valid_entity_id`: lower-case, no leading, trailing or double underscore. */
const ENTITY_ID = /^(sensor|binary_sensor)\.(?!_)(?!.*__)[a-z0-9_]+(?<!_)$/;

type Json = Record<string, unknown>;

const TORTURE_KEYS = [
  't/a/b #1+$',
  't/ünïcødé/日本語/🎬',
  't/日本語',
  `t/${'k'.repeat(510)}`,
  't/a b',
  't/a_b',
  't/+/#',
];

function expectOnly(obj: Json, allowed: string[], where: string): void {
  const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
  expect(unknown, `unknown option(s) in ${where}`).toEqual([]);
}

/** Every `value_json.a.b` a template reads must exist in a real payload of its state topic. */
function expectTemplateFields(template: string, sample: Json, fullPath: boolean): void {
  for (const [, path] of template.matchAll(/value_json\.([a-z_.]+)/g)) {
    const parts = fullPath ? path.split('.') : path.split('.').slice(0, 1);
    let at: unknown = sample;
    for (const p of parts) {
      expect(at, `${path} in ${template}`).toHaveProperty(p);
      at = (at as Json)[p];
    }
  }
}

function checkDevicePayload(topic: string, payload: Json, prefix: string, base: string): void {
  expect(topic).toMatch(new RegExp(`^${prefix}/device/[a-zA-Z0-9_-]+/config$`));
  expectOnly(payload, ROOT_KEYS, topic);
  for (const k of ROOT_KEYS) expect(payload, `${k} in ${topic}`).toHaveProperty(k);
  expect(payload.availability_topic).toBe(`${base}/status`);
  const device = payload.device as Json;
  expectOnly(device, DEVICE_KEYS, `${topic} device`);
  expect(device.identifiers).toEqual([topic.split('/')[2]]);
  expect(device.name).toEqual(expect.any(String));
  const origin = payload.origin as Json;
  expectOnly(origin, ORIGIN_KEYS, `${topic} origin`);
  expect(origin.name).toBe('patternd');
  const components = payload.components as Record<string, Json>;
  expect(Object.keys(components).length).toBeGreaterThan(0);
  for (const [id, c] of Object.entries(components)) {
    const where = `${topic} component ${id}`;
    expect(id).toMatch(/^[a-zA-Z0-9_-]+$/);
    expectOnly(c, COMPONENT_KEYS, where);
    for (const k of REQUIRED_COMPONENT_KEYS) expect(c, `${k} in ${where}`).toHaveProperty(k);
    const platform = c.platform as string;
    expect(Object.keys(DEVICE_CLASSES)).toContain(platform);
    expect(c.default_entity_id).toMatch(ENTITY_ID);
    expect((c.default_entity_id as string).split('.')[0]).toBe(platform);
    if (c.device_class !== undefined) expect(DEVICE_CLASSES[platform]).toContain(c.device_class);
    if (c.state_class !== undefined) expect(STATE_CLASSES).toContain(c.state_class);
    if (c.entity_category !== undefined) expect(c.entity_category).toBe('diagnostic');
    if (c.device_class === 'enum') {
      expect((c.options as string[]).length).toBeGreaterThan(0);
      expect(c).not.toHaveProperty('state_class');
      expect(c).not.toHaveProperty('unit_of_measurement');
    }
  }
}

/** The discovery topic of a config whose entities read `stateTopic`, sent at any time (maybe removed since). */
function configTopicEver(obs: Observer, stateTopic: string): Promise<string> {
  const marker = `"state_topic":${JSON.stringify(stateTopic)}`;
  return poll(
    `a discovery config reading ${stateTopic}`,
    () => obs.messages.find((m) => m.topic.endsWith('/config') && m.payload.includes(marker))?.topic,
  );
}

describe('Home Assistant discovery on the embedded broker', () => {
  let svc: TestService;
  let obs: Observer;
  const base = uniqueBase();
  const prefix = `${base}ha`;
  const configTopics = () =>
    new Set(obs.messages.filter((m) => m.topic.startsWith(`${prefix}/device/`)).map((m) => m.topic));
  /** Latest config per discovery topic; null once removed. */
  const configs = (): Map<string, Json | null> => {
    const out = new Map<string, Json | null>();
    for (const topic of configTopics()) {
      const p = obs.latest(topic) as string;
      out.set(topic, p === '' ? null : JSON.parse(p));
    }
    return out;
  };
  const patternTopic = (key: string) => `${base}/pattern/${encodeURIComponent(key)}`;
  /** The discovery topic of the current config whose entities read `stateTopic`. */
  const configReading = (stateTopic: string): Promise<string> =>
    poll(`a discovery config reading ${stateTopic}`, () => {
      for (const [topic, c] of configs()) if (c?.state_topic === stateTopic) return topic;
    });
  const topicOfKey = (key: string) => configReading(patternTopic(key));
  const waitRemoved = (topic: string) => obs.waitFor(topic, (p) => p === '');

  beforeAll(async () => {
    svc = await startService({
      base,
      overrides: {
        homeassistant: {
          discoveryPrefix: prefix,
          statusTopic: `${prefix}/status`,
          watch: ['t/*'],
          birthDelayMs: 50,
          maxKeys: 20,
        },
      },
    });
    obs = await Observer.connect(svc.url, [`${base}/#`, `${prefix}/#`]);
    const ts = Date.parse('2026-11-20T10:00:00Z');
    await obs.publish(
      `${base}/access/nas`,
      JSON.stringify([...TORTURE_KEYS, 'other/unwatched'].map((key) => ({ key, ts }))),
    );
    for (const key of TORTURE_KEYS) await obs.state(base, key);
  });

  afterAll(async () => {
    await svc.stop();
    await obs.close();
  });

  it('announces the bridge device with diagnostic sensors read from B/stats', async () => {
    const bridgeTopic = await configReading(`${base}/stats`);
    const bridge = configs().get(bridgeTopic) as Json;
    checkDevicePayload(bridgeTopic, bridge, prefix, base);
    const components = bridge.components as Record<string, Json>;
    expect(Object.keys(components).sort()).toEqual(['events_per_s', 'keys', 'rejected', 'store', 'version']);
    for (const c of Object.values(components)) expect(c.entity_category).toBe('diagnostic');
    const stats = JSON.parse(await obs.waitFor(`${base}/stats`)) as Json;
    for (const c of Object.values(components)) expectTemplateFields(c.value_template as string, stats, true);
    const late = await Observer.connect(svc.url, [bridgeTopic]);
    await late.waitFor(bridgeTopic);
    expect(late.messages[0].retain).toBe(true);
    await late.close();
  });

  it('gives every watched key, whatever its name, a legal device with the five entities', async () => {
    const devices = new Set<string>();
    const bridge = configs().get(await configReading(`${base}/stats`)) as { device: Json };
    const bridgeId = (bridge.device.identifiers as string[])[0];
    for (const key of TORTURE_KEYS) {
      const topic = await topicOfKey(key);
      const c = configs().get(topic) as Json;
      checkDevicePayload(topic, c, prefix, base);
      devices.add(topic);
      expect(c.state_topic).toBe(patternTopic(key));
      const components = c.components as Record<string, Json>;
      expect(Object.keys(components).sort()).toEqual([
        'burst',
        'confidence',
        'pattern',
        'period',
        'periodic',
      ]);
      expect(components.pattern).toMatchObject({
        platform: 'sensor',
        device_class: 'enum',
        json_attributes_topic: patternTopic(key),
      });
      expect([...(components.pattern.options as string[])].sort()).toEqual([...PATTERNS].sort());
      expect(components.confidence).toMatchObject({ platform: 'sensor', unit_of_measurement: '%' });
      expect(components.burst.platform).toBe('binary_sensor');
      expect(components.periodic.platform).toBe('binary_sensor');
      expect(components.period).toMatchObject({ device_class: 'duration', unit_of_measurement: 's' });
      const state = await obs.state(base, key);
      for (const comp of Object.values(components)) {
        expectTemplateFields(comp.value_template as string, state, false);
      }
      // Attributes: what changes with the key's patterns, never what changes at every publish.
      const attributes = components.pattern.json_attributes_template as string;
      expectTemplateFields(attributes, state, false);
      for (const field of [
        'updated_ts',
        'last_ts',
        'accesses',
        'predicted',
        'scores',
        'confidence',
        'rate_per_min',
      ])
        expect(attributes).not.toContain(field);
      expect((c.device as Json).via_device).toBe(bridgeId);
    }
    expect(devices.size).toBe(TORTURE_KEYS.length);
    // Unique across every device, the bridge's included: HA refuses a duplicate.
    const uniqueIds = [...configs().values()].flatMap((c) =>
      Object.values((c?.components ?? {}) as Record<string, Json>).map((comp) => comp.unique_id),
    );
    expect(uniqueIds.length).toBe((TORTURE_KEYS.length + 1) * 5);
    expect(new Set(uniqueIds).size).toBe(uniqueIds.length);
    const watchedStateTopics = [...configs().values()].map((c) => c?.state_topic);
    expect(watchedStateTopics).not.toContain(patternTopic('other/unwatched'));
  });

  it('sends every config again after Home Assistant’s birth message', async () => {
    const topic = await topicOfKey('t/a b');
    const before = obs.on(topic).length;
    await obs.publish(`${prefix}/status`, 'offline');
    await new Promise((r) => setTimeout(r, 150));
    expect(obs.on(topic).length).toBe(before);
    await obs.publish(`${prefix}/status`, 'online');
    await obs.waitFor(topic, () => obs.on(topic).length > before, 3000);
    expect(JSON.parse(obs.latest(topic) as string).state_topic).toBe(patternTopic('t/a b'));
  });

  it('removes the entities of a key that is unwatched, and brings them back when watched again', async () => {
    const topic = await topicOfKey('t/a_b');
    const n = obs.on(topic).length;
    const unwatched = await bridgeRequest(obs, base, 'unwatch', { globs: ['t/*'] });
    expect(unwatched).toMatchObject({ status: 'ok', data: { watch: [] } });
    // Every watched key goes, not just this one.
    for (const key of TORTURE_KEYS) await waitRemoved(await topicOfKeyEver(key));
    const watched = await bridgeRequest(obs, base, 'watch', { globs: ['t/a?b'] });
    expect(watched.data).toEqual({ watch: ['t/a?b'] });
    await obs.waitFor(topic, () => obs.on(topic).length > n + 1 && obs.latest(topic) !== '');
    await topicOfKey('t/a b');
    expect(obs.latest(await topicOfKeyEver('t/日本語'))).toBe('');
    await bridgeRequest(obs, base, 'watch', { globs: ['t/*'] });
  });

  it('removes the entities of a key that is forgotten', async () => {
    const topic = await topicOfKey('t/+/#');
    const response = await bridgeRequest(obs, base, 'forget', { key: 't/+/#' });
    expect(response.status).toBe('ok');
    await obs.waitFor(topic, () => obs.latest(topic) === '');
    await obs.waitFor(patternTopic('t/+/#'), (p) => p === '');
  });

  const topicOfKeyEver = (key: string) => configTopicEver(obs, patternTopic(key));
});

describe('Home Assistant discovery limits', () => {
  it('removes the entities of a watched key the engine evicts', async () => {
    const base = uniqueBase();
    const prefix = `${base}ha`;
    const svc = await startService({
      base,
      overrides: { engine: { maxKeys: 16 }, homeassistant: { discoveryPrefix: prefix, watch: ['w/*'] } },
    });
    const obs = await Observer.connect(svc.url, [`${prefix}/#`, `${base}/pattern/#`]);
    const t0 = Date.parse('2026-11-20T00:00:00Z');
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'w/old', ts: t0 }));
    const topic = await configTopicEver(obs, `${base}/pattern/w%2Fold`);
    const others = Array.from({ length: 16 }, (_, i) => ({ key: `x/${i}`, ts: t0 + 1000 + i }));
    await obs.publish(`${base}/access/nas`, JSON.stringify(others));
    await obs.waitFor(`${base}/pattern/w%2Fold`, (p) => p === '');
    await obs.waitFor(topic, (p) => p === '');
    // The entities go before their state: cleared first, the state reached HA's live entities as an empty
    // payload, and each logged template errors (an outside evaluation).
    const cleared = (t: string) => obs.messages.findIndex((m) => m.topic === t && m.payload === '');
    expect(cleared(topic)).toBeLessThan(cleared(`${base}/pattern/w%2Fold`));
    await svc.stop();
    await obs.close();
  });

  it('caps the watched keys with entities and keeps places for the hardest-bursting keys', async () => {
    const base = uniqueBase();
    const prefix = `${base}ha`;
    const svc = await startService({
      base,
      overrides: {
        homeassistant: { discoveryPrefix: prefix, watch: ['w/*'], maxKeys: 4, burstingTopN: 1 },
      },
    });
    const obs = await Observer.connect(svc.url, [`${prefix}/#`, `${base}/pattern/#`]);
    const keyConfigs = () =>
      obs.messages
        .filter((m) => m.topic.startsWith(`${prefix}/device/`) && m.payload !== '')
        .map((m) => JSON.parse(m.payload) as Json)
        .filter((c) => (c.state_topic as string).startsWith(`${base}/pattern/`));
    const t0 = Date.parse('2026-11-20T00:00:00Z');
    await obs.publish(
      `${base}/access/nas`,
      JSON.stringify(['w/1', 'w/2', 'w/3', 'w/4', 'w/5'].map((key) => ({ key, ts: t0 }))),
    );
    await new Promise((r) => setTimeout(r, 600));
    expect(keyConfigs()).toHaveLength(3);

    // Two keys with an irregular usual rate, then both spike; `hot` far harder than `warm`.
    const gaps = [7, 13, 4, 19, 9, 11, 3, 17, 8, 14, 6, 21, 5, 12, 10, 16, 2, 18, 9, 13];
    const events: Json[] = [];
    let t = t0;
    for (const g of gaps) {
      t += g * 60_000;
      events.push({ key: 'hot', ts: t }, { key: 'warm', ts: t + 1000 });
    }
    for (let i = 0; i < 40; i++) events.push({ key: 'hot', ts: t + 600_000 + i * 500 });
    for (let i = 0; i < 15; i++) events.push({ key: 'warm', ts: t + 600_000 + i * 1000 });
    await obs.publish(`${base}/access/nas`, JSON.stringify(events));
    await obs.state(base, 'hot', (s) => (s.patterns as string[]).includes('burst'));
    await new Promise((r) => setTimeout(r, 600));
    const stateTopics = keyConfigs().map((c) => c.state_topic);
    expect(stateTopics).toHaveLength(4);
    expect(stateTopics).toContain(`${base}/pattern/hot`);
    expect(stateTopics).not.toContain(`${base}/pattern/warm`);
    await svc.stop();
    await obs.close();
  });
});

const mosquittoUp = await reachable(MOSQUITTO_URL);

describe.skipIf(!mosquittoUp)('Home Assistant discovery across restarts on Mosquitto', () => {
  it('clears a retained config of an earlier run whose key is no longer watched', async () => {
    const base = uniqueBase();
    const prefix = `${base}ha`;
    const dataDir = tmpDir();
    const ha = (watch: string[]) => ({ homeassistant: { discoveryPrefix: prefix, watch } });
    const first = await startService({ broker: 'mosquitto', base, dataDir, overrides: ha(['gone']) });
    const obs = await Observer.connect(MOSQUITTO_URL, [`${prefix}/#`, `${base}/pattern/#`]);
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'gone' }));
    const topic = await configTopicEver(obs, `${base}/pattern/gone`);
    await first.stop();

    const second = await startService({ broker: 'mosquitto', base, dataDir, overrides: ha([]) });
    await obs.waitFor(topic, (p) => p === '');
    await second.stop();
    await obs.close();
    await clearRetained(MOSQUITTO_URL, base);
    await clearRetained(MOSQUITTO_URL, prefix);
  });
});
