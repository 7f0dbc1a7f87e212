import type { EngineConfig } from '../config.ts';
import { BurstDetector, burstFields } from './burst.ts';
import { dominant, patternsOf, roundScores } from './combine.ts';
import { CorrelationDetector, correlationFields, correlationScratchFields } from './correlation.ts';
import { DeliveryLag } from './delivery.ts';
import { TimeHeap } from './heap.ts';
import { KeyRegistry } from './keys.ts';
import { PeriodicDetector, periodicFields, periodicScratchFields } from './periodic.ts';
import { ScheduleProfile, scheduleFields } from './schedule.ts';
import { SequentialDetector, sequentialFields } from './sequential.ts';
import { SlotStack } from './slots.ts';
import { round } from './stats.ts';
import {
  type FieldIndex,
  layoutOf,
  type NamedSection,
  type RowMigration,
  RowTable,
  rowMigration,
  type StoredFields,
} from './table.ts';
import { DAY_MS, TrendTracker, trendFields } from './trend.ts';
import {
  BURST,
  CORRELATED,
  type CorrelatedPartner,
  PATTERNS,
  type PatternName,
  type PatternState,
  PERIODIC,
  RANDOM,
  SEQUENTIAL,
} from './types.ts';

/**
 * The pattern engine: pure, synchronous, driven by event time.
 *
 * `observe()` is the hot path (one call per access event, O(1) amortised, no allocation): it interns the
 * key, feeds each detector, recomputes the key's pattern bit mask and records what changed. Everything
 * else — building the contract's state object, listing partners, the trend fit — happens only when a view
 * is requested (for publishing, at most once per key per publish interval).
 *
 * Time: engine time is the latest event time seen, but never past the wall clock while there is one (an
 * event from the future is a fast device clock). While traffic is live (event times within
 * `liveWindowMs` of the injected clock), `tick()` also moves it with the clock, so a burst ends on time
 * even if its key falls silent. A replayed log never looks at the clock: the same events give the same
 * answers, now or next year.
 */
const CHANGED = 1;
const URGENT = 2;
/** Where `last` lies in a stored row: after `accesses` and `first` (f64 each), the core section being first. */
const STORED_LAST_OFFSET = 16;

const core = {
  accesses: ['f64', 1],
  first: ['f64', 1],
  last: ['f64', 1],
  /** Pattern bit mask as last computed. */
  mask: ['u8', 1],
  /** 1 while the key's current occurrence started on its periodic schedule. */
  onSchedule: ['u8', 1],
  /** When the key's view next changes with time alone (scheduled in the review heap); 0: never. */
  reviewAt: ['f64', 1],
  /** Interned source (the device topic levels after `access/`) of the latest access; 0: none. */
  source: ['u16', 1],
} as const;

/**
 * Bookkeeping per slot that is not key state (never persisted): the change level waiting for the
 * publisher, and the store's bits — whether the store is behind (UNSAVED), and whether the key's row ever
 * went to the store (EXPORTED: exported or restored; a key that never did needs no delete when it goes,
 * which under a flood of unique keys is nearly all). Bits, not a byte each: a row has no byte to spare
 * under the 1 KiB per key that the memory budget allows.
 */
const flagFields = { changed: ['u8', 1], store: ['u8', 1] } as const;
const UNSAVED = 1;
const EXPORTED = 2;

/** Sink of `Engine.prefetch`'s reads, so that the compiler keeps them. */
let _prefetched = 0;

export interface EngineOptions {
  /** Wall clock (epoch ms). Injected so tests and replays control time; defaults to "no wall clock". */
  clock?: () => number;
  /**
   * How long before a periodic key's next run its view announces it (the predictions' lookahead; 0: not
   * announced). The view changes then with time alone, so the key is reviewed then.
   */
  announceAheadMs?: number;
}

export interface EngineCounters {
  keys: number;
  evicted: number;
  lateEvents: number;
  patterns: Record<PatternName, number>;
}

