import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { UnreachableError } from '../src/errors.ts';
import { ClientTransport } from '../src/mqtt/transport.ts';
import { RedisStore } from '../src/store/redis.ts';
import { freePort, uniquePrefix } from './support/harness.ts';

/** A logger whose warnings the test reads. */
function recordingLog() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

/**
 * Starting while a server patternd needs is not there: what it waits for is said at once, and the failure
 * names where and why (an outside evaluation: 30 s of silence, then a stack trace, the cause — "Not
 * authorized" — only in an earlier line).
 */
describe('starting without its servers', () => {
  it('names the broker and the last error when the first connection never comes', async () => {
    const { log } = recordingLog();
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    const t = new ClientTransport({
      url,
      clientId: 'patternd-connect-test',
      will: { topic: 't/status', payload: 'offline' },
      log,
    });
    try {
      const failure = t.waitConnected(1500);
      await expect(failure).rejects.toBeInstanceOf(UnreachableError);
      await expect(failure).rejects.toThrow(new RegExp(`${url} within 1500 ms: .*ECONNREFUSED`));
    } finally {
      await t.close();
    }
  });

  it('names the config field of a TLS file it cannot read', () => {
    const { log } = recordingLog();
    expect(
      () =>
        new ClientTransport({
          url: 'mqtts://127.0.0.1:8883',
          clientId: 'patternd-connect-test',
          tls: { ca: '/nonexistent/ca.pem' },
          will: { topic: 't/status', payload: 'offline' },
          log,
        }),
    ).toThrow(/mqtt\.tls\.ca: cannot read \/nonexistent\/ca\.pem/);
  });

  it('says at once that it waits for Redis, and why', async () => {
    const { log, lines } = recordingLog();
    const url = `redis://127.0.0.1:${await freePort()}`;
    const store = new RedisStore({ url, keyPrefix: uniquePrefix(), log, openTimeoutMs: 1500 });
    await expect(store.open()).rejects.toBeInstanceOf(UnreachableError);
    const waiting = lines.filter((l) => l.msg === 'waiting for the Redis store');
    expect(waiting).toHaveLength(1);
    expect(JSON.stringify(waiting[0])).toContain('ECONNREFUSED');
  });
});
