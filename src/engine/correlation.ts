import { probit } from 'simple-statistics';
import type { EngineConfig } from '../config.ts';
import type { KeyRegistry } from './keys.ts';
import { SlotStack } from './slots.ts';
import { binomialUpperTail } from './stats.ts';
import type { FieldIndex, RowTable } from './table.ts';

/**
 * Correlated keys: "B is accessed within `maxLagMs` after A" as a rule A → B with a confidence.
 *
 * Counting is per *episode* of A (a session: accesses closer than the session gap), so a movie read in
 * 2,000 requests followed by one subtitle read is one piece of evidence, not 2,000.
 *   - A global ring remembers `recentKeys` distinct keys, those that entered it last (key slot, latest
 *     access time, episode). When B's session starts, every A in the ring within the lag gets one credit
 *     for B per A-episode (Probability-Graph style, with bounded memory): O(ring) per session start, O(1)
 *     per other access, no scan over keys. Event time decides, not arrival: when A's session starts
 *     and the ring holds a B whose session began after it within the lag (A's device sent its log late),
 *     A is credited with B the same way.
 *   - Each key keeps its `partnersPerKey` strongest followers (slot + generation, so an evicted and reused
 *     slot is never mistaken for the old key); a new follower replaces the weakest — fewest follows, and
 *     of those the one first seen longest ago (Space-Saving spirit).
 *   - A rule holds when B followed at least `minSupport` episodes of A, in at least `minConfidence` of
 *     them, and that many is improbable by coincidence (binomial tail < `maxPValue`). Each episode of A
 *     adds the chance that B lands in it by itself: B's rate at that time (its recent rate while higher)
 *     times A's mean episode window — all of its lag windows together, so a long session of A (a backup
 *     reading for minutes) is not "followed" by every key that is busy meanwhile. A hot key that is
 *     accessed every few seconds anyway follows everything and is therefore correlated with nothing.
 *   - Two keys that both run on their own schedules coincide without one causing the other: between two
 *     periodic keys a rule also needs a lag far steadier than their schedules' jitter.
 * The follower learns about its leaders through a small back-reference list, so both list each other.
 */
const schema = {
  /** Episodes (sessions) of this key, as a leader. */
  episodes: ['u32', 1],
  /**
   * Total time (ms) during which a follower would have been credited: the union of the `maxLagMs`
   * windows after each access. Divided by the episodes it is the window of one episode, which sets the
   * chance that an unrelated key shows up in it.
   */
  coverage: ['f32', 1],
  /**
   * One record of `WORDS` 32-bit words per follower entry (see the offsets below), interleaved rather
   * than a column per field: crediting reads an entry's slot, generation, count and episode together and
   * a new follower writes all of them, so at 100 k keys and more one cache line serves what took eight.
   */
  partners: ['u32', 0],
  /**
   * Per follower entry: `RULE` while its rule holds; `PRECEDES` when the entry counts this key's episodes
   * that its partner preceded, rather than the partner following this key's episodes.
   */
  ruleActive: ['u8', 0],
  /** Keys whose rule points at this key (leader slot + generation), so the follower can list them. */
  leaderSlot: ['i32', 0],
  leaderGen: ['u32', 0],
} as const;

export const LEADERS_PER_KEY = 4;

/** Bookkeeping in the key's row that is never stored (see `checked` and `ringAt` below). */
export const correlationScratchFields = { checked: ['u16', 1], ringAt: ['u8', 1] } as const;

/** Words of a follower entry in `partners`, and the offset of each field in it. */
const WORDS = 8;
/** Follower slot and generation (u32). */
const SLOT = 0;
const GEN = 1;
/** Episodes of this key that were followed by the follower (f32). */
const COUNT = 2;
/** Last episode of this key credited to the follower: one credit per episode (u32). */
const EPISODE = 3;
/** Sum of lags (ms) and of squared lags (ms², how consistent the lag is) (f32). */
const LAG_SUM = 4;
const LAG_SQUARES = 5;
/**
 * Episodes of this key the follower would have followed by chance, summed over the episodes since it
 * was first seen: each adds the chance that the follower, at its rate at that time, lands in the episode (f32).
 */
const EXPECTED = 6;
/** Episode count of this key when the follower was first seen: trials = episodes − since (u32). */
const SINCE = 7;

type CorrelationSchema = {
  [K in keyof typeof schema]: readonly [(typeof schema)[K][0], number];
};

/** The detector's row section for `partners` follower entries per key. */
export function correlationFields(partners: number): CorrelationSchema {
  const s: Record<string, readonly [string, number]> = {};
  for (const [name, [kind, width]] of Object.entries(schema)) {
    const per = name === 'partners' ? partners * WORDS : partners;
    const w = name.startsWith('leader') ? LEADERS_PER_KEY : width === 0 ? per : width;
    s[name] = [kind, w] as const;
  }
  return s as CorrelationSchema;
}

export interface RuleView {
  slot: number;
  confidence: number;
  lagMs: number;
  support: number;
  /** The partner comes after the key (it follows, or the key precedes it). */
  after: boolean;
}

/** Information the detector needs about other keys, provided by the engine. */
export interface KeyRates {
  /** Access rate of a key around `now` (its usual rate, or its recent one while higher), per ms. */
  rate(slot: number, now: number): number;
  /** Its usual rate alone, from history that is not recent, per ms. */
  usualRate(slot: number, now: number): number;
  /**
   * Spread (ms) of the key's timing: around its periodic schedule, or of its gaps while it keeps a steady
   * pace; NaN when it does neither.
   */
  timingJitter(slot: number): number;
  /** The chance that the key starts a run between `from` and `to` by its periodic schedule; NaN if it keeps none. */
  scheduleChance(slot: number, from: number, to: number): number;
  /** Has the key too few occurrences for the periodic detector to judge, keeping time like a schedule? */
  isUndecidedSchedule(slot: number): boolean;
  /** Event time of the key's first access. */
  firstAccess(slot: number): number;
}