export class Engine {
  readonly keys: KeyRegistry;
  /**
   * Every key's state in one row: the core fields, each detector's section, and bookkeeping that is never
   * stored (change flags, the correlation detector's liveness check).
   */
  private readonly row: RowTable;
  private readonly coreAt: FieldIndex<typeof core>;
  private readonly flagAt: FieldIndex<typeof flagFields>;
  readonly sequential: SequentialDetector;
  readonly periodic: PeriodicDetector;
  readonly burst: BurstDetector;
  readonly correlation: CorrelationDetector;
  readonly schedule: ScheduleProfile;
  readonly trend: TrendTracker;
  /** The parts of a snapshot row, in their stored order, and their names in the stored layout. */
  private readonly stored: StoredFields[];
  private readonly persisted: NamedSection[];
  private readonly clock: () => number;
  private readonly announceAheadMs: number;
  /** When the next day begins in engine time (0: not yet known), for `newDay`. */
  private nextDayAt = 0;
  /**
   * When, after `after`, what is listed as predicted for the key becomes overdue (Infinity: nothing),
   * which changes its published state with time alone: the predictor's to say (`Predictor`). Both times
   * are the key's own (`ownTime`).
   */
  predictionsExpireAt: (slot: number, after: number) => number = () => Number.POSITIVE_INFINITY;
  private readonly review = new TimeHeap();

  /** Engine time (epoch ms). */
  now = 0;
  private live = false;
  private wall = 0;

  /** Slots whose change flag, or unsaved flag, is set (the flags are in the row). */
  private readonly changeList = new SlotStack();
  private readonly unsavedList = new SlotStack();
  private readonly evictedKeys: string[] = [];
  private readonly deletedKeys: string[] = [];
  private readonly patternCounts = new Int32Array(PATTERNS.length);
  /**
   * Changes of any key's pattern set so far: compared before and after an event, it tells the caller that
   * the event changed one (its own key's, or another's through time or a rule), and that the changed
   * views should be handed on now, as they are.
   */
  get patternSetChanges(): number {
    return this.setChanges;
  }
  private setChanges = 0;
  private evictions = 0;
  private lateEvents = 0;

  constructor(
    readonly cfg: EngineConfig,
    opts: EngineOptions = {},
  ) {
    this.clock = opts.clock ?? (() => 0);
    this.announceAheadMs = opts.announceAheadMs ?? 0;
    const cap = Math.min(1024, cfg.maxKeys);
    this.keys = new KeyRegistry(cfg.maxKeys, cap);
    const trendSection = trendFields(cfg.trend.days);
    const correlationSection = correlationFields(cfg.correlation.partnersPerKey);
    // The stored parts of a key's row, by the names the stored layout gives them, in the order snapshot
    // rows have always had them.
    this.persisted = [
      ['core', core],
      ['sequential', sequentialFields],
      ['periodic', periodicFields],
      ['burst', burstFields],
      ['correlation', correlationSection],
      ['schedule', scheduleFields],
      ['trend', trendSection],
    ];
    const schemas = this.persisted.map(([, schema]) => schema);
    this.row = new RowTable([...schemas, flagFields, correlationScratchFields, periodicScratchFields], cap);
    this.stored = schemas.map((schema) => this.row.section(schema));
    this.coreAt = this.row.fieldsOf(core);
    this.flagAt = this.row.fieldsOf(flagFields);
    this.sequential = new SequentialDetector(cfg.sequential, this.row);
    this.periodic = new PeriodicDetector(
      cfg.periodic,
      this.row,
      (slot, ts) => this.schedule.isQuietWeekday(slot, ts, this.firstAccess(slot), this.lastAccess(slot)),
      (slot) => this.schedule.quietHours(slot, this.firstAccess(slot), this.lastAccess(slot)),
    );
    this.burst = new BurstDetector(cfg.burst, this.row, this, (slot, now) =>
      this.schedule.hourlyRate(slot, now, this.firstAccess(slot)),
    );
    this.correlation = new CorrelationDetector(cfg.correlation, this.row, correlationSection, this.keys, {
      rate: (slot, now) => this.burst.rate(slot, now),
      usualRate: (slot, now) => this.burst.usualRate(slot, now),
      timingJitter: (slot) => this.periodic.timingJitterOf(slot),
      scheduleChance: (slot, from, to) => this.periodic.scheduleChance(slot, from, to),
      isUndecidedSchedule: (slot) => this.periodic.isUndecidedSchedule(slot),
      firstAccess: (slot) => this.firstAccess(slot),
    });
    this.schedule = new ScheduleProfile(cfg.schedule, this.row);
    this.trend = new TrendTracker(cfg.trend, this.row, trendSection);
  }

