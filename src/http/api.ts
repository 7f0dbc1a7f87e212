import type http from 'node:http';
import { z } from 'zod';
import type { BridgeApi } from '../bridge/requests.ts';
import type { PublishedState } from '../context.ts';
import type { Engine } from '../engine/engine.ts';
import { BURST, PATTERN_BITS, PATTERNS } from '../engine/types.ts';
import type { WatchList } from '../homeassistant/watchlist.ts';
import type { LiveFeed } from './live.ts';
import type { RecentAccesses } from './recent.ts';
import { keyRow, selectTop } from './rows.ts';

/**
 * The dashboard's JSON API over the engine's state (documented in docs/dashboard.md). Reads come straight
 * from the engine; actions that change state go through the bridge API's own commands, so the dashboard
 * can do nothing the MQTT bridge could not.
 */
export interface ApiDeps {
  engine: Engine;
  /** A key's state as published (with `predicted`). */
  state(slot: number): PublishedState;
  bridge: BridgeApi;
  watch: WatchList;
  recent: RecentAccesses;
  live: LiveFeed;
  health(): { ok: boolean; reasons: string[] };
}

export const MAX_PAGE_SIZE = 500;
/** Sorting pages deeper than this would mean ranking most of 100 k keys per request; filter instead. */
export const MAX_SORT_DEPTH = 10_000;
/**
 * Confidence and burst ratios are not stored per key but computed with the whole view (~3 µs each), so a
 * request ranks at most this many keys by them.
 */
export const MAX_RANKED_VIEWS = 10_000;
const MAX_BURSTING = 20;
const MAX_BODY_BYTES = 64 * 1024;
const DEFAULT_ACCESS_LIMIT = 2000;

const keysQuery = z.strictObject({
  q: z.string().max(512).optional(),
  pattern: z.enum(PATTERNS).optional(),
  sort: z.enum(['recent', 'key', 'accesses', 'last_ts', 'confidence']).default('recent'),
  order: z.enum(['asc', 'desc']).optional(),
  page: z.coerce.number().int().min(1).default(1),
  page_size: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50),
});