export class CorrelationDetector {
  /** The engine's state row; this detector owns the section `fields`. */
  private readonly row: RowTable;
  private readonly at: FieldIndex<CorrelationSchema>;
  private readonly k: number;
  private readonly ringSlot: Int32Array;
  private readonly ringGen: Uint32Array;
  private readonly ringTs: Float64Array;
  private readonly ringEpisode: Uint32Array;
  /** When the entry's key began the session of its latest access (NaN: before it entered the ring). */
  private readonly ringSessionTs: Float64Array;
  /**
   * How long the entry's key was quiet before the session of its latest access began (Infinity: its first,
   * or a session under way when it entered the ring): the pace at which it begins sessions, which says
   * whether a key that precedes another would do so anyway, without reading its row.
   */
  private readonly ringGap: Float64Array;
  private ringHead = 0;
  /** See `rateOf`; −1 until read for the access being credited. */
  private followerRate = -1;
  private ringSize = 0;
  /**
   * Per key, never stored:
   *   - `checked`: the registry's removal count (its low 16 bits) when all of its follower entries were
   *     last seen alive. Finding the weakest entry must prefer dead ones (followers since evicted), which
   *     takes a look at each follower's generation — a cache miss each at 100 k keys, six per leader and up
   *     to `recentKeys` leaders per session start. While no key was removed since, none can have died (after
   *     a multiple of 65,536 removals a dead entry may be taken for alive: it is then replaced by strength,
   *     like a live one, and a dead follower never holds a rule);
   *   - `ringAt`: where the key's entry in the ring of recent keys is, if the entry there is still its own
   *     (`recentKeys` is at most 256).
   */
  private readonly scratch: FieldIndex<typeof correlationScratchFields>;
  /** Keys whose correlated status may have changed by another key's event (drained by the engine). */
  readonly touched = new SlotStack();

  /** `fields`: the row section made with `correlationFields(cfg.partnersPerKey)`. */
  constructor(
    private readonly cfg: EngineConfig['correlation'],
    row: RowTable,
    fields: CorrelationSchema,
    private readonly keys: KeyRegistry,
    private readonly rates: KeyRates,
  ) {
    this.k = cfg.partnersPerKey;
    this.row = row;
    this.at = row.fieldsOf(fields);
    this.scratch = row.fieldsOf(correlationScratchFields);
    const w = cfg.recentKeys;
    this.ringSlot = new Int32Array(w);
    this.ringGen = new Uint32Array(w);
    this.ringTs = new Float64Array(w);
    this.ringEpisode = new Uint32Array(w);
    this.ringSessionTs = new Float64Array(w);
    this.ringGap = new Float64Array(w);
  }

  /** Index in the 32-bit views of `field` of `slot` (a scalar, or the first of an array). */
  private word(slot: number, field: number): number {
    return 2 * slot * this.row.stride8 + field;
  }

  /** Index in the 32-bit views of follower entry `n` of `leader` (its `WORDS` words follow). */
  private entry(leader: number, n: number): number {
    return this.word(leader, this.at.partners) + n * WORDS;
  }

  /** Index in the byte view of the rule flag of follower entry `n` of `leader`. */
  private ruleFlag(leader: number, n: number): number {
    return 8 * leader * this.row.stride8 + this.at.ruleActive + n;
  }

  /**
   * A new episode (session) of `slot` begins: a new trial for each of its followers, with the chance of
   * being followed by coincidence at the follower's current rate; rules may lapse without followers.
   */
  episodeStarted(slot: number, now: number): void {
    const { u32, f32, u8 } = this.row;
    // Rules are judged on the episodes that are over: the one beginning now cannot have been followed yet.
    // Counted as a miss at its start, it dropped a rule of four follows of four until its follower came a
    // second later (an outside evaluation, live: a sync file and its index, 1-56 s off at their fifth or
    // sixth episode).
    for (let n = 0; n < this.k; n++)
      if (u8[this.ruleFlag(slot, n)] & RULE && !this.holds(slot, n)) this.setRule(slot, n, false);
    const episode = ++u32[this.word(slot, this.at.episodes)];
    for (let n = 0; n < this.k; n++) {
      const p = this.entry(slot, n);
      // A follower seen once is a candidate, and most are coincidences replaced before their second
      // follow: its expected count is caught up if it follows again (`credit`), which spares reading
      // the row of each — a cache miss apiece — at every episode of every leader.
      if (f32[p + COUNT] > 1) {
        const byItself = this.byItself(slot, n, now, false);
        // A follower that is busy anyway would land in this episode by itself: the episode tells nothing
        // about the rule either way, and is no trial (nor a follow). Counted, a phone's sync file and the
        // thumbnail index written after it, both busy for minutes each morning, had hundreds of such
        // episodes that buried the one a morning that said something: never correlated (an outside
        // evaluation).
        if (byItself >= BUSY_FOLLOWER_CHANCE) {
          u32[p + SINCE]++;
          u32[p + EPISODE] = episode;
        } else f32[p + EXPECTED] += byItself;
      }
    }
  }

