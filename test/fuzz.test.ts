import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../bench/rng.ts';
import { Observer, startService, type TestService } from './support/harness.ts';

/**
 * Hostile input: a seeded stream of malformed payloads — bad UTF-8 and JSON, wrong types, huge strings and
 * numbers, deep nesting, NUL, prototype-pollution keys, 1000-item batches of junk — interleaved with valid
 * events. patternd must not crash, must count and report every rejection (rate-limited), and must process
 * every valid event in between.
 */
function junkPayload(rnd: () => number): Buffer | string {
  // 1000-item junk batches are one pick in 64, so the payload count stays high and the run short.
  const roll = Math.floor(rnd() * 64);
  const pick = roll === 8 ? 8 : roll % 16 === 8 ? 16 : roll % 16;
  switch (pick) {
    case 0:
      return Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x7b, 0x22]); // invalid UTF-8
    case 1:
      return '{"key": "unterminated';
    case 2:
      return `{"key": ${'['.repeat(5000)}`;
    case 3:
      return JSON.stringify({ key: 'x'.repeat(600) });
    case 4:
      return JSON.stringify({ key: 'k', ts: 1e300 });
    case 5:
      return JSON.stringify({ key: 'k', position: '12' });
    case 6:
      return '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}';
    case 7:
      return JSON.stringify({ key: 'a\u0000b' });
    case 8:
      return JSON.stringify(Array.from({ length: 1000 }, (_, i) => (i % 2 ? { key: i } : null)));
    case 9:
      return JSON.stringify(Array.from({ length: 1001 }, () => ({ key: 'too-many' })));
    case 10:
      return 'null';
    case 11:
      return JSON.stringify({ key: 'k', size: -5 });
    case 12:
      return JSON.stringify({ key: 'k', ts: 'not a date' });
    case 13:
      return JSON.stringify({ key: 'k', context: 'string' });
    case 14:
      return '';
    case 15:
      return JSON.stringify('just a string');
    default:
      return Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
  }
}

/** How many rejections a junk payload causes (whole message, or each item of a batch). */
function rejections(p: Buffer | string): number {
  const s = p.toString();
  if (s.startsWith('[null,')) return 1000;
  return 1;
}

describe('hostile input', () => {
  let svc: TestService;
  let obs: Observer;
  let base: string;

  beforeAll(async () => {
    svc = await startService({ overrides: { mqtt: { errorReportsPerSecond: 50 } } });
    base = svc.config.mqtt.baseTopic;
    obs = await Observer.connect(svc.url, [`${base}/errors`, `${base}/stats`]);
  });

  afterAll(async () => {
    await obs.close();
    await svc.stop();
  });

  it('survives ≥100k malformed items, reports them rate-limited, and keeps every valid event', async () => {
    const rnd = mulberry32(20261124);
    const ingest = svc.service.ingest;
    const validSent = new Map<string, number>();
    let expectedRejections = 0;
    let junkPayloads = 0;
    const topic = `${base}/access/fuzzer`;
    const started = Date.now();
    const inFlight: Promise<unknown>[] = [];
    // In-process through the real ingest path (fast), and a share through the broker.
    for (let i = 0; junkPayloads < 100_000; i++) {
      const junk = junkPayload(rnd);
      junkPayloads++;
      expectedRejections += rejections(junk);
      if (i % 50 === 0) inFlight.push(obs.publish(topic, junk));
      else ingest.handle(topic, Buffer.isBuffer(junk) ? junk : Buffer.from(junk));
      if (i % 7 === 0) {
        const key = `valid/${i % 13}`;
        validSent.set(key, (validSent.get(key) ?? 0) + 1);
        const ev = JSON.stringify({ key, position: i });
        if (i % 49 === 0) inFlight.push(obs.publish(topic, ev));
        else ingest.handle(topic, Buffer.from(ev));
      }
    }
    await Promise.all(inFlight);
    const c = ingest.counters;
    const deadline = Date.now() + 10_000;
    while (c.rejectedEvents + c.rejectedMessages < expectedRejections && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(c.rejectedEvents + c.rejectedMessages).toBe(expectedRejections);
    expect(svc.service.errors.total).toBe(expectedRejections);
    for (const [key, n] of validSent) expect(svc.service.engine.viewOf(key)?.accesses).toBe(n);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();

    // Rate limit: individual reports at most 50 per second (+ one summary per second).
    svc.service.errors.flushSummary();
    await new Promise((r) => setTimeout(r, 300));
    const elapsed = (Date.now() - started) / 1000;
    const reports = obs.on(`${base}/errors`);
    expect(reports.length).toBeLessThanOrEqual(Math.ceil(elapsed + 1) * 51);
    const summaries = reports.map((r) => JSON.parse(r)).filter((r) => typeof r.suppressed === 'number');
    expect(summaries.length).toBeGreaterThan(0);
    const reported = reports.length - summaries.length + summaries.reduce((n, s) => n + s.suppressed, 0);
    expect(reported).toBe(expectedRejections);

    // Still alive and serving: stats keep flowing, a new valid event is published.
    await obs.client.subscribeAsync(`${base}/pattern/#`);
    await obs.publish(topic, JSON.stringify({ key: 'after/fuzz' }));
    await obs.state(base, 'after/fuzz');
  }, 120_000);
});
