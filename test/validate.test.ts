import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../bench/rng.ts';
import { AWKWARD_NAMES } from '../bench/workloads.ts';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { ErrorReporter } from '../src/mqtt/errors.ts';
import { Ingest } from '../src/mqtt/ingest.ts';
import { keyOfPattern, topics } from '../src/mqtt/topics.ts';
import { accessEventSchema, describe as describeError, isPlainEvent } from '../src/mqtt/validate.ts';

/**
 * The validation fast path (`isPlainEvent`) against zod, on seeded items that are valid, almost valid
 * (one field just past a limit, of the wrong type, or a form only zod takes) or junk. Items are JSON text
 * so that number literals JSON.parse turns into ±Infinity and hand-written `__proto__` fields are covered.
 */
const str = (s: string) => JSON.stringify(s);
const strOfLength = (n: number, rnd: () => number) =>
  str(Array.from({ length: n }, () => 'ab/+# é€\u0000😀'[Math.floor(rnd() * 11)]).join(''));

interface Pool {
  valid: ((rnd: () => number) => string)[];
  doubtful: ((rnd: () => number) => string)[];
}

const fixed = (...fragments: string[]) => fragments.map((f) => () => f);

const pools: Record<string, Pool> = {
  key: {
    valid: [
      ...fixed(
        str('a'),
        str('media/movies/big.mkv'),
        str('x'.repeat(512)),
        str('😀'.repeat(256)),
        '"\\ud83d\\ude00"',
      ),
      (rnd) => str(`nas/share/file-${Math.floor(rnd() * 2000)}.bin`),
    ],
    doubtful: [
      ...fixed(
        str(''),
        str('x'.repeat(513)),
        str('😀'.repeat(257)),
        str('a\u0000b'),
        '"\\ud800"',
        '"a\\udc00b"',
        '5',
        'null',
        '{}',
        '[]',
      ),
      (rnd) => strOfLength(1 + Math.floor(rnd() * 600), rnd),
    ],
  },
  ts: {
    valid: [
      ...fixed('0', '-0', '1793577600048', '8.64e15', '8640000000000000', '1.5'),
      (rnd) => String(Math.floor(rnd() * 8.64e15)),
      (rnd) => String(rnd() * 2e12),
    ],
    doubtful: fixed(
      '-1',
      '-1e-300',
      '8.640000000000001e15',
      '1e400',
      '-1e400',
      str('2026-11-24T10:00:00Z'),
      str('2026-11-24'),
      str('not a date'),
      str(`2026-11-24T10:00:00.000${'0'.repeat(60)}Z`),
      '"1793577600048"',
      'null',
      'true',
      '{}',
      '[]',
    ),
  },
  position: {
    valid: [...fixed('0', '-0', '4096', '-12.5', '1e300'), (rnd) => String((rnd() - 0.5) * 1e12)],
    doubtful: fixed('1e400', '-1e400', '"12"', 'null', '[]', '{}', 'true'),
  },
  size: {
    valid: [...fixed('0', '-0', '4096', '0.5', '1e300'), (rnd) => String(Math.floor(rnd() * 1e9))],
    doubtful: fixed('-1', '-1e-300', '1e400', '-1e400', '"5"', 'null', '{}'),
  },
  op: {
    valid: fixed(str('read'), str(''), str('w'.repeat(32)), str('😀'.repeat(16))),
    doubtful: fixed(str('w'.repeat(33)), str('😀'.repeat(17)), '5', 'null', '{}', '[]'),
  },
  // Any context at all goes to zod.
  context: {
    valid: [],
    doubtful: fixed('{}', '{"room":"living"}', str('string'), '[]', 'null', '5', '{"__proto__":{"x":1}}'),
  },
  extra: {
    valid: fixed('1', '{"key":"nested"}', 'null'),
    doubtful: [],
  },
};

const NOT_OBJECTS = ['5', str('an event'), 'null', 'true', '[]', '[{"key":"a"}]'];

