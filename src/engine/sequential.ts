import type { EngineConfig } from '../config.ts';
import type { FieldIndex, RowTable } from './table.ts';
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
export const STREAM_HEADS = 6;

export const sequentialFields = {
  /** Position of each head's latest access. */
  headPos: ['f64', STREAM_HEADS],
  /**
   * Size of that access, log-coded (`sizeCode`, 0 when unknown); the next sequential access starts at
   * headPos + that size. The rules that read it are loose (half a size, a few sizes), so a size within
   * 4.4 % does: one byte instead of a 32-bit float.
   */
  headSize: ['u8', STREAM_HEADS],
  /**
   * The head's last step (position difference); a repeated step is a stride even when it is large.
   * 32-bit float: it is only compared within 1 % (`continues`), far above its rounding (6e-8).
   */
  headStride: ['f32', STREAM_HEADS],
  /** `stamp` of the key's access counter when the head was last used (0 = empty); the oldest is replaced. */
  headUsed: ['u8', STREAM_HEADS],
  /** Accesses that carried a position. */
  positioned: ['u32', 1],
  /** Accesses that continued a stream (saturating at 65,535: only compared with `minLength`). */
  steps: ['u16', 1],
  /**
   * EWMA of "this access continued a stream" over `smoothing` steps, and over `LONG_SMOOTHING` times as
   * many, in units of 1/65,535 (shares are compared with bars and published to two decimals; two bytes
   * each keep the row's size); both bias-corrected by the weight of the `shareSteps` they averaged
   * (saturating: settled long before).
   */
  shortWindowShare: ['u16', 1],
  longWindowShare: ['u16', 1],
  shareSteps: ['u16', 1],
  /** Accesses in a row that continued a stream, up to 255. */
  run: ['u8', 1],
  /** EWMA of the direction of continuing steps (+1 forward, −1 backward). */
  direction: ['f32', 1],
  /** Boyer–Moore majority vote over continuing steps (see `voteStride`): the stride and its vote. */
  strideCandidate: ['f64', 1],
  strideVotes: ['u16', 1],
  /**
   * Bit 0 (`ACTIVE`): the key is reported sequential (hysteresis state). Bit 1 + h (`continuedBit(h)`):
   * head h has continued its stream since it was placed, so it follows a stream rather than a stray access.
   */
  active: ['u8', 1],
} as const;

const ACTIVE = 1;
/**
 * Bit 7 of `active`: the key's first access was at position 0 and every one since began exactly where the
 * one before it ended, or skipped a few units when nothing was missing and the next ones filled what it
 * skipped, in order (two chunks completed out of order: 0, 1, 3, 2, 4) — so far it has only been read
 * front to back, from the start. A photo or a
 * thumbnail read whole in 3-8 chunks never reaches `minLength` steps, and read `random`, the opposite of
 * what it is; reads at random that happen to start at 0 and go on exactly contiguous for three steps come
 * by chance once in B⁴ for a file of B chunks, so `WHOLE_READ_STEPS` such steps make it sequential. A
 * file whose header is read and then seeks (a database, an indexed image) looks the same until its first
 * seek, and is random from its second (`updateActive`).
 */
const WHOLE = 0x80;
const WHOLE_READ_STEPS = 3;
/**
 * To enter, a key's streams must also explain at least the share's bar to stay (`exitThreshold`) of its
 * accesses over a window this many times `smoothing` (1,024 steps by default), unless its latest `LONG_RUN`
 * accesses all continued one. Judged by its latest ~16 steps alone, a database read at random with short
 * scans (4 KiB pages at 0.5/s, one operation in 20 a scan of 5-20 pages: 37 % of its accesses continue a
 * stream) went sequential at each longer scan and random again a few reads later, ~950 times a day (an
 * outside evaluation). Over 1,024 steps its share stays far enough below the bar for days: over 256 or 512
 * it still crossed it a few times a day, each crossing a few flips. Bias-corrected, the long share of a key
 * with fewer steps than that is its share over all of them, so a new stream enters as before; a key read at
 * random for long and then streamed enters once the stream holds half of its recent accesses, or sooner by
 * a run: random accesses that each continue the previous never run that long by chance.
 */