  /**
   * Interns a source name (a device) as a small number stored per key. Sources are few; past 65,535
   * distinct names new ones are not remembered (0) rather than growing without bound.
   */
  sourceId(name: string): number {
    if (name === '') return 0;
    let id = this.sourceIds.get(name);
    if (id === undefined) {
      if (this.sources.length >= 0xffff) return 0;
      id = this.sources.push(name);
      this.sourceIds.set(name, id);
    }
    return id;
  }

  private readonly sources: string[] = [];
  private readonly sourceIds = new Map<string, number>();
  private readonly delivery = new DeliveryLag();

  /** Did the key's current session begin on its periodic schedule (so its intensity is expected)? */
  private sessionOnSchedule(slot: number): boolean {
    return this.row.u8[8 * slot * this.row.stride8 + this.coreAt.onSchedule] === 1;
  }

  /**
   * How late the events of the key's latest source have lately arrived: a schedule waits that much longer
   * for its runs, which a device that uploads in batches delivers late (`DeliveryLag`).
   */
  deliveryLag(slot: number): number {
    return this.delivery.of(this.row.u16[4 * slot * this.row.stride8 + this.coreAt.source]);
  }

  /**
   * Engine time `now` in the key's own time: as far behind as its device's events lately arrive. Its
   * schedule, burst and predictions are reckoned there, since its next run or access will carry a time
   * that late.
   */
  ownTime(slot: number, now: number): number {
    return now - this.deliveryLag(slot);
  }

  /** Call once per incoming message (or batch): reads the wall clock for the liveness check. */
  beginBatch(): void {
    this.wall = this.clock();
  }

  /**
   * Records one access. `pos` is NaN when the event has no position; `size` 0 when unknown.
   * `ts` must be finite (validated by the caller). Returns the key's slot, so that what else follows the
   * same access (predictions) does not look the key up again. `slotHint`: the slot the caller saw the key
   * at before (−1: none), taken when it still holds the key, which spares looking it up.
   */
  observe(key: string, ts: number, pos: number, size: number, source = 0, slotHint = -1): number {
    let slot = slotHint >= 0 && this.keys.keys[slotHint] === key ? slotHint : this.keys.slotOf(key);
    if (slot < 0) slot = this.add(key);
    else this.keys.touch(slot);
    this.live = this.isLiveTime(ts);
    // Engine time follows event time, but not past the wall clock when there is one: an event from the
    // future comes from a device whose clock runs fast (the service accepts minutes of it), and as engine
    // time it ended every other key's burst at its first review until the wall clock caught up.
    const time = this.wall > 0 ? Math.min(ts, this.wall) : ts;
    if (time > this.now) this.now = time;
    this.delivery.observe(source, ts, this.now);

    const { row, coreAt } = this;
    const r8 = slot * row.stride8;
    const r1 = 8 * r8;
    const first = row.f64[r8 + coreAt.accesses] === 0;
    const last = row.f64[r8 + coreAt.last];
    if (!first && ts - last > this.cfg.sessionGapMs) this.prefetch(slot);
    row.f64[r8 + coreAt.accesses]++;
    row.u16[4 * r8 + coreAt.source] = source;
    let newSession = false;
    let late = false;
    if (first) {
      row.f64[r8 + coreAt.first] = ts;
      row.f64[r8 + coreAt.last] = ts;
      newSession = true;
    } else if (ts >= last) {
      newSession = ts - last > this.cfg.sessionGapMs;
      row.f64[r8 + coreAt.last] = ts;
    } else {
      this.lateEvents++;
      late = true;
      if (ts < row.f64[r8 + coreAt.first]) row.f64[r8 + coreAt.first] = ts;
    }

    if (newSession) {
      // A session that continues an occurrence (a run resuming after a pause) keeps the occurrence's mark:
      // the run arrived on schedule or not when it began.
      if (this.periodic.sessionStarted(slot, ts, first ? ts : last))
        row.u8[r1 + coreAt.onSchedule] = this.periodic.onSchedule(slot, ts) ? 1 : 0;
      this.correlation.episodeStarted(slot, ts);
    }
    // A late event (batches from several devices, a retry) belongs before accesses already seen: taken in
    // arrival order it would read as a step back and then forward again, and a stream delivered slightly
    // out of order would lose its direction. Its place in the stream is unknown, so it is left out, as an
    // access without a position is.
    this.sequential.observe(slot, late ? Number.NaN : pos, size);
    this.burst.observe(slot, ts, last, this.sessionOnSchedule(slot));
    this.correlation.observe(slot, ts, first ? Number.POSITIVE_INFINITY : ts - last, newSession);
    this.schedule.observe(slot, ts);
    this.trend.observe(slot, ts);
    this.refresh(slot);
    this.refreshTouched();
    if (this.review.peekTime() <= this.now) this.sweep();
    if (this.now >= this.nextDayAt) this.newDay();
    return slot;
  }