  /**
   * The chance that the partner of entry `n` of `owner` lands in the entry's window of an episode of `owner`
   * beginning at `now` by itself: at its rate (`usual`: its usual rate alone), or by its schedule while it is
   * periodic and that says more. At its rate, a job every 15 minutes had a chance of 0.006 of coming within
   * 5 s after a job at the same minute of each hour, which it did in a third of the hours by its own timing;
   * four such follows in a row were a rule of confidence 1 for an hour (an outside evaluation, and
   * `correlation.test.ts`), where the contract wants schedules that merely coincide left alone. Never less
   * than at its rate: between its beats its schedule gives almost none, and a key that passed for periodic
   * by chance would make its coincidences look like evidence.
   */
  private byItself(owner: number, n: number, now: number, usual: boolean): number {
    const partner = this.row.u32[this.entry(owner, n) + SLOT];
    const window = this.windowOf(owner, n);
    // A partner that precedes lands in the window before the episode; a follower, in the one after.
    const from = this.row.u8[this.ruleFlag(owner, n)] & PRECEDES ? now - window : now;
    const scheduled = this.rates.scheduleChance(partner, from, from + window);
    const atRate = chance(this.partnerRate(owner, n, now, usual), window);
    return Number.isNaN(scheduled) ? atRate : Math.max(scheduled, atRate);
  }

  /**
   * The window a partner of entry `n` of `owner` could land in by itself at each of its episodes: for a
   * follower, the owner's mean episode coverage; for a partner that precedes, the lag before the episode.
   */
  private windowOf(owner: number, n: number): number {
    return this.row.u8[this.ruleFlag(owner, n)] & PRECEDES ? this.cfg.maxLagMs : this.window(owner);
  }

  /** The leader's mean episode coverage (all of its lag windows together), ms. */
  private window(leader: number): number {
    const { u32, f32 } = this.row;
    return f32[this.word(leader, this.at.coverage)] / Math.max(u32[this.word(leader, this.at.episodes)], 1);
  }

  /**
   * Records an access of `slot` at `ts`, `sincePrevious` ms after its previous one (Infinity for the first):
   * credits it as follower of recent keys, then remembers it.
   */
  observe(slot: number, ts: number, sincePrevious: number, newSession: boolean): void {
    if (sincePrevious >= 0)
      this.row.f32[this.word(slot, this.at.coverage)] += Math.min(sincePrevious, this.cfg.maxLagMs);
    const w = this.ringSlot.length;
    const gen = this.keys.generation[slot];
    this.followerRate = -1;
    // Only a session's first access can follow a leader: later ones belong to a session already under way
    // (a key busy all the time follows everything and is evidence of nothing), and skipping them keeps a
    // streaming key's thousands of reads from rescanning the ring.
    const episode = this.row.u32[this.word(slot, this.at.episodes)];
    for (let n = 0, i = this.ringHead; newSession && n < this.ringSize; n++) {
      i = (i === 0 ? w : i) - 1;
      // The ring is in order of entry, not of latest access: every entry is looked at.
      const other = this.ringSlot[i];
      let lag = ts - this.ringTs[i];
      const ahead = this.ringSessionTs[i] - ts;
      const follows = lag >= 0 && lag <= this.cfg.maxLagMs;
      const leads = ahead > 0 && ahead <= this.cfg.maxLagMs;
      if (!(follows || leads) || other === slot || this.keys.generation[other] !== this.ringGen[i]) continue;
      if (follows) {
        // The lag from the leader's session start when that is within the window (its latest access
        // otherwise: a film's subtitles come at its start, a player's state at any of its reads). From the
        // latest read, two jobs at the same minute each reading four times a second apart had lags held
        // under the second between reads, far steadier than their schedules, and passed for a rule (an
        // outside evaluation); and a prefetcher was told a lag of 0.1 s for one of 0.5 s.
        const sinceStart = ts - this.ringSessionTs[i];
        if (sinceStart <= this.cfg.maxLagMs) lag = sinceStart;
        const weakest = this.credit(other, this.ringEpisode[i], slot, gen, lag, ts, FOLLOWS);
        if (weakest >= 0)
          this.addFollower(
            other,
            weakest,
            this.ringEpisode[i],
            slot,
            gen,
            lag,
            this.rateOf(slot, ts),
            FOLLOWS,
          );
        // A key precedes this session when its own began within the lag before: one in the middle of its
        // session is busy anyway (and crediting each such key took a fifth of the engine's time).
        if (sinceStart <= this.cfg.maxLagMs)
          this.creditPreceding(slot, episode, other, this.ringGen[i], lag, ts, this.ringGap[i]);
        continue;
      }
      // Arrived first but began later (event time decides, not arrival: a device that sends its log in
      // batches delivers a leader after a follower that another device published at once): the entry's
      // session follows this one.
      const at = this.ringSessionTs[i];
      const weakest = this.credit(slot, episode, other, this.ringGen[i], ahead, at, FOLLOWS);
      if (weakest >= 0)
        this.addFollower(
          slot,
          weakest,
          episode,
          other,
          this.ringGen[i],
          ahead,
          this.rates.rate(other, at),
          FOLLOWS,
        );
      this.creditPreceding(other, this.ringEpisode[i], slot, gen, ahead, at, sincePrevious);
    }
    this.remember(slot, gen, ts, episode, newSession, sincePrevious);
  }

