import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import client from 'prom-client';
import type { StatsCollector } from '../stats.ts';

/**
 * `/healthz` (200 when broker and store are connected, 503 with the reason otherwise) and `/metrics`
 * (Prometheus text format). Loopback by default. A busy port is logged, not fatal: patternd's job is
 * MQTT, and a second instance or another service on 8080 must not stop it.
 */
export interface HealthSource {
  health(): { ok: boolean; reasons: string[] };
}

export class HttpServer {
  private server: http.Server | undefined;
  private readonly registry = new client.Registry();
  port = 0;

  constructor(
    private readonly host: string,
    private readonly wantedPort: number,
    private readonly health: HealthSource,
    private readonly stats: StatsCollector,
    private readonly log: Logger,
  ) {
    const snapshot = () => this.stats.snapshot();
    const reg = this.registry;
    client.collectDefaultMetrics({ register: reg, prefix: 'patternd_' });
    const gauge = (name: string, help: string, read: (s: Record<string, unknown>) => number) =>
      new client.Gauge({
        name,
        help,
        registers: [reg],
        collect() {
          this.set(read(snapshot()));
        },
      });
    gauge('patternd_events_total', 'Access events accepted', (s) => s.events as number);
    gauge(
      'patternd_rejected_total',
      'Messages and events rejected',
      (s) => (s.rejected_messages as number) + (s.rejected_events as number),
    );
    gauge('patternd_keys', 'Keys tracked', (s) => s.keys as number);
    gauge('patternd_publish_backlog', 'Keys waiting to be published', (s) => s.publish_backlog as number);
    const store = (s: Record<string, unknown>) => s.store as Record<string, number | boolean>;
    gauge('patternd_store_up', '1 while the store accepts writes', (s) => (store(s).up ? 1 : 0));
    gauge(
      'patternd_store_pending',
      'Changed keys and deletes not yet stored',
      (s) => store(s).pending as number,
    );
    gauge('patternd_store_failures_total', 'Failed store flushes', (s) => store(s).failures as number);
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
    const server = http.createServer((req, res) => void this.route(req, res));
    await new Promise<void>((resolve) => {
      server.once('error', (err) => {
        this.log.warn(
          { err: err.message, host: this.host, port: this.wantedPort },
          'HTTP server not started',
        );
        resolve();
      });
      server.listen(this.wantedPort, this.host, () => {
        this.server = server;
        this.port = (server.address() as AddressInfo).port;
        this.log.info({ host: this.host, port: this.port }, 'HTTP server listening (/healthz, /metrics)');
        resolve();
      });
    });
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz') {
      const h = this.health.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: h.ok ? 'ok' : 'unhealthy', reasons: h.reasons }));
    } else if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': this.registry.contentType });
      res.end(await this.registry.metrics());
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