  /**
   * At each new day (engine time, UTC) the trend of every key accessed within its window of days changes,
   * and their views are marked changed: one pass over the keys a day. In the review heap instead, each key
   * would hold an entry until midnight, left behind whenever an earlier review came first or the key was
   * evicted — a heap growing with the day's evictions and bursts, not with the keys. The first day seen
   * only sets the boundary: a restored or new engine has published nothing stale yet.
   */
  private newDay(): void {
    const today = TrendTracker.dayOf(this.now);
    if (this.nextDayAt > 0)
      for (const slot of this.keys.slots())
        if (this.trend.changesOn(slot, today, this.lastAccess(slot))) this.markChanged(slot, CHANGED);
    this.nextDayAt = (today + 1) * DAY_MS;
  }

  /**
   * Reads a word of each cache line of the key's row, and its generation, before any detector uses them.
   * At 100 k keys and more the rows (856 bytes, 14 cache lines) are far beyond the CPU caches, and a session
   * start reads most of the row: read where each detector first needs it, between computations, the
   * misses came one at a time; read together here, they are waited for at once (5-8 % faster on single
   * reads at 100 k keys). Only for a session start: an access within a session reads a few lines of the
   * row, and fetching all fourteen cost it ~8 % (`bench:handler`'s engine share, 0.296 → 0.273 µs per
   * event on batches over 2,000 keys). The values read are not used.
   */
  private prefetch(slot: number): void {
    const u32 = this.row.u32;
    const start = 2 * slot * this.row.stride8;
    const end = start + 2 * this.row.stride8;
    let x = this.keys.generation[slot];
    for (let i = start; i < end; i += 16) x |= u32[i];
    x |= u32[end - 1];
    _prefetched = x;
  }

  /**
   * Moves engine time with the wall clock while traffic is live, then re-judges keys whose view changes
   * with time alone. Call periodically (the service does, a few times per second).
   */
  tick(): void {
    if (this.live) {
      const wall = this.clock();
      if (wall > this.now) this.now = wall;
    }
    this.sweep();
    if (this.now >= this.nextDayAt) this.newDay();
  }

  /** Entries in the review heap, stale ones included (the soak checks that it stays bounded). */
  get pendingReviews(): number {
    return this.review.size;
  }

  /** Is an event at `ts` live traffic (within `liveWindowMs` of the wall clock of this batch)? */
  isLiveTime(ts: number): boolean {
    return this.wall > 0 && Math.abs(this.wall - ts) <= this.cfg.liveWindowMs;
  }

  /** Is engine time currently following the wall clock? */
  get isLive(): boolean {
    return this.live;
  }