const accessesQuery = z.strictObject({ limit: z.coerce.number().int().min(1).optional() });

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class Api {
  constructor(private readonly deps: ApiDeps) {}

  /** Answers a request under `/api/`; never throws. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    try {
      const parts = url.pathname.slice('/api/'.length).split('/');
      if (req.method === 'GET' && url.pathname === '/api/events') {
        if (!this.deps.live.subscribe(res)) throw new HttpError(503, 'too many event streams open');
        return;
      }
      json(res, 200, await this.route(req, parts, url.searchParams));
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      json(res, status, { error: (err as Error).message });
    }
  }

  private async route(req: http.IncomingMessage, parts: string[], params: URLSearchParams) {
    const [resource, encodedKey, action, ...rest] = parts;
    const method = req.method ?? 'GET';
    if (rest.length > 0) throw new HttpError(404, 'not found');
    if (resource === 'overview' && parts.length === 1) return only(method, 'GET', () => this.overview());
    if ((resource === 'watch' || resource === 'unwatch') && parts.length === 1) {
      return only(method, 'POST', async () => this.bridge(resource, await readJson(req)));
    }
    if (resource !== 'keys') throw new HttpError(404, 'not found');
    if (encodedKey === undefined) return only(method, 'GET', () => this.keys(params));
    const key = decodeKey(encodedKey);
    if (this.deps.engine.keys.slotOf(key) < 0) throw new HttpError(404, `key is not tracked: ${key}`);
    if (action === undefined) return only(method, 'GET', () => this.key(key));
    if (action === 'accesses') return only(method, 'GET', () => this.accesses(key, params));
    if (action === 'forget') {
      return only(method, 'POST', async () => {
        await readJson(req); // the key is in the path; reading the body enforces application/json
        return this.bridge('forget', { key });
      });
    }
    throw new HttpError(404, 'not found');
  }

  private overview() {
    const { engine, live } = this.deps;
    const { keys, patterns } = engine.counters;
    return {
      health: this.deps.health(),
      keys,
      max_keys: engine.cfg.maxKeys,
      patterns,
      events_per_s: live.eventsPerSecond,
      rates: live.rates(),
      bursting: this.bursting(),
      engine_time: Math.round(engine.now),
      live: engine.isLive,
    };
  }

  /** The keys bursting hardest now. Building a view is the costly part, so only bursting keys get one. */
  private bursting() {
    const { engine } = this.deps;
    const slots: number[] = [];
    for (const slot of engine.keys.slots()) if (engine.maskOf(slot) & BURST) slots.push(slot);
    const views = slots.slice(0, MAX_RANKED_VIEWS).map((slot) => engine.view(slot));
    return selectTop(views, MAX_BURSTING, (a, b) => (b.burst?.ratio ?? 0) - (a.burst?.ratio ?? 0)).map(
      (v) => ({ ...keyRow(v), burst: v.burst }),
    );
  }

  private keys(params: URLSearchParams) {
    const parsed = keysQuery.safeParse(Object.fromEntries(params));
    if (!parsed.success) throw new HttpError(400, z.prettifyError(parsed.error));
    const query = parsed.data;
    const { engine } = this.deps;
    const names = engine.keys.keys;
    const needle = query.q?.toLowerCase();
    const bit = query.pattern ? PATTERN_BITS[query.pattern] : 0;
    const depth = query.page * query.page_size;
    if (depth > MAX_SORT_DEPTH) {
      throw new HttpError(
        400,
        `page * page_size must be at most ${MAX_SORT_DEPTH}; narrow the search instead`,
      );
    }
    const order = query.order ?? (query.sort === 'key' ? 'asc' : 'desc');
    const sign = order === 'asc' ? 1 : -1;
    const unfiltered = !bit && !needle;
    // The key registry iterates most recently accessed first: the default view needs only its page.
    const enough =
      unfiltered && query.sort === 'recent' && order === 'desc' ? depth : Number.POSITIVE_INFINITY;
    const matches: number[] = [];
    for (const slot of engine.keys.slots()) {
      if (bit && !(engine.maskOf(slot) & bit)) continue;
      if (needle && !names[slot].toLowerCase().includes(needle)) continue;
      if (matches.push(slot) >= enough) break;
    }
    const total = unfiltered ? engine.keys.size : matches.length;
    let ranked: number[];
    if (query.sort === 'recent') {
      ranked = order === 'desc' ? matches.slice(0, depth) : matches.slice(-depth).reverse();
    } else {
      const value = this.sortValue(query.sort, matches.length);
      const byKey = (a: number, b: number) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0);
      ranked = selectTop(matches, depth, (a, b) => sign * (value(a) - value(b) || byKey(a, b)));
    }
    const page = ranked.slice(depth - query.page_size);
    return {
      total,
      page: query.page,
      page_size: query.page_size,
      sort: query.sort,
      order,
      keys: page.map((slot) => keyRow(engine.view(slot))),
    };
  }

  private sortValue(
    sort: 'key' | 'accesses' | 'last_ts' | 'confidence',
    matches: number,
  ): (slot: number) => number {
    const { engine } = this.deps;
    if (sort === 'key') return () => 0;
    if (sort === 'accesses') return (slot) => engine.accessesOf(slot);
    if (sort === 'last_ts') return (slot) => engine.lastAccess(slot);
    if (matches > MAX_RANKED_VIEWS) {
      throw new HttpError(
        400,
        `sorting by confidence ranks at most ${MAX_RANKED_VIEWS} keys (${matches} match); filter by q or pattern first`,
      );
    }
    const confidence = new Map<number, number>();
    return (slot) => {
      let v = confidence.get(slot);
      if (v === undefined) {
        v = engine.view(slot).confidence;
        confidence.set(slot, v);
      }
      return v;
    };
  }

  private key(key: string) {
    const state = this.deps.state(this.deps.engine.keys.slotOf(key));
    return { ...state, watched: this.deps.watch.matches(key) };
  }

  private accesses(key: string, params: URLSearchParams) {
    const parsed = accessesQuery.safeParse(Object.fromEntries(params));
    if (!parsed.success) throw new HttpError(400, z.prettifyError(parsed.error));
    const { recent, engine } = this.deps;
    const limit = Math.min(parsed.data.limit ?? DEFAULT_ACCESS_LIMIT, recent.capacity);
    const firstTs = engine.viewOf(key)!.first_ts;
    return { key, ring_capacity: recent.capacity, ...recent.of(key, firstTs, limit) };
  }

  private bridge(command: string, body: Record<string, unknown>) {
    const response = this.deps.bridge.request(command, body);
    if (response.status === 'error') throw new HttpError(400, response.error);
    return response.data;
  }
}

function only<T>(method: string, allowed: string, run: () => T): T {
  if (method !== allowed) throw new HttpError(405, `use ${allowed}`);
  return run();
}

function decodeKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, 'key is not valid percent-encoding');
  }
}

/**
 * Reads a JSON object body. Requiring `application/json` also keeps other web sites out: a page
 * elsewhere cannot send that content type to patternd without a CORS preflight, which patternd never
 * answers.
 */
async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
    throw new HttpError(415, 'send the body as application/json');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(400, 'body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
