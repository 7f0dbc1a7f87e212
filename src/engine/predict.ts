import type { PredictionConfig } from '../config.ts';
import { emptyRule } from './correlation.ts';
import type { Engine } from './engine.ts';
import { TimeHeap } from './heap.ts';
import { round } from './stats.ts';
import { Table } from './table.ts';
import { CORRELATED as CORRELATED_KEY } from './types.ts';

/**
 * Predictions: what will be accessed next, from what the engine knows — the next positions of a
 * sequential stream, the keys that follow a correlated key, periodic keys that are due — and feedback
 * on how good they were (Srinath et al.'s feedback-directed prefetching: precision, coverage, timeliness).
 *
 * Pure and event-timed like the engine. Issued predictions live in a bounded open-addressing table keyed
 * by (key slot, position); every access looks itself up there (O(1)) to count hits and lead time. The
 * readahead degree of a stream ramps up while its predictions are used and halves when the stream
 * surprises (Linux/Leap style); a stream length model keeps predictions from running past where streams
 * usually end; and a throttle per reason raises that reason's probability floor while its precision is poor.
 */
export interface Prediction {
  key: string;
  /** Predicted position inside the key (sequential), absent for "the key will be accessed". */
  position?: number;
  size?: number;
  probability: number;
  expected_ts: number;
  reason: 'sequential' | 'correlated' | 'periodic';
}

export interface PredictionStats {
  issued: number;
  used: number;
  accesses: number;
  predictedAccesses: number;
  precision: number;
  coverage: number;
  meanLeadMs: number;
  /**
   * The same per reason — where the waste is (each reason's prefetches cost the same bytes) — and each
   * reason's current probability floor.
   */
  byReason: Record<
    Prediction['reason'],
    { issued: number; used: number; precision: number; meanLeadMs: number; minProbability: number }
  >;
}

/** Position used for key-level predictions ("key X will be accessed", whatever the position). */
const ANY_POSITION = -1;
const PROBES = 8;
const SEQUENTIAL = 0;
const CORRELATED = 1;
const PERIODIC = 2;
const REASONS = ['sequential', 'correlated', 'periodic'] as const;

type Emit = (slot: number, pos: number, size: number, p: number, expected: number, reason: number) => void;
const INITIAL_DEGREE = 4;
/**
 * Same-size requests in a row after which a contiguous stream is predicted past its next start. After one,
 * a reader whose sizes vary (4 KiB to 1 MiB) got its full readahead at every size that happened to repeat,
 * at multiples of that size: precision 0.16, six predictions per read (a fourth outside evaluation).
 */
const STEADY_REQUESTS = 3;
/**
 * How far (in request sizes) an access may be from its stream's frontier and still belong to it: a player's
 * 2-4 requests in flight, of up to eight times its smallest size.
 */
const OUT_OF_ORDER_REACH = 16;
/** What an access did to its stream's frontier (`advanceFrontier`). */
enum FrontierMove {
  /** Not near it (a seek, another region, a new session): a stream begins here. */
  Restarted,
  /** Behind it: a request that completed after later ones. */
  Behind,
  /** To or past it. */
  Advanced,
}

/** Contiguous steps in a row after which a key that is not sequential is taken to be in a scan. */
const SCAN_RUN = 2;
/** Accesses after one behind the frontier during which the stream counts as completing out of order. */
const REORDER_MEMORY = 16;
/** Stream lengths (steps) told apart by the length model; longer runs share the last bucket. */
const MAX_RUN = 64;
/** The length model forgets half its counts this often (accesses), so it follows a changing workload. */
const RUN_HALF_LIFE = 1 << 16;

