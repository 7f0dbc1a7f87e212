import type { EngineConfig } from '../config.ts';
import { Table } from './table.ts';
import type { SequentialDetail } from './types.ts';

/**
 * Sequential vs random access within a key.
 *
 * Like Linux readahead's `file_ra_state`, each key remembers where its readers are, but it keeps a few
 * *stream heads* instead of one, so two players streaming the same file (or a reader that is briefly
 * interrupted by a random seek) still look sequential: an access continues a stream when it lands where
 * that stream's previous access ended, a few units further, or one established stride away.
 *
 * The share of accesses that continue a stream is an exponentially weighted average with bias correction
 * (num/den), so a fresh key reaches its true share after `minLength` steps instead of creeping up from 0,
 * and a burst of ~10 % random seeks only dents it. Entering and leaving use two thresholds (hysteresis).
 */
export const STREAM_HEADS = 4;

const schema = {
  /** Position of each head's latest access. */
  headPos: ['f64', STREAM_HEADS],
  /**
   * Size of that access (0 when unknown); the next sequential access starts at headPos + headSize.
   * 32-bit float: exact up to 16 MiB, and beyond it only compared within half a unit or more.
   */
  headSize: ['f32', STREAM_HEADS],
  /**
   * The head's last step (position difference); a repeated step is a stride even when it is large.
   * 32-bit float: it is only compared within 1 % (`continues`), far above its rounding (6e-8).
   */
  headStride: ['f32', STREAM_HEADS],
  /** Access counter value when the head was last used (0 = empty); the least recent is replaced. */
  headUsed: ['u32', STREAM_HEADS],
  /** Accesses that carried a position. */
  positioned: ['u32', 1],
  /** Accesses that continued a stream (saturating). */
  steps: ['u32', 1],
  /** Bias-corrected EWMA of "this access continued a stream": share = shareNum / shareDen. */
  shareNum: ['f32', 1],
  shareDen: ['f32', 1],
  /** EWMA of the direction of continuing steps (+1 forward, −1 backward). */
  direction: ['f32', 1],
  /** Boyer–Moore majority vote over continuing steps: the dominant stride and its vote. */
  strideCandidate: ['f64', 1],
  strideVotes: ['u32', 1],
  /** 1 while the key is reported sequential (hysteresis state). */
  active: ['u8', 1],
} as const;

export class SequentialDetector {
  readonly table: Table<typeof schema>;
  private readonly alpha: number;

  constructor(
    private readonly cfg: EngineConfig['sequential'],
    capacity: number,
  ) {
    this.table = new Table(schema, capacity);
    this.alpha = 1 / cfg.smoothing;
  }

  /** Records an access at `pos` (NaN: none) of `size` (0: unknown). Returns true if `active` changed. */
  observe(slot: number, pos: number, size: number): boolean {
    if (Number.isNaN(pos)) return false;
    const c = this.table.c;
    const n = ++c.positioned[slot];
    const base = slot * STREAM_HEADS;
    let matched = -1;
    let step = 0;
    let empty = -1;
    let oldest = base;
    for (let h = base; h < base + STREAM_HEADS; h++) {
      const used = c.headUsed[h];
      if (used === 0) {
        if (empty < 0) empty = h;
        continue;
      }
      if (used < c.headUsed[oldest] || c.headUsed[oldest] === 0) oldest = h;
      const d = pos - c.headPos[h];
      if (d === 0) {
        // A re-read of the same place says nothing about direction: refresh the head, count nothing.
        c.headUsed[h] = n;
        if (size > 0) c.headSize[h] = size;
        return false;
      }
      if (this.continues(d, c.headSize[h], size, c.headStride[h])) {
        matched = h;
        step = d;
        break;
      }
    }

    let hit = 0;
    if (matched >= 0) {
      hit = 1;
      c.headStride[matched] = step;
      c.headPos[matched] = pos;
      c.headSize[matched] = size;
      c.headUsed[matched] = n;
      if (c.steps[slot] < 0xffffffff) c.steps[slot]++;
      c.direction[slot] += this.alpha * ((step > 0 ? 1 : -1) - c.direction[slot]);
      this.voteStride(slot, step);
    } else {
      // A new stream (or a random seek): take an empty head, else the least recently used one.
      const h = empty >= 0 ? empty : oldest;
      c.headPos[h] = pos;
      c.headSize[h] = size;
      c.headStride[h] = 0;
      c.headUsed[h] = n;
    }
    // The first access of a key has nothing to continue; it neither helps nor hurts the share.
    if (n > 1) {
      c.shareNum[slot] = c.shareNum[slot] * (1 - this.alpha) + this.alpha * hit;
      c.shareDen[slot] = c.shareDen[slot] * (1 - this.alpha) + this.alpha;
    }
    return this.updateActive(slot);
  }

