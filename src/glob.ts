/**
 * Key globs: `*` any run of characters (`/` included: keys are not topic paths), `?` exactly one
 * character (a code point), anything else itself.
 *
 * Matched by simulating the glob's automaton on bit sets (Shift-And with a star), in time proportional
 * to the key's length times the glob's length in 32-bit words, whatever the glob. A RegExp made of the
 * glob (`.*` per star) backtracks: `*a*a*a*a*a*a*a*a*b` against a key of 60 `a`s took the service down
 * for minutes, from one bridge request (an outside evaluation).
 */
export class Glob {
  /** Pattern positions after collapsing runs of stars: 0 … length − 1, the accepting state at `length`. */
  private readonly length: number;
  private readonly words: number;
  /** Positions holding a star (the state stays there on any character, or skips it). */
  private readonly stars: Uint32Array;
  /** Positions holding `?`: they take any character. */
  private readonly any: Uint32Array;
  /** Per literal character (code point): the positions that take it, `?` included. */
  private readonly literal = new Map<number, Uint32Array>();
  /** Reached positions before and after a character (scratch, swapped at each character). */
  private readonly state: Uint32Array;
  private readonly next: Uint32Array;

  constructor(source: string) {
    const points: number[] = [];
    for (const ch of source) {
      const c = ch.codePointAt(0) as number;
      if (c === STAR && points[points.length - 1] === STAR) continue;
      points.push(c);
    }
    this.length = points.length;
    this.words = (points.length >>> 5) + 1;
    this.stars = new Uint32Array(this.words);
    this.any = new Uint32Array(this.words);
    this.state = new Uint32Array(this.words);
    this.next = new Uint32Array(this.words);
    points.forEach((c, i) => {
      if (c === STAR) setBit(this.stars, i);
      else if (c === ANY) setBit(this.any, i);
    });
    points.forEach((c, i) => {
      if (c === STAR || c === ANY) return;
      let mask = this.literal.get(c);
      if (!mask) {
        mask = Uint32Array.from(this.any);
        this.literal.set(c, mask);
      }
      setBit(mask, i);
    });
  }

  matches(key: string): boolean {
    const { words, stars } = this;
    let state = this.state;
    let next = this.next;
    state.fill(0);
    state[0] = 1;
    this.skipStars(state);
    for (let i = 0; i < key.length; ) {
      const c = key.codePointAt(i) as number;
      i += c > 0xffff ? 2 : 1;
      const takes = this.literal.get(c) ?? this.any;
      // Positions that take the character move one on; a star stays where it is.
      let carry = 0;
      let alive = 0;
      for (let w = 0; w < words; w++) {
        const moved = state[w] & takes[w];
        next[w] = (moved << 1) | carry | (state[w] & stars[w]);
        carry = moved >>> 31;
        alive |= next[w];
      }
      if (alive === 0) return false;
      this.skipStars(next);
      const t = state;
      state = next;
      next = t;
    }
    return (state[this.length >>> 5] & (1 << (this.length & 31))) !== 0;
  }

  /** A star matches nothing too: the position after each reached star is reached (stars never follow stars). */
  private skipStars(state: Uint32Array): void {
    let carry = 0;
    for (let w = 0; w < this.words; w++) {
      const atStar = state[w] & this.stars[w];
      const reached = (atStar << 1) | carry;
      carry = atStar >>> 31;
      state[w] |= reached;
    }
  }
}

/** Globs matched as one: a key matches when any does. */
export class GlobSet {
  private readonly globs: Glob[];

  constructor(sources: readonly string[]) {
    this.globs = sources.map((s) => new Glob(s));
  }

  matches(key: string): boolean {
    for (const g of this.globs) if (g.matches(key)) return true;
    return false;
  }
}

const STAR = 0x2a;
const ANY = 0x3f;

function setBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] |= 1 << (i & 31);
}