const perKey = {
  gen: ['u32', 1],
  lastPos: ['f64', 1],
  lastSize: ['f64', 1],
  lastTs: ['f64', 1],
  /** EWMA of the gap between accesses within a session (ms), for expected times. */
  gap: ['f32', 1],
  /** Readahead degree of the key's stream. */
  degree: ['u16', 1],
  /** Position where the key's latest session started (see `nextSessionPos`). */
  sessionPos: ['f64', 1],
  /**
   * Bit 0: the latest session began where the one before ended (at its position + size, or the next chunk
   * index for accesses without a size: a camera index written every minute, a log appended to); bit 1: so
   * did the session before it.
   */
  sessionsContinue: ['u8', 1],
  /**
   * 1 when the key's latest session began where the one before began (a file opened at its start, a
   * database's header). Otherwise where its next one begins is unknown, and a follower or a periodic run
   * is predicted without a position: named where its latest session began, a thumbnail index written at a
   * new offset each time was predicted at a position it never came to (precision 0 over 130 predictions,
   * an outside evaluation; 0.915 for the same pair without positions).
   */
  sessionStartRepeated: ['u8', 1],
  /**
   * 1 while the key's latest access began its session. Only then are its correlated followers predicted: a
   * rule counts the leader's sessions, each followed at most once. Predicted at every access, a film's
   * subtitles were named at each of its reads and 2 of 2,099 came (an outside evaluation).
   */
  sessionFirst: ['u8', 1],
  /** 1 once the key's accesses carry positions. */
  positioned: ['u8', 1],
  /** Steps the key's stream has run so far (contiguous or one stride apart), capped at MAX_RUN. */
  run: ['u8', 1],
  /** 1 while the stream's last step began where the access before ended (sizes may vary). */
  contiguous: ['u8', 1],
  /**
   * The end of the furthest access of the key's current stream (position + size): where its next request
   * begins. A player keeps 2-4 requests in flight, and they complete out of order: its latest access is
   * often behind a chunk already read.
   */
  frontier: ['f64', 1],
  /** Where the access that set the frontier began. */
  frontierStart: ['f64', 1],
  /**
   * Set to `REORDER_MEMORY` when an access lands behind the frontier, less one at each other access: the
   * stream's requests complete out of order, so an access that is not contiguous with the one before may
   * still be its furthest (a gap behind it that a request in flight fills), not a stride.
   */
  reordered: ['u8', 1],
  /**
   * Requests in a row that had the same size as the one before (capped at 255): where later ones start is
   * predictable once sizes have kept steady for `STEADY_REQUESTS`.
   */
  steady: ['u8', 1],
  /**
   * 1 when the key's latest access was shorter than the steady requests before it and began where they
   * ended: the end of a file read whole (a track read in 512 KiB chunks ends with the rest of the file). Its
   * stream is not predicted past it: the album's tracks, 6-10 chunks each, were predicted up to their
   * readahead past every end (precision 0.45 against 0.90 for next-chunk readahead, an outside evaluation).
   */
  ended: ['u8', 1],
  /**
   * Issued predictions of this key still marked waiting — an upper bound, since one that expired counts
   * until it is overwritten. While 0 an access has nothing to look up in the issued table, which is what
   * most accesses of a key that is not predicted would otherwise pay for: two probe sequences.
   */
  pending: ['u32', 1],
} as const;

/** Bytes of predictor state per key slot, and per entry of the issued-prediction table (the memory budget counts them). */
export const PREDICTOR_SLOT_BYTES = new Table(perKey, 0).rowBytes;
/** slot, generation, position, issued, expected, probability, reason, state: the arrays below. */
export const PREDICTION_ENTRY_BYTES = 4 + 4 + 8 + 8 + 8 + 4 + 1 + 1;

export class Predictor {
  private readonly keys: Table<typeof perKey>;
  // The issued-prediction table (struct of arrays, open addressing with bounded probing).
  private readonly mask: number;
  private readonly slotOf: Int32Array;
  private readonly genOf: Uint32Array;
  private readonly posOf: Float64Array;
  private readonly issuedAt: Float64Array;
  private readonly expectedAt: Float64Array;
  private readonly probability: Float32Array;
  private readonly reasonOf: Uint8Array;
  /** 0 empty, 1 waiting, 2 used. */
  private readonly state: Uint8Array;
  private readonly due = new TimeHeap();
  /**
   * Probability floor per reason, throttled by each reason's own precision (Srinath et al. throttle each
   * prefetcher separately): a wasteful stream prefetcher must not silence accurate correlation rules.
   */
  private readonly minProbability: Float64Array;
  private readonly windowIssued = new Uint32Array(REASONS.length);
  private readonly windowUsed = new Uint32Array(REASONS.length);
  /**
   * Stream length model (Hur & Lin's stream length histogram, MICRO'06): reached[n] counts streams that
   * ran at least n steps, so reached[n + i] / reached[n] estimates the chance that a stream now n steps
   * long goes i steps further. Streams end — at the end of a file, of an extent, of a scan — and
   * predictions past where streams usually end are the waste of sequential prefetching.
   */
  private readonly reached = new Float64Array(MAX_RUN + 1);
  private sinceHalving = 0;
  readonly totals = { issued: 0, used: 0, accesses: 0, predictedAccesses: 0, leadMsSum: 0 };
  private readonly issuedBy = new Float64Array(REASONS.length);
  private readonly usedBy = new Float64Array(REASONS.length);
  private readonly leadMsBy = new Float64Array(REASONS.length);
  /**
   * How long past its expected time a prediction may still come true, per reason. A stream may pause and
   * a job run late, so theirs wait the whole lookahead; a correlated key's follower comes within the rule's
   * lag window or not at all, and a later access of it is its own (counted within the lookahead, a follower
   * read on its own now and then made a rule kept on half of its leader's accesses look right nearly
   * every time, and the throttle never held it back).
   */
  private readonly graceMs: Float64Array;
  /** Called for each prediction issued (the cache simulation prefetches here). */
  onIssue: (slot: number, position: number, size: number) => void = () => {};