const LONG_SMOOTHING = 64;
const LONG_RUN = 64;
/**
 * How one-sided the continuing steps must be (|direction|, 1: all one way) to enter and to stay sequential.
 * Hysteresis, as for the share: a job that reads a small file from its start every minute makes three
 * steps forward and one back (the jump to the start, a few units behind where it ended) per run, so its
 * direction sits at ~0.5, and with one bar `sequential` went off and on twice a run (465 changes in four
 * hours). Random walks over a few blocks, whose direction hovers around 0, flip less often with it.
 */
const DIRECTION_ENTER = 0.5;
const DIRECTION_EXIT = 0.35;
/** Accesses apart that consecutive live streams' heads may have been used (`detail`'s stream count). */
const LIVE_SPACING = 5;
const headAges = new Uint8Array(STREAM_HEADS);
const headOrder = new Uint8Array(STREAM_HEADS);
/**
 * How closely a step continues a head, worst to best: not at all; a few units back from a stream that goes
 * the key's way while the key is sequential (LATE: a chunk that completed out of order); a few units past
 * its end (GAP); right at its end (ADJACENT); and right at its end in the direction the head has been going
 * (ON_COURSE).
 */
const NONE = 0;
const LATE = 1;
const GAP = 2;
const ADJACENT = 3;
const ON_COURSE = 4;
/** Sizes are kept log-coded (±2.2 % around the code): a step within this of the coded size is contiguous. */
const CODED_SIZE_TOLERANCE = 0.03;
const continuedBit = (head: number) => 2 << head;
/** A head that continued is following a live stream while used within this many of the key's accesses. */
const LIVE_ACCESSES = 2 * STREAM_HEADS;
/**
 * The longest step a stream can take: the largest 32-bit float, the type of a head's stride. Positions
 * may be any finite numbers, and a step between two near ±1e308 is beyond it or overflows to Infinity;
 * stored as a stride it would be Infinity, which every later step matches within 1 %.
 */
const MAX_STEP = 3.4028234663852886e38;
/** Saturation of the 16-bit counts. */
const MAX_U16 = 0xffff;
/** Stamps count modulo this: a head's one byte. */
const STAMPS = 255;

/**
 * A head's time stamp: the key's access counter in 1 … 255, so that 0 marks an empty head. Ages are
 * compared modulo 255, ten times the longest age that matters (LIVE_ACCESSES, the `detail` window): a
 * head left unused for 255 of the key's accesses looks recent again, which at worst spares a stale head
 * from replacement for a dozen accesses. One byte instead of four, like `headSize`, paid for two more
 * heads within the same row.
 */
function stamp(accesses: number): number {
  // + STAMPS: the 32-bit counter wraps to 0 after 4 G accesses, which must not read as an empty head.
  return 1 + ((accesses + STAMPS - 1) % STAMPS);
}

function ageOf(now: number, used: number): number {
  // Both are in 1 … STAMPS: (now − used) mod STAMPS without a division, which is slow on doubles and
  // was taken for every head at every access.
  const age = now - used;
  return age < 0 ? age + STAMPS : age;
}

/**
 * The size and code of the latest `sizeCode` call: a key's accesses, and most keys', have one size, and
 * the logarithm was a tenth of the detector's time.
 */
let codedSize = 0;
let codeOfSize = 0;

/** Sizes in steps of 2^(1/8) (±4.4 %), 1 B to 3.6 GB; 0 for no size. */
function sizeCode(size: number): number {
  if (size === codedSize) return codeOfSize;
  if (!(size > 0)) return 0;
  codedSize = size;
  codeOfSize = Math.min(255, Math.max(1, 1 + Math.round(8 * Math.log2(size))));
  return codeOfSize;
}
const SIZE_OF_CODE = Float64Array.from({ length: 256 }, (_, code) =>
  code === 0 ? 0 : 2 ** ((code - 1) / 8),
);