  private sweep(): void {
    const h = this.review;
    while (h.size > 0 && h.peekTime() <= this.now) {
      const slot = h.peekId();
      const gen = h.peekGen();
      const at = h.peekTime();
      h.pop();
      if (this.keys.generation[slot] !== gen || this.reviewAt(slot) !== at) continue;
      this.setReviewAt(slot, 0);
      // Its view changes later than when it was scheduled (a bursting key accessed since): look again then.
      const due = this.nextChange(slot, at - 1);
      if (due > this.now) {
        this.scheduleReview(slot, due);
        continue;
      }
      // A session that began on the key's schedule stays expected at its reviews: judged as unexpected
      // there, a nightly run of 300 reads in 15 s became a burst when the next run's time passed (a
      // fourth outside evaluation).
      this.burst.evaluate(slot, this.now, this.sessionOnSchedule(slot), this.deliveryLag(slot));
      this.periodic.expire(slot, this.now - this.deliveryLag(slot));
      this.refresh(slot);
    }
    this.refreshTouched();
  }

  /**
   * Recomputes the pattern mask of a key and records the change for publishing and saving. A key becomes
   * correlated only when one of its rules is set, which lists it in `correlation.touched` (`partnersChanged`
   * is true when refreshing those): otherwise a key that was not correlated still is not, and the rules'
   * scan (most keys have none) is skipped.
   */
  private refresh(slot: number, partnersChanged = false): void {
    const { row, coreAt } = this;
    const r8 = slot * row.stride8;
    const r1 = 8 * r8;
    const old = row.u8[r1 + coreAt.mask];
    let mask = 0;
    if (this.burst.isActive(slot)) mask |= BURST;
    if (this.periodic.isActive(slot)) mask |= PERIODIC;
    if ((partnersChanged || old & CORRELATED) && this.correlation.isActive(slot)) mask |= CORRELATED;
    if (this.sequential.isActive(slot)) mask |= SEQUENTIAL;
    else if (this.sequential.hasPositions(slot)) mask |= RANDOM;
    if (mask === 0) mask = RANDOM;
    if (mask !== old) {
      this.countPatterns(old, -1);
      this.countPatterns(mask, 1);
      row.u8[r1 + coreAt.mask] = mask;
      this.setChanges++;
    }
    this.markChanged(slot, mask !== old ? URGENT : CHANGED);
    this.scheduleReview(slot, this.nextChange(slot, this.now));
  }

  /**
   * When, after `after`, the key's view next changes with time alone (Infinity: never): a burst ends, a
   * schedule expires, a periodic key's next run comes within the announcement or its `next_ts` passes
   * (a missed run: the view moves on to the run after it), the predictions of its latest access are all
   * overdue (a stream that stopped, a leader whose followers came or not). A new day, which changes the trends, is
   * `newDay`'s. Without these reviews a key that went quiet kept a retained state from its last access —
   * `next_ts` of a run missed an hour before, the trend of days ago — while the bridge's answers, computed
   * when asked, had moved on.
   */
  private nextChange(slot: number, after: number): number {
    const lag = this.deliveryLag(slot);
    return Math.min(
      this.burst.endsAt(slot) + lag,
      this.periodic.expiresAt(slot) + lag,
      this.periodic.viewChangesAt(slot, after - lag, this.announceAheadMs) + lag,
      this.predictionsExpireAt(slot, after - lag) + lag,
    );
  }

  /**
   * Puts the key in the review heap at `next` unless it is already there at that time or earlier: the
   * review then finds the later time and moves the key there (`sweep`). Pushed whenever the time changed,
   * a bursting key — whose end moves on with each access — left an entry per access in the heap, each kept
   * for up to a burst window: a heap growing with the event rate, not with the keys (at 10 k/s, 600 k
   * entries a minute for one key).
   */
  private scheduleReview(slot: number, next: number): void {
    const at = this.reviewAt(slot);
    if (!Number.isFinite(next) || (at > 0 && at <= next)) return;
    this.setReviewAt(slot, next);
    this.review.push(next, slot, this.keys.generation[slot]);
  }