/** One item as JSON text: mostly an object whose fields are each valid with probability `pValid`. */
function item(rnd: () => number, pValid: number): string {
  if (rnd() < 0.02) return NOT_OBJECTS[Math.floor(rnd() * NOT_OBJECTS.length)];
  const fields: string[] = [];
  for (const [name, pool] of Object.entries(pools)) {
    const present = name === 'key' ? 0.97 : name === 'context' || name === 'extra' ? 0.05 : 0.6;
    if (rnd() >= present) continue;
    const from =
      pool.doubtful.length === 0 || (pool.valid.length > 0 && rnd() < pValid) ? pool.valid : pool.doubtful;
    const value = from[Math.floor(rnd() * from.length)](rnd);
    const field = name === 'extra' ? ['__proto__', 'constructor', 'key2'][Math.floor(rnd() * 3)] : name;
    fields.push(`${str(field)}:${value}`);
  }
  // Field order must not matter: zod reports in schema order whatever the input order.
  for (let i = fields.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [fields[i], fields[j]] = [fields[j], fields[i]];
  }
  return `{${fields.join(',')}}`;
}

const NOW = 1_793_577_600_000;

/** An ingest of base topic `t` with the service's limits, the given skew limit and wall clock. */
function ingestOf(
  engine: Engine,
  errors: ErrorReporter,
  opts: { maxFutureSkewMs: number; now?: () => number; log?: pino.Logger; recentMessages?: number },
): Ingest {
  return new Ingest(engine, topics('t'), errors, {
    maxPayloadBytes: 1 << 20,
    maxBatchItems: 1000,
    now: () => NOW,
    log: pino({ level: 'silent' }),
    ...opts,
  });
}

/** What the service must do with an item: exactly what zod says. */
function expected(raw: unknown, index: number | undefined) {
  const parsed = accessEventSchema.safeParse(raw);
  if (!parsed.success) {
    const reason = describeError(parsed.error);
    return index === undefined ? { topic: 't/access/dev', reason } : { topic: 't/access/dev', reason, index };
  }
  const ev = parsed.data;
  return { key: ev.key, ts: ev.ts ?? NOW, position: ev.position ?? Number.NaN, size: ev.size ?? 0 };
}

describe('validation fast path', () => {
  it('accepts only what zod accepts, with the same fields', () => {
    const rnd = mulberry32(20261201);
    let fast = 0;
    let zodOnly = 0;
    for (let i = 0; i < 100_000; i++) {
      const raw = JSON.parse(item(rnd, i % 2 === 0 ? 1 : 0.8));
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) continue;
      const parsed = accessEventSchema.safeParse(raw);
      if (!isPlainEvent(raw)) {
        if (parsed.success) zodOnly++;
        continue;
      }
      fast++;
      expect(parsed.success).toBe(true);
      const { key, ts, position, size, op } = parsed.data ?? {};
      expect({ key: raw.key, ts: raw.ts, position: raw.position, size: raw.size, op: raw.op }).toEqual({
        key,
        ts,
        position,
        size,
        op,
      });
    }
    // Both sides of the fast path are exercised, not one by accident.
    expect(fast).toBeGreaterThan(20_000);
    expect(zodOnly).toBeGreaterThan(2_000);
  });

  it("gives the service zod's decision and rejection text for every item", () => {
    const rnd = mulberry32(1124);
    const engine = new Engine(loadConfig({ env: {} }).engine);
    const outcomes: unknown[] = [];
    const errors = new ErrorReporter(
      Number.POSITIVE_INFINITY,
      (p) => outcomes.push(JSON.parse(p)),
      pino({ level: 'silent' }),
    );
    // No skew limit: far-future ts values are zod's to judge here, not the device-clock check's; and no
    // repeats dropped: the random items include the same event twice now and then.
    const ingest = ingestOf(engine, errors, { maxFutureSkewMs: Number.POSITIVE_INFINITY, recentMessages: 0 });
    ingest.onAccess = (_slot, key, ts, position, size) => outcomes.push({ key, ts, position, size });

    for (let m = 0; m < 60; m++) {
      const single = m % 6 === 0;
      let items = Array.from({ length: single ? 200 : 1000 }, () => item(rnd, m % 2 === 0 ? 0.9 : 0.7));
      // A message that is not an object is judged as a message (or as a batch), not as one event.
      if (single) items = items.filter((text) => text.startsWith('{'));
      outcomes.length = 0;
      for (const p of single ? items : [`[${items.join(',')}]`])
        ingest.handle('t/access/dev', Buffer.from(p));
      // As multisets: a batch's events are fed in time order, after its rejections are reported.
      const inAnyOrder = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
      expect(inAnyOrder(outcomes)).toEqual(
        inAnyOrder(items.map((text, i) => expected(JSON.parse(text), single ? undefined : i))),
      );
    }
    expect(ingest.counters.events).toBeGreaterThan(10_000);
    expect(ingest.counters.rejectedEvents).toBeGreaterThan(10_000);
  });
});