export class SequentialDetector {
  /** The engine's state row; this detector owns one section of it. */
  private readonly row: RowTable;
  private readonly at: FieldIndex<typeof sequentialFields>;
  private readonly alpha: number;
  /** log(1 − alpha), and the steps after which the direction needs no bias correction. */
  private readonly logDecay: number;
  private readonly settledSteps: number;
  /** The same for the long share. */
  private readonly longAlpha: number;
  private readonly longLogDecay: number;
  private readonly longSettled: number;
  /**
   * The step of the latest observed access within the stream it continued (0: it continued none, or had
   * no position), and whether that step began where the stream's previous access ended. Read by the
   * predictor right after the access: with several readers on a key, the key's previous access belongs to
   * another stream, and only the stream's own step says where it goes next.
   */
  lastStep = 0;
  lastContiguous = false;

  constructor(
    private readonly cfg: EngineConfig['sequential'],
    row: RowTable,
  ) {
    this.row = row;
    this.at = row.fieldsOf(sequentialFields);
    this.alpha = 1 / cfg.smoothing;
    this.logDecay = Math.log1p(-this.alpha);
    // Past this many steps the bias, (1 − alpha)^steps, is below 0.1 %.
    this.settledSteps = Math.ceil(Math.log(0.001) / this.logDecay);
    this.longAlpha = this.alpha / LONG_SMOOTHING;
    this.longLogDecay = Math.log1p(-this.longAlpha);
    this.longSettled = Math.ceil(Math.log(0.001) / this.longLogDecay);
  }

