import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import client from 'prom-client';
import { isLoopback } from '../mqtt/auth.ts';
import { PACKAGE_ROOT } from '../paths.ts';
import type { StatsCollector } from '../stats.ts';
import { Api, type ApiDeps, json } from './api.ts';

/**
 * The dashboard (`/`, static files from `web/`, uPlot from `node_modules`), its JSON API (`/api/…`),
 * `/healthz` (200 when broker and store are connected, 503 with the reason otherwise) and `/metrics`
 * (Prometheus text format). Loopback by default. A busy port is logged, not fatal: patternd's job is
 * MQTT, and a second instance or another service on 8080 must not stop it.
 *
 * With `token` set, `/api/…` and `/metrics` need `Authorization: Bearer <token>`; `/healthz` and the
 * static files stay open (they hold no data), so probes and the page's token prompt still work.
 */
export interface HttpOptions {
  host: string;
  port: number;
  token?: string;
  /** Host names answered besides loopback ones while on loopback without a token (DNS-rebinding guard). */
  allowedHosts: string[];
  stats: StatsCollector;
  /** Milliseconds the latest store flush took. */
  storeFlushMs(): number;
  api: ApiDeps;
  log: Logger;
}

const WEB_DIR = path.join(PACKAGE_ROOT, 'web');
const UPLOT_DIR = path.join(PACKAGE_ROOT, 'node_modules', 'uplot', 'dist');
const VENDOR_FILES: Record<string, string> = {
  '/vendor/uplot.js': path.join(UPLOT_DIR, 'uPlot.esm.js'),
  '/vendor/uplot.css': path.join(UPLOT_DIR, 'uPlot.min.css'),
};
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export class HttpServer {
  private server: http.Server | undefined;
  private readonly registry = new client.Registry();
  private readonly api: Api;
  private readonly tokenDigest: Buffer | undefined;
  port = 0;

  constructor(private readonly opts: HttpOptions) {
    this.api = new Api(opts.api);
    this.tokenDigest = opts.token ? sha256(opts.token) : undefined;
    this.registerMetrics();
  }

  private registerMetrics(): void {
    const snapshot = () => this.opts.stats.snapshot();
    const reg = this.registry;
    // Includes patternd_nodejs_eventloop_lag_seconds, the event-loop lag.
    client.collectDefaultMetrics({ register: reg, prefix: 'patternd_' });
    const gauge = (name: string, help: string, read: () => number) =>
      new client.Gauge({
        name,
        help,
        registers: [reg],
        collect() {
          this.set(read());
        },
      });
    // Totals since start are counters (so rate() applies, and a _total name is a counter's).
    const counter = (name: string, help: string, read: () => number) =>
      new client.Counter({
        name,
        help,
        registers: [reg],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    counter('patternd_events_total', 'Access events accepted', () => snapshot().events as number);
    counter('patternd_rejected_total', 'Messages and events rejected', () => {
      const s = snapshot();
      return (s.rejected_messages as number) + (s.rejected_events as number);
    });
    gauge('patternd_keys', 'Keys tracked', () => snapshot().keys as number);
    gauge(
      'patternd_memory_budget_bytes',
      'Most memory patternd should need with its configuration (compare patternd_process_resident_memory_bytes)',
      () => (snapshot().memory as { budget_bytes: number }).budget_bytes,
    );
    gauge(
      'patternd_publish_backlog',
      'Keys waiting to be published',
      () => snapshot().publish_backlog as number,
    );
    gauge(
      'patternd_store_flush_seconds',
      'Duration of the latest write of changed state to the store',
      () => this.opts.storeFlushMs() / 1000,
    );
    const store = () => snapshot().store as Record<string, number | boolean>;
    gauge('patternd_store_up', '1 while the store accepts writes', () => (store().up ? 1 : 0));
    gauge(
      'patternd_store_pending',
      'Changed keys and deletes not yet stored',
      () => store().pending as number,
    );
    counter('patternd_store_failures_total', 'Failed store flushes', () => store().failures as number);
    new client.Gauge({
      name: 'patternd_keys_by_pattern',
      help: 'Keys currently showing each pattern',
      labelNames: ['pattern'],
      registers: [reg],
      collect() {
        const patterns = snapshot().patterns as Record<string, number>;
        for (const [p, n] of Object.entries(patterns)) this.set({ pattern: p }, n);
      },
    });
  }

  async start(): Promise<void> {
    const { host, port, log } = this.opts;
    const server = http.createServer((req, res) =>
      this.route(req, res).catch((err) => {
        log.error({ err, url: req.url }, 'HTTP request failed');
        if (!res.headersSent) json(res, 500, { error: 'internal error' });
        else res.end();
      }),
    );
    await new Promise<void>((resolve) => {
      server.once('error', (err) => {
        log.warn({ err: err.message, host, port }, 'HTTP server not started');
        resolve();
      });
      server.listen(port, host, () => {
        this.server = server;
        this.port = (server.address() as AddressInfo).port;
        this.opts.api.live.start();
        log.info({ host, port: this.port }, 'HTTP server listening (dashboard, /api, /healthz, /metrics)');
        if (!isLoopback(host) && !this.opts.token)
          log.warn(
            { host, port: this.port },
            'SECURITY: the dashboard and its API answer anyone on the network without a token (they can forget keys and reset); set http.token, or listen on 127.0.0.1',
          );
        resolve();
      });
    });
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const { pathname } = url;
    if (!this.hostAllowed(req.headers.host)) {
      json(res, 421, {
        error: `this server does not answer to Host ${JSON.stringify(req.headers.host ?? '')}; add it to http.allowedHosts or set http.token`,
      });
    } else if (pathname === '/healthz') {
      const h = this.opts.api.health();
      json(res, h.ok ? 200 : 503, { status: h.ok ? 'ok' : 'unhealthy', reasons: h.reasons });
    } else if (pathname === '/metrics' || pathname.startsWith('/api/')) {
      if (!this.authorized(req, url)) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
        res.end(JSON.stringify({ error: 'missing or wrong bearer token' }));
      } else if (pathname === '/metrics') {
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(await this.registry.metrics());
      } else {
        await this.api.handle(req, res, url);
      }
    } else if (req.method === 'GET' || req.method === 'HEAD') {
      await this.serveFile(res, pathname === '/' ? path.join(WEB_DIR, 'index.html') : staticPath(pathname));
    } else {
      json(res, 405, { error: 'method not allowed' });
    }
  }

  /**
   * On loopback without a token, the only protection is that other machines cannot connect; a web page
   * in a local browser still can, through a DNS name that resolves to 127.0.0.1 (DNS rebinding). Its
   * requests carry that name as Host, so only loopback names and configured ones are answered.
   */
  private hostAllowed(hostHeader: string | undefined): boolean {
    if (this.tokenDigest || !isLoopback(this.opts.host)) return true;
    if (!hostHeader) return false;
    const name = hostHeader
      .replace(/:\d+$/, '')
      .replace(/^\[(.*)\]$/, '$1')
      .toLowerCase();
    return isLoopback(name) || this.opts.allowedHosts.some((h) => h.toLowerCase() === name);
  }

  /**
   * The token comes in the Authorization header; `EventSource` cannot set headers, so the event stream
   * also takes it as `?access_token=`. Digests are compared so the time taken says nothing about the token.
   */
  private authorized(req: http.IncomingMessage, url: URL): boolean {
    if (!this.tokenDigest) return true;
    const header = req.headers.authorization ?? '';
    const fromQuery = url.pathname === '/api/events' ? url.searchParams.get('access_token') : null;
    const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : fromQuery;
    return given !== null && crypto.timingSafeEqual(sha256(given), this.tokenDigest);
  }

  private async serveFile(res: http.ServerResponse, file: string | undefined): Promise<void> {
    const type = file && CONTENT_TYPES[path.extname(file)];
    const body = type ? await fs.readFile(file).catch(() => undefined) : undefined;
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
    res.end(body);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.opts.api.live.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Files under `web/` and the two uPlot files; undefined for anything else (`..` included). */
function staticPath(pathname: string): string | undefined {
  if (Object.hasOwn(VENDOR_FILES, pathname)) return VENDOR_FILES[pathname];
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  const file = path.join(WEB_DIR, path.normalize(decoded));
  return file.startsWith(WEB_DIR + path.sep) ? file : undefined;
}

function sha256(text: string): Buffer {
  return crypto.createHash('sha256').update(text).digest();
}