  constructor(
    private readonly engine: Engine,
    private readonly cfg: PredictionConfig,
  ) {
    this.keys = new Table(perKey, 1024);
    this.graceMs = Float64Array.from(REASONS, (reason) =>
      reason === 'correlated' ? engine.cfg.correlation.maxLagMs : cfg.lookaheadMs,
    );
    engine.predictionsExpireAt = (slot, after) => this.expiresAt(slot, after);
    const size = 2 ** Math.ceil(Math.log2(cfg.tableSize));
    this.mask = size - 1;
    this.slotOf = new Int32Array(size).fill(-1);
    this.genOf = new Uint32Array(size);
    this.posOf = new Float64Array(size);
    this.issuedAt = new Float64Array(size);
    this.expectedAt = new Float64Array(size);
    this.probability = new Float32Array(size);
    this.reasonOf = new Uint8Array(size);
    this.state = new Uint8Array(size);
    this.minProbability = new Float64Array(REASONS.length).fill(cfg.minProbability);
  }

  /** Call after `engine.observe` for the same access, with the slot it returned. */
  observe(slot: number, ts: number, pos: number, size: number): void {
    const k = this.row(slot);
    const hasPos = !Number.isNaN(pos);
    const previous = k.lastTs[slot];
    // The same access delivered twice (a QoS 1 redelivery, a device's retry) has nothing new to say.
    if (hasPos && ts === previous && pos === k.lastPos[slot]) return;
    // One older than the key's latest (a batch delivered late, a redelivered one) is counted against the
    // predictions, but moves neither the stream nor its pace, as the engine leaves it out of the stream:
    // taken as the latest, each halved the stream's readahead and set it back to an old position (a
    // third of the events sent twice left 2-4 predictions of 10).
    const late = ts < previous;
    this.feedback(slot, hasPos ? pos : ANY_POSITION, ts, late);
    if (late) return;
    const newSession = previous === 0 || ts - previous > this.engine.cfg.sessionGapMs;
    // The pace of the key's stream: pauses between sessions say nothing about when its next step comes.
    if (!newSession && ts > previous) k.gap[slot] += 0.2 * (ts - previous - k.gap[slot]);
    k.lastTs[slot] = ts;
    k.sessionFirst[slot] = +newSession;
    if (hasPos) {
      const move = this.advanceFrontier(slot, pos, size, newSession);
      this.countRun(slot, pos, size, newSession, move);
      if (newSession) this.sessionBegan(slot, pos);
      k.lastPos[slot] = pos;
      k.lastSize[slot] = size;
      k.positioned[slot] = 1;
    }
    this.issueFor(slot, ts);
    if (newSession && this.engine.periodic.isActive(slot)) {
      // Its next run is named in its own time; it comes due in engine time as late as its device delivers.
      const next = this.engine.periodic.detail(slot, ts).next_ts;
      const dueAt = next - this.cfg.lookaheadMs + this.engine.deliveryLag(slot);
      this.due.push(dueAt, slot, this.engine.keys.generation[slot]);
    }
    this.announceDue(this.engine.now);
  }

  /**
   * Moves the stream's frontier to the end of this access when that is further, or to it when the access
   * is not near the frontier (a seek, another region, a new session).
   */
  private advanceFrontier(slot: number, pos: number, size: number, newSession: boolean): FrontierMove {
    const k = this.keys.c;
    const end = pos + size;
    const reach = OUT_OF_ORDER_REACH * Math.max(size, k.lastSize[slot]);
    if (newSession || !(Math.abs(pos - k.frontier[slot]) <= reach)) {
      k.frontier[slot] = end;
      k.frontierStart[slot] = pos;
      k.reordered[slot] = 0;
      return FrontierMove.Restarted;
    }
    if (end < k.frontier[slot]) {
      k.reordered[slot] = REORDER_MEMORY;
      return FrontierMove.Behind;
    }
    k.frontier[slot] = end;
    k.frontierStart[slot] = pos;
    if (k.reordered[slot] > 0) k.reordered[slot]--;
    return FrontierMove.Advanced;
  }

