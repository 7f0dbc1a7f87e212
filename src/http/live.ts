import type http from 'node:http';
import type { Bus } from '../bus.ts';
import type { Engine } from '../engine/engine.ts';
import { keyRow } from './rows.ts';

/**
 * What the dashboard sees move: the event rate over the last minutes, and Server-Sent Events.
 *
 * SSE events: `overview` every sample (rate, key and pattern counts); `keys` with the rows of keys whose
 * patterns changed; `removed` with keys no longer tracked. Changes are coalesced and flushed a few times
 * a second, at most `MAX_PER_FLUSH` per event with `overflow: true` beyond, so a flood of changes costs the
 * browser one refetch instead of a message per key. With no client connected a change costs one check.
 */
export const SAMPLE_MS = 2000;
const HISTORY_SAMPLES = 300; // 10 minutes
const FLUSH_MS = 500;
const HEARTBEAT_MS = 15_000;
const MAX_PER_FLUSH = 200;
export const MAX_CLIENTS = 32;

export interface RateSample {
  ts: number;
  events_per_s: number;
}

export class LiveFeed {
  private readonly history: RateSample[] = [];
  private readonly clients = new Set<http.ServerResponse>();
  private readonly changed = new Set<number>();
  private readonly removed = new Set<string>();
  private changedOverflow = false;
  private removedOverflow = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private lastEvents: number;
  private lastAt: number;

  constructor(
    private readonly engine: Engine,
    private readonly bus: Bus,
    private readonly eventCount: () => number,
    private readonly now: () => number,
  ) {
    this.lastEvents = eventCount();
    this.lastAt = now();
  }

  start(): void {
    this.bus.on('patternsChanged', this.onChanged);
    this.bus.on('keysRemoved', this.onRemoved);
    this.every(SAMPLE_MS, () => this.sample());
    this.every(FLUSH_MS, () => this.flush());
    this.every(HEARTBEAT_MS, () => this.broadcastRaw(': heartbeat\n\n'));
  }

  stop(): void {
    this.bus.off('patternsChanged', this.onChanged);
    this.bus.off('keysRemoved', this.onRemoved);
    for (const t of this.timers) clearInterval(t);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  rates(): RateSample[] {
    return [...this.history];
  }

  get eventsPerSecond(): number {
    return this.history.at(-1)?.events_per_s ?? 0;
  }

  /** Takes over `res` as an event stream; false when too many streams are open already. */
  subscribe(res: http.ServerResponse): boolean {
    if (this.clients.size >= MAX_CLIENTS) return false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // nginx buffers responses by default, which would hold events back until the buffer fills.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 3000\n\n`);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    res.write(frame('overview', this.overview()));
    return true;
  }

  private readonly onChanged = (slot: number) => {
    if (this.clients.size === 0) return;
    if (this.changed.size < MAX_PER_FLUSH) this.changed.add(slot);
    else this.changedOverflow = true;
  };

  private readonly onRemoved = (keys: string[]) => {
    if (this.clients.size === 0) return;
    for (const key of keys) {
      if (this.removed.size >= MAX_PER_FLUSH) {
        this.removedOverflow = true;
        break;
      }
      this.removed.add(key);
    }
  };

  private sample(): void {
    const t = this.now();
    const events = this.eventCount();
    const dt = (t - this.lastAt) / 1000;
    const rate = dt > 0 ? (events - this.lastEvents) / dt : 0;
    this.lastEvents = events;
    this.lastAt = t;
    this.history.push({ ts: t, events_per_s: Math.round(rate * 10) / 10 });
    if (this.history.length > HISTORY_SAMPLES) this.history.shift();
    if (this.clients.size > 0) this.broadcast('overview', this.overview());
  }

  private overview() {
    const { keys, patterns } = this.engine.counters;
    return { ...this.history.at(-1), keys, patterns };
  }

  private flush(): void {
    if (this.changed.size > 0 || this.changedOverflow) {
      const rows = [];
      for (const slot of this.changed)
        if (this.engine.keys.keys[slot]) rows.push(keyRow(this.engine.view(slot)));
      this.broadcast('keys', { keys: rows, overflow: this.changedOverflow });
      this.changed.clear();
      this.changedOverflow = false;
    }
    if (this.removed.size > 0) {
      this.broadcast('removed', { keys: [...this.removed], overflow: this.removedOverflow });
      this.removed.clear();
      this.removedOverflow = false;
    }
  }

  private broadcast(event: string, data: unknown): void {
    this.broadcastRaw(frame(event, data));
  }

  private broadcastRaw(frame: string): void {
    for (const res of this.clients) res.write(frame);
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