  /**
   * Credits `partner` with preceding episode `episode` of `slot` (by `lag` ms): the rule seen from the side
   * of the key that comes second. A follow counts against the leader's episodes, so a leader that is often
   * accessed alone hides a follower that never comes without it: a sync client polling its state file all
   * day, and the thumbnail index written only after the file's morning writes, 0.5-2 s later, every time
   * (an outside evaluation; the contract's "regularly followed (or preceded)"). Crediting touches the
   * follower's own row, in cache as it is being accessed; a new entry takes the partner's pace from the ring
   * (`partnerGap`, ms) rather than its rate from its row: read there, it cost a third of the engine's speed
   * on single reads at 100 k keys. Its chance is caught up at its second credit as any entry's.
   */
  private creditPreceding(
    slot: number,
    episode: number,
    partner: number,
    gen: number,
    lag: number,
    ts: number,
    partnerGap: number,
  ): void {
    const n = this.credit(slot, episode, partner, gen, lag, ts, PRECEDES);
    if (n >= 0) this.addFollower(slot, n, episode, partner, gen, lag, 1 / partnerGap, PRECEDES);
  }

  /**
   * Remembers the key's latest access in the ring of recent keys. The ring holds distinct keys: counted per
   * access, two films streaming at once filled it with their reads every few hundred milliseconds, and a
   * key read a second before was no longer there to be followed (one pair in ten was found). A key already
   * in the ring updates its entry where it is, found through `ringAt` in its row; a new key takes the place
   * of the one that entered the ring longest ago. That key may still be busy (a stream): it is back at its
   * next read. Entries moved to the front at each access instead kept the ring in order of last access, but
   * scanning for the key and moving entries cost 5-10 % of the engine's time on interleaved sessions.
   */
  private remember(
    slot: number,
    gen: number,
    ts: number,
    episode: number,
    newSession: boolean,
    sincePrevious: number,
  ): void {
    const { ringSlot, ringGen } = this;
    let at = this.ringIndexOf(slot, gen);
    if (at < 0) {
      at = this.ringHead;
      this.ringHead = at + 1 === ringSlot.length ? 0 : at + 1;
      if (this.ringSize < ringSlot.length) this.ringSize++;
      this.row.u8[8 * slot * this.row.stride8 + this.scratch.ringAt] = at;
      ringSlot[at] = slot;
      ringGen[at] = gen;
      this.ringSessionTs[at] = Number.NaN;
      this.ringGap[at] = Number.POSITIVE_INFINITY;
    }
    if (newSession) {
      this.ringSessionTs[at] = ts;
      this.ringGap[at] = sincePrevious;
    }
    this.ringTs[at] = ts;
    this.ringEpisode[at] = episode;
  }

  /** Where the key (of generation `gen`) is in the ring of recent keys, or −1. */
  private ringIndexOf(slot: number, gen: number): number {
    const at = this.row.u8[8 * slot * this.row.stride8 + this.scratch.ringAt];
    return at < this.ringSize && this.ringSlot[at] === slot && this.ringGen[at] === gen ? at : -1;
  }

  /**
   * The rate (per ms) at which the partner of entry `n` of `owner` would land in the entry's window by
   * itself around `now`: a follower's access rate (`usual`: its usual one alone); a key that precedes, the
   * rate at which it begins sessions, since only a session's start precedes. Read as an access rate, a film
   * streaming since a second, paused often, was a key busy all the time: its subtitles, read as each
   * playback starts, were never correlated with it (an outside evaluation).
   */
  private partnerRate(owner: number, n: number, now: number, usual: boolean): number {
    const partner = this.row.u32[this.entry(owner, n) + SLOT];
    if (this.row.u8[this.ruleFlag(owner, n)] & PRECEDES) return this.sessionRate(partner, now);
    return usual ? this.rates.usualRate(partner, now) : this.rates.rate(partner, now);
  }

  /**
   * Sessions `slot` begins per ms around `now`: its long-run rate, or while faster its pace at its latest
   * session's start (a key paused and resumed every minute), while it is in the ring of recent keys.
   */
  private sessionRate(slot: number, now: number): number {
    const sessions = this.row.u32[this.word(slot, this.at.episodes)];
    const longRun = sessions / Math.max(now - this.rates.firstAccess(slot), this.cfg.maxLagMs);
    const at = this.ringIndexOf(slot, this.keys.generation[slot]);
    if (at < 0) return longRun;
    return Math.max(longRun, 1 / this.ringGap[at]);
  }

  /** Index in the 16-bit view of `checked` of `slot`. */
  private checkedAt(slot: number): number {
    return 4 * slot * this.row.stride8 + this.scratch.checked;
  }