  /** Keys whose correlation status changed through another key's event. */
  private refreshTouched(): void {
    const touched = this.correlation.touched;
    while (touched.length > 0) {
      const slot = touched.pop();
      if (this.keys.keys[slot]) this.refresh(slot, true);
    }
  }

  private countPatterns(mask: number, delta: number): void {
    for (let i = 0; i < PATTERNS.length; i++) if (mask & (1 << i)) this.patternCounts[i] += delta;
  }

  private markChanged(slot: number, level: number): void {
    const flags = this.row.u8;
    const changed = this.flagIndex(slot, this.flagAt.changed);
    const store = this.flagIndex(slot, this.flagAt.store);
    if (flags[changed] === 0) this.changeList.push(slot);
    if (level > flags[changed]) flags[changed] = level;
    if ((flags[store] & UNSAVED) === 0) {
      flags[store] |= UNSAVED;
      this.unsavedList.push(slot);
    }
  }

  private add(key: string): number {
    if (this.keys.isFull()) this.evict(this.keys.oldest);
    const cap = this.keys.nextCapacity();
    if (cap > this.row.capacity) this.row.grow(cap);
    // A fresh slot is zero from allocation, a reused one was cleared when its key was dropped.
    return this.keys.add(key, cap);
  }

  private evict(slot: number): void {
    this.evictions++;
    this.drop(slot);
  }

  private drop(slot: number): string {
    // Its partners lose a rule: re-judge them once the key is gone (refreshTouched, after the event).
    const partners = this.correlation.touched;
    for (const r of this.correlation.rules(slot)) partners.push(r.slot);
    this.countPatterns(this.maskOf(slot), -1);
    const exported = (this.row.u8[this.flagIndex(slot, this.flagAt.store)] & EXPORTED) !== 0;
    // Its flags go too: lists that still name the slot skip it (no key, or a new key with flags of its own).
    this.row.clear(slot);
    const key = this.keys.remove(slot);
    this.evictedKeys.push(key);
    if (exported) this.deletedKeys.push(key);
    return key;
  }

  /** Forgets a key entirely (bridge `forget`). Returns false if it was not tracked. */
  forget(key: string): boolean {
    const slot = this.keys.slotOf(key);
    if (slot < 0) return false;
    this.drop(slot);
    this.refreshTouched();
    return true;
  }

  /**
   * Forgets every key, and engine time with them: a user who tried patternd live and then replays a log
   * from last week starts over as a fresh engine would. Kept, engine time stayed at the live traffic's, and
   * every replayed event was a late one (an outside evaluation: 1,468 late events, no predictions).
   */
  reset(): void {
    for (const slot of [...this.keys.slots()]) this.drop(slot);
    this.correlation.touched.clear();
    this.review.clear();
    this.now = 0;
    this.nextDayAt = 0;
    this.live = false;
    this.delivery.clear();
  }

  /** Hands over keys whose view changed since the last call; `urgent` when their pattern set changed. */
  drainChanges(fn: (slot: number, urgent: boolean) => void): void {
    const list = this.changeList;
    for (let i = 0; i < list.length; i++) {
      const slot = list.at(i);
      const changed = this.flagIndex(slot, this.flagAt.changed);
      const level = this.row.u8[changed];
      this.row.u8[changed] = 0;
      if (level && this.keys.keys[slot]) fn(slot, level === URGENT);
    }
    list.clear();
  }

  /** Keys removed (evicted or forgotten) since the last call. */
  drainRemoved(): string[] {
    return this.evictedKeys.splice(0, this.evictedKeys.length);
  }

  /** Of the keys removed since the last call, those whose rows were exported to a store (or restored from it). */
  drainDeleted(): string[] {
    return this.deletedKeys.splice(0, this.deletedKeys.length);
  }

  /** Keys whose stored state is out of date since the last call. */
  drainUnsaved(fn: (slot: number) => void): void {
    const list = this.unsavedList;
    for (let i = 0; i < list.length; i++) {
      const slot = list.at(i);
      this.row.u8[this.flagIndex(slot, this.flagAt.store)] &= ~UNSAVED;
      if (this.keys.keys[slot]) fn(slot);
    }
    list.clear();
  }