  /**
   * Extends or restarts the key's stream run and counts it in the length model. A pause between sessions
   * ends a stream too: a file appended to and read in the morning and evening is two streams, and what is
   * read after the pause is not worth prefetching hours ahead.
   */
  private countRun(slot: number, pos: number, size: number, newSession: boolean, move: FrontierMove): void {
    const k = this.keys.c;
    const reordered = k.reordered[slot] > 0;
    // The step within the stream this access continued: with several readers on the key, the key's
    // previous access is another reader's, and a step from it says nothing about where this one goes.
    const sequential = this.engine.sequential;
    const inStream = sequential.lastStep !== 0;
    const step = inStream ? sequential.lastStep : pos - k.lastPos[slot];
    const contiguous = inStream
      ? sequential.lastContiguous
      : k.positioned[slot] === 1 && step !== 0 && step === k.lastSize[slot];
    k.contiguous[slot] = contiguous ? 1 : 0;
    // A file's short last read ends its stream; a reordered stream's sizes are its requests', in any order.
    k.ended[slot] =
      contiguous && !reordered && size > 0 && size < k.lastSize[slot] && k.steady[slot] >= STEADY_REQUESTS - 1
        ? 1
        : 0;
    k.steady[slot] =
      k.positioned[slot] === 1 && size === k.lastSize[slot] ? Math.min(255, k.steady[slot] + 1) : 0;
    // A request of a sequential key's stream completing behind its frontier fills a gap the stream already
    // went past: the stream neither ends nor grows. Counted as a new stream each time, they made run-0 streams
    // the common case, and a film's next chunk was predicted at a third of the chance it has.
    if (move === FrontierMove.Behind && this.engine.sequential.isActive(slot)) return;
    const onStride =
      !newSession &&
      (contiguous ||
        (reordered && move === FrontierMove.Advanced) ||
        (k.positioned[slot] === 1 && step !== 0 && step === this.stride(slot)));
    const run = onStride ? Math.min(MAX_RUN, k.run[slot] + 1) : 0;
    // A stream is counted once per length it reaches (not again for every step past the cap).
    if (run !== k.run[slot] || run === 0) this.reached[run]++;
    k.run[slot] = run;
    if (++this.sinceHalving >= RUN_HALF_LIFE) {
      for (let n = 0; n <= MAX_RUN; n++) this.reached[n] *= 0.5;
      this.sinceHalving = 0;
    }
  }

  /** A session of the key begins at `pos`: does it go on from where the one before ended? */
  private sessionBegan(slot: number, pos: number): void {
    const k = this.keys.c;
    const continues = k.positioned[slot] === 1 && pos === this.endOfLast(slot);
    k.sessionsContinue[slot] = ((k.sessionsContinue[slot] << 1) & 2) | +continues;
    k.sessionStartRepeated[slot] = +(k.positioned[slot] === 1 && pos === k.sessionPos[slot]);
    k.sessionPos[slot] = pos;
  }

  /** Where the key's latest access ended: its position + size, or the next chunk index without a size. */
  private endOfLast(slot: number): number {
    const k = this.keys.c;
    return k.lastPos[slot] + (k.lastSize[slot] > 0 ? k.lastSize[slot] : 1);
  }

  /**
   * Where the key's next session will begin: where its latest access ended while its last two sessions
   * each went on from the one before (a job appending to a file, a camera index); where its latest began
   * when that is where the one before began too (a job that reads a file from its start); else
   * `ANY_POSITION`, as for keys without positions: the key will be accessed, where is not known. Taken as
   * where the latest began, every prediction of a periodic appender named a position already written (an
   * outside evaluation: 0 of 717 runs of a camera index predicted), and so did every one of a follower
   * written at a new offset each time (0 of 130). Twice in a row for an appender: a session that begins
   * where the one before ended by chance says little.
   */
  private nextSessionPos(slot: number): number {
    const k = this.keys.c;
    if (!k.positioned[slot]) return ANY_POSITION;
    if (k.sessionsContinue[slot] === 3) return this.endOfLast(slot);
    return k.sessionStartRepeated[slot] ? k.sessionPos[slot] : ANY_POSITION;
  }