describe('ISO-8601 timestamps', () => {
  const tsOf = (ts: string) => accessEventSchema.safeParse({ key: 'k', ts }).data?.ts;
  /** Each of `cases` is read as its epoch ms, and each of `refused` is refused. */
  const expectRead = (cases: [string, number][], refused: string[]) => {
    for (const [iso, ms] of cases) expect(tsOf(iso), iso).toBe(ms);
    for (const bad of refused) expect(tsOf(bad), bad).toBeUndefined();
  };

  it('are read in the basic format too, with its fractions and offsets', () => {
    const cases: [string, string][] = [
      ['20261207T080000Z', '2026-12-07T08:00:00Z'],
      ['20261207T080000.5Z', '2026-12-07T08:00:00.5Z'],
      ['20261207T080000,25+0100', '2026-12-07T08:00:00.25+01:00'],
      ['20261207T080000-05', '2026-12-07T08:00:00-05:00'],
      ['20261207T080000+01:30', '2026-12-07T08:00:00+01:30'],
    ];
    for (const [basic, extended] of cases) expect(tsOf(basic), basic).toBe(Date.parse(extended));
    expectRead([['20261207T0800', Date.parse('2026-12-07T08:00Z')]], ['20261207T08000']);
  });

  it('are read as ordinal and week dates, to the hour with fractions, and at 24:00', () => {
    // All valid ISO 8601, all refused before (an outside evaluation).
    const at = Date.UTC(2026, 10, 2, 9, 0, 0);
    const cases: [string, number][] = [
      ['2026-11-02T09Z', at],
      ['2026-11-02T10+01:00', at],
      ['2026-11-01T24:00:00Z', Date.UTC(2026, 10, 2)],
      ['2026-306T09:00:00Z', at],
      ['2026306T0900Z', at],
      ['2026-W45-1T09:00:00Z', at],
      ['2026W451T09Z', at],
      ['2026-W01-1', Date.UTC(2025, 11, 29)],
      ['2026-W53-7', Date.UTC(2027, 0, 3)],
      ['2026-11-02T09.5Z', at + 30 * 60_000],
      ['2026-11-02T09:00.5Z', at + 30_000],
    ];
    expectRead(cases, [
      '2026-W54-1',
      '2027-W53-1',
      '2026-W45-8',
      '2026-000',
      '2026-366',
      '2026-11-01T24:00:01Z',
    ]);
  });

  it('are read the same on every machine: without a zone as UTC, and impossible dates refused', () => {
    // Date.parse read a time without a zone in the process's time zone, took 2026-02-30 for March 2 and
    // refused +01 and a decimal comma (an outside evaluation).
    const at = Date.UTC(2026, 11, 7, 8, 0, 0);
    const cases: [string, number][] = [
      ['2026-12-07T08:00:00', at],
      ['2026-12-07 08:00:00Z', at],
      ['2026-12-07t08:00:00z', at],
      ['2026-12-07T08:00', at],
      ['2026-12-07T09:00:00+01', at],
      ['2026-12-07T09:30:00+0130', at],
      ['2026-12-07T03:00:00-05:00', at],
      ['2026-12-07T08:00:00,5Z', at + 500],
      ['2026-12-07T08:00:00.58Z', at + 580],
      ['2026-12-07T08:00:00.123456789Z', at + 123],
      ['2026-12-07', Date.UTC(2026, 11, 7)],
      ['0099-01-01T00:00:00Z', Date.parse('0099-01-01T00:00:00Z')],
      ['2028-02-29T00:00:00Z', Date.UTC(2028, 1, 29)],
    ];
    expectRead(cases, [
      '2026-02-30T08:00:00Z',
      '2027-02-29',
      '2026-13-01',
      '2026-12-07T24:30:00Z',
      '2026-12-07T08:60:00Z',
      '2026-12-07T08:00:00+25:00',
      'Dec 7 2026',
      '2026-12-07T8Z',
      ' 2026-12-07',
    ]);
  });
});