  get counters(): EngineCounters {
    const patterns = {} as Record<PatternName, number>;
    PATTERNS.forEach((p, i) => {
      patterns[p] = this.patternCounts[i];
    });
    return { keys: this.keys.size, evicted: this.evictions, lateEvents: this.lateEvents, patterns };
  }

  patternsOf(slot: number): PatternName[] {
    return patternsOf(this.maskOf(slot));
  }

  /** The key's pattern bit mask (bits in `PATTERNS` order). */
  maskOf(slot: number): number {
    return this.row.u8[8 * slot * this.row.stride8 + this.coreAt.mask];
  }

  accessesOf(slot: number): number {
    return this.row.f64[slot * this.row.stride8 + this.coreAt.accesses];
  }

  /** Event time of the key's first and latest accesses. */
  firstAccess(slot: number): number {
    return this.row.f64[slot * this.row.stride8 + this.coreAt.first];
  }

  lastAccess(slot: number): number {
    return this.row.f64[slot * this.row.stride8 + this.coreAt.last];
  }

  /** When the key is due in the review heap (0: not scheduled). */
  private reviewAt(slot: number): number {
    return this.row.f64[slot * this.row.stride8 + this.coreAt.reviewAt];
  }

  private setReviewAt(slot: number, at: number): void {
    this.row.f64[slot * this.row.stride8 + this.coreAt.reviewAt] = at;
  }

  /** Index in the byte view of a flag of `slot`. */
  private flagIndex(slot: number, flag: number): number {
    return 8 * slot * this.row.stride8 + flag;
  }

  private sourceOf(slot: number): string | null {
    const id = this.row.u16[4 * slot * this.row.stride8 + this.coreAt.source];
    return id > 0 ? this.sources[id - 1] : null;
  }

  /** The contract's pattern state of a key at engine time. */
  view(slot: number): PatternState {
    const now = this.now;
    const mask = this.maskOf(slot);
    const first = this.firstAccess(slot);
    const last = this.lastAccess(slot);
    const scores = roundScores({
      sequential: this.sequential.score(slot),
      random: this.randomScore(slot, mask),
      periodic: this.periodic.score(slot),
      burst: this.burst.score(slot),
      correlated: this.correlation.score(slot),
    });
    const pattern = dominant(mask, scores);
    const own = this.ownTime(slot, now);
    return {
      key: this.keys.keys[slot],
      pattern,
      confidence: scores[pattern],
      patterns: patternsOf(mask),
      scores,
      sequential: mask & SEQUENTIAL ? this.sequential.detail(slot) : null,
      periodic: mask & PERIODIC ? this.periodic.detail(slot, own) : null,
      burst: mask & BURST ? this.burst.detail(slot, own) : null,
      correlated: mask & CORRELATED ? this.partners(slot) : [],
      schedule: this.schedule.detail(slot, first, last),
      trend: this.trend.detail(slot, now),
      source: this.sourceOf(slot),
      accesses: this.accessesOf(slot),
      first_ts: Math.round(first),
      last_ts: Math.round(last),
      updated_ts: Math.round(now),
    };
  }

  /**
   * `random` means "no structure found": with positions, one minus the sequential score; without, the
   * room the other scores leave.
   */
  private randomScore(slot: number, mask: number): number {
    if (!(mask & RANDOM)) return 0;
    if (this.sequential.hasPositions(slot)) return 1 - this.sequential.score(slot);
    return 1 - Math.max(this.periodic.score(slot), this.burst.score(slot), this.correlation.score(slot));
  }

  private partners(slot: number): CorrelatedPartner[] {
    return this.correlation
      .rules(slot)
      .map(
        (r): CorrelatedPartner => ({
          key: this.keys.keys[r.slot],
          confidence: round(r.confidence, 2),
          lag_s: round(r.lagMs / 1000, 2),
          direction: r.after ? 'after' : 'before',
          support: r.support,
        }),
      )
      .sort((a, b) => b.confidence - a.confidence);
  }