  /** Records an access at `pos` (NaN: none) of `size` (0: unknown). Returns true if `active` changed. */
  observe(slot: number, pos: number, size: number): boolean {
    this.lastStep = 0;
    if (Number.isNaN(pos)) return false;
    const { f64, f32, u32, u16, u8 } = this.row;
    const r8 = slot * this.row.stride8;
    const r4 = 2 * r8;
    const r2 = 4 * r8;
    const n = ++u32[r4 + this.at.positioned];
    const now = stamp(n);
    // Heads by index 0 … STREAM_HEADS − 1; each head field is an array of STREAM_HEADS in the row.
    const pos8 = r8 + this.at.headPos;
    const size1 = 8 * r8 + this.at.headSize;
    const stride4 = r4 + this.at.headStride;
    const used1 = 8 * r8 + this.at.headUsed;
    let matched = -1;
    let matchedFit = NONE;
    let reread = -1;
    let step = 0;
    const flags = 8 * r8 + this.at.active;
    // The key's course while it is sequential or read whole (+1 forward, −1 backward; 0: none).
    const readingWhole = (u8[flags] & WHOLE) !== 0;
    const course = readingWhole ? 1 : u8[flags] & ACTIVE ? Math.sign(f32[r4 + this.at.direction]) : 0;
    let empty = -1;
    let evictable = -1;
    let evictableAge = -1;
    let newest = -1;
    let newestAge = STAMPS;
    for (let h = 0; h < STREAM_HEADS; h++) {
      const used = u8[used1 + h];
      if (used === 0) {
        if (empty < 0) empty = h;
        continue;
      }
      const age = ageOf(now, used);
      const continued = (u8[flags] & continuedBit(h)) !== 0;
      if (!(continued && age <= LIVE_ACCESSES) && age > evictableAge) {
        evictable = h;
        evictableAge = age;
      }
      if (age < newestAge) {
        newest = h;
        newestAge = age;
      }
      const d = pos - f64[pos8 + h];
      if (d === 0) {
        if (reread < 0) reread = h;
        continue;
      }
      if (matchedFit === ON_COURSE || Math.abs(d) > MAX_STEP) continue;
      const stride = f32[stride4 + h];
      let fit = this.continues(d, SIZE_OF_CODE[u8[size1 + h]], size, stride);
      if (fit === ADJACENT && continued && d > 0 === stride > 0) fit = ON_COURSE;
      // A step back from a stream that goes the key's way: a player's parallel range requests complete
      // out of order (four 1 MiB ranges in flight, the first to arrive the fourth). Taken as a backward
      // step, each window voted both ways and the key went from sequential to random and back dozens of
      // times per film (an outside evaluation). A reader that turned back has heads that go its new way,
      // and its steps are not late ones.
      else if (
        course !== 0 &&
        Math.sign(d) === -course &&
        Math.sign(stride) === course &&
        Math.abs(d) < Math.abs(stride)
      )
        fit = LATE;
      // The closest fit wins: of two readers a few chunks apart, the one behind must not take the steps of
      // the one ahead, and a reader passing where another stream was left must not turn back onto it.
      if (fit > matchedFit) {
        matched = h;
        matchedFit = fit;
        step = d;
      }
    }
    const matchedAdjacent = matchedFit >= ADJACENT;

    if (reread >= 0) {
      if (!matchedAdjacent) {
        // A re-read of the same place says nothing about direction: refresh the head, count nothing.
        u8[used1 + reread] = now;
        if (size > 0) u8[size1 + reread] = sizeCode(size);
        return false;
      }
      // A stream reaches a place another head was left at (a reader starting over from the beginning
      // passes where its previous pass seeked away): that head is this stream now, and kept it would
      // count as one more stream.
      u8[used1 + reread] = 0;
      u8[flags] &= ~continuedBit(reread);
    }
    let hit = 0;
    // Whether the key is still read whole after this access: see `WHOLE`.
    let whole = n === 1 ? pos === 0 : false;
    if (matchedFit === LATE) {
      // It continues its stream where it belongs, behind the stream's end, which stays where it is: the
      // stream goes on from there, and the key's direction and stride are the stream's.
      hit = 1;
      u8[used1 + matched] = now;
      const jump = f32[stride4 + matched];
      f32[stride4 + matched] = -step;
      // Read whole so far if it is the chunk right after what was read in order: the hole's start.
      const hole = this.holeBehind(jump, SIZE_OF_CODE[u8[size1 + matched]]);
      whole = readingWhole && hole > 0 && Math.abs(hole + step) <= CODED_SIZE_TOLERANCE * jump;
      if (whole) {
        // A file read whole is read forward: the chunk that came late is its next step, in order.
        if (u16[r2 + this.at.steps] < MAX_U16) u16[r2 + this.at.steps]++;
        f32[r4 + this.at.direction] += this.alpha * (1 - f32[r4 + this.at.direction]);
      }
    } else if (matched >= 0) {
      hit = 1;
      this.lastStep = step;
      const unit = SIZE_OF_CODE[u8[size1 + matched]];
      this.lastContiguous = Math.abs(step - unit) <= CODED_SIZE_TOLERANCE * Math.abs(step);
      // Read whole so far: a step from the end of what was read (no hole behind the head) to right after
      // it, or a few units past it, leaving a hole that the next accesses must fill.
      whole =
        readingWhole &&
        step > 0 &&
        this.holeBehind(f32[stride4 + matched], unit) === 0 &&
        (this.lastContiguous || (size === 0 && step === 1) || matchedFit === GAP);
      // A step a few units past a head may be another reader's, just ahead of or behind this one (two
      // clients of one movie, a few chunks apart): it forks into a head of its own, where one is free, and
      // the head stays where its reader will go on. Moved along, it bounced between the two readers — a
      // step forward and one back, in turn — and the key's direction averaged out to none. A reader that
      // did skip leaves a head behind that no longer continues: it is replaced in time, and a read of what
      // was skipped (a late chunk) still continues it.
      const fork =
        matchedAdjacent || !this.mayBeAnotherReader(r8, matched, step) ? -1 : empty >= 0 ? empty : evictable;
      const h = fork >= 0 && fork !== matched ? fork : matched;
      // A fork is a stream to be: it has not continued from where it was placed. The head it left is one
      // again too, until its reader shows that it goes on from there — if it was the one that skipped, it
      // is not a stream any more, and counted as one it made a reader that skips now and then two.
      if (h === matched) u8[flags] |= continuedBit(h);
      else u8[flags] &= ~(continuedBit(h) | continuedBit(matched));
      this.placeHead(r8, h, pos, size, step, now);
      if (u16[r2 + this.at.steps] < MAX_U16) u16[r2 + this.at.steps]++;
      f32[r4 + this.at.direction] += this.alpha * ((step > 0 ? 1 : -1) - f32[r4 + this.at.direction]);
      this.voteStride(slot, step);
    } else if (empty >= 0 || evictable >= 0) {
      // A new stream (or a random seek): take an empty head, else the least recently used one that is not
      // following a live stream. When all are (as many readers as heads), a stray access or a further
      // reader does not push one of them out: LRU would let a seventh reader evict the next one due, which
      // then evicts the next, and no stream would continue at all.
      const h = empty >= 0 ? empty : evictable;
      // Until the new head continues, its stride is its step from the most recently used head (the key's
      // latest access, unless that one got no head): a stream whose steps are longer than a few units
      // (offsets without sizes, strided reads) continues at its second step, as any repeated step does.
      // Otherwise only a stride learned by first continuing within the gap could, and such a step never
      // continues within it.
      const lead = newest >= 0 ? pos - f64[pos8 + newest] : 0;
      this.placeHead(r8, h, pos, size, Math.abs(lead) <= MAX_STEP ? lead : 0, now);
      u8[flags] &= ~continuedBit(h);
    }
    u8[flags] = whole ? u8[flags] | WHOLE : u8[flags] & ~WHOLE;
    // The first access of a key has nothing to continue; it neither helps nor hurts the share.
    if (n > 1) {
      u8[8 * r8 + this.at.run] = hit === 0 ? 0 : Math.min(255, u8[8 * r8 + this.at.run] + 1);
      if (u16[r2 + this.at.shareSteps] < MAX_U16) u16[r2 + this.at.shareSteps]++;
      const short = r2 + this.at.shortWindowShare;
      u16[short] += Math.round(this.alpha * (hit * MAX_U16 - u16[short]));
      const long = r2 + this.at.longWindowShare;
      u16[long] += Math.round(this.longAlpha * (hit * MAX_U16 - u16[long]));
    }
    return this.updateActive(slot, hit === 1);
  }