  /** Does the key's stream run forward (its steps mostly go up)? */
  private forward(slot: number): boolean {
    return this.engine.sequential.direction(slot) > 0;
  }

  /** Signed stride of the key's sequential stream (0 when it has none). */
  private stride(slot: number): number {
    const sequential = this.engine.sequential;
    return sequential.isActive(slot) ? sequential.signedStride(slot) : 0;
  }

  /**
   * Chance that a stream `run` steps long goes at least `ahead` steps further. One pseudo-stream that
   * never ends is the prior: a stream longer than any seen before still gets even odds, not none.
   */
  private survival(run: number, ahead: number): number {
    if (run >= MAX_RUN) return 1;
    return (this.reached[Math.min(MAX_RUN, run + ahead)] + 1) / (this.reached[run] + 1);
  }

  private row(slot: number): Table<typeof perKey>['c'] {
    if (slot >= this.keys.capacity) this.keys.grow(Math.max(slot + 1, this.keys.capacity * 2));
    const gen = this.engine.keys.generation[slot];
    const k = this.keys.c;
    if (k.gen[slot] !== gen) {
      this.keys.clear(slot);
      k.gen[slot] = gen;
      k.degree[slot] = INITIAL_DEGREE;
    }
    return k;
  }

  /** Counts a hit if this access had been predicted, and adapts the stream's degree. */
  private feedback(slot: number, pos: number, ts: number, late: boolean): void {
    this.totals.accesses++;
    const k = this.keys.c;
    let hit = -1;
    if (k.pending[slot] > 0) {
      const gen = this.engine.keys.generation[slot];
      hit = this.find(slot, gen, pos);
      if (!this.waiting(hit, ts) && pos !== ANY_POSITION) hit = this.find(slot, gen, ANY_POSITION);
    }
    // A prediction long past its expected time is stale: coming true by a later, unrelated access is luck.
    if (this.waiting(hit, ts)) {
      this.state[hit] = 2;
      k.pending[slot]--;
      this.totals.used++;
      this.usedBy[this.reasonOf[hit]]++;
      this.windowUsed[this.reasonOf[hit]]++;
      this.totals.predictedAccesses++;
      const lead = Math.max(0, ts - this.issuedAt[hit]);
      this.totals.leadMsSum += lead;
      this.leadMsBy[this.reasonOf[hit]] += lead;
      if (this.reasonOf[hit] === SEQUENTIAL)
        k.degree[slot] = Math.min(this.cfg.maxDegree, k.degree[slot] + 1);
    } else if (pos !== ANY_POSITION && !late && this.engine.sequential.isActive(slot)) {
      // The stream went somewhere unpredicted: be less ambitious for a while.
      k.degree[slot] = Math.max(1, k.degree[slot] >> 1);
    }
  }

  /** Issues the predictions that follow from an access of `slot` at `now`. */
  private issueFor(slot: number, now: number): void {
    this.issuedNow = now;
    this.candidates(slot, now, this.issueCandidate);
  }

  // One emitter for every access (a closure per access would be garbage on the hot path).
  private issuedNow = 0;
  private readonly issueCandidate: Emit = (target, pos, size, p, expected, reason) =>
    this.issue(target, pos, size, p, this.issuedNow, expected, reason);
  private readonly rule = emptyRule();

