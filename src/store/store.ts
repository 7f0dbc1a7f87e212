import type { EngineMeta } from '../engine/engine.ts';

/**
 * Where engine state survives restarts. Two implementations behind this interface: the embedded file
 * store (default) and Redis. The unit of storage is one key's row — the bytes of all its detector state,
 * exactly as the engine holds it — plus a small global meta record.
 */
/**
 * The meta record as stored: the engine's, and the service's settings changed at runtime (the globs watched
 * through the bridge), which a restart must not lose.
 */
export type StoredMeta = EngineMeta & { settings?: RuntimeSettings };

/**
 * Runtime changes to the configured watch list: globs added, and configured globs removed, with the
 * configured list they were made against.
 */
export interface RuntimeSettings {
  watch?: { added: string[]; removed: string[]; configured: string[] };
}

export interface StoredKey {
  key: string;
  /** Slot and generation are kept so references between keys (correlation partners) stay valid. */
  slot: number;
  generation: number;
  row: Uint8Array;
}

export interface StoreContents {
  meta: StoredMeta | null;
  keys: StoredKey[];
}

export interface WriteBatch {
  meta: StoredMeta;
  upserts: StoredKey[];
  deletes: string[];
}

export interface StoreStatus {
  kind: 'file' | 'redis';
  up: boolean;
  detail?: string;
}

export interface Store {
  readonly kind: 'file' | 'redis';
  open(): Promise<void>;
  load(): Promise<StoreContents>;
  /** Persists a batch of changes; resolves once they are durable (written and synced, or acknowledged). */
  write(batch: WriteBatch): Promise<void>;
  /** True when the store would like a full rewrite (the file store's log has outgrown its snapshot). */
  wantsCompaction(): boolean;
  /** Replaces everything stored with `all`. */
  compact(meta: StoredMeta, all: Iterable<StoredKey>): Promise<void>;
  /** Deletes everything (bridge `reset`). */
  clear(): Promise<void>;
  /** False while a write is sure to fail (Redis disconnected): the flush keeps its changes pending. */
  available(): boolean;
  status(): StoreStatus;
  close(): Promise<void>;
}

/** Binary frame of one record, shared by the file log and snapshot: type, key, slot, generation, row. */
export const FRAME_UPSERT = 1;
export const FRAME_DELETE = 2;
export const FRAME_META = 3;
/** First frame of a file log: which snapshot it continues (payload: u8 type | u32 epoch). */
export const FRAME_EPOCH = 4;