  /**
   * The hole a head's last step of `jump` left behind it, 0 if none: the step less one access of the
   * head's `size` (1 for chunk indexes). Kept by `LATE` chunks, which narrow the jump to what is still
   * behind the head.
   */
  private holeBehind(jump: number, size: number): number {
    const hole = jump - Math.max(size, 1);
    return hole > CODED_SIZE_TOLERANCE * jump ? hole : 0;
  }

  /** Head `h` of the row at `r8` now ends at `pos` (`size`), reached with `stride`, used at stamp `now`. */
  private placeHead(r8: number, h: number, pos: number, size: number, stride: number, now: number): void {
    const { f64, f32, u8 } = this.row;
    f32[2 * r8 + this.at.headStride + h] = stride;
    f64[r8 + this.at.headPos + h] = pos;
    u8[8 * r8 + this.at.headSize + h] = sizeCode(size);
    u8[8 * r8 + this.at.headUsed + h] = now;
  }

  /**
   * Does a step of `d` from a head continue its stream, and how closely? Forward: the access starts where
   * the previous one ended (ADJACENT) or up to `maxGap` units later (GAP; a unit is the access size, or 1
   * for chunk indexes). Backward: it ends where the previous one started, or up to `maxGap` units earlier.
   * Either way, a step equal to the head's previous step continues it exactly (a constant stride of any
   * size).
   */
  private continues(d: number, prevSize: number, size: number, stride: number): number {
    if (stride !== 0 && Math.abs(d - stride) <= Math.abs(stride) * 0.01) return ADJACENT;
    const unit = Math.max(prevSize, size, 1);
    const limit = (1 + this.cfg.maxGap) * unit;
    const from = d > 0 ? Math.max(prevSize, 1) : Math.max(size, 1);
    const length = Math.abs(d);
    if (length < from * 0.5 || length > limit) return NONE;
    return length <= from * 1.5 ? ADJACENT : GAP;
  }