  /**
   * Credits `follower` to `leader`'s episode if it is already one of its followers and returns −1;
   * otherwise returns the entry a new follower takes: its own when its rule had stopped (`stopped`), an
   * empty or dead one first, else the weakest. While
   * no key was removed since the entries were last all seen alive, the same pass finds that entry; else
   * `firstFree` looks at each follower's generation.
   */
  private credit(
    leader: number,
    episode: number,
    follower: number,
    gen: number,
    lag: number,
    ts: number,
    kind: number,
  ): number {
    const { u32, f32, u8 } = this.row;
    let empty = -1;
    let weakest = -1;
    let weakestCount = 0;
    let weakestSince = 0;
    const episodes = u32[this.word(leader, this.at.episodes)];
    for (let n = 0; n < this.k; n++) {
      const p = this.entry(leader, n);
      const count = f32[p + COUNT];
      if (count === 0) {
        if (empty < 0) empty = n;
        continue;
      }
      if (
        u32[p + SLOT] === follower &&
        u32[p + GEN] === gen &&
        (u8[this.ruleFlag(leader, n)] & PRECEDES) === kind
      ) {
        if (u32[p + EPISODE] === episode) return -1;
        if (this.coincidenceAfterStop(leader, n, count, ts)) return n;
        u32[p + EPISODE] = episode;
        // Its second follow: the episodes since its first get their chance of a coincidence at its usual
        // rate (its recent rate now counts the very access being credited).
        if (count === 1)
          f32[p + EXPECTED] +=
            (this.trials(leader, n) - 1) *
            chance(this.partnerRate(leader, n, ts, true), this.windowOf(leader, n));
        f32[p + COUNT]++;
        f32[p + LAG_SUM] += lag;
        f32[p + LAG_SQUARES] += lag * lag;
        if (!(u8[this.ruleFlag(leader, n)] & RULE) && this.holds(leader, n)) this.setRule(leader, n, true);
        return -1;
      }
      const since = u32[p + SINCE];
      // A key that precedes takes the place of a follower only while that is a candidate seen once, before
      // the key's latest episode. Credited at the first access of a session, ahead of its followers, such
      // keys otherwise took the entry of a follower seen in the episode before, every time before the
      // follower could come again (a pair whose follower is also busy on its own was lost), and turned
      // over the entries of followers enough to let chance ones reach a rule (among memoryless keys).
      if (
        kind === PRECEDES &&
        !(u8[this.ruleFlag(leader, n)] & PRECEDES) &&
        (count > 1 || since >= episodes - 2)
      )
        continue;
      if (weakest < 0 || weaker(count, since, weakestCount, weakestSince)) {
        weakest = n;
        weakestCount = count;
        weakestSince = since;
      }
    }
    if (this.row.u16[this.checkedAt(leader)] === (this.keys.removals & 0xffff))
      return empty >= 0 ? empty : weakest;
    const free = this.firstFree(leader);
    return free >= 0 ? free : weakest;
  }

  /**
   * The first entry of `leader` that is empty or whose follower was removed since it was seen, or −1 —
   * then every entry was seen alive, which is noted (entries only die by a removal).
   */
  private firstFree(leader: number): number {
    const { u32, f32 } = this.row;
    for (let n = 0; n < this.k; n++) {
      const p = this.entry(leader, n);
      if (f32[p + COUNT] === 0 || this.keys.generation[u32[p + SLOT]] !== u32[p + GEN]) return n;
    }
    this.row.u16[this.checkedAt(leader)] = this.keys.removals & 0xffff;
    return -1;
  }

  /**
   * A new follower of `leader` takes entry `n` (from `credit`), unless its chance of landing in the
   * leader's episode window by itself, at `followerRate` (per ms), is MAX_NEW_FOLLOWER_CHANCE or more.
   */
  private addFollower(
    leader: number,
    n: number,
    episode: number,
    follower: number,
    gen: number,
    lag: number,
    followerRate: number,
    kind: number,
  ) {
    const expected = chance(followerRate, kind & PRECEDES ? this.cfg.maxLagMs : this.window(leader));
    if (expected >= MAX_NEW_FOLLOWER_CHANCE) return;
    if (this.row.u8[this.ruleFlag(leader, n)] & RULE) this.setRule(leader, n, false);
    this.row.u8[this.ruleFlag(leader, n)] = kind;
    const { u32, f32 } = this.row;
    const p = this.entry(leader, n);
    u32[p + SLOT] = follower;
    u32[p + GEN] = gen;
    f32[p + COUNT] = 1;
    u32[p + EPISODE] = episode;
    f32[p + LAG_SUM] = lag;
    f32[p + LAG_SQUARES] = lag * lag;
    f32[p + EXPECTED] = expected;
    u32[p + SINCE] = episode - 1;
  }

  /** The rate of the key being credited (`observe`), the same for every leader: read once, when first needed. */
  private rateOf(follower: number, ts: number): number {
    if (this.followerRate < 0) this.followerRate = this.rates.rate(follower, ts);
    return this.followerRate;
  }

  /** Trials of follower entry `n` of `leader`: its episodes since the follower was first seen. */
  private trials(leader: number, n: number): number {
    const { u32, f32 } = this.row;
    const p = this.entry(leader, n);
    return Math.max(u32[this.word(leader, this.at.episodes)] - u32[p + SINCE], f32[p + COUNT]);
  }

  /**
   * Does the rule in follower entry `n` of `leader` hold? The trials have different chances (a
   * Poisson-binomial count); the binomial with their mean chance bounds its upper tail (Hoeffding 1956).
   */
  private holds(leader: number, n: number): boolean {
    const { u32, f32 } = this.row;
    const p = this.entry(leader, n);
    const follower = u32[p + SLOT];
    if (this.keys.generation[follower] !== u32[p + GEN]) return false;
    const count = f32[p + COUNT];
    if (count < this.cfg.minSupport) return false;
    const trials = this.trials(leader, n);
    const precedes = (this.row.u8[this.ruleFlag(leader, n)] & PRECEDES) !== 0;
    if (count / trials < (precedes ? PRECEDING_MIN_CONFIDENCE : this.cfg.minConfidence)) return false;
    if (this.stopped(leader, n, count, trials)) return false;
    const chance = Math.min(1, f32[p + EXPECTED] / trials);
    if (!beyondChance(count, trials, chance, this.cfg.maxPValue)) return false;
    return this.beyondSchedules(leader, n, follower, count, trials, chance);
  }

