import http from 'node:http';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BridgeApi } from '../../src/bridge/requests.ts';
import { Bus } from '../../src/bus.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import { WatchList } from '../../src/homeassistant/watchlist.ts';
import { LiveFeed } from '../../src/http/live.ts';
import { RecentAccesses } from '../../src/http/recent.ts';
import { HttpServer } from '../../src/http/server.ts';
import type { StatsCollector } from '../../src/stats.ts';
import { startService, type TestService } from '../support/harness.ts';
import { WORKLOAD_KEYS, workload } from '../support/workload.ts';

/** The dashboard's JSON API, its event stream, static files and /metrics, over real HTTP. */
const TOKEN = 'correct-horse-battery-staple';

async function startWithWorkload(http: Record<string, unknown>) {
  const svc = await startService({ overrides: { http: { enabled: true, port: 0, ...http } } });
  feed(svc, workload(Date.now() - 5 * 60_000));
  return svc;
}

function feed(svc: TestService, events: unknown[]): void {
  const topic = `${svc.config.mqtt.baseTopic}/access/test`;
  for (let i = 0; i < events.length; i += 1000) {
    svc.service.ingest.handle(topic, Buffer.from(JSON.stringify(events.slice(i, i + 1000))));
  }
}

function client(svc: TestService, headers: Record<string, string> = {}) {
  const origin = `http://127.0.0.1:${svc.service.http!.port}`;
  return async (path: string, init: RequestInit = {}) => {
    const res = await fetch(origin + path, { ...init, headers: { ...headers, ...init.headers } });
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, type, body: type.includes('json') ? await res.json() : await res.text() };
  };
}

const post = (body: unknown, type = 'application/json'): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': type },
  body: JSON.stringify(body),
});

const keyPath = (key: string) => `/api/keys/${encodeURIComponent(key)}`;

/** Reads the event stream until `until` matches what arrived; resolves with everything read. */
function readEvents(url: string, until: RegExp, trigger: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const req = http.get(url, (res) => {
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      res.setEncoding('utf8');
      res.once('data', trigger);
      res.on('data', (chunk: string) => {
        seen += chunk;
        if (until.test(seen)) {
          req.destroy();
          resolve(seen);
        }
      });
    });
    req.on('error', reject);
    setTimeout(() => {
      req.destroy();
      reject(new Error(`no match for ${until} in: ${seen.slice(0, 500)}`));
    }, 5000);
  });
}

