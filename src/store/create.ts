import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { FileStore } from './file.ts';
import { RedisStore } from './redis.ts';
import type { Store } from './store.ts';

/** Redis when a URL is configured, else the embedded file store. */
export function createStore(cfg: Config['store'], log: Logger): Store {
  if (cfg.redisUrl) return new RedisStore({ url: cfg.redisUrl, keyPrefix: cfg.keyPrefix, log });
  return new FileStore(cfg.dataDir);
}