  /**
   * Boyer–Moore majority vote over continuing steps, where a step of two to `maxGap` + 1 strides counts
   * for the stride, and a stride that is such a multiple of a step gives way to the step. A stream seen
   * with reads left out — delivered late (up to 3 s behind at 5 reads/s, most steps in order span several
   * reads), or skipped by the reader — is still a stream of its read size, not of the step that happened
   * to be most common: on exact steps alone, half of such keys reported two or three times the size.
   */
  private voteStride(slot: number, step: number): void {
    const { f64, u16 } = this.row;
    const r8 = slot * this.row.stride8;
    const votes = 4 * r8 + this.at.strideVotes;
    if (u16[votes] === 0) {
      f64[r8 + this.at.strideCandidate] = step;
      u16[votes] = 1;
    } else if (f64[r8 + this.at.strideCandidate] === step) {
      if (u16[votes] < MAX_U16) u16[votes]++;
    } else {
      this.voteOtherStep(r8, votes, step);
    }
  }

  /** A step other than the current stride: a multiple of it, a divisor of it, or a vote against it. */
  private voteOtherStep(r8: number, votes: number, step: number): void {
    const { f64, u16 } = this.row;
    const candidate = f64[r8 + this.at.strideCandidate];
    if (this.multipleOf(step, candidate)) {
      if (u16[votes] < MAX_U16) u16[votes]++;
    } else if (this.multipleOf(candidate, step)) {
      f64[r8 + this.at.strideCandidate] = step;
      if (u16[votes] < MAX_U16) u16[votes]++;
    } else {
      u16[votes]--;
    }
  }

  /** Is `a` two to `maxGap` + 1 times `b` (within 1 %), in the same direction? */
  private multipleOf(a: number, b: number): boolean {
    const m = Math.round(a / b);
    return m >= 2 && m <= this.cfg.maxGap + 1 && Math.abs(a - m * b) <= 0.01 * Math.abs(b);
  }

  /** Re-judges the key after an access that `continued` a stream or not. Returns true if `active` changed. */
  private updateActive(slot: number, continued: boolean): boolean {
    const { u16, u8 } = this.row;
    const r8 = slot * this.row.stride8;
    const flags = 8 * r8 + this.at.active;
    const was = u8[flags] & ACTIVE;
    const share = this.share(slot);
    const steps = u16[4 * r8 + this.at.steps];
    // A key that entered read whole (`WHOLE`) and then skipped or stepped back before `minLength` steps
    // stays while each access still continues a stream and nearly all steps so far did (the share's bar
    // to enter, not to stay): dropped at once, a stream from the start with a chunk out of order went
    // random and came back at its eighth step; held to the share's bar to stay, a file whose header was
    // read and then seeked at random read sequential through seven seeks (an outside evaluation), as long
    // as seeks within a few chunks of the last counted as steps.
    const now =
      (steps >= this.cfg.minLength
        ? share >= (was ? this.cfg.exitThreshold : this.cfg.threshold) &&
          (was ||
            this.row.u8[8 * r8 + this.at.run] >= LONG_RUN ||
            this.longShare(slot) >= this.cfg.exitThreshold) &&
          Math.abs(this.direction(slot, was ? 0 : this.cfg.minLength)) >=
            (was ? DIRECTION_EXIT : DIRECTION_ENTER)
        : was && continued && share >= this.cfg.threshold) || this.readWhole(r8)
        ? 1
        : 0;
    u8[flags] = (u8[flags] & ~ACTIVE) | now;
    return now !== was;
  }

  /**
   * The direction of the continuing steps, −1 … +1: their EWMA, as if it had begun with `minLength` steps
   * that went neither way. Their weight fades like any step's, so a long stream's direction is the plain
   * average; a new one's is n / (n + minLength) after n steps one way. The uncorrected average starts at
   * 0 with the weight of all `smoothing` steps, and a stream was not called sequential before its 12th
   * read; fully bias-corrected (no such steps), three steps of a random walk that happened to go one way
   * were a stream in a quarter of the walks.
   */
  direction(slot: number, neutralSteps = this.cfg.minLength): number {
    const r2 = 4 * slot * this.row.stride8;
    const steps = this.row.u16[r2 + this.at.steps];
    const ewma = this.row.f32[r2 / 2 + this.at.direction];
    if (steps >= this.settledSteps) return ewma;
    // EWMA weight of the steps seen (1 − q) plus that of the imagined ones (neutralSteps · alpha · q).
    const q = Math.exp(steps * this.logDecay);
    return ewma / (1 - q * (1 - neutralSteps * this.alpha));
  }