  viewOf(key: string): PatternState | null {
    const slot = this.keys.slotOf(key);
    return slot < 0 ? null : this.view(slot);
  }

  // ---- persistence: rows of every table, byte for byte ----

  /** Layout signature: stored rows load as they are into an engine with the same layout. */
  get layout(): string {
    return layoutOf(this.persisted);
  }

  /** How rows stored under an earlier layout are read into this one; null if they cannot be. */
  migrationFrom(layout: string): RowMigration | null {
    return rowMigration(layout, this.persisted);
  }

  /** Bytes of a key's stored state (a snapshot row). */
  get rowBytes(): number {
    let n = 0;
    for (const t of this.stored) n += t.rowBytes;
    return n;
  }

  /**
   * Bytes a tracked key occupies in the engine: its state row (with the bookkeeping never stored and the
   * row's padding) and its registry entry (generation, LRU links).
   */
  get slotBytes(): number {
    return this.row.slotBytes + KeyRegistry.SLOT_BYTES;
  }

  /** The key's stored row; from now on its removal is reported by `drainDeleted` too. */
  exportRow(slot: number): Uint8Array {
    this.row.u8[this.flagIndex(slot, this.flagAt.store)] |= EXPORTED;
    const out = new Uint8Array(this.rowBytes);
    let off = 0;
    for (const t of this.stored) off = t.writeRow(slot, out, off);
    return out;
  }

  /** Global state that is not per key. */
  exportMeta(): EngineMeta {
    return {
      now: this.now,
      layout: this.layout,
      sources: this.sources,
      deliveryLags: this.delivery.export(this.sources.length),
    };
  }

  /** The latest access time held in a stored row (the core section comes first: accesses, first, last). */
  lastAccessOfRow(row: Uint8Array): number {
    return new DataView(row.buffer, row.byteOffset, row.length).getFloat64(STORED_LAST_OFFSET, true);
  }

  /**
   * Restores one key at its original slot and generation (so references between keys stay valid).
   * Call `finishRestore` after the last one.
   */
  importRow(key: string, slot: number, generation: number, row: Uint8Array): void {
    if (slot >= this.cfg.maxKeys || this.keys.slotOf(key) >= 0 || row.length !== this.rowBytes) return;
    if (slot >= this.row.capacity)
      this.row.grow(Math.min(this.cfg.maxKeys, Math.max(slot + 1, this.row.capacity * 2)));
    if (this.keys.keys[slot]) return;
    this.keys.restore(key, slot, generation);
    let off = 0;
    for (const t of this.stored) off = t.readRow(slot, row, off);
    this.row.u8[this.flagIndex(slot, this.flagAt.store)] |= EXPORTED;
  }

  finishRestore(meta: EngineMeta | null): void {
    this.keys.finishRestore();
    if (meta && meta.now > this.now) this.now = meta.now;
    if (meta && this.sources.length === 0) {
      for (const name of meta.sources ?? []) this.sourceId(name);
      // A store from before the lags were kept has none: they are learned again within a batch window.
      if (Array.isArray(meta.deliveryLags)) this.delivery.restore(meta.deliveryLags, this.now);
    }
    this.patternCounts.fill(0);
    this.review.clear();
    // Eviction order follows recency: touch keys from the least to the most recently accessed.
    const restored = [...this.keys.slots()].sort((a, b) => this.lastAccess(a) - this.lastAccess(b));
    for (const slot of restored) this.keys.touch(slot);
    for (const slot of restored) {
      this.countPatterns(this.maskOf(slot), 1);
      const at = this.reviewAt(slot);
      if (at > 0) this.review.push(at, slot, this.keys.generation[slot]);
      const changed = this.flagIndex(slot, this.flagAt.changed);
      if (this.row.u8[changed] === 0) this.changeList.push(slot);
      this.row.u8[changed] = CHANGED;
    }
  }
}

export interface EngineMeta {
  now: number;
  layout: string;
  sources: string[];
  /** How late each source's events lately arrived (ms), by its index in `sources`. */
  deliveryLags?: number[];
}