describe('dashboard API without a token', () => {
  let svc: TestService;
  let get: ReturnType<typeof client>;

  beforeAll(async () => {
    svc = await startWithWorkload({});
    get = client(svc);
  });
  afterAll(() => svc.stop());

  it('gives an overview: counts per pattern, event rates and the bursting keys', async () => {
    const { status, body } = await get('/api/overview');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      keys: 6,
      patterns: { sequential: 1, random: 1, periodic: 1, burst: 1, correlated: 2 },
      health: { ok: true },
    });
    expect(Array.isArray(body.rates)).toBe(true);
    expect(body.bursting.map((k: { key: string }) => k.key)).toEqual([WORKLOAD_KEYS.burst]);
    expect(body.bursting[0].burst.ratio).toBeGreaterThan(4);
  });

  it('lists keys paged, filtered, searched and sorted', async () => {
    const page1 = (await get('/api/keys?sort=key&page_size=4')).body;
    expect(page1).toMatchObject({ total: 6, page: 1, page_size: 4, sort: 'key', order: 'asc' });
    const page2 = (await get('/api/keys?sort=key&page_size=4&page=2')).body;
    const names = [...page1.keys, ...page2.keys].map((k: { key: string }) => k.key);
    expect(names).toEqual(Object.values(WORKLOAD_KEYS).sort());

    const recent = (await get('/api/keys?page_size=4&page=2')).body;
    expect(recent).toMatchObject({ total: 6, sort: 'recent', order: 'desc' });
    expect(recent.keys).toHaveLength(2);
    const oldest = (await get('/api/keys?page_size=4&order=asc')).body.keys[0];
    expect(oldest.key).toBe(recent.keys[1].key);

    const byAccesses = (await get('/api/keys?sort=accesses')).body.keys;
    expect(byAccesses[0].key).toBe(WORKLOAD_KEYS.burst);
    expect(byAccesses.map((k: { accesses: number }) => k.accesses)).toEqual(
      byAccesses.map((k: { accesses: number }) => k.accesses).sort((a: number, b: number) => b - a),
    );

    const correlated = (await get('/api/keys?pattern=correlated&sort=confidence')).body.keys;
    expect(correlated.map((k: { key: string }) => k.key).sort()).toEqual(
      [WORKLOAD_KEYS.follower, WORKLOAD_KEYS.leader].sort(),
    );
    expect(correlated[0].partners[0].key).toMatch(/^docs\/report\./);

    const searched = (await get('/api/keys?q=ALBUM')).body;
    expect(searched.keys.map((k: { key: string }) => k.key)).toEqual([WORKLOAD_KEYS.burst]);
    const periodic = (await get('/api/keys?pattern=periodic')).body.keys[0];
    expect(periodic.period_s).toBeCloseTo(3600, -1);
  });

  it('rejects bad queries with a reason', async () => {
    for (const query of [
      'sort=size',
      'page=0',
      'page_size=501',
      'pattern=chaotic',
      'colour=red',
      'page=100&page_size=500',
    ]) {
      const { status, body } = await get(`/api/keys?${query}`);
      expect(status, query).toBe(400);
      expect(body.error, query).toEqual(expect.any(String));
    }
    expect((await get('/api/nothing')).status).toBe(404);
  });

  it('shows one key, any characters in its name, and its recent accesses', async () => {
    const key = 'odd/key #1 + ünïcode?&=%';
    feed(svc, [
      { key, position: 0, size: 10 },
      { key, position: 10, size: 10 },
    ]);
    const view = (await get(keyPath(key))).body;
    expect(view).toMatchObject({ key, accesses: 2, watched: false });
    const recent = (await get(`${keyPath(key)}/accesses`)).body;
    expect(recent.accesses.map((a: { position: number }) => a.position)).toEqual([0, 10]);
    expect(recent.ring_capacity).toBe(svc.config.http.recentAccesses);

    const seq = (await get(`${keyPath(WORKLOAD_KEYS.sequential)}/accesses?limit=5`)).body.accesses;
    expect(seq.map((a: { position: number }) => a.position)).toEqual(
      [35, 36, 37, 38, 39].map((i) => i * 65536),
    );
    expect((await get(keyPath('never/seen'))).status).toBe(404);
    expect((await get('/api/keys/%E0%A4%A')).status).toBe(400);
  });

  it('watches, unwatches and forgets through the bridge commands', async () => {
    const key = WORKLOAD_KEYS.random;
    expect((await get('/api/watch', post({ globs: [key] }))).body).toEqual({ watch: [key] });
    expect((await get(keyPath(key))).body.watched).toBe(true);
    expect((await get('/api/unwatch', post({ globs: [key] }))).body).toEqual({ watch: [] });
    expect((await get('/api/watch', post({ globs: [] }))).status).toBe(400);
    // Without application/json a page on another site could post here; that content type needs a preflight.
    expect((await get('/api/watch', post({ globs: [key] }, 'text/plain'))).status).toBe(415);
    expect((await get('/api/watch')).status).toBe(405);

    expect((await get(`${keyPath(key)}/forget`, post({}))).body).toEqual({ key });
    expect((await get(keyPath(key))).status).toBe(404);
    // Back again: its page shows only the accesses of its new life.
    feed(svc, [{ key, position: 1 }]);
    expect((await get(`${keyPath(key)}/accesses`)).body.accesses).toHaveLength(1);
  });

  it('streams changes as Server-Sent Events', async () => {
    const url = `http://127.0.0.1:${svc.service.http!.port}/api/events`;
    const seen = await readEvents(url, /event: keys\ndata: .*"live\/sse"/, () =>
      feed(svc, [{ key: 'live/sse' }]),
    );
    expect(seen).toMatch(/^retry: \d+/);
    expect(seen).toMatch(/event: overview\ndata: \{.*"keys":\d+/);
  });

  it('answers only loopback host names (and configured ones): no DNS rebinding', async () => {
    const port = svc.service.http!.port;
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/api/overview', headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
    expect(await status('attacker.example:8080')).toBe(421);
    expect(await status(`localhost:${port}`)).toBe(200);
    expect(await status(`127.0.0.1:${port}`)).toBe(200);
    expect(await status(`[::1]:${port}`)).toBe(200);
  });

  it('serves the dashboard, uPlot, and nothing outside web/', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script type="module" src="app.js">');
    expect((await get('/app.js')).type).toMatch(/javascript/);
    expect((await get('/vendor/uplot.js')).body).toContain('uPlot');
    expect((await get('/vendor/uplot.css')).type).toMatch(/css/);
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/%2e%2e%2fpackage.json', '/nope.js']) {
      expect((await get(path)).status, path).toBe(404);
    }
  });

  it('exports Prometheus metrics: patterns, backlog, store latency, event-loop lag', async () => {
    await svc.service.persistence.flush();
    const { status, body } = await get('/metrics');
    expect(status).toBe(200);
    expect(body).toMatch(/^patternd_keys_by_pattern\{pattern="periodic"\} 1$/m);
    expect(body).toMatch(/^patternd_publish_backlog \d+$/m);
    expect(body).toMatch(/^patternd_store_flush_seconds [\d.e-]+$/m);
    expect(body).toMatch(/^patternd_nodejs_eventloop_lag_seconds [\d.e-]+$/m);
    // Totals are counters: a _total name typed gauge breaks Prometheus' rules and rate() (an outside
    // evaluation).
    for (const name of [
      'patternd_events_total',
      'patternd_rejected_total',
      'patternd_store_failures_total',
    ]) {
      expect(body).toContain(`# TYPE ${name} counter`);
      expect(body).toMatch(new RegExp(`^${name} \\d+$`, 'm'));
    }
    expect(body).toMatch(/^patternd_events_total [1-9]\d*$/m);
  });
});