  share(slot: number): number {
    const r4 = 2 * slot * this.row.stride8;
    const ewma = this.row.u16[2 * r4 + this.at.shortWindowShare] / MAX_U16;
    return this.corrected(ewma, r4, this.logDecay, this.settledSteps);
  }

  /** The share over `LONG_SMOOTHING` times as many steps. */
  longShare(slot: number): number {
    const r4 = 2 * slot * this.row.stride8;
    const ewma = this.row.u16[2 * r4 + this.at.longWindowShare] / MAX_U16;
    return this.corrected(ewma, r4, this.longLogDecay, this.longSettled);
  }

  /** An EWMA of the shares' steps of the key at `r4`, bias-corrected. */
  private corrected(ewma: number, r4: number, logDecay: number, settled: number): number {
    const steps = this.row.u16[2 * r4 + this.at.shareSteps];
    if (steps >= settled) return ewma;
    return steps > 0 ? ewma / -Math.expm1(steps * logDecay) : 0;
  }

  isActive(slot: number): boolean {
    return (this.row.u8[8 * slot * this.row.stride8 + this.at.active] & ACTIVE) !== 0;
  }

  hasPositions(slot: number): boolean {
    return this.row.u32[2 * slot * this.row.stride8 + this.at.positioned] > 1;
  }

  /**
   * Score of `sequential`: the share of steps that continue a stream times how one-sided they are. A
   * share alone scored 1 for a random walk over a few blocks (every step continues, half of them back),
   * and for a job that reads a small file from its start every run, while neither is sequential.
   * 0 until `minLength` steps were seen.
   */
  score(slot: number): number {
    const r8 = slot * this.row.stride8;
    const steps = this.row.u16[4 * r8 + this.at.steps];
    const streamed = steps >= this.cfg.minLength ? this.share(slot) * Math.abs(this.direction(slot)) : 0;
    // Read whole: as the rule of succession would have it, every step of `steps` went on.
    if (this.readWhole(r8)) return Math.max(streamed, steps / (steps + 1));
    // Staying after a whole read, before `minLength` steps: by its own steps.
    if (steps < this.cfg.minLength && this.isActive(slot))
      return this.share(slot) * Math.abs(this.direction(slot, 0));
    return streamed;
  }

  /**
   * Chance that a sequential key's stream goes on at its next step: the share of its steps that continued
   * a stream times how one-sided they were, judged by its own steps alone (0 for a key not sequential).
   * The score's imagined neutral steps are a bar against random walks, which the key has cleared once it
   * is sequential; counted here too, they held predictions back until a stream's 13th-19th read.
   */
  continuation(slot: number): number {
    return this.isActive(slot) ? this.share(slot) * Math.abs(this.direction(slot, 0)) : 0;
  }

  /** Has the key (row at `r8`) only ever been read whole, front to back, with enough steps to tell (`WHOLE`)? */
  private readWhole(r8: number): boolean {
    return (
      (this.row.u8[8 * r8 + this.at.active] & WHOLE) !== 0 &&
      this.row.u16[4 * r8 + this.at.steps] >= WHOLE_READ_STEPS
    );
  }

  /** The dominant stride with its direction's sign (negative: backward). */
  signedStride(slot: number): number {
    const { f64, f32 } = this.row;
    const r8 = slot * this.row.stride8;
    const stride = Math.abs(f64[r8 + this.at.strideCandidate]);
    return f32[2 * r8 + this.at.direction] >= 0 ? stride : -stride;
  }