describe('timestamps in epoch seconds', () => {
  it('are taken as the contract says, and said once per source in the log', () => {
    const warnings: { topic: string; as_seconds: string }[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line)) });
    const engine = new Engine(loadConfig({ env: {} }).engine, { clock: () => NOW });
    const errors = new ErrorReporter(10, () => {}, log);
    const ingest = ingestOf(engine, errors, { maxFutureSkewMs: 60_000, log });
    const seconds = NOW / 1000;
    for (let i = 0; i < 5; i++) {
      ingest.handle('t/access/cam', Buffer.from(JSON.stringify({ key: 'a', ts: seconds + i })));
      ingest.handle('t/access/nas', Buffer.from(JSON.stringify([{ key: 'b', ts: seconds + i + 0.25 }])));
      ingest.handle('t/access/ok', Buffer.from(JSON.stringify({ key: 'c', ts: NOW + i })));
    }
    expect(ingest.counters.events).toBe(15);
    expect(errors.total).toBe(0);
    expect(warnings.map((w) => w.topic)).toEqual(['t/access/cam', 't/access/nas']);
    expect(warnings[0].as_seconds).toBe(new Date(NOW).toISOString());
  });
});

describe('pattern topics', () => {
  it('give back every key they were made from, and no key for topics patternd does not publish', () => {
    const t = topics('home/cloud');
    for (const key of [...AWKWARD_NAMES, 'a/b #1', 'x+y', '%41'])
      expect(keyOfPattern(t, t.pattern(key))).toBe(key);
    for (const topic of [
      'home/cloud/pattern/a/b',
      'home/cloud/pattern/',
      'home/cloud/status',
      'other/pattern/a',
      'home/cloud/pattern/%E0%A4%A',
    ])
      expect(keyOfPattern(t, topic), topic).toBeNull();
  });

  it('name a key that is not well-formed Unicode (saved by an older version) instead of throwing', () => {
    expect(topics('b').pattern('lone\ud800')).toBe('b/pattern/lone%EF%BF%BD');
  });
});

describe('keys the scanner remembers', () => {
  it('stay apart when the engine evicts one and gives its slot to another', () => {
    const log = pino({ level: 'silent' });
    const engine = new Engine(loadConfig({ env: {}, overrides: { engine: { maxKeys: 16 } } }).engine);
    const ingest = ingestOf(engine, new ErrorReporter(10, () => {}, log), { maxFutureSkewMs: 60_000, log });
    const names = (prefix: string) => Array.from({ length: 16 }, (_, i) => `${prefix}/${i}`);
    const send = (keys: string[], ts: number) =>
      ingest.handle('t/access/nas', Buffer.from(JSON.stringify(keys.map((key) => ({ key, ts })))));
    // Sixteen keys, twice; then sixteen others take their slots; then the first come back.
    send(names('a'), NOW - 3000);
    send(names('a'), NOW - 2000);
    send(names('b'), NOW - 1000);
    send(names('a'), NOW);
    expect(engine.counters.evicted).toBe(32);
    const accesses = Object.fromEntries(
      [...engine.keys.slots()].map((slot) => [engine.keys.keys[slot], engine.accessesOf(slot)]),
    );
    // Each key that came back is new, with the one access since.
    expect(accesses).toEqual(Object.fromEntries(names('a').map((key) => [key, 1])));
  });
});