  /**
   * Has the rule stopped: have the leader's latest episodes, since the follower last followed, missed it
   * more times in a row than its confidence makes a 1-in-1/`maxPValue` event? The confidence is read by
   * the rule of succession, (follows + 1) / (trials + 2), so that 4 follows of 4 do not make one miss
   * impossible. Why: counted since the follower was first seen, a rule that stopped holding (a player that
   * no longer fetches subtitles) stayed listed for three times as many episodes as it had held — 900 after
   * 300 — until its share fell under `minConfidence`. A run of misses is what a stop looks like; the same
   * evidence as before is there when the follower comes back, and the rule holds again at its next follow —
   * unless chance explains that follow (`coincidenceAfterStop`). The leader's episode under way is not a
   * miss yet. The run is tested anew at every episode, so its level is shared among the rule's trials
   * (Bonferroni): a run that is a 1-in-1,000 event at one place is one a rule of four follows in five meets
   * every few hundred episodes. Dropped at such a run, a follower that is also read on its own was then taken
   * for chance at its next follows, its entry started over among the candidates of a busy home, and the
   * pair was not found again for 14-21 hours (an outside evaluation: 4 of 135 pairs). A rule of many trials
   * now needs a few misses more to stop: 8 instead of 5 at four in five over 150 trials, 3 instead of 2 for
   * one that never missed in 300. The confidence is the rule's up to its last follow: with the run's own
   * misses in it, each miss made the next less surprising, and a rule of 20 follows in 20 took 13.
   */
  private stopped(leader: number, n: number, count: number, trials: number): boolean {
    const misses = this.sinceFollowed(leader, n) - 1;
    if (misses <= 0) return false;
    const confidence = (count + 1) / (Math.max(trials - misses, count) + 2);
    return misses * Math.log1p(-confidence) < Math.log(this.cfg.maxPValue / trials);
  }

  /** Episodes of `leader` since the one follower entry `n` last followed, the one under way included. */
  private sinceFollowed(leader: number, n: number): number {
    return this.row.u32[this.word(leader, this.at.episodes)] - this.row.u32[this.entry(leader, n) + EPISODE];
  }

  /**
   * Is this follow of a rule that had stopped more likely the follower's own access than the rule
   * resuming: would the follower, at its usual rate, have landed in one of the leader's episodes since its
   * last follow by itself with a chance of `COINCIDENCE_AFTER_STOP` or more? Then the entry starts its
   * evidence over (`credit`): kept, one chance follow after 164 misses in a row listed a dead rule again at
   * its old confidence and support (0.54, 176 follows), for hours each time. A follower that resumes after
   * a short break, which chance rarely explains, finds its rule with its evidence.
   */
  private coincidenceAfterStop(leader: number, n: number, count: number, ts: number): boolean {
    if (count < this.cfg.minSupport || !this.stopped(leader, n, count, this.trials(leader, n))) return false;
    const misses = this.sinceFollowed(leader, n);
    const byItself = this.byItself(leader, n, ts, true);
    return 1 - (1 - byItself) ** misses >= COINCIDENCE_AFTER_STOP;
  }

  /**
   * Two schedules that coincide explain each other's timing without one causing the other. B's lag after
   * A is then the difference of their timing errors, its positive part (a negative one is A following B),
   * cut at `maxLagMs`: it spreads ~0.6-0.85 of the schedules' jitter, and as a lag uniform over the window
   * (`maxLagMs` / √12) once the jitters are wider than that. A follower triggered by its leader keeps a
   * lag far steadier: a quarter of the jitter is asked for (held to half of it, pairs of hourly jobs at the
   * same minute passed every few hours), or half the window's spread, which a lag spread over the whole
   * window is far from whatever the samples (a quarter of it, 0.36 s, refused an hourly job's log read
   * 0.5-2 s after each run, 0.43 s). One schedule is enough to ask it (the other job may be
   * between two fits that refused it), and two keys whose few occurrences keep time like schedules' wait
   * until the periodic detector can judge them. A steady pace is a schedule here too: two pollers whose
   * every gap adds its error to the next (a sensor's log every 30 s, a sync client's state every 58-62 s)
   * keep no schedule, and drift through each other's phase; while close, one followed the other at each
   * read for minutes, and the pair was listed and unlisted 170 times in three days (an outside evaluation).
   */
  private beyondSchedules(
    leader: number,
    n: number,
    follower: number,
    count: number,
    trials: number,
    chance: number,
  ): boolean {
    const jitter = smallerKnown(this.rates.timingJitter(leader), this.rates.timingJitter(follower));
    if (Number.isNaN(jitter))
      return !(this.rates.isUndecidedSchedule(leader) && this.rates.isUndecidedSchedule(follower));
    const f32 = this.row.f32;
    const p = this.entry(leader, n);
    const mean = f32[p + LAG_SUM] / count;
    const spread = Math.sqrt(Math.max(f32[p + LAG_SQUARES] / count - mean * mean, 0));
    if (spread * spreadUpperFactor(count) >= jitter / 4) return false;
    if (spread < this.cfg.maxLagMs / Math.sqrt(12) / 2) return true;
    // The lag spreads like one uniform over the window, which is what any coincidence gives: schedules
    // jittering more than the window, or a busy partner. But schedules that jitter far more than the window
    // seldom bring one key into it after the other: whatever their beats, the partner's timing error
    // relative to the key's spreads at least the smaller jitter, so it lands in the window with a chance of
    // at most window / (jitter · √(2π)) (a normal's peak density; a uniform delay's is lower). Follows that
    // neither this nor the partner's own chance (`chance`, its rate or schedule) can explain are no
    // coincidence, and the count is asked to be as improbable as count and lag spread together were
    // (`LAG_SHAPE_LEVEL`). A film played once an evening at a random time in a two-hour band made its .nfo,
    // read 0.2-3 s after each playback start (lag spread 0.95 s), pass for a daily schedule jittering 705 s,
    // fitted on the very evenings it followed the film: its rule, 6 follows of 6, was dropped at the sixth
    // (an outside evaluation: most of its missed pairs). A memoryless database read every 10 s, seen
    // before 14 of 18 runs of a job every 15 minutes 1-20 s late (chance 0.32 each, p 0.0008: a lucky
    // entry among the many its candidates turn over), stays refused; so do crons at the same minute
    // jittering 30 s (a follow within 5 s: 0.066 at most), short of six in a row.
    const coincide = Math.max(chance, Math.min(1, this.windowOf(leader, n) / (jitter * SQRT_2PI)));
    return beyondChance(count, trials, coincide, this.cfg.maxPValue * LAG_SHAPE_LEVEL);
  }

