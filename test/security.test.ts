import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { hashPassword, verifyPassword } from '../src/mqtt/auth.ts';
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

  it('warns loudly when listening beyond loopback without a login', async () => {
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
        broker: { host: '0.0.0.0', port: await freePort() },
        store: { dataDir: tmpDir() },
        http: { enabled: false },
        mqtt: { baseTopic: 'sec' },
      },
    });
    const service = new Service({ config, log: pino({ level: 'warn' }, sink) });
    await service.start();
    await service.stop();
    expect(lines.some((l) => l.includes('SECURITY') && l.includes('without a login'))).toBe(true);
  });
});