describe('messages delivered twice', () => {
  const setup = () => {
    const engine = new Engine(loadConfig({ env: {} }).engine);
    const errors = new ErrorReporter(100, () => {}, pino({ level: 'silent' }));
    const ingest = ingestOf(engine, errors, { maxFutureSkewMs: 300_000 });
    const send = (topic: string, body: unknown) => ingest.handle(topic, Buffer.from(JSON.stringify(body)));
    const accesses = (key: string) => engine.viewOf(key)?.accesses ?? 0;
    return { ingest, send, accesses };
  };

  it('take a batch or an event sent again once, on both paths, and count the repeat', () => {
    // QoS 1 is at-least-once, and devices re-send what they are unsure of: counted twice, a key read a few
    // times an hour burst now and then (an outside evaluation: 25 false bursts in eight days with one batch
    // in five sent again).
    const { ingest, send, accesses } = setup();
    const batch = Array.from({ length: 50 }, (_, i) => ({ key: `k/${i % 5}`, ts: NOW - 60_000 + i * 1000 }));
    send('t/access/cam', batch);
    send('t/access/cam', { key: 'single', ts: NOW - 1000, position: 4096 });
    // The scanner declines ISO dates: the full path.
    send('t/access/cam', [{ key: 'iso', ts: '2026-11-01T00:00:00Z' }]);
    send('t/access/cam', batch);
    send('t/access/cam', { key: 'single', ts: NOW - 1000, position: 4096 });
    send('t/access/cam', [{ key: 'iso', ts: '2026-11-01T00:00:00Z' }]);
    for (let i = 0; i < 5; i++) expect(accesses(`k/${i}`)).toBe(10);
    expect(accesses('single')).toBe(1);
    expect(accesses('iso')).toBe(1);
    expect(ingest.counters.repeatedMessages).toBe(3);
  });

  it('take every one of many messages alike in all but one number, and drop each one sent again', () => {
    // Messages that differ in one timestamp, one position, or only in where a timestamp stands in the
    // batch: each is a different access and must be taken, however many came lately.
    const { ingest, send, accesses } = setup();
    const rnd = mulberry32(11);
    const sent: unknown[] = [];
    const sentText = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const t = NOW - 3_600_000 + Math.floor(rnd() * 1000) * 1000;
      const body =
        i % 3 === 0
          ? { key: 'one', ts: t, position: Math.floor(rnd() * 64) * 4096 }
          : i % 3 === 1
            ? [
                { key: 'pair', ts: t },
                { key: 'pair', ts: t + 1000 },
              ]
            : [
                { key: 'pair', ts: t + 1000 },
                { key: 'pair', ts: t },
              ];
      if (!sentText.has(JSON.stringify(body))) sent.push(body);
      sentText.add(JSON.stringify(body));
      send('t/access/cam', body);
      send('t/access/cam', body);
    }
    const events = (b: unknown) => (Array.isArray(b) ? b.length : 1);
    const pairEvents = sent.filter(Array.isArray).reduce((n: number, b) => n + events(b), 0);
    expect(accesses('one') + accesses('pair')).toBe(sent.reduce((n: number, b) => n + events(b), 0));
    expect(accesses('pair')).toBe(pairEvents);
    expect(ingest.counters.repeatedMessages).toBe(6000 - sent.length);
  });

  it('take every event that is not the same access: without ts, at another position, from another device', () => {
    const { ingest, send, accesses } = setup();
    send('t/access/cam', { key: 'no-ts' });
    send('t/access/cam', { key: 'no-ts' });
    send('t/access/cam', { key: 'pos', ts: NOW - 1000, position: 0 });
    send('t/access/cam', { key: 'pos', ts: NOW - 1000, position: 4096 });
    send('t/access/cam', { key: 'dev', ts: NOW - 1000 });
    send('t/access/nas', { key: 'dev', ts: NOW - 1000 });
    expect(accesses('no-ts')).toBe(2);
    expect(accesses('pos')).toBe(2);
    expect(accesses('dev')).toBe(2);
    expect(ingest.counters.repeatedMessages).toBe(0);
  });
});