describe('dashboard API with a bearer token', () => {
  let svc: TestService;

  beforeAll(async () => {
    svc = await startWithWorkload({ token: TOKEN });
  });
  afterAll(() => svc.stop());

  it('answers 401 without the token on the API and /metrics', async () => {
    const anonymous = client(svc);
    const wrong = client(svc, { authorization: `Bearer ${TOKEN}x` });
    for (const path of ['/api/overview', '/api/keys', '/metrics', '/api/events']) {
      expect((await anonymous(path)).status, path).toBe(401);
      expect((await wrong(path)).status, path).toBe(401);
    }
    const forget = await anonymous(`${keyPath(WORKLOAD_KEYS.random)}/forget`, post({}));
    expect(forget.status).toBe(401);
    expect(svc.service.engine.keys.slotOf(WORKLOAD_KEYS.random)).toBeGreaterThanOrEqual(0);
    // Only the event stream takes the token in the URL (EventSource cannot send headers).
    expect((await anonymous(`/api/overview?access_token=${TOKEN}`)).status).toBe(401);
  });

  it('serves everything with it; probes and the page itself need none', async () => {
    const authed = client(svc, { authorization: `Bearer ${TOKEN}` });
    expect((await authed('/api/overview')).status).toBe(200);
    expect((await authed('/metrics')).status).toBe(200);
    expect((await authed(`${keyPath(WORKLOAD_KEYS.random)}/forget`, post({}))).status).toBe(200);
    const anonymous = client(svc);
    expect((await anonymous('/healthz')).status).toBe(200);
    expect((await anonymous('/')).status).toBe(200);
    const url = `http://127.0.0.1:${svc.service.http!.port}/api/events?access_token=${TOKEN}`;
    expect(await readEvents(url, /event: overview/, () => {})).toContain('event: overview');
  });

  it('keeps the token out of the bridge info answer', () => {
    const info = svc.service.bridge.request('info', {});
    expect(info).toMatchObject({ status: 'ok', data: { config: { http: { token: '***' } } } });
  });

  it('refuses a short token at start', () => {
    expect(() => loadConfig({ env: { HTTP_TOKEN: 'short' } })).toThrow(ConfigError);
    expect(loadConfig({ env: { HTTP_TOKEN: TOKEN } }).http.token).toBe(TOKEN);
  });
});

describe('key listing at 100 k keys', () => {
  // The API alone over a bare engine: publishing and saving 100 k keys would only slow the test down.
  let server: HttpServer;
  let origin: string;

  beforeAll(async () => {
    const config = loadConfig({ env: {} });
    const engine = new Engine(config.engine);
    const t0 = Date.now() - 3_600_000;
    for (let i = 0; i < 100_000; i++) engine.observe(`bulk/${i}`, t0 + i, i % 97, 1);
    const log = pino({ level: 'silent' });
    server = new HttpServer({
      host: '127.0.0.1',
      port: 0,
      allowedHosts: [],
      stats: {} as StatsCollector,
      storeFlushMs: () => 0,
      log,
      api: {
        engine,
        state: (slot) => ({ ...engine.view(slot), predicted: [] }),
        bridge: {} as BridgeApi,
        watch: new WatchList([], 1),
        recent: new RecentAccesses(100),
        live: new LiveFeed(engine, new Bus(), () => 0, Date.now),
        health: () => ({ ok: true, reasons: [] }),
      },
    });
    await server.start();
    origin = `http://127.0.0.1:${server.port}`;
  });
  afterAll(() => server.stop());

  it('answers searched, filtered and sorted pages quickly', async () => {
    const get = async (path: string) => {
      const res = await fetch(origin + path);
      return { status: res.status, body: await res.json() };
    };
    for (const query of [
      'sort=recent',
      'sort=key&page=20',
      'sort=accesses&order=asc',
      'q=bulk/9999',
      'pattern=random',
    ]) {
      const started = performance.now();
      const { status, body } = await get(`/api/keys?${query}`);
      expect(status, query).toBe(200);
      expect(body.keys.length, query).toBeGreaterThan(0);
      expect(performance.now() - started, query).toBeLessThan(1000);
    }
    const { status, body } = await get('/api/keys?sort=confidence');
    expect(status).toBe(400);
    expect(body.error).toMatch(/filter by q or pattern/);
  });
});
