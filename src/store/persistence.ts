import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.ts';
import type { RuntimeSettings, Store, StoredKey, StoredMeta } from './store.ts';

/**
 * Keeps the store in step with the engine: every `intervalMs` the rows of keys that changed are written
 * in one batch (never one round trip per event), removed keys are deleted, and the store is compacted
 * when it asks for it.
 *
 * While the store is down nothing is lost that is still tracked: a changed key stays pending (at most
 * once, so pending rows are bounded by the key count) and is written by the first flush that succeeds.
 * Deletes are only asked for keys whose rows were written (the engine tells which, `drainDeleted`), so a
 * flood of unique keys evicted between two flushes costs none. Pending deletes are bounded by
 * `maxPendingDeletes`; beyond it they are counted, logged and replaced by a full rewrite of the store once
 * it is back, which drops every row the engine no longer holds.
 *
 * Keys not accessed for `expireDays` (event time) are forgotten at load and by an hourly sweep, so a
 * store that lives for years does not keep every key it ever saw.
 */
export interface PersistenceOptions {
  intervalMs: number;
  expireDays: number;
  maxPendingDeletes: number;
}

const DAY_MS = 86_400_000;
const EXPIRY_SWEEP_MS = 3_600_000;
export const ROWS_PER_WRITE = 5000;

/** Settings the service changes at runtime, kept in the store's meta record. */
export interface SettingsSource {
  export(): RuntimeSettings;
  /** Applies what was stored; returns a note for the log when it could not apply it all. */
  restore(saved: RuntimeSettings): string | null;
  /** True while a change waits to be stored. */
  unsaved: boolean;
}

export class Persistence {
  private timer: NodeJS.Timeout | undefined;
  private readonly pendingSlots = new Set<number>();
  private readonly pendingDeletes = new Set<string>();
  private flushing: Promise<void> | undefined;
  /** Set when the store must be rewritten whole (dropped deletes, incompatible old state). */
  private rewrite = false;
  private failingSince = 0;
  private lastExpirySweep = 0;
  writes = 0;
  failures = 0;
  droppedDeletes = 0;
  expired = 0;
  lastFlushMs = 0;
  writeMsTotal = 0;

  constructor(
    private readonly engine: Engine,
    private readonly store: Store,
    private readonly opts: PersistenceOptions,
    private readonly log: Logger,
    private readonly settings?: SettingsSource,
  ) {}

  private meta(): StoredMeta {
    return this.settings
      ? { ...this.engine.exportMeta(), settings: this.settings.export() }
      : this.engine.exportMeta();
  }

  async restore(): Promise<number> {
    const { meta, keys } = await this.store.load();
    let convert = (row: Uint8Array): Uint8Array | null => row;
    if (meta && meta.layout !== this.engine.layout) {
      // The meta record comes from disk or Redis: a store from before layouts were saved has none.
      const migration = typeof meta.layout === 'string' ? this.engine.migrationFrom(meta.layout) : null;
      if (!migration) {
        this.log.warn('stored state was written by an incompatible engine version; starting fresh');
        this.rewrite = true;
        return 0;
      }
      // Settings that size a section (correlation.partnersPerKey, trend.days) change the layout as a new
      // version does; a section that starts over loses what every key learned there, which is worth a
      // warning that names the cause (logged as a version change at info level, it read as nothing to do).
      const fields = { added: migration.added, dropped: migration.dropped, reset_sections: migration.reset };
      const message =
        'stored state has another layout (another version of patternd, or settings that size the state such as engine.correlation.partnersPerKey or engine.trend.days); read field by field into this one';
      if (migration.reset.length > 0) this.log.warn(fields, `${message}; reset sections start over`);
      else this.log.info(fields, message);
      convert = migration.convert;
      this.rewrite = true;
    }
    // A slot's newest occupant has the highest generation; a stale row left by a lost delete yields to it.
    keys.sort((a, b) => b.generation - a.generation);
    const rows: StoredKey[] = [];
    for (const k of keys) {
      const row = convert(k.row);
      if (row) rows.push({ ...k, row });
    }
    const kept = this.fitToMaxKeys(rows);
    for (const k of kept) this.engine.importRow(k.key, k.slot, k.generation, k.row);
    this.engine.finishRestore(meta);
    const note = meta?.settings && this.settings ? this.settings.restore(meta.settings) : null;
    if (note) this.log.warn(note);
    const rejected = kept.filter((k) => this.engine.keys.slotOf(k.key) !== k.slot).map((k) => k.key);
    if (rejected.length > 0) {
      this.log.warn({ keys: rejected.length }, 'stored rows that could not be restored are deleted');
      this.removed(rejected);
    }
    this.expire();
    return this.engine.keys.size;
  }