  private setRule(leader: number, n: number, active: boolean): void {
    const { i32, u32, u8 } = this.row;
    const follower = u32[this.entry(leader, n) + SLOT];
    const leaderGen = this.keys.generation[leader];
    const refSlot = this.word(follower, this.at.leaderSlot);
    const refGen = this.word(follower, this.at.leaderGen);
    if (active) {
      let free = -1;
      let listed = false;
      for (let j = 0; j < LEADERS_PER_KEY; j++) {
        if (i32[refSlot + j] === leader && u32[refGen + j] === leaderGen) listed = true;
        const stale = u32[refGen + j] === 0 || this.keys.generation[i32[refSlot + j]] !== u32[refGen + j];
        if (free < 0 && stale) free = j;
      }
      // No room (the follower already has four leaders): the rule waits for one of them to go. A rule its
      // follower cannot list is one the engine cannot find when the follower goes, and the leader would
      // stay correlated, with no partner, until its own next access (seen in the soak).
      if (!listed && free < 0) return;
      if (!listed) {
        i32[refSlot + free] = leader;
        u32[refGen + free] = leaderGen;
      }
      u8[this.ruleFlag(leader, n)] |= RULE;
    } else {
      u8[this.ruleFlag(leader, n)] &= ~RULE;
      for (let j = 0; j < LEADERS_PER_KEY; j++) {
        if (i32[refSlot + j] === leader && u32[refGen + j] === leaderGen) u32[refGen + j] = 0;
      }
    }
    this.touch(leader, follower);
  }

  private touch(leader: number, follower: number): void {
    this.touched.push(leader);
    this.touched.push(follower);
  }

  /** Is follower entry `n` of `leader` a holding rule whose follower still exists? */
  private liveRule(leader: number, n: number): boolean {
    if (!(this.row.u8[this.ruleFlag(leader, n)] & RULE)) return false;
    const u32 = this.row.u32;
    const p = this.entry(leader, n);
    return this.keys.generation[u32[p + SLOT]] === u32[p + GEN];
  }

  /** Is the key part of any holding rule, as leader or follower? */
  isActive(slot: number): boolean {
    for (let n = 0; n < this.k; n++) if (this.liveRule(slot, n)) return true;
    for (let j = 0; j < LEADERS_PER_KEY; j++) if (this.leaderRule(slot, j) >= 0) return true;
    return false;
  }

  /** The leader named by reference `j` of `slot`. */
  private leaderOf(slot: number, j: number): number {
    return this.row.i32[this.word(slot, this.at.leaderSlot) + j];
  }

  /**
   * Entry of a holding rule about `slot` in the key named by reference `j` of `slot`, from entry `from` on,
   * or −1 (the key may hold two: `slot` follows it, and `slot` precedes it).
   */
  private leaderRule(slot: number, j: number, from = 0): number {
    const { u32, u8 } = this.row;
    const leaderGen = u32[this.word(slot, this.at.leaderGen) + j];
    if (leaderGen === 0) return -1;
    const leader = this.leaderOf(slot, j);
    if (this.keys.generation[leader] !== leaderGen) return -1;
    const gen = this.keys.generation[slot];
    for (let n = from; n < this.k; n++) {
      const p = this.entry(leader, n);
      if (u32[p + SLOT] === slot && u32[p + GEN] === gen && u8[this.ruleFlag(leader, n)] & RULE) return n;
    }
    return -1;
  }

  /** The rule in entry `n` of `owner`, seen from `partner`'s other side (`fromOwner`: seen by the owner). */
  private rule(owner: number, n: number, partner: number, fromOwner: boolean, out: RuleView): RuleView {
    const f32 = this.row.f32;
    const p = this.entry(owner, n);
    const count = f32[p + COUNT];
    const precedes = (this.row.u8[this.ruleFlag(owner, n)] & PRECEDES) !== 0;
    out.slot = partner;
    out.confidence = count / this.trials(owner, n);
    out.lagMs = f32[p + LAG_SUM] / count;
    out.support = count;
    out.after = fromOwner !== precedes;
    return out;
  }

  /** Follower entries per key: `followerAt` takes 0 … partnersPerKey − 1. */
  get partnersPerKey(): number {
    return this.k;
  }

  /**
   * Fills `out` with the rule in entry `n` of `slot` when its partner follows `slot` (what an access of
   * `slot` predicts) and returns true, else false. Allocation-free, for work done on every access.
   */
  followerAt(slot: number, n: number, out: RuleView): boolean {
    if (!this.liveRule(slot, n) || this.row.u8[this.ruleFlag(slot, n)] & PRECEDES) return false;
    this.rule(slot, n, this.row.u32[this.entry(slot, n) + SLOT], true, out);
    return true;
  }

