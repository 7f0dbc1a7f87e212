import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { reachable, tmpDir, waitUntil } from './harness.ts';

/** Is redis-server installed? CI must have it (the outage tests start their own). */
export async function requireRedisServer(): Promise<boolean> {
  const installed = await new Promise<boolean>((resolve) => {
    const p = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    p.once('error', () => resolve(false));
    p.once('exit', (code) => resolve(code === 0));
  });
  if (process.env.CI && !installed) throw new Error('CI: redis-server must be installed');
  return installed;
}

/** A redis-server of the test's own, without persistence, on `port`; `args` add options (TLS, password). */
export class RedisServer {
  private proc: ChildProcess | undefined;
  readonly dir = tmpDir('patternd-redis-');

  constructor(
    readonly port: number,
    private readonly args: string[] = [],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const base = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    this.proc = spawn('redis-server', [...base, '--dir', this.dir, ...this.args], { stdio: 'ignore' });
    await waitUntil(() => reachable(`redis://127.0.0.1:${this.listenPort()}`), 5000, 'redis-server');
  }

  private listenPort(): number {
    const tls = this.args.indexOf('--tls-port');
    return tls >= 0 ? Number(this.args[tls + 1]) : this.port;
  }

  /** Stops it: `save` writes a dump it reloads at the next start, else it comes back empty. */
  async stop(save: boolean): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    if (save) {
      const c = new Redis(this.url, { maxRetriesPerRequest: 0 });
      await c.call('shutdown', 'save').catch(() => {});
      c.disconnect();
    } else {
      proc.kill('SIGKILL');
      fs.rmSync(path.join(this.dir, 'dump.rdb'), { force: true });
    }
    await exited;
  }
}