  /**
   * What follows from the key's current state: the next positions of its stream (up to its degree, as far
   * as streams usually get), and its correlated followers at their typical lag. One source for issuing and
   * for the key's `predicted` view. A stream's next positions come from the predictor's own state of the key,
   * which is not stored: after a restart, until the key is accessed again, they are not listed (they were
   * reckoned from position 0: a log at 1 MB listed 128, 256, … — a fourth outside evaluation).
   */
  private candidates(slot: number, now: number, emit: Emit): void {
    const engine = this.engine;
    const k = this.row(slot);
    const score = this.streamScore(slot);
    if (score > 0 && k.lastTs[slot] > 0 && !k.ended[slot]) {
      const floor = this.minProbability[SEQUENTIAL];
      const steadySizes = k.steady[slot] >= STEADY_REQUESTS;
      // A stream whose requests complete out of order goes on at its frontier, wherever its latest
      // access is. Predicted from the access itself, a player's next chunks named chunks already read, or
      // lay a stride from one that happened to complete first. A contiguous access is followed from its
      // end unless the frontier's access began there (with two readers on one extent, the frontier may be
      // the other's).
      const end = k.lastPos[slot] + k.lastSize[slot];
      const behind =
        (k.contiguous[slot]
          ? end === k.frontierStart[slot] && k.frontier[slot] > end
          : k.frontier[slot] > end || k.reordered[slot] > 0) && this.forward(slot);
      // Linux's expected index: a contiguous stream goes on where its last access ended, in steps of its
      // current access size (streams differ in request size; the key's majority stride mixes them).
      const step = behind || k.contiguous[slot] ? k.lastSize[slot] : this.stride(slot);
      const first = behind ? k.frontier[slot] : k.lastPos[slot] + step;
      const gap = Math.max(k.gap[slot], 1);
      // While request sizes vary, only the next start is known; further ones would be guesses.
      const ahead = (k.contiguous[slot] || behind) && !steadySizes ? 1 : k.degree[slot];
      for (let i = 1; i <= ahead && first !== k.lastPos[slot]; i++) {
        // The key is sequential, but is this stream likely to get i steps further?
        const p = score * this.survival(k.run[slot], i);
        if (p < floor) break;
        emit(slot, first + (i - 1) * step, k.lastSize[slot], p, now + i * gap, SEQUENTIAL);
      }
    }
    // A key that leads a rule is correlated; most keys are not, and skip looking at each follower entry.
    if ((engine.maskOf(slot) & CORRELATED_KEY) === 0 || k.sessionFirst[slot] === 0) return;
    const rule = this.rule;
    for (let n = 0; n < engine.correlation.partnersPerKey; n++) {
      if (!engine.correlation.followerAt(slot, n, rule)) continue;
      if (rule.confidence < this.minProbability[CORRELATED]) continue;
      const f = this.row(rule.slot);
      emit(
        rule.slot,
        this.nextSessionPos(rule.slot),
        f.lastSize[rule.slot],
        rule.confidence,
        now + rule.lagMs,
        CORRELATED,
      );
    }
  }

  /** The chance that the key's stream goes on (`continuation`) when it is high enough to predict from, else 0. */
  private streamScore(slot: number): number {
    const score = this.engine.sequential.continuation(slot);
    if (score >= this.cfg.confidenceThreshold && score >= this.minProbability[SEQUENTIAL]) return score;
    // A key read mostly at random scans now and then (a database: one operation in 20 reads 5-20 pages in
    // a row). Its scan is under way once it has run `SCAN_RUN` contiguous steps; how far it goes is the
    // length model's to say. Only while the key was called sequential at each longer scan were its scans
    // predicted (precision 0.70), and with the key rightly random, none were.
    const k = this.keys.c;
    return k.contiguous[slot] && k.run[slot] >= SCAN_RUN ? 1 : 0;
  }

  /**
   * The next chunk of each other reader of a key read by several at once, as of its latest access at `at`:
   * `candidates` follows the latest access's stream only, and the key's `predicted` list named one reader's
   * chunks while the others' came every other access. (Each reader's were issued at its own accesses.)
   */
  private otherStreams(slot: number, at: number, emit: Emit): void {
    const score = this.streamScore(slot);
    const k = this.row(slot);
    const p = score * this.survival(k.run[slot], 1);
    if (score === 0 || k.lastTs[slot] === 0 || p < this.minProbability[SEQUENTIAL]) return;
    const next = at + Math.max(k.gap[slot], 1);
    const frontier = k.frontier[slot];
    const reach = OUT_OF_ORDER_REACH * k.lastSize[slot];
    this.engine.sequential.forOtherStreams(slot, k.lastPos[slot], (pos, step) => {
      // A head just behind the latest stream's frontier is that stream's own, left by requests that
      // completed out of order: its next chunk has been read.
      if (pos + step < frontier && frontier - pos <= reach) return;
      emit(slot, pos + step, k.lastSize[slot], p, next, SEQUENTIAL);
    });
  }

