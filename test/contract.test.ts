import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BrokerKind,
  clearRetained,
  MOSQUITTO_URL,
  Observer,
  reachable,
  startService,
  type TestService,
  tmpDir,
} from './support/harness.ts';

/**
 * The public contract end to end, against both real brokers: the embedded aedes (on a free port) and the
 * machine's Mosquitto (patternd as an MQTT.js client through MQTT_URL).
 */
const FIELDS = [
  'key',
  'pattern',
  'confidence',
  'patterns',
  'scores',
  'sequential',
  'periodic',
  'burst',
  'correlated',
  'schedule',
  'trend',
  'accesses',
  'last_ts',
  'updated_ts',
];

const mosquittoUp = await reachable(MOSQUITTO_URL);
if (process.env.CI && !mosquittoUp) throw new Error(`CI: Mosquitto must be running at ${MOSQUITTO_URL}`);

describe.each<BrokerKind>(['embedded', 'mosquitto'])('contract over %s broker', (broker) => {
  let svc: TestService;
  let obs: Observer;
  let base: string;
  const skip = broker === 'mosquitto' && !mosquittoUp;

  beforeAll(async () => {
    if (skip) return;
    svc = await startService({ broker });
    base = svc.config.mqtt.baseTopic;
    obs = await Observer.connect(svc.url, [`${base}/#`]);
  });

  afterAll(async () => {
    if (skip) return;
    await svc.stop();
    await obs.close();
    if (broker === 'mosquitto') await clearRetained(svc.url, base);
  });

  it.skipIf(skip)('announces online (retained) at start', async () => {
    const late = await Observer.connect(svc.url, [`${base}/status`]);
    expect(await late.waitFor(`${base}/status`)).toBe('online');
    expect(late.messages[0].retain).toBe(true);
    await late.close();
  });

  it.skipIf(skip)('a single event becomes a retained state with every contract field', async () => {
    const ts = Date.parse('2026-11-20T10:00:00Z');
    await obs.publish(
      `${base}/access/nas/disk1`,
      JSON.stringify({
        key: 'media/movies/big.mkv',
        ts,
        position: 0,
        size: 4096,
        op: 'read',
        context: { user: 'x' },
      }),
    );
    const state = await obs.state(base, 'media/movies/big.mkv');
    for (const f of FIELDS) expect(state).toHaveProperty(f);
    expect(state.key).toBe('media/movies/big.mkv');
    expect(state.last_ts).toBe(ts);
    expect(state.accesses).toBe(1);
    expect(state.source).toBe('nas/disk1');
    expect(Object.keys(state.scores as object).sort()).toEqual([
      'burst',
      'correlated',
      'periodic',
      'random',
      'sequential',
    ]);
    expect((state.patterns as string[]).length).toBeGreaterThan(0);
    // A late subscriber gets it as a retained message.
    const late = await Observer.connect(svc.url, [
      `${base}/pattern/${encodeURIComponent('media/movies/big.mkv')}`,
    ]);
    await late.waitFor(`${base}/pattern/${encodeURIComponent('media/movies/big.mkv')}`);
    expect(late.messages[0].retain).toBe(true);
    await late.close();
  });

  it.skipIf(skip)('a batch of sequential reads is recognised as sequential', async () => {
    const t0 = Date.parse('2026-11-20T11:00:00Z');
    const batch = Array.from({ length: 40 }, (_, i) => ({
      key: 'seq/file',
      ts: t0 + i * 50,
      position: i * 65536,
      size: 65536,
    }));
    await obs.publish(`${base}/access/nas`, JSON.stringify(batch));
    const state = await obs.state(base, 'seq/file', (s) => s.accesses === 40);
    expect(state.pattern).toBe('sequential');
    expect(state.sequential).toMatchObject({ direction: 'forward', stride: 65536 });
  });

  it.skipIf(skip)('awkward keys map to exactly B/pattern/encodeURIComponent(key)', async () => {
    const keys = [
      'a/b #1',
      'plus+hash#/x',
      '$SYS/like',
      'with space',
      'ünïcødé/日本語/🎬',
      '/leading/and/trailing/',
      'k'.repeat(512),
    ];
    await obs.publish(`${base}/access/nas`, JSON.stringify(keys.map((key) => ({ key }))));
    for (const key of keys) {
      const state = await obs.state(base, key);
      expect(state.key).toBe(key);
    }
    const patternTopics = obs.messages
      .filter((m) => m.topic.startsWith(`${base}/pattern/`))
      .map((m) => m.topic);
    for (const key of keys) expect(patternTopics).toContain(`${base}/pattern/${encodeURIComponent(key)}`);
  });

  it.skipIf(skip)('rejects bad input on B/errors, counts it, and keeps the valid items', async () => {
    const errors = () => obs.on(`${base}/errors`).map((e) => JSON.parse(e));
    const before = errors().length;
    await obs.publish(`${base}/access/nas`, '{"key": "broken');
    await obs.publish(`${base}/access/nas`, Buffer.alloc(300 * 1024, 0x20));
    await obs.publish(`${base}/access/nas`, '42');
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 7 }));
    await obs.publish(
      `${base}/access/nas`,
      JSON.stringify([
        { key: 'good/1' },
        { key: '' },
        { key: 'x', ts: 'yesterday' },
        { key: 'x', position: 'far' },
        { key: 'x', size: -1 },
        { key: 'nul\u0000key' },
        { key: 'k'.repeat(513) },
        // Valid JSON (`"lone\ud800"`) but no character, so no topic can name it: it stopped the service.
        { key: 'lone\ud800' },
        { key: 'good/2', ts: '2026-11-20T12:00:00.000Z' },
        // Optional fields written as null (Python's None) are absent, not wrong.
        { key: 'good/null', ts: null, position: null, size: null, op: null, context: null },
      ]),
    );
    await obs.publish(`${base}/access/nas`, '{"key": "\\udc00"}');
    // Not UTF-8, so not JSON: decoded, each broken sequence became U+FFFD and such keys merged into one.
    const broken = Buffer.concat([
      Buffer.from('{"key": "bad-'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    await obs.publish(`${base}/access/nas`, broken);
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'good/3' }));
    await obs.state(base, 'good/3');
    await obs.state(base, 'good/1');
    await obs.state(base, 'good/null');
    const good2 = await obs.state(base, 'good/2');
    expect(good2.last_ts).toBe(Date.parse('2026-11-20T12:00:00.000Z'));
    const deadline = Date.now() + 5000;
    while (errors().length - before < 13 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const got = errors().slice(before);
    const reasons = got.map((e) => e.reason as string);
    expect(reasons.some((r) => r.startsWith('invalid JSON'))).toBe(true);
    expect(reasons.some((r) => r.startsWith('payload too large'))).toBe(true);
    expect(reasons.some((r) => r.startsWith('payload must be'))).toBe(true);
    expect(reasons.filter((r) => r.startsWith('invalid UTF-8'))).toHaveLength(1);
    expect(reasons.some((r) => r.startsWith('key:'))).toBe(true);
    expect(reasons.filter((r) => r.startsWith('key: must be valid Unicode'))).toHaveLength(2);
    expect(
      got
        .filter((e) => e.index !== undefined)
        .map((e) => e.index)
        .sort(),
    ).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const e of got) expect(e.topic).toBe(`${base}/access/nas`);
    const stats = JSON.parse(
      await obs.waitFor(`${base}/stats`, (p) => {
        const s = JSON.parse(p);
        return s.rejected_events >= 9 && s.rejected_messages >= 4;
      }),
    );
    expect(stats.rejected_by_reason).toBeTypeOf('object');
  });

  it.skipIf(skip)('reads a batch in time order, whatever order its events come in', async () => {
    // A device that writes its queue newest first, or shuffled: fed as they came, every read stepped back
    // and the stream was random.
    const t = Date.now() - 10_000;
    const chunks = (key: string, extra = {}) =>
      Array.from({ length: 40 }, (_, i) => ({
        key,
        ts: t + i * 50,
        position: i * 65536,
        size: 65536,
        ...extra,
      }));
    const shuffled = chunks('order/shuffled');
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = (i * 7919) % (i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    await obs.publish(`${base}/access/nas`, JSON.stringify(chunks('order/reversed').reverse()));
    await obs.publish(`${base}/access/nas`, JSON.stringify(shuffled));
    // With a `context`, the full path reads the batch.
    await obs.publish(`${base}/access/nas`, JSON.stringify(chunks('order/full', { context: {} }).reverse()));
    for (const key of ['order/reversed', 'order/shuffled', 'order/full']) {
      const state = await obs.state(base, key, (s) => s.accesses === 40);
      expect(state.patterns, key).toContain('sequential');
      expect(state.sequential, key).toMatchObject({ direction: 'forward', stride: 65536 });
    }
  });

  it.skipIf(skip)('publishes B/stats as retained JSON counters', async () => {
    const stats = JSON.parse(await obs.waitFor(`${base}/stats`, (p) => JSON.parse(p).events > 0));
    expect(stats).toMatchObject({
      keys: expect.any(Number),
      patterns: expect.any(Object),
      store: expect.any(Object),
    });
  });
});