  /**
   * Does a step of `d` from a head continue its stream? Forward: the access starts where the previous
   * one ended or up to `maxGap` units later (a unit is the access size, or 1 for chunk indexes).
   * Backward: it ends where the previous one started, or up to `maxGap` units earlier. Either way, a step
   * equal to the head's previous step continues it too (a constant stride of any size).
   */
  private continues(d: number, prevSize: number, size: number, stride: number): boolean {
    if (stride !== 0 && Math.abs(d - stride) <= Math.abs(stride) * 0.01) return true;
    const unit = Math.max(prevSize, size, 1);
    const limit = (1 + this.cfg.maxGap) * unit;
    if (d > 0) return d >= Math.max(prevSize, 1) * 0.5 && d <= limit;
    return -d >= Math.max(size, 1) * 0.5 && -d <= limit;
  }

  private voteStride(slot: number, step: number): void {
    const c = this.table.c;
    if (c.strideVotes[slot] === 0) {
      c.strideCandidate[slot] = step;
      c.strideVotes[slot] = 1;
    } else if (c.strideCandidate[slot] === step) {
      if (c.strideVotes[slot] < 1 << 20) c.strideVotes[slot]++;
    } else {
      c.strideVotes[slot]--;
    }
  }

  private updateActive(slot: number): boolean {
    const c = this.table.c;
    const was = c.active[slot];
    const share = this.share(slot);
    const now =
      c.steps[slot] >= this.cfg.minLength &&
      share >= (was ? this.cfg.exitThreshold : this.cfg.threshold) &&
      Math.abs(c.direction[slot]) >= 0.5
        ? 1
        : 0;
    c.active[slot] = now;
    return now !== was;
  }

  share(slot: number): number {
    const c = this.table.c;
    return c.shareDen[slot] > 0 ? c.shareNum[slot] / c.shareDen[slot] : 0;
  }

  isActive(slot: number): boolean {
    return this.table.c.active[slot] === 1;
  }

  hasPositions(slot: number): boolean {
    return this.table.c.positioned[slot] > 1;
  }

  /** Score of `sequential` (0 until enough steps were seen). */
  score(slot: number): number {
    return this.table.c.steps[slot] >= this.cfg.minLength ? this.share(slot) : 0;
  }

  /** The dominant stride with its direction's sign (negative: backward). */
  signedStride(slot: number): number {
    const c = this.table.c;
    const stride = Math.abs(c.strideCandidate[slot]);
    return c.direction[slot] >= 0 ? stride : -stride;
  }

  detail(slot: number): SequentialDetail {
    const c = this.table.c;
    const base = slot * STREAM_HEADS;
    let streams = 0;
    const n = c.positioned[slot];
    for (let h = base; h < base + STREAM_HEADS; h++) {
      // A head counts as a live stream if it advanced recently and has a stride.
      if (c.headUsed[h] > 0 && c.headStride[h] !== 0 && n - c.headUsed[h] < 4 * STREAM_HEADS) streams++;
    }
    const forward = c.direction[slot] >= 0;
    return {
      direction: forward ? 'forward' : 'backward',
      stride: Math.abs(c.strideCandidate[slot]),
      streams: Math.max(1, streams),
    };
  }
}