  /**
   * The key's `predicted` list at `now`: what patternd expects to be accessed next because of this key's
   * latest access — as issued then, less what is overdue beyond its reason's grace. Reckoned from `now`,
   * a leader read an hour ago still announced its follower half a second ahead, and a stream that had
   * stopped its next chunk, moving on with the clock at every query.
   */
  forKey(slot: number, now: number): Prediction[] {
    const out: Prediction[] = [];
    const own = this.engine.ownTime(slot, now);
    const keep: Emit = (target, pos, _size, p, expected, reason) => {
      if (
        out.length < this.cfg.maxPredictions &&
        expected + this.graceMs[reason] >= own &&
        expected - own <= this.cfg.lookaheadMs
      ) {
        out.push(this.describeOne(target, pos, p, expected, reason));
      }
    };
    const last = this.engine.lastAccess(slot);
    // The other readers' next chunks first: the latest reader's stream can fill the list on its own.
    this.otherStreams(slot, last, keep);
    this.candidates(slot, last, keep);
    if (this.engine.periodic.isActive(slot) && out.length < this.cfg.maxPredictions) {
      const next = this.engine.periodic.detail(slot, own).next_ts;
      if (next - own <= this.cfg.lookaheadMs) {
        out.push(
          this.describeOne(slot, this.nextSessionPos(slot), this.engine.periodic.score(slot), next, PERIODIC),
        );
      }
    }
    return out;
  }

  /**
   * When, after `after`, every sequential and correlated prediction that `forKey` lists from the key's
   * latest access is overdue (Infinity: none, or already): the key's published state changes then. Without
   * it, a film that stopped kept listing its next chunks in its retained state. Bounded from above (every
   * step the degree allows, the longest grace), so it is cheap enough for each of the key's accesses.
   */
  expiresAt(slot: number, after: number): number {
    const engine = this.engine;
    const last = engine.lastAccess(slot);
    let end = Number.NEGATIVE_INFINITY;
    if (engine.sequential.isActive(slot) && slot < this.keys.capacity) {
      const k = this.keys.c;
      end = last + k.degree[slot] * Math.max(k.gap[slot], 1) + this.graceMs[SEQUENTIAL];
    }
    if (engine.maskOf(slot) & CORRELATED_KEY && slot < this.keys.capacity && this.keys.c.sessionFirst[slot])
      end = Math.max(end, last + engine.cfg.correlation.maxLagMs + this.graceMs[CORRELATED]);
    return end > after ? end : Number.POSITIVE_INFINITY;
  }

  /** Announces periodic keys whose next beat comes within the lookahead. */
  private announceDue(now: number): void {
    const h = this.due;
    while (h.size > 0 && h.peekTime() <= now) {
      const slot = h.peekId();
      const gen = h.peekGen();
      h.pop();
      if (this.engine.keys.generation[slot] !== gen || !this.engine.periodic.isActive(slot)) continue;
      const p = this.engine.periodic.score(slot);
      if (p < this.cfg.confidenceThreshold || p < this.minProbability[PERIODIC]) continue;
      const k = this.row(slot);
      const own = this.engine.ownTime(slot, now);
      const next = this.engine.periodic.detail(slot, own).next_ts;
      this.issue(slot, this.nextSessionPos(slot), k.lastSize[slot], p, own, next, PERIODIC);
    }
  }

  /** Murmur3's finaliser over slot and both halves of the position: positions are often multiples of 2^16. */
  private hash(slot: number, pos: number): number {
    let h = Math.imul(slot, 0x9e3779b1) ^ (pos >>> 0);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ ((pos / 4294967296) >>> 0);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }

  /** Entry `j` (−1: none) is a prediction still waiting to come true at `now`: not used, not stale. */
  private waiting(j: number, now: number): boolean {
    return j >= 0 && this.state[j] === 1 && this.expectedAt[j] + this.graceMs[this.reasonOf[j]] >= now;
  }

  private find(slot: number, gen: number, pos: number): number {
    const h = this.hash(slot, pos);
    for (let i = 0; i < PROBES; i++) {
      const j = (h + i) & this.mask;
      if (this.state[j] !== 0 && this.slotOf[j] === slot && this.genOf[j] === gen && this.posOf[j] === pos)
        return j;
    }
    return -1;
  }