describe('lifecycle', () => {
  it('publishes offline at shutdown and restores state from the embedded store after a restart', async () => {
    const dataDir = tmpDir();
    const first = await startService({ dataDir });
    const base = first.config.mqtt.baseTopic;
    let obs = await Observer.connect(first.url, [`${base}/#`]);
    const t0 = Date.parse('2026-11-21T00:00:00Z');
    // An hourly job over a day and a half: periodic knowledge that would take hours to relearn.
    const events = Array.from({ length: 36 }, (_, i) => ({
      key: 'backup/nightly.tar',
      ts: t0 + i * 3_600_000 + (i % 3) * 1000,
    }));
    await obs.publish(`${base}/access/nas`, JSON.stringify(events));
    const before = await obs.state(base, 'backup/nightly.tar', (s) => s.accesses === 36);
    expect(before.patterns).toContain('periodic');
    await first.stop();
    expect(await obs.waitFor(`${base}/status`, (p) => p === 'offline')).toBe('offline');
    await obs.close();

    const second = await startService({ dataDir, base });
    obs = await Observer.connect(second.url, [`${base}/#`]);
    const after = await obs.state(base, 'backup/nightly.tar');
    expect(after.patterns).toEqual(before.patterns);
    expect(after.periodic).toEqual(before.periodic);
    expect(after.accesses).toBe(36);
    await second.stop();
    await obs.close();
  });
});
