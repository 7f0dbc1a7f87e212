import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { BrokerPortInUseError } from '../src/mqtt/broker.ts';
import { PACKAGE_ROOT } from '../src/paths.ts';
import { Service } from '../src/service.ts';
import { freePort, tmpDir } from './support/harness.ts';

describe('configuration', () => {
  it('defaults to the contract: embedded broker on 127.0.0.1:1883, base topic homecloud, ./data', () => {
    const c = loadConfig({ env: {} });
    expect(c.mqtt.url).toBeUndefined();
    expect(c.broker).toMatchObject({ host: '127.0.0.1', port: 1883 });
    expect(c.mqtt.baseTopic).toBe('homecloud');
    expect(c.store.dataDir).toBe('./data');
    expect(c.log.level).toBe('info');
    expect(c.http).toMatchObject({ host: '127.0.0.1', port: 8080 });
  });

  it('takes the contract environment variables', () => {
    const c = loadConfig({
      env: {
        MQTT_URL: 'mqtt://broker:1883',
        REDIS_URL: 'redis://:pw@cache:6379/2',
        BASE_TOPIC: 'house',
        LOG_LEVEL: 'debug',
        BROKER_HOST: '0.0.0.0',
        BROKER_PORT: '1999',
        DATA_DIR: '/var/lib/patternd',
        HTTP_HOST: '0.0.0.0',
        HTTP_PORT: '9000',
      },
    });
    expect(c.mqtt.url).toBe('mqtt://broker:1883');
    expect(c.store.redisUrl).toBe('redis://:pw@cache:6379/2');
    expect(c.mqtt.baseTopic).toBe('house');
    expect(c.log.level).toBe('debug');
    expect(c.broker).toMatchObject({ host: '0.0.0.0', port: 1999 });
    expect(c.store.dataDir).toBe('/var/lib/patternd');
    expect(c.http).toMatchObject({ host: '0.0.0.0', port: 9000 });
  });

  it('merges a --config file over the defaults, and the environment over the file', () => {
    const file = path.join(tmpDir(), 'my.json');
    fs.writeFileSync(file, JSON.stringify({ mqtt: { baseTopic: 'fromfile', publishIntervalMs: 250 } }));
    const c = loadConfig({ file, env: { BASE_TOPIC: 'fromenv' } });
    expect(c.mqtt.publishIntervalMs).toBe(250);
    expect(c.mqtt.baseTopic).toBe('fromenv');
    expect(c.mqtt.qos).toBe(1);
  });

  it.each([
    [{ log: { level: 'loud' } }, 'log.level', 'must be one of "fatal", "error"'],
    [{ engine: { maxKeys: 'many' } }, 'engine.maxKeys', ''],
    [{ mqtt: { baseTopic: 'a/#' } }, 'mqtt.baseTopic', 'must not contain # + or NUL'],
    [{ mqtt: { url: 'http://x' } }, 'mqtt.url', 'must start with mqtt://'],
    [{ engine: { sequential: { treshold: 0.5 } } }, 'engine.sequential', 'unknown field(s) "treshold"'],
  ])('fails at start naming the field: %j', (overrides, field, detail) => {
    let message = '';
    try {
      loadConfig({ env: {}, overrides });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain(`${field}:`);
    expect(message).toContain(detail);
  });

  it('names the variable when an environment number is not a number', () => {
    expect(() => loadConfig({ env: { BROKER_PORT: 'eighteen' } })).toThrow(/BROKER_PORT must be an integer/);
    // Number() would read these as 0 (a random port), 1000 and 20480 (an outside evaluation).
    for (const port of [' ', '1e3', '0x5000', '-1883', '1883.0'])
      expect(() => loadConfig({ env: { BROKER_PORT: port } }), port).toThrow(
        /BROKER_PORT must be an integer/,
      );
  });

  it('refuses a broker login with a username or a password hash alone', () => {
    // Either alone let every client in while the log said a login was on (an outside evaluation).
    const hash = 'scrypt$EMFxGD7QxY4/hbwdNCH12w==$bO0g';
    expect(() => loadConfig({ env: {}, overrides: { broker: { username: 'dev' } } })).toThrow(
      /broker\.passwordHash: username and passwordHash go together/,
    );
    expect(() => loadConfig({ env: {}, overrides: { broker: { passwordHash: hash } } })).toThrow(
      /broker\.username: username and passwordHash go together/,
    );
    expect(
      loadConfig({ env: {}, overrides: { broker: { username: 'dev', passwordHash: hash } } }).broker,
    ).toMatchObject({
      username: 'dev',
    });
  });

  it('says which setting to fix, without a stack trace, for an address not of this machine and for a file that is not PEM', async () => {
    const dir = tmpDir();
    const junk = path.join(dir, 'junk.pem');
    fs.writeFileSync(junk, 'not a certificate\n');
    const cli = (env: Record<string, string>, config?: object) => {
      const args = ['--import', 'tsx', 'src/cli.ts'];
      if (config) {
        const file = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
        fs.writeFileSync(file, JSON.stringify(config));
        args.push('--config', file);
      }
      return spawnSync(process.execPath, args, {
        cwd: PACKAGE_ROOT,
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dir, HTTP_PORT: '0', LOG_LEVEL: 'warn', ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
    };
    const port = String(await freePort());
    const unreachable = cli({ BROKER_HOST: '192.0.2.1', BROKER_PORT: port });
    expect(unreachable.stderr).toMatch(
      /cannot start the embedded MQTT broker on 192\.0\.2\.1:\d+: listen EADDRNOTAVAIL/,
    );
    expect(unreachable.stderr).toMatch(/BROKER_HOST/);
    const badPem = cli({ BROKER_PORT: port }, { broker: { tls: { cert: junk, key: junk } } });
    expect(badPem.stderr).toMatch(/broker\.tls\.cert: .*junk\.pem is not a PEM certificate/);
    const badCa = cli({ MQTT_URL: 'mqtts://127.0.0.1:1' }, { mqtt: { tls: { ca: junk } } });
    expect(badCa.stderr).toMatch(/mqtt\.tls\.ca: .*junk\.pem is not a PEM certificate/);
    for (const r of [unreachable, badPem, badCa]) {
      expect(r.status).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('lists the allowed values of a field that has a few', () => {
    expect(() => loadConfig({ env: {}, overrides: { mqtt: { qos: 2 } } })).toThrow(
      /mqtt\.qos: must be one of 0, 1/,
    );
  });

  it('says what to do when the embedded broker port is taken', async () => {
    const port = await freePort();
    const busy = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => busy.once('listening', r));
    const config = loadConfig({
      env: {},
      overrides: { broker: { port }, store: { dataDir: tmpDir() }, http: { enabled: false } },
    });
    const service = new Service({ config, log: pino({ level: 'silent' }) });
    const err = await service.start().then(
      () => null,
      (e: unknown) => e,
    );
    busy.close();
    await service.stop();
    expect(err).toBeInstanceOf(BrokerPortInUseError);
    expect((err as Error).message).toContain(`MQTT_URL=mqtt://127.0.0.1:${port}`);
    expect((err as Error).message).toContain('BROKER_PORT=');
  });
});