  /**
   * Holding rules involving `slot`, one per partner (the stronger where both keys hold one about the pair):
   * its own entries' and those of the keys whose rules name it.
   */
  rules(slot: number): RuleView[] {
    const out: RuleView[] = [];
    const add = (r: RuleView) => {
      const same = out.findIndex((o) => o.slot === r.slot);
      if (same < 0) out.push(r);
      else if (r.confidence > out[same].confidence) out[same] = r;
    };
    for (let n = 0; n < this.k; n++)
      if (this.liveRule(slot, n))
        add(this.rule(slot, n, this.row.u32[this.entry(slot, n) + SLOT], true, emptyRule()));
    for (let j = 0; j < LEADERS_PER_KEY; j++) {
      const other = this.leaderOf(slot, j);
      for (let n = this.leaderRule(slot, j); n >= 0; n = this.leaderRule(slot, j, n + 1))
        add(this.rule(other, n, other, false, emptyRule()));
    }
    return out;
  }

  /** Best rule confidence involving the key (its `correlated` score). */
  score(slot: number): number {
    let best = 0;
    for (const r of this.rules(slot)) best = Math.max(best, r.confidence);
    return best;
  }
}

/**
 * Is a follower entry with `count` follows, first seen at the leader's episode `since`, weaker than one with
 * `otherCount` and `otherSince`: fewer follows, or as many and first seen longer ago? The age decides
 * between candidates (one follow each): when keys come every second, each of a leader's sessions is
 * "followed" by a dozen of them, and with the first of the weakest replaced, one entry took every newcomer
 * and lost it to the next, while the first few coincidences held the others for good; a real follower then
 * survived only if no other key came before the leader's next session (pairs found among 20 memoryless keys
 * at 0.2/s: 6/10; oldest first: 10/10). Taking the oldest candidate, each lasts through as many newcomers as
 * the leader has entries.
 */
function weaker(count: number, since: number, otherCount: number, otherSince: number): boolean {
  return count < otherCount || (count === otherCount && since < otherSince);
}

export function emptyRule(): RuleView {
  return { slot: -1, confidence: 0, lagMs: 0, support: 0, after: true };
}

/**
 * A key that lands in this share of a leader's episode windows by itself does not become one of its
 * followers: following a quarter to a half of the episodes is what a rule is made of, so such a key could
 * only ever show that it is busy. Taken in, such keys took every follower entry of every leader in a busy
 * home: 40 keys read every five seconds each landed in every 5-second window, and a leader's real follower,
 * seen once per episode, lost its entry to them before it was seen again (half the pairs were found).
 */
const MAX_NEW_FOLLOWER_CHANCE = 0.5;

/** Bits of an entry's byte in `ruleActive`, and the kinds of entry (`FOLLOWS`: no bit). */
const RULE = 1;
const PRECEDES = 2;
const FOLLOWS = 0;

/**
 * A rule seen from the key that comes second holds only when most of its episodes were preceded: "regularly
 * preceded". It is a second test of every pair of keys; at `minConfidence` it doubled the transient false
 * rules among memoryless keys of the accuracy trace.
 */
const PRECEDING_MIN_CONFIDENCE = 0.5;

/** See `episodeStarted`: a follower this likely to land in an episode by itself makes it no trial. */
const BUSY_FOLLOWER_CHANCE = 0.5;

/** See `coincidenceAfterStop`. */
const COINCIDENCE_AFTER_STOP = 0.1;

/**
 * How much wider the spread of lags may be than `follows` of them show, at 90 % confidence: √(k / χ²(k)) with
 * χ²(k) the lower decile of k = follows − 1 degrees of freedom (Wilson-Hilferty). Four or five lags of two
 * pollers drifting through each other's phase were now and then a quarter as spread as their pace, and a rule
 * was listed for one poll (2.3 times as wide at four follows, 1.3 at twenty).
 */
function spreadUpperFactor(follows: number): number {
  const k = Math.max(follows - 1, 1);
  const h = 2 / (9 * k);
  const lowerDecile = k * Math.max(1 - h + LOWER_DECILE_Z * Math.sqrt(h), 0.1) ** 3;
  return Math.sqrt(k / lowerDecile);
}
const LOWER_DECILE_Z = probit(0.1);
const SQRT_2PI = Math.sqrt(2 * Math.PI);

/**
 * Are `count` follows in `trials` improbable at `chance` each, at `level`? The follow that created the entry
 * is why it is being tested, and is no evidence (selection bias): one of each is left out.
 */
function beyondChance(count: number, trials: number, chance: number, level: number): boolean {
  return binomialUpperTail(count - 1, trials - 1, chance) < level;
}

/**
 * How often a lag uniform over the window (any coincidence) shows a sample spread under half of its own,
 * 0.72 s of 1.44, over ten follows (simulated; docs/detection.md): what that test adds to the count's
 * evidence, asked of the count alone where `beyondSchedules` lets schedules far wider than the window go
 * without it.
 */
const LAG_SHAPE_LEVEL = 0.005;

/**
 * Chance that a key at `rate` (per ms) shows up within one episode window (ms) of a leader by itself: at
 * most its rate times the window for any stationary process (more than a Poisson estimate, which a steady
 * reader would beat).
 */
function chance(rate: number, window: number): number {
  return Math.min(1, rate * window);
}

/** The smaller of two values of which either may be NaN (unknown); NaN if both are. */
function smallerKnown(a: number, b: number): number {
  if (Number.isNaN(a)) return b;
  if (Number.isNaN(b)) return a;
  return Math.min(a, b);
}
