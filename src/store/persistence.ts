import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.ts';
import type { Store, StoredKey } from './store.ts';

/**
 * Keeps the store in step with the engine: every `flushIntervalMs` the rows of keys that changed are
 * written in one batch (never one round trip per event), removed keys are deleted, and the store is
 * compacted when it asks for it. A failed write keeps the changes pending (bounded by the key count:
 * a key is pending at most once) and retries on the next flush, so a store outage loses nothing that
 * is still tracked.
 */
export class Persistence {
  private timer: NodeJS.Timeout | undefined;
  private readonly pendingSlots = new Set<number>();
  private readonly pendingDeletes = new Set<string>();
  private flushing: Promise<void> | undefined;
  writes = 0;
  failures = 0;
  lastFlushMs = 0;

  constructor(
    private readonly engine: Engine,
    private readonly store: Store,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  async restore(): Promise<number> {
    const { meta, keys } = await this.store.load();
    if (meta && meta.layout !== this.engine.layout) {
      this.log.warn('stored state was written by an incompatible engine version; starting fresh');
      return 0;
    }
    for (const k of keys) this.engine.importRow(k.key, k.slot, k.generation, k.row);
    this.engine.finishRestore(meta);
    return this.engine.keys.size;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  removed(keys: string[]): void {
    for (const k of keys) this.pendingDeletes.add(k);
  }

  /** Writes pending changes; concurrent calls share one write. */
  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    this.engine.drainUnsaved((slot) => this.pendingSlots.add(slot));
    if (this.pendingSlots.size === 0 && this.pendingDeletes.size === 0) return;
    const upserts: StoredKey[] = [];
    const gen = this.engine.keys.generation;
    for (const slot of this.pendingSlots) {
      const key = this.engine.keys.keys[slot];
      if (key) upserts.push({ key, slot, generation: gen[slot], row: this.engine.exportRow(slot) });
    }
    const deletes = [...this.pendingDeletes].filter((k) => this.engine.keys.slotOf(k) < 0);
    const started = performance.now();
    try {
      await this.store.write({ meta: this.engine.exportMeta(), upserts, deletes });
      this.pendingSlots.clear();
      this.pendingDeletes.clear();
      this.writes++;
      this.lastFlushMs = performance.now() - started;
      if (this.store.wantsCompaction()) await this.store.compact(this.engine.exportMeta(), this.allRows());
    } catch (err) {
      this.failures++;
      this.log.warn(
        { err: (err as Error).message, pending: this.pendingSlots.size },
        'store write failed; will retry',
      );
    }
  }

  private *allRows(): IterableIterator<StoredKey> {
    const gen = this.engine.keys.generation;
    for (const slot of this.engine.keys.slots()) {
      yield {
        key: this.engine.keys.keys[slot],
        slot,
        generation: gen[slot],
        row: this.engine.exportRow(slot),
      };
    }
  }

  get pending(): number {
    return this.pendingSlots.size + this.pendingDeletes.size;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    if (this.pending > 0) await this.flush();
  }
}
