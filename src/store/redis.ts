import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redactUrl } from '../config.ts';

import { UnreachableError } from '../errors.ts';
import type { Store, StoreContents, StoredKey, StoredMeta, StoreStatus, WriteBatch } from './store.ts';

/**
 * Redis as the store (ioredis). Layout under `keyPrefix`:
 *   `<prefix>keys`  hash: field = the key (UTF-8), value = u32 slot | u32 generation | row bytes
 *   `<prefix>meta`  string: the engine's meta record (JSON; small and global)
 *
 * A flush is one MULTI/EXEC round trip (deletes, upserts, meta), so Redis never holds half a flush and
 * the cost per event is a share of one batch, not a round trip. While Redis is unreachable every command
 * fails at once (no offline queue): the changes stay pending in `Persistence`, bounded by the key count,
 * and go out with the first write after Redis returns. A Redis that comes back empty (restarted without
 * persistence) is noticed by the missing meta record and answered with a full rewrite.
 */
export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  log: Logger;
  /** How long `open` waits for Redis (it may still be booting after a power cut). */
  openTimeoutMs?: number;
}

/** Fields per HSET/HDEL command, and rows per round trip when streaming a full rewrite. */
const FIELDS_PER_COMMAND = 500;
const ROWS_PER_ROUND_TRIP = 5000;
const SCAN_COUNT = 1000;
const HEADER_BYTES = 8;
const AUTH_ERROR = /WRONGPASS|NOAUTH|NOPERM|invalid password/i;

function encodeRedisRow(rec: StoredKey): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + rec.row.length);
  buf.writeUInt32LE(rec.slot, 0);
  buf.writeUInt32LE(rec.generation, 4);
  buf.set(rec.row, HEADER_BYTES);
  return buf;
}