describe('a replayed event dated far ahead of the events around it', () => {
  const DAY = 86_400_000;
  const setup = () => {
    const engine = new Engine(loadConfig({ env: {} }).engine);
    const sent: string[] = [];
    const errors = new ErrorReporter(100, (payload) => sent.push(payload), pino({ level: 'silent' }));
    let wall = NOW;
    const ingest = ingestOf(engine, errors, { maxFutureSkewMs: 300_000, now: () => wall });
    const send = (topic: string, body: unknown) => {
      wall += 10;
      ingest.handle(topic, Buffer.from(JSON.stringify(body)));
    };
    const waitWall = (ms: number) => {
      wall += ms;
      ingest.settleQuiet();
    };
    return { engine, ingest, errors, sent, send, waitWall };
  };
  // A log of a month ago replayed: a poller every 10 s for an hour.
  const T = NOW - 30 * DAY;

  it('is refused when the events after it are back at the replay’s time, and moves nothing', () => {
    // One device's clock two days ahead, among devices on time: taken, it moved engine time two days on,
    // and every schedule expired and every later access was late (an outside evaluation).
    const { engine, ingest, errors, sent, send } = setup();
    for (let i = 0; i < 360; i++) {
      send('t/access/hub', { key: 'poll', ts: T + i * 10_000 });
      if (i === 180) send('t/access/bad-clock', [{ key: 'heartbeat', ts: T + 2 * DAY }]);
    }
    expect(errors.total).toBe(1);
    expect(sent.join()).toContain('ahead of the events around it');
    expect(engine.viewOf('heartbeat')).toBeNull();
    expect(engine.now).toBe(T + 359 * 10_000);
    expect(engine.viewOf('poll')?.patterns).toContain('periodic');
    expect(ingest.counters.events).toBe(360);
  });

  it('is taken at its receipt when it has no ts, as the contract says, and said once per source in the log', () => {
    const warnings: { topic: string; engine_time: string }[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line)) });
    const engine = new Engine(loadConfig({ env: {} }).engine, { clock: () => NOW });
    const ingest = ingestOf(engine, new ErrorReporter(10, () => {}, log), { maxFutureSkewMs: 300_000, log });
    for (let i = 0; i < 3; i++) {
      ingest.handle('t/access/hub', Buffer.from(JSON.stringify({ key: 'poll', ts: T + i * 10_000 })));
      ingest.handle('t/access/cam', Buffer.from(JSON.stringify({ key: 'unstamped' })));
    }
    expect(engine.viewOf('unstamped')?.accesses).toBe(3);
    expect(engine.now).toBe(NOW);
    expect(warnings.map((w) => w.topic)).toEqual(['t/access/cam']);
    expect(warnings[0].engine_time).toBe(new Date(T).toISOString());
  });

  it('is fed when time moved on: the next events are about as far ahead, or none comes for a second', () => {
    const { engine, ingest, errors, send, waitWall } = setup();
    // A quiet night in the log: six hours without events, then the poller again.
    for (let i = 0; i < 100; i++) send('t/access/hub', { key: 'poll', ts: T + i * 10_000 });
    for (let i = 0; i < 100; i++) send('t/access/hub', { key: 'poll', ts: T + 6 * 3_600_000 + i * 10_000 });
    expect(engine.viewOf('poll')?.accesses).toBe(200);
    // The log's last event, a day later, with nothing after it.
    send('t/access/hub', { key: 'last', ts: T + DAY });
    expect(engine.viewOf('last')).toBeNull();
    waitWall(1000);
    expect(engine.viewOf('last')?.accesses).toBe(1);
    expect(engine.now).toBe(T + DAY);
    // A job's run after a quiet gap of just over the limit, then another device's event that came ten
    // seconds earlier, delivered later: time moved on all the same.
    send('t/access/hub', { key: 'job', ts: T + DAY + 305_000 });
    send('t/access/nas', { key: 'nas-log', ts: T + DAY + 295_000 });
    expect(engine.viewOf('job')?.accesses).toBe(1);
    expect(engine.viewOf('nas-log')?.accesses).toBe(1);
    // And one held when the service stops is fed before the state is saved.
    send('t/access/hub', { key: 'at-stop', ts: T + 2 * DAY });
    ingest.settleQuiet(true);
    expect(engine.viewOf('at-stop')?.accesses).toBe(1);
    expect(errors.total).toBe(0);
    expect(ingest.counters.events).toBe(204);
  });
});
