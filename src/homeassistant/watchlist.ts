import { EventEmitter } from 'node:events';
import { GlobSet } from '../glob.ts';

/**
 * The key globs that get Home Assistant entities. Shared by discovery (reads it) and the bridge API
 * (changes it at runtime); `change` tells discovery to re-evaluate every tracked key.
 *
 * Glob syntax: `*` any run of characters, `/` included (keys are not topic paths), `?` exactly one.
 */
export class WatchList extends EventEmitter<{ change: [] }> {
  private readonly globs: string[] = [];
  private matcher = new GlobSet([]);

  constructor(
    initial: readonly string[],
    readonly maxGlobs: number,
  ) {
    super();
    this.add(initial);
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
    this.emit('change');
  }
}
