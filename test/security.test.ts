import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { hashPassword, verifyPassword } from '../src/mqtt/auth.ts';
import { PACKAGE_ROOT } from '../src/paths.ts';
import { Service } from '../src/service.ts';
import {
  bridgeRequest,
  freePort,
  Observer,
  startService,
  type TestService,
  tmpDir,
} from './support/harness.ts';

describe('embedded broker security', () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
  });

  it('stores only a scrypt hash and verifies it', () => {
    const h = hashPassword('s3cret');
    expect(h).toMatch(/^scrypt\$/);
    expect(h).not.toContain('s3cret');
    expect(verifyPassword('s3cret', h)).toBe(true);
    expect(verifyPassword('wrong', h)).toBe(false);
  });

  it('requires the configured login', async () => {
    svc = await startService({ overrides: { broker: { username: 'ha', passwordHash: hashPassword('pw') } } });
    const connect = (opts: mqtt.IClientOptions) =>
      mqtt.connectAsync(svc!.url, { reconnectPeriod: 0, connectTimeout: 2000, ...opts }).then(
        (c) => {
          c.end(true);
          return 'ok';
        },
        (e: Error) => e.message,
      );
    expect(await connect({})).not.toBe('ok');
    expect(await connect({ username: 'ha', password: 'nope' })).not.toBe('ok');
    expect(await connect({ username: 'ha', password: 'pw' })).toBe('ok');
    // The bridge's `info` tells anyone on the broker the configuration: not the hash, which is enough to
    // guess the password offline.
    const obs = await Observer.connect(svc.url, [`${svc.config.mqtt.baseTopic}/response/#`], {
      username: 'ha',
      password: 'pw',
    });
    const info = await bridgeRequest(obs, svc.config.mqtt.baseTopic, 'info');
    expect(JSON.stringify(info)).not.toContain(svc.config.broker.passwordHash);
    expect((info.data as { config: { broker: object } }).config.broker).toMatchObject({
      username: 'ha',
      passwordHash: '***',
    });
    await obs.close();
  });

  it("refuses other clients' publishes to patternd's own topics", async () => {
    svc = await startService();
    const base = svc.config.mqtt.baseTopic;
    const obs = await Observer.connect(svc.url, [`${base}/#`, 'homeassistant/#']);
    // Its Home Assistant devices and bridge responses too: any client could replace or delete them, or
    // leave a retained answer that every later requester got (an outside evaluation).
    const forged: [string, string][] = [
      [`${base}/pattern/fake`, '{"pattern":"burst"}'],
      [`${base}/status`, 'offline'],
      [`${base}/response/snapshot`, '{"status":"ok","data":{}}'],
      ['homeassistant/device/patternd_fake_0123456789ab/config', '{}'],
    ];
    // The broker disconnects a client at its first refused publish: one forger per topic.
    for (const [topic, payload] of forged) {
      const forger = await mqtt.connectAsync(svc.url, { reconnectPeriod: 0 });
      forger.on('error', () => {});
      forger.publish(topic, payload, { qos: 0, retain: true });
      await new Promise((r) => setTimeout(r, 50));
      forger.end(true);
    }
    // Allowed topics still work for everyone, Home Assistant's other devices included.
    await obs.publish('homeassistant/device/other_light/config', '{}');
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'real' }));
    await obs.state(base, 'real');
    await new Promise((r) => setTimeout(r, 200));
    for (const [topic, payload] of forged) expect(obs.on(topic), topic).not.toContain(payload);
    expect(obs.on('homeassistant/device/other_light/config')).toEqual(['{}']);
    await obs.close();
  });

  it('closes a connection that sends a packet over broker.maxPacketBytes before buffering it, and keeps others going', async () => {
    // Without a limit, a 200 MB publish took the process from 224 to 497 MiB before patternd could
    // reject it as too large (an outside evaluation).
    svc = await startService({ overrides: { broker: { maxPacketBytes: 64 * 1024 } } });
    const base = svc.config.mqtt.baseTopic;
    const obs = await Observer.connect(svc.url, [`${base}/pattern/#`, 'big/#']);
    const sender = await mqtt.connectAsync(svc.url, { reconnectPeriod: 0 });
    sender.on('error', () => {});
    const closed = new Promise<void>((r) => sender.once('close', () => r()));
    sender.publish('big/blob', Buffer.alloc(4 * 1024 * 1024), { qos: 0 });
    await closed;
    // Under the limit, from the observer: delivered; and access events still taken.
    await obs.publish('big/small', Buffer.alloc(32 * 1024));
    await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'after-big' }));
    await obs.state(base, 'after-big');
    expect(obs.on('big/small')).toHaveLength(1);
    expect(obs.on('big/blob')).toHaveLength(0);
    // Counted in B/stats, as every refusal is.
    expect(svc.service.stats.snapshot().broker).toEqual({ oversize_packets: 1, retained_not_kept: 0 });
    sender.end(true);
    await obs.close();
  });

  it("keeps other clients' retained messages up to broker.maxRetainedBytes, and delivers the rest", async () => {
    // 500 retained messages of 1 MB from any client stayed in memory, outside the budget (an outside
    // evaluation).
    svc = await startService({ overrides: { broker: { maxRetainedBytes: 100_000 } } });
    const device = await Observer.connect(svc.url, ['junk/#']);
    for (const n of [1, 2, 3]) await device.publish(`junk/${n}`, 'x'.repeat(40_000), true);
    await device.waitFor('junk/3', () => device.on('junk/3').length === 1);
    const retainedNow = async () => {
      const late = await Observer.connect(svc!.url, ['junk/#']);
      await new Promise((r) => setTimeout(r, 300));
      const topics = ['junk/1', 'junk/2', 'junk/3'].filter((t) => late.on(t).some((p) => p.length > 0));
      await late.close();
      return topics;
    };
    expect(await retainedNow()).toEqual(['junk/1', 'junk/2']);
    expect(svc.service.stats.snapshot().broker).toEqual({ oversize_packets: 0, retained_not_kept: 1 });
    // Clearing one makes room.
    await device.publish('junk/1', '', true);
    await device.publish('junk/3', 'y'.repeat(40_000), true);
    await device.waitFor('junk/3', () => device.on('junk/3').length === 2);
    expect(await retainedNow()).toEqual(['junk/2', 'junk/3']);
    await device.close();
  });

  it('warns loudly when listening beyond loopback without a login', async () => {
    const lines = await warningsOfRun({ broker: { host: '0.0.0.0', port: await freePort() } });
    expect(lines.some((l) => l.includes('SECURITY') && l.includes('without a login'))).toBe(true);
  });

  it('warns loudly when the dashboard listens beyond loopback without a token', async () => {
    const security = async (http: object) =>
      (await warningsOfRun({ broker: { port: 0 }, http })).filter((l) => l.includes('SECURITY'));
    expect(
      await security({ enabled: true, host: '0.0.0.0', port: 0, token: 'a-token-of-16-chars-or-more' }),
    ).toEqual([]);
    expect(await security({ enabled: true, host: '127.0.0.1', port: 0 })).toEqual([]);
    const open = await security({ enabled: true, host: '0.0.0.0', port: 0 });
    expect(open.filter((l) => l.includes('without a token'))).toHaveLength(1);
  });

  it('hashes a password given on standard input, which stays out of the shell history and `ps`', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'hash-password'], {
      cwd: PACKAGE_ROOT,
      input: 's3cret\n',
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(verifyPassword('s3cret', r.stdout.trim())).toBe(true);
  });
});

/** The warnings a service logs from its start to its stop, with `overrides` deep-merged into its config. */
async function warningsOfRun(overrides: Record<string, object>): Promise<string[]> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const config = loadConfig({
    env: {},
    overrides: {
      store: { dataDir: tmpDir() },
      http: { enabled: false },
      mqtt: { baseTopic: 'sec' },
      ...overrides,
    },
  });
  const service = new Service({ config, log: pino({ level: 'warn' }, sink) });
  await service.start();
  await service.stop();
  return lines;
}