function decodeRedisRow(key: string, value: Buffer): StoredKey | null {
  if (value.length < HEADER_BYTES) return null;
  return {
    key,
    slot: value.readUInt32LE(0),
    generation: value.readUInt32LE(4),
    row: new Uint8Array(value.subarray(HEADER_BYTES)),
  };
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly client: Redis;
  private readonly keysKey: string;
  private readonly metaKey: string;
  private readonly rewriteKey: string;
  private readonly log: Logger;
  private readonly openTimeoutMs: number;
  private lastError: string | undefined;
  /** When the connection was lost (0: up, or never connected yet). */
  private downSince = 0;
  private connected = false;
  /** Redis held our state once; a later write that finds no meta record means Redis lost it. */
  private holdsState = false;
  private lostState = false;
  private closing = false;

  constructor(opts: RedisStoreOptions) {
    this.log = opts.log;
    this.openTimeoutMs = opts.openTimeoutMs ?? 30_000;
    this.keysKey = `${opts.keyPrefix}keys`;
    this.metaKey = `${opts.keyPrefix}meta`;
    this.rewriteKey = `${opts.keyPrefix}keys:rewrite`;
    this.client = new Redis(opts.url, {
      lazyConnect: true,
      // Queueing commands while disconnected would grow without bound; Persistence keeps what is pending.
      enableOfflineQueue: false,
      // A command caught by a dropped connection fails; the whole batch is retried on the next flush.
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
      connectTimeout: 5000,
      // A hung server must fail a flush rather than stall every later one.
      commandTimeout: 20_000,
    });
    const where = redactUrl(opts.url);
    this.client.on('error', (err: Error) => {
      // Said once while patternd waits for Redis at start (30 s of silence before exiting otherwise).
      if (!this.connected && this.lastError === undefined && !this.closing)
        this.log.warn(
          { redis: where, err: err.message, waiting_s: this.openTimeoutMs / 1000 },
          'waiting for the Redis store',
        );
      this.lastError = err.message;
    });
    this.client.on('ready', () => {
      if (this.downSince > 0)
        this.log.info({ redis: where, down_s: (Date.now() - this.downSince) / 1000 }, 'Redis store is back');
      this.downSince = 0;
      this.connected = true;
      this.lastError = undefined;
    });
    this.client.on('close', () => {
      if (this.downSince > 0 || this.closing || !this.connected) return;
      this.downSince = Date.now();
      this.log.warn(
        { redis: where, err: this.lastError },
        'Redis store connection lost; changes are kept and written when it returns',
      );
    });
  }

  async open(): Promise<void> {
    let settle: (err?: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    const onReady = () => settle();
    // Wrong credentials do not heal by retrying: fail at once instead of at the timeout.
    const onError = (err: Error) => {
      if (AUTH_ERROR.test(err.message))
        settle(new UnreachableError(`Redis store refused the credentials: ${err.message}`));
    };
    const timer = setTimeout(
      () =>
        settle(
          new UnreachableError(
            `Redis store unreachable within ${this.openTimeoutMs} ms: ${this.lastError ?? 'no answer'}`,
          ),
        ),
      this.openTimeoutMs,
    );
    this.client.once('ready', onReady);
    this.client.on('error', onError);
    // A failed first attempt is retried by retryStrategy; only 'ready', bad credentials or the timeout
    // settle `open`.
    this.client.connect().catch(() => {});
    try {
      await ready;
    } catch (err) {
      this.closing = true;
      this.client.disconnect();
      throw err;
    } finally {
      clearTimeout(timer);
      this.client.off('ready', onReady);
      this.client.off('error', onError);
    }
  }

  async load(): Promise<StoreContents> {
    const rawMeta = await this.client.get(this.metaKey);
    const keys = new Map<string, StoredKey>();
    let cursor = '0';
    do {
      const [next, flat] = await this.client.hscanBuffer(this.keysKey, cursor, 'COUNT', SCAN_COUNT);
      cursor = next.toString();
      // HSCAN may return a field twice; the map keeps one.
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const key = flat[i].toString('utf8');
        const rec = decodeRedisRow(key, flat[i + 1]);
        if (rec) keys.set(key, rec);
      }
    } while (cursor !== '0');
    this.holdsState = rawMeta !== null;
    return { meta: rawMeta ? (JSON.parse(rawMeta) as StoredMeta) : null, keys: [...keys.values()] };
  }

  async write(batch: WriteBatch): Promise<void> {
    const tx = this.client.multi();
    tx.exists(this.metaKey);
    for (let i = 0; i < batch.deletes.length; i += FIELDS_PER_COMMAND)
      tx.hdel(this.keysKey, ...batch.deletes.slice(i, i + FIELDS_PER_COMMAND));
    for (let i = 0; i < batch.upserts.length; i += FIELDS_PER_COMMAND)
      tx.hset(this.keysKey, hashArgs(batch.upserts.slice(i, i + FIELDS_PER_COMMAND)));
    tx.set(this.metaKey, JSON.stringify(batch.meta));
    const results = await this.exec(tx);
    if (this.holdsState && results[0] === 0) {
      this.lostState = true;
      this.log.warn('Redis lost the stored state (restarted without persistence?); rewriting all of it');
    }
    this.holdsState = true;
  }

  wantsCompaction(): boolean {
    return this.lostState;
  }

  /**
   * Streams every row into a side hash, then swaps it in with RENAME in one transaction: a reader sees
   * the old state or the new one, and a failure half-way leaves the old one in place.
   */
  async compact(meta: StoredMeta, all: Iterable<StoredKey>): Promise<void> {
    await this.client.del(this.rewriteKey);
    let chunk: StoredKey[] = [];
    let pipe = this.client.pipeline();
    let queued = 0;
    for (const rec of all) {
      chunk.push(rec);
      if (chunk.length === FIELDS_PER_COMMAND) {
        pipe.hset(this.rewriteKey, hashArgs(chunk));
        chunk = [];
        queued += FIELDS_PER_COMMAND;
      }
      if (queued >= ROWS_PER_ROUND_TRIP) {
        await this.exec(pipe);
        pipe = this.client.pipeline();
        queued = 0;
      }
    }
    if (chunk.length > 0) pipe.hset(this.rewriteKey, hashArgs(chunk));
    await this.exec(pipe);
    const swap = this.client.multi();
    // RENAME of a missing key fails: with no rows the new state is an empty hash, i.e. none.
    if ((await this.client.exists(this.rewriteKey)) === 1) swap.rename(this.rewriteKey, this.keysKey);
    else swap.del(this.keysKey);
    swap.set(this.metaKey, JSON.stringify(meta));
    await this.exec(swap);
    this.lostState = false;
    this.holdsState = true;
  }

  async clear(): Promise<void> {
    await this.client.del(this.keysKey, this.metaKey, this.rewriteKey);
    this.holdsState = false;
  }

  available(): boolean {
    return this.client.status === 'ready';
  }

  status(): StoreStatus {
    const up = this.available();
    return { kind: 'redis', up, detail: up ? undefined : (this.lastError ?? this.client.status) };
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.client.status === 'ready') await this.client.quit().catch(() => {});
    this.client.disconnect();
  }

  /** Runs a pipeline or transaction; the first failed command fails the whole call. */
  private async exec(p: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
    const results = await p.exec();
    if (!results) throw new Error('Redis transaction aborted');
    return results.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }
}

function hashArgs(recs: StoredKey[]): (string | Buffer)[] {
  const args: (string | Buffer)[] = [];
  for (const rec of recs) args.push(rec.key, encodeRedisRow(rec));
  return args;
}