  private issue(
    slot: number,
    pos: number,
    size: number,
    p: number,
    now: number,
    expected: number,
    reason: number,
  ) {
    if (expected - now > this.cfg.lookaheadMs) return;
    const gen = this.engine.keys.generation[slot];
    const h = this.hash(slot, pos);
    const existing = this.find(slot, gen, pos);
    // Already waiting for this access: nothing new to say. (Used or expired entries are predicted anew.)
    if (this.waiting(existing, now)) return;
    let victim = existing;
    for (let i = 0; i < PROBES && victim < 0; i++) {
      const j = (h + i) & this.mask;
      if (!this.waiting(j, now)) victim = j;
    }
    if (victim < 0) {
      // A full probe window: overwrite its oldest waiting prediction.
      victim = h;
      for (let i = 1; i < PROBES; i++) {
        const j = (h + i) & this.mask;
        if (this.issuedAt[j] < this.issuedAt[victim]) victim = j;
      }
    }
    if (this.state[victim] === 1) this.forgetWaiting(victim);
    this.keys.c.pending[slot]++;
    this.slotOf[victim] = slot;
    this.genOf[victim] = gen;
    this.posOf[victim] = pos;
    this.issuedAt[victim] = now;
    this.expectedAt[victim] = expected;
    this.probability[victim] = p;
    this.reasonOf[victim] = reason;
    this.state[victim] = 1;
    this.totals.issued++;
    this.issuedBy[reason]++;
    if (++this.windowIssued[reason] >= 1000) this.throttle(reason);
    this.onIssue(slot, pos, size);
  }

  /** Entry `j`, marked waiting, is overwritten: its key (if still the same one) has one less pending. */
  private forgetWaiting(j: number): void {
    const owner = this.slotOf[j];
    if (this.keys.c.gen[owner] === this.genOf[j]) this.keys.c.pending[owner]--;
  }

  /** Fewer, better predictions while precision is poor; back towards the configured floor when it is good. */
  private throttle(reason: number): void {
    const precision = this.windowUsed[reason] / this.windowIssued[reason];
    const floor = this.minProbability[reason];
    if (precision < 0.5) this.minProbability[reason] = Math.min(0.95, floor + 0.05);
    else if (precision > 0.7) this.minProbability[reason] = Math.max(this.cfg.minProbability, floor - 0.05);
    this.windowIssued[reason] = 0;
    this.windowUsed[reason] = 0;
  }

  /**
   * Predictions currently waiting, most probable first (B/predictions), those not yet due before the
   * overdue ones: a stream that stopped keeps its next chunks waiting for the lookahead (its reader may
   * resume), and ranked by probability alone they filled the list for five minutes, pushing out a poller's
   * run due within seconds (an outside evaluation, live). O(table): call now and then.
   */
  pending(now: number, limit: number): Prediction[] {
    const out: { i: number; p: number; overdue: boolean }[] = [];
    for (let j = 0; j <= this.mask; j++) {
      if (this.state[j] !== 1 || this.engine.keys.generation[this.slotOf[j]] !== this.genOf[j]) continue;
      // Due in the predicted key's own time: the access will carry a time as late as its device delivers.
      const own = this.engine.ownTime(this.slotOf[j], now);
      if (this.waiting(j, own)) out.push({ i: j, p: this.probability[j], overdue: this.expectedAt[j] < own });
    }
    out.sort((a, b) => +a.overdue - +b.overdue || b.p - a.p || this.expectedAt[a.i] - this.expectedAt[b.i]);
    return out.slice(0, limit).map(({ i }) => this.describe(i));
  }

  private describe(i: number): Prediction {
    return this.describeOne(
      this.slotOf[i],
      this.posOf[i],
      this.probability[i],
      this.expectedAt[i],
      this.reasonOf[i],
    );
  }

  private describeOne(slot: number, pos: number, p: number, expected: number, reason: number): Prediction {
    return {
      key: this.engine.keys.keys[slot],
      ...(pos !== ANY_POSITION ? { position: pos } : {}),
      probability: round(p, 2),
      expected_ts: Math.round(expected),
      reason: REASONS[reason],
    };
  }

  get stats(): PredictionStats {
    const t = this.totals;
    return {
      issued: t.issued,
      used: t.used,
      accesses: t.accesses,
      predictedAccesses: t.predictedAccesses,
      precision: t.issued > 0 ? round(t.used / t.issued, 3) : 0,
      coverage: t.accesses > 0 ? round(t.predictedAccesses / t.accesses, 3) : 0,
      meanLeadMs: t.used > 0 ? Math.round(t.leadMsSum / t.used) : 0,
      byReason: Object.fromEntries(
        REASONS.map((r, i) => {
          const issued = this.issuedBy[i];
          const used = this.usedBy[i];
          const precision = issued > 0 ? round(used / issued, 3) : 0;
          const meanLeadMs = used > 0 ? Math.round(this.leadMsBy[i] / used) : 0;
          return [
            r,
            { issued, used, precision, meanLeadMs, minProbability: round(this.minProbability[i], 2) },
          ];
        }),
      ) as PredictionStats['byReason'],
    };
  }
}
