import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BridgeResponse,
  bridgeRequest,
  clearRetained,
  MOSQUITTO_URL,
  Observer,
  reachable,
  startService,
  type TestService,
  uniqueBase,
} from '../support/harness.ts';

/** The bridge API (`B/request/<command>` → `B/response/<command>`) against the real embedded aedes broker. */
const manifest = JSON.parse(fs.readFileSync(new URL('../../manifest.json', import.meta.url), 'utf8'));
const KEYS = Array.from({ length: 25 }, (_, i) => `snap/${String(i).padStart(2, '0')}`);

describe('bridge requests', () => {
  let svc: TestService;
  let obs: Observer;
  const base = uniqueBase();
  const request = (command: string, body: Record<string, unknown> = {}) =>
    bridgeRequest(obs, base, command, body);
  /** Publishes a raw payload and resolves with the next response on that command's topic. */
  const raw = async (command: string, payload: string | Buffer): Promise<BridgeResponse> => {
    const topic = `${base}/response/${command}`;
    const seen = obs.on(topic).length;
    await obs.publish(`${base}/request/${command}`, payload);
    await obs.waitFor(topic, () => obs.on(topic).length > seen);
    return JSON.parse(obs.on(topic)[seen]) as BridgeResponse;
  };
  const expectError = (r: BridgeResponse, pattern: RegExp) => {
    expect(r.status).toBe('error');
    expect(r.data).toEqual({});
    expect(r.error).toMatch(pattern);
  };

  beforeAll(async () => {
    svc = await startService({
      base,
      overrides: { mqtt: { password: 'hunter2' }, bridge: { maxPageSize: 10 } },
    });
    obs = await Observer.connect(svc.url, [`${base}/#`]);
    const ts = Date.parse('2026-11-20T10:00:00Z');
    const seq = Array.from({ length: 20 }, (_, i) => ({
      key: 'snap/seq',
      ts: ts + i * 50,
      position: i * 4096,
      size: 4096,
    }));
    await obs.publish(`${base}/access/nas`, JSON.stringify([...KEYS.map((key) => ({ key, ts })), ...seq]));
    await obs.state(base, 'snap/seq', (s) => s.pattern === 'sequential');
    for (const key of KEYS) await obs.state(base, key);
  });

  afterAll(async () => {
    await svc.stop();
    await obs.close();
  });

  it('health answers ok and echoes string and number transactions', async () => {
    const r = await request('health');
    expect(r).toMatchObject({ status: 'ok', data: { ok: true, reasons: [] } });
    expect(r.transaction).toMatch(/^tx-/);
    expect((r.data.stats as Record<string, unknown>).keys).toBe(KEYS.length + 1);
    const numbered = await raw('health', JSON.stringify({ transaction: 42 }));
    expect(numbered).toMatchObject({ status: 'ok', transaction: 42 });
    const empty = await raw('health', '');
    expect(empty.status).toBe('ok');
    expect(empty).not.toHaveProperty('transaction');
  });

  it('info gives the version and the configuration without secrets', async () => {
    const r = await request('info');
    expect(r.status).toBe('ok');
    expect(r.data).toMatchObject({ version: expect.any(String), base_topic: base });
    expect(r.data.commands).toEqual([
      'health',
      'info',
      'snapshot',
      'forget',
      'reset',
      'predict',
      'watch',
      'unwatch',
    ]);
    expect(r.data.commands).toEqual(manifest.patternd.bridge_commands);
    expect(JSON.stringify(r.data)).not.toContain('hunter2');
    expect((r.data.config as { mqtt: { password: string } }).mqtt.password).toBe('***');
  });

  it('snapshot pages through the keys in name order, by page or by offset', async () => {
    const all = [...KEYS, 'snap/seq'].sort();
    const first = await request('snapshot', { page: 1, page_size: 10 });
    expect(first.data).toMatchObject({
      total: 26,
      offset: 0,
      limit: 10,
      page: 1,
      page_size: 10,
      next_offset: 10,
    });
    const names = (r: BridgeResponse) => (r.data.keys as { key: string }[]).map((k) => k.key);
    expect(names(first)).toEqual(all.slice(0, 10));
    const last = await request('snapshot', { page: 3, page_size: 10 });
    expect(names(last)).toEqual(all.slice(20));
    expect(last.data.next_offset).toBeNull();
    const byOffset = await request('snapshot', { offset: 5, limit: 3 });
    expect(names(byOffset)).toEqual(all.slice(5, 8));
    expect(byOffset.data).not.toHaveProperty('page');
    const defaults = await request('snapshot');
    expect(defaults.data).toMatchObject({ offset: 0, limit: 10 });
    const sequential = await request('snapshot', { pattern: 'sequential' });
    expect(names(sequential)).toEqual(['snap/seq']);
    expect((sequential.data.keys as { pattern: string }[])[0].pattern).toBe('sequential');
    const globbed = await request('snapshot', { glob: 'snap/1?' });
    expect(globbed.data.total).toBe(10);
  });

  it('answers a glob made to backtrack at once, in snapshot and in watch, and keeps taking events', async () => {
    // As a RegExp (`.*` per star), this glob against a key of 60 `a`s froze the service for minutes.
    const key = `${'a'.repeat(60)}0`;
    const glob = `${'*a'.repeat(12)}*b`;
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key, ts: Date.parse('2026-11-20T10:00:00Z') }));
    await obs.state(base, key);
    const snap = await request('snapshot', { glob });
    expect(snap.data.total).toBe(0);
    expect((await request('snapshot', { glob: `${'*a'.repeat(12)}*0` })).data.total).toBe(1);
    expect((await request('watch', { globs: [glob] })).status).toBe('ok');
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: `${'a'.repeat(60)}1` }));
    await obs.state(base, `${'a'.repeat(60)}1`);
    expect((await request('health')).status).toBe('ok');
    expect((await request('unwatch', { globs: [glob] })).status).toBe('ok');
    for (const k of [key, `${'a'.repeat(60)}1`])
      expect((await request('forget', { key: k })).status).toBe('ok');
  });

  it('snapshot refuses pages over the cap, mixed paging styles and unknown fields', async () => {
    expectError(await request('snapshot', { page_size: 11 }), /page_size/);
    expectError(await request('snapshot', { limit: 0 }), /limit/);
    expectError(await request('snapshot', { page: 1, offset: 0 }), /either page\/page_size or offset\/limit/);
    expectError(await request('snapshot', { pagesize: 5 }), /pagesize/);
    expectError(await request('snapshot', { pattern: 'spiky' }), /pattern/);
  });

  it('forget drops one key: its state, its retained topic, and it is gone from snapshots', async () => {
    const r = await request('forget', { key: 'snap/00' });
    expect(r).toMatchObject({ status: 'ok', data: { key: 'snap/00' } });
    await obs.waitFor(`${base}/pattern/${encodeURIComponent('snap/00')}`, (p) => p === '');
    const snap = await request('snapshot', { glob: 'snap/00' });
    expect(snap.data.total).toBe(0);
    expectError(await request('forget', { key: 'snap/00' }), /not tracked/);
    expectError(await request('forget'), /key/);
    expectError(await request('forget', { key: '' }), /key/);
  });

  it('watch and unwatch change the watched globs, within limits', async () => {
    expect(await request('watch', { globs: ['a/*', 'b?'] })).toMatchObject({
      status: 'ok',
      data: { watch: ['a/*', 'b?'] },
    });
    expect((await request('info')).data.homeassistant).toMatchObject({ watch: ['a/*', 'b?'] });
    expect(await request('unwatch', { globs: ['a/*', 'never'] })).toMatchObject({ data: { watch: ['b?'] } });
    expectError(await request('watch', { globs: [] }), /globs/);
    expectError(await request('watch', { globs: 'a/*' }), /globs/);
    const tooMany = Array.from({ length: 100 }, (_, i) => `g${i}`);
    expectError(await request('watch', { globs: tooMany }), /at most 100/);
    expect((await request('unwatch', { globs: ['b?'] })).data).toEqual({ watch: [] });
  });

  it('answers malformed requests with a clear error and keeps running', async () => {
    expectError(await raw('health', '{"transaction": '), /invalid JSON/);
    expectError(await raw('health', '[1, 2]'), /JSON object/);
    expectError(await raw('health', '"health"'), /JSON object/);
    expectError(await raw('health', Buffer.alloc(70 * 1024, 0x20)), /too large/);
    const unknown = await raw('explode', JSON.stringify({ transaction: 'x1' }));
    expectError(unknown, /unknown command "explode"; known: health, info/);
    expect(unknown.transaction).toBe('x1');
    const odd = await raw('a b$ü', '{}');
    expectError(odd, /unknown command/);
    // A Zigbee2MQTT habit (bridge/request/device/rename): a nested command gets an answer, not silence.
    expectError(await raw('device/rename', '{}'), /unknown command "device\/rename"/);
    const invalid = await request('health', { verbose: true });
    expectError(invalid, /verbose/);
    expect(invalid.transaction).toMatch(/^tx-/);
    expect((await request('health')).status).toBe('ok');
  });

  it('reset needs confirm: true, then forgets every key and clears their retained states', async () => {
    expectError(await request('reset'), /confirm/);
    expectError(await request('reset', { confirm: 'yes' }), /confirm: must be true/);
    expect((await request('snapshot')).data.total).toBe(25);
    const r = await request('reset', { confirm: true });
    expect(r).toMatchObject({ status: 'ok', data: { forgotten: 25 } });
    for (const key of [...KEYS.slice(1), 'snap/seq'])
      await obs.waitFor(`${base}/pattern/${encodeURIComponent(key)}`, (p) => p === '');
    expect((await request('snapshot')).data.total).toBe(0);
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'after/reset' }));
    await obs.state(base, 'after/reset');
  });
});

const mosquittoUp = await reachable(MOSQUITTO_URL);

describe.skipIf(!mosquittoUp)('bridge requests on Mosquitto', () => {
  it('does not run a retained request again when it starts', async () => {
    const base = uniqueBase();
    const svc = await startService({ broker: 'mosquitto', base });
    const obs = await Observer.connect(MOSQUITTO_URL, [`${base}/#`]);
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'keep/me' }));
    await obs.state(base, 'keep/me');
    await svc.stop();
    await obs.publish(`${base}/request/reset`, JSON.stringify({ confirm: true }), true);

    const again = await startService({ broker: 'mosquitto', base, dataDir: svc.config.store.dataDir });
    const r = await bridgeRequest(obs, base, 'snapshot');
    expect(r.data.total).toBe(1);
    expect(obs.on(`${base}/response/reset`)).toEqual([]);
    await again.stop();
    await obs.close();
    await clearRetained(MOSQUITTO_URL, base);
  });
});