  /**
   * May a step of `d`, a few units from head `h`, be another reader's? When the head has continued and the
   * step turns it back (a reader behind it), or goes the way the key has been going (a reader ahead).
   * Other skips — a head that never continued, a key with no direction yet, as in a random walk through a
   * database's pages — fork nothing: forked, the heads they left behind made the walk look like streams.
   */
  private mayBeAnotherReader(r8: number, h: number, d: number): boolean {
    const { f32, u8 } = this.row;
    const sign = d > 0 ? 1 : -1;
    return (
      (u8[8 * r8 + this.at.active] & continuedBit(h)) !== 0 &&
      (sign * f32[2 * r8 + this.at.headStride + h] < 0 || sign * f32[2 * r8 + this.at.direction] >= 0.5)
    );
  }

  /** Is head `h` within a gap of one of the first `counted` heads of `headOrder`? */
  private nearCounted(r8: number, h: number, counted: number): boolean {
    const { f64, u8 } = this.row;
    const reach = (1 + this.cfg.maxGap) * Math.max(SIZE_OF_CODE[u8[8 * r8 + this.at.headSize + h]], 1);
    const pos = f64[r8 + this.at.headPos + h];
    for (let j = 0; j < counted; j++) {
      if (Math.abs(f64[r8 + this.at.headPos + headOrder[j]] - pos) <= reach) return true;
    }
    return false;
  }

  /**
   * Puts the heads of the key's live streams in `headOrder`, the most recently used first, and returns how
   * many there are (0 when no head has continued a stream).
   */
  private liveStreams(r8: number): number {
    const { u32, u8 } = this.row;
    const flags = u8[8 * r8 + this.at.active];
    const now = stamp(u32[2 * r8 + this.at.positioned]);
    // Heads that continued, most recently used first (insertion sort of at most STREAM_HEADS).
    let continuedHeads = 0;
    for (let h = 0; h < STREAM_HEADS; h++) {
      const used = u8[8 * r8 + this.at.headUsed + h];
      if (used === 0 || !(flags & continuedBit(h))) continue;
      const age = ageOf(now, used);
      let i = continuedHeads++;
      for (; i > 0 && headAges[i - 1] > age; i--) {
        headAges[i] = headAges[i - 1];
        headOrder[i] = headOrder[i - 1];
      }
      headAges[i] = age;
      headOrder[i] = h;
    }
    // Streams read in turn leave their heads used a few accesses apart: the i-th most recent of n live
    // streams was used about i accesses ago (more when the order is irregular). A head left further
    // behind is where a reader was before it seeked or started over — a stream that ended, not one more;
    // and one within a gap of a stream counted already is where that stream was before a chunk came
    // late or was skipped (readers that close together are counted as one).
    let streams = 0;
    for (let i = 0; i < continuedHeads && headAges[i] <= LIVE_SPACING * (streams + 1); i++) {
      if (!this.nearCounted(r8, headOrder[i], streams)) headOrder[streams++] = headOrder[i];
    }
    return streams;
  }

  /**
   * Calls `fn` with the latest position and step of each live stream of the key but the one that ends at
   * `latest` (the latest access's, the caller's to follow from the access itself): where the other readers
   * of a file shared by several are, so that their next chunks are predicted too.
   */
  forOtherStreams(slot: number, latest: number, fn: (pos: number, step: number) => void): void {
    const r8 = slot * this.row.stride8;
    const streams = this.liveStreams(r8);
    const { f64, f32 } = this.row;
    for (let i = 0; i < streams; i++) {
      const h = headOrder[i];
      const pos = f64[r8 + this.at.headPos + h];
      const step = f32[2 * r8 + this.at.headStride + h];
      if (pos !== latest && step !== 0) fn(pos, step);
    }
  }

  detail(slot: number): SequentialDetail {
    const r4 = 2 * slot * this.row.stride8;
    return {
      direction: this.row.f32[r4 + this.at.direction] >= 0 ? 'forward' : 'backward',
      stride: Math.abs(this.signedStride(slot)),
      streams: Math.max(1, this.liveStreams(slot * this.row.stride8)),
    };
  }
}
