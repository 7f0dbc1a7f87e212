import { describe, expect, it } from 'vitest';
import { Rng } from '../bench/workloads.ts';
import { Glob, GlobSet } from '../src/glob.ts';

/** What a glob means, written the slow way: `*` any run of code points, `?` one. */
function reference(glob: string, key: string): boolean {
  const g = [...glob];
  const k = [...key];
  const memo = new Map<string, boolean>();
  const at = (i: number, j: number): boolean => {
    const id = `${i},${j}`;
    const known = memo.get(id);
    if (known !== undefined) return known;
    let r: boolean;
    if (i === g.length) r = j === k.length;
    else if (g[i] === '*') r = at(i + 1, j) || (j < k.length && at(i, j + 1));
    else r = j < k.length && (g[i] === '?' || g[i] === k[j]) && at(i + 1, j + 1);
    memo.set(id, r);
    return r;
  };
  return at(0, 0);
}

describe('key globs', () => {
  it('match as `*` (any run, `/` included) and `?` (one character, emoji too) say, on random globs and keys', () => {
    const rng = new Rng(5);
    const alphabet = ['a', 'b', '/', '.', '😀', '#'];
    const pick = (n: number, extra: string[]) =>
      Array.from({ length: n }, () => rng.pick([...alphabet, ...extra])).join('');
    let matched = 0;
    for (let i = 0; i < 3000; i++) {
      const glob = pick(1 + Math.floor(rng.uniform(0, 8)), ['*', '?', '*']);
      const key = pick(Math.floor(rng.uniform(0, 12)), []);
      const want = reference(glob, key);
      matched += +want;
      expect(new Glob(glob).matches(key), `${glob} ~ ${key}`).toBe(want);
    }
    expect(matched).toBeGreaterThan(100);
    // Globs longer than one 32-bit word of positions.
    const long = `media/${'x'.repeat(40)}*${'y'.repeat(30)}?.mkv`;
    expect(new Glob(long).matches(`media/${'x'.repeat(40)}zz${'y'.repeat(30)}1.mkv`)).toBe(true);
    expect(new Glob(long).matches(`media/${'x'.repeat(40)}zz${'y'.repeat(29)}1.mkv`)).toBe(false);
    expect(new GlobSet(['*.srt', 'media/*']).matches('media/a/b.mkv')).toBe(true);
    expect(new GlobSet([]).matches('anything')).toBe(false);
  });

  it('takes time in proportion to the key, whatever the glob: 10,000 keys of 512 characters against a glob made to backtrack', () => {
    // As a RegExp (`.*` per star), 8 stars against a 60-character key did not finish within minutes.
    const glob = new Glob(`${'*a'.repeat(200)}*b`);
    const keys = Array.from({ length: 10_000 }, (_, i) => `${'a'.repeat(505)}${String(i).padStart(7, '0')}`);
    let matches = 0;
    for (const key of keys) matches += +glob.matches(key);
    expect(matches).toBe(0);
    expect(new Glob(`${'*a'.repeat(200)}*b`).matches(`${'a'.repeat(300)}b`)).toBe(true);
  });
});