  /**
   * The stored keys to restore when there are more than `engine.maxKeys` (lowered since they were stored):
   * the most recently accessed, those whose slots are beyond the new limit moved to free ones (their links
   * to partners are lost, as the generation they get is new). Restored by slot, the keys kept were those of
   * the lowest slots, and a job's index read a minute before the restart went while files last read days
   * earlier stayed (an outside evaluation). The others are deleted from the store, and that is logged.
   */
  private fitToMaxKeys(rows: StoredKey[]): StoredKey[] {
    const max = this.engine.cfg.maxKeys;
    if (rows.length <= max) return rows;
    const kept = [...rows].sort(
      (a, b) => this.engine.lastAccessOfRow(b.row) - this.engine.lastAccessOfRow(a.row),
    );
    const dropped = kept.splice(max);
    const taken = new Set(kept.filter((k) => k.slot < max).map((k) => k.slot));
    let generation = 1;
    for (const k of rows) generation = Math.max(generation, k.generation + 1);
    // The store is rewritten with the slots as they are now, and without the keys left out.
    this.rewrite = true;
    let free = 0;
    for (const k of kept) {
      if (k.slot < max) continue;
      while (taken.has(free)) free++;
      taken.add(free);
      k.slot = free;
      k.generation = generation++;
    }
    this.log.warn(
      { max_keys: max, stored: rows.length, dropped: dropped.length },
      'more keys stored than engine.maxKeys: the most recently accessed are restored, the others deleted',
    );
    // The rewrite (above) leaves out every row not restored: no deletes to queue for them.
    return kept;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.opts.intervalMs);
    this.timer.unref();
  }

  removed(keys: string[]): void {
    for (const k of keys) {
      if (this.pendingDeletes.size < this.opts.maxPendingDeletes) this.pendingDeletes.add(k);
      else this.droppedDeletes++;
    }
    if (this.droppedDeletes > 0 && !this.rewrite) {
      this.rewrite = true;
      this.log.warn(
        { pending: this.pendingDeletes.size, dropped: this.droppedDeletes },
        'too many deletes pending; the store will be rewritten whole once it accepts writes',
      );
    }
  }

  /** Writes pending changes; concurrent calls share one write. */
  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    if (performance.now() - this.lastExpirySweep > EXPIRY_SWEEP_MS) this.expire();
    this.engine.drainUnsaved((slot) => this.pendingSlots.add(slot));
    const settingsChanged = this.settings?.unsaved ?? false;
    if (this.pendingSlots.size === 0 && this.pendingDeletes.size === 0 && !this.rewrite && !settingsChanged)
      return;
    if (!this.store.available()) return this.failed(new Error('store unavailable'));
    const started = performance.now();
    try {
      // Cleared before the write, which carries the settings as they are then: a change made meanwhile
      // sets it again for the next flush.
      if (settingsChanged && this.settings) this.settings.unsaved = false;
      const written = await this.writePending();
      this.writes++;
      this.lastFlushMs = performance.now() - started;
      this.writeMsTotal += this.lastFlushMs;
      if (this.rewrite || this.store.wantsCompaction()) {
        const rewrite = this.rewrite;
        await this.store.compact(this.meta(), this.allRows());
        if (rewrite)
          this.log.info({ dropped_deletes: this.droppedDeletes }, 'store rewritten with the current state');
        this.rewrite = false;
        this.droppedDeletes = 0;
      }
      if (this.failingSince > 0) {
        this.log.info(
          { after_s: Math.round((performance.now() - this.failingSince) / 1000), keys: written },
          'store writes resumed; pending changes written',
        );
        this.failingSince = 0;
      }
    } catch (err) {
      if (settingsChanged && this.settings) this.settings.unsaved = true;
      this.failed(err as Error);
    }
  }

  /**
   * Writes the pending rows in batches of at most `ROWS_PER_WRITE`: after a long outage every key may be
   * pending, and one write of all of them would hold every row in memory at once (and make one huge
   * Redis transaction). Each batch leaves the pending sets only once it is stored. Returns the rows written.
   */
  private async writePending(): Promise<number> {
    // Deletes noted while a batch is being written stay pending for the next flush.
    const noted = [...this.pendingDeletes];
    let deletes = noted.filter((k) => this.engine.keys.slotOf(k) < 0);
    let written = 0;
    do {
      const slots: number[] = [];
      const upserts: StoredKey[] = [];
      for (const slot of this.pendingSlots) {
        if (slots.length === ROWS_PER_WRITE) break;
        slots.push(slot);
        if (this.engine.keys.keys[slot]) upserts.push(this.row(slot));
      }
      await this.store.write({ meta: this.meta(), upserts, deletes });
      for (const slot of slots) this.pendingSlots.delete(slot);
      for (const key of noted.splice(0)) this.pendingDeletes.delete(key);
      deletes = [];
      written += upserts.length;
    } while (this.pendingSlots.size > 0);
    return written;
  }

  private failed(err: Error): void {
    this.failures++;
    if (this.failingSince > 0) return;
    this.failingSince = performance.now();
    this.log.warn(
      { err: err.message, pending: this.pending },
      'store write failed; changes are kept and retried every flush',
    );
  }

  /** Forgets keys whose last access is older than `expireDays` before engine time. */
  private expire(): void {
    this.lastExpirySweep = performance.now();
    const before = this.engine.now - this.opts.expireDays * DAY_MS;
    const old: string[] = [];
    for (const slot of this.engine.keys.slots())
      if (this.engine.lastAccess(slot) < before) old.push(this.engine.keys.keys[slot]);
    for (const key of old) this.engine.forget(key);
    this.expired += old.length;
    if (old.length > 0) this.log.info({ keys: old.length }, 'forgot keys not accessed within expireDays');
  }

  private row(slot: number): StoredKey {
    return {
      key: this.engine.keys.keys[slot],
      slot,
      generation: this.engine.keys.generation[slot],
      row: this.engine.exportRow(slot),
    };
  }

  /**
   * Every tracked key's row. The slot list is taken up front: the store awaits between chunks, and
   * events arriving meanwhile reorder the recency list this would otherwise walk. Keys removed in the
   * meantime are skipped; rows changed in the meantime are still unsaved and go out with the next flush.
   */
  private *allRows(): IterableIterator<StoredKey> {
    const slots = Int32Array.from(this.engine.keys.slots());
    const gens = Uint32Array.from(slots, (slot) => this.engine.keys.generation[slot]);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      if (this.engine.keys.keys[slot] && this.engine.keys.generation[slot] === gens[i]) yield this.row(slot);
    }
  }

  /** Changed keys and deletes not yet stored (so 0 means everything ingested so far is stored). */
  get pending(): number {
    // Between flushes the engine's changes join the pending set; during one they must wait, or a change
    // made while its key's row is being written would be cleared with that write.
    if (!this.flushing) this.engine.drainUnsaved((slot) => this.pendingSlots.add(slot));
    return this.pendingSlots.size + this.pendingDeletes.size;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    if (this.pending > 0) await this.flush();
    if (this.pending > 0 || this.rewrite)
      this.log.error({ pending: this.pending }, 'store unavailable at shutdown; recent changes are lost');
  }
}
