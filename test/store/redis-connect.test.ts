import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/store/redis.ts';
import { PatterndProcess } from '../support/child.ts';
import { freePort, Observer, tmpDir, uniqueBase, uniquePrefix } from '../support/harness.ts';
import { RedisServer, requireRedisServer } from '../support/redis.ts';

/**
 * REDIS_URL as users write it: a password in the URL, and `rediss://` (TLS) with a private CA given to
 * Node through NODE_EXTRA_CA_CERTS. Each against a redis-server of the test's own.
 */
const installed = await requireRedisServer();
const log = pino({ level: 'silent' });
const PASSWORD = 'p@ss/word';

describe.skipIf(!installed)('Redis connection', () => {
  let secured: RedisServer;

  beforeAll(async () => {
    secured = new RedisServer(await freePort(), ['--requirepass', PASSWORD]);
    await secured.start();
  });

  afterAll(async () => {
    PatterndProcess.killAll();
    await secured?.stop(false);
  });

  it('authenticates with the password in the URL', async () => {
    const url = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${secured.port}`;
    const store = new RedisStore({ url, keyPrefix: uniquePrefix(), log });
    await store.open();
    const meta = { now: 5, layout: 'x', sources: [] };
    await store.write({
      meta,
      upserts: [{ key: 'k', slot: 3, generation: 2, row: new Uint8Array([7]) }],
      deletes: [],
    });
    const { keys, meta: loaded } = await store.load();
    expect(loaded).toEqual(meta);
    expect(keys).toEqual([{ key: 'k', slot: 3, generation: 2, row: new Uint8Array([7]) }]);
    expect(store.status()).toMatchObject({ kind: 'redis', up: true });
    await store.close();
  });

  it('fails at once, naming the cause, when the password is wrong', async () => {
    const url = `redis://:wrong@127.0.0.1:${secured.port}`;
    const store = new RedisStore({ url, keyPrefix: uniquePrefix(), log });
    const started = Date.now();
    await expect(store.open()).rejects.toThrow(/credentials.*WRONGPASS/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('gives up after the open timeout when nothing answers', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const store = new RedisStore({ url, keyPrefix: uniquePrefix(), log, openTimeoutMs: 1000 });
    await expect(store.open()).rejects.toThrow(/unreachable within 1000 ms/);
  });

  it('stores state over rediss:// (TLS) in a real patternd process', async () => {
    const dir = tmpDir('patternd-tls-');
    const file = (name: string) => path.join(dir, name);
    const openssl = (...args: string[]) => {
      const r = spawnSync('openssl', args, { stdio: 'pipe' });
      if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
    };
    const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(
      'req',
      '-x509',
      ...ecKey,
      '-days',
      '1',
      '-subj',
      '/CN=patternd test CA',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
    );
    openssl(
      'req',
      ...ecKey,
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
    );
    fs.writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    openssl(
      ...['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key')],
      ...['-CAcreateserial', '-days', '1', '-out', file('server.pem'), '-extfile', file('san.ext')],
    );
    const tlsPort = await freePort();
    const server = new RedisServer(0, [
      ...['--tls-port', String(tlsPort), '--tls-cert-file', file('server.pem')],
      ...[
        '--tls-key-file',
        file('server.key'),
        '--tls-ca-cert-file',
        file('ca.pem'),
        '--tls-auth-clients',
        'no',
      ],
    ]);
    await server.start();
    const url = `rediss://127.0.0.1:${tlsPort}`;
    const base = uniqueBase();
    const prefix = uniquePrefix();
    const brokerPort = await freePort();
    try {
      const child = await PatterndProcess.start({
        config: { mqtt: { baseTopic: base }, store: { keyPrefix: prefix, flushIntervalMs: 200 } },
        env: {
          REDIS_URL: url,
          NODE_EXTRA_CA_CERTS: file('ca.pem'),
          BROKER_PORT: String(brokerPort),
          DATA_DIR: tmpDir(),
        },
      });
      expect(child.output.join('')).toMatch(/"store":"redis".*"msg":"state restored"/);
      const obs = await Observer.connect(`mqtt://127.0.0.1:${brokerPort}`, [`${base}/pattern/#`]);
      await obs.publish(`${base}/access/nas`, JSON.stringify({ key: 'over/tls', ts: 1_790_000_000_000 }));
      await obs.state(base, 'over/tls');
      await obs.close();
      expect(await child.stop('SIGTERM')).toBe(0);
      const redis = new Redis(url, { tls: { ca: fs.readFileSync(file('ca.pem')) } });
      expect(await redis.hkeys(`${prefix}keys`)).toEqual(['over/tls']);
      redis.disconnect();
    } finally {
      await server.stop(false);
    }
  });
});
