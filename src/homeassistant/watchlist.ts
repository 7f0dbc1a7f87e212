import { EventEmitter } from 'node:events';
import { keyGlob } from '../config.ts';
import { GlobSet } from '../glob.ts';
import type { SettingsSource } from '../store/persistence.ts';
import type { RuntimeSettings } from '../store/store.ts';

/**
 * The key globs that get Home Assistant entities. Shared by discovery (reads it) and the bridge API
 * (changes it at runtime); `change` tells discovery to re-evaluate every tracked key.
 *
 * Glob syntax: `*` any run of characters, `/` included (keys are not topic paths), `?` exactly one.
 */
export class WatchList extends EventEmitter<{ change: [] }> implements SettingsSource {
  private readonly globs: string[] = [];
  private matcher = new GlobSet([]);
  /** Set when the list changed at runtime and the store has not kept it yet (`Persistence`). */
  unsaved = false;

  constructor(
    private readonly configured: readonly string[],
    readonly maxGlobs: number,
  ) {
    super();
    this.add(configured);
    this.unsaved = false;
  }

  /**
   * The runtime changes to the configured list, for the store, with the configured list they were made
   * against (once that is edited, it applies: `restore`): a restart kept the configured globs only, and
   * every key watched through the bridge lost its Home Assistant entities (an outside evaluation).
   */
  export(): RuntimeSettings {
    return {
      watch: {
        added: this.globs.filter((g) => !this.configured.includes(g)),
        removed: this.configured.filter((g) => !this.globs.includes(g)),
        configured: [...this.configured],
      },
    };
  }

  /**
   * Applies stored runtime changes (`export`) to the configured list; anything malformed is ignored.
   * Changes made against another configured list are dropped, and that is said (the returned note, for the
   * log): the file was edited since, and is the user's latest word. Applied to it, a glob kept in the
   * edited file stayed unwatched, silently (an outside evaluation).
   */
  restore(saved: RuntimeSettings): string | null {
    const globs = (list: unknown) =>
      Array.isArray(list) ? list.filter((g): g is string => keyGlob.safeParse(g).success) : [];
    const then = saved.watch?.configured;
    if (Array.isArray(then) && !sameSet(then, this.configured)) {
      this.unsaved = true;
      return 'homeassistant.watch was edited since globs were watched or unwatched at runtime: the configured list applies, the runtime changes are dropped';
    }
    const removed = globs(saved.watch?.removed);
    const added = globs(saved.watch?.added).slice(0, Math.max(0, this.maxGlobs - this.globs.length));
    this.remove(removed);
    this.add(added);
    this.unsaved = false;
    return null;
  }

  list(): string[] {
    return [...this.globs];
  }

  matches(key: string): boolean {
    return this.matcher.matches(key);
  }

  /** Adds globs not already present; throws past `maxGlobs`. Returns the new list. */
  add(globs: readonly string[]): string[] {
    const fresh = [...new Set(globs)].filter((g) => !this.globs.includes(g));
    if (this.globs.length + fresh.length > this.maxGlobs)
      throw new RangeError(`at most ${this.maxGlobs} globs can be watched`);
    if (fresh.length > 0) {
      this.globs.push(...fresh);
      this.changed();
    }
    return this.list();
  }

  /** Removes the given globs (unknown ones are ignored). Returns the new list. */
  remove(globs: readonly string[]): string[] {
    const before = this.globs.length;
    for (const g of globs) {
      const i = this.globs.indexOf(g);
      if (i >= 0) this.globs.splice(i, 1);
    }
    if (this.globs.length !== before) this.changed();
    return this.list();
  }

  private changed(): void {
    this.matcher = new GlobSet(this.globs);
    this.unsaved = true;
    this.emit('change');
  }
}

function sameSet(a: readonly unknown[], b: readonly string[]): boolean {
  return a.length === b.length && b.every((g) => a.includes(g));
}
