import { isUtf8 } from 'node:buffer';
import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.ts';
import { RECENT_MESSAGES, RecentMessages } from './duplicates.ts';
import type { ErrorReporter } from './errors.ts';
import { DECLINED, EventScanner } from './scan.ts';
import { sourceOf, type Topics } from './topics.ts';
import { type AccessEvent, accessEventSchema, describe, isPlainEvent, KEY_REQUIRED } from './validate.ts';

/**
 * Turns `B/access/<source…>` messages into engine observations.
 *
 * A message is one event or a JSON array of up to `maxBatchItems` events. The message as a whole is
 * rejected when it is too large, not JSON, or neither an object nor an array; inside a batch every item
 * stands alone, so one bad item costs only itself. Nothing here throws past `handle`. Messages of plain,
 * valid events are read by the scanner (`scan.ts`) without JSON.parse; every other message, and every
 * rejection, goes through JSON.parse and zod.
 */
export interface IngestOptions {
  maxPayloadBytes: number;
  maxBatchItems: number;
  maxFutureSkewMs: number;
  now: () => number;
  log: Logger;
  /** Messages remembered to drop one delivered twice (`RecentMessages`; default RECENT_MESSAGES, 0: none). */
  recentMessages?: number;
}

/**
 * Epoch seconds of 2001-2286 read as milliseconds: dates in the first months of 1970. A device that sends
 * `time.time()` or `Date.now() / 1000` has its events taken as milliseconds, as the contract says, but
 * every interval 1000 times shorter than it is; no clock of a real device reads 1970, so it is said once
 * per source, in the log, instead of leaving the user to wonder why a minutely job reads as a burst.
 */
const SECONDS_LIKE_MIN = 1e9;
const SECONDS_LIKE_MAX = 1e10;
/** Sources warned about, per warning: a bound, so a flood of topics cannot grow it. */
const MAX_SOURCE_WARNINGS = 64;
/** Wall time an event held as far ahead of a replay waits for the next before it is fed (`Ingest.holds`). */
const HELD_FOR_MS = 1000;

/** A valid event held back (`Ingest.holds`), with the wall time it came at. */
interface HeldEvent {
  topic: string;
  key: string;
  ts: number;
  position: number;
  size: number;
  index: number | undefined;
  source: number;
  at: number;
}

export interface IngestCounters {
  messages: number;
  events: number;
  rejectedMessages: number;
  rejectedEvents: number;
  /** Messages dropped as the repeat of one lately taken (`RecentMessages`). */
  repeatedMessages: number;
  bytes: number;
}

export class Ingest {
  readonly counters: IngestCounters = {
    messages: 0,
    events: 0,
    rejectedMessages: 0,
    rejectedEvents: 0,
    repeatedMessages: 0,
    bytes: 0,
  };
  private readonly recent: RecentMessages;
  /**
   * Hands what the engine changed to publishing and saving: after each message that fed the engine, and
   * at once after an event that changed a key's pattern set, so that the change goes out as the view is
   * then. Called only per message, a burst that started and ended within one batch of a replay was never
   * published, and one that started early in a batch was published as it was at the batch's end.
   */
  flushChanges: () => void = () => {};
  /**
   * Called for every accepted event after the engine saw it (predictions, the dashboard's recent-access
   * ring), so it must be O(1). `slot` is the key's engine slot; `position` is NaN when the event has none,
   * `size` 0 when unknown.
   */
  onAccess: ((slot: number, key: string, ts: number, position: number, size: number) => void) | undefined;

  private readonly scanner: EventScanner;
  /** The valid events of a batch on the full path, in the scanner's form, and each one's index in it. */
  private readonly parsed: {
    keys: string[];
    ts: Float64Array;
    position: Float64Array;
    size: Float64Array;
    index: Int32Array;
  };
  /** The order in which a batch's events are fed when they are not in time order (`timeOrder`). */
  private readonly order: Int32Array;
  /** Interned source of the message being fed (`begin`). */
  private source = 0;
  /** Sources already warned about timestamps that look like epoch seconds. */
  private readonly secondsWarned = new Set<number>();
  /** Sources already warned about events without ts during a replay (`warnUnstamped`). */
  private readonly unstampedWarned = new Set<number>();
  /** A replayed event dated far ahead of engine time, until the next event tells what it is (`holds`). */
  private held: HeldEvent | null = null;

  constructor(
    private readonly engine: Engine,
    private readonly topics: Topics,
    private readonly errors: ErrorReporter,
    private readonly opts: IngestOptions,
  ) {
    this.scanner = new EventScanner(opts.maxBatchItems);
    this.recent = new RecentMessages(opts.recentMessages ?? RECENT_MESSAGES);
    const n = opts.maxBatchItems;
    this.parsed = {
      keys: [],
      ts: new Float64Array(n),
      position: new Float64Array(n),
      size: new Float64Array(n),
      index: new Int32Array(n),
    };
    this.order = new Int32Array(n);
  }

  handle(topic: string, payload: Buffer): void {
    this.counters.messages++;
    this.counters.bytes += payload.length;
    if (payload.length > this.opts.maxPayloadBytes) {
      return this.rejectMessage(
        topic,
        `payload too large: ${payload.length} bytes exceeds the limit of ${this.opts.maxPayloadBytes}`,
      );
    }
    const count = this.scanner.scan(payload);
    if (count === DECLINED) return this.handleParsed(topic, payload);
    const scanner = this.scanner;
    if (this.recent.isRepeat(topic, payload.length, scanner, count)) return this.repeated();
    const now = this.begin(topic);
    const { keys, ts, position, size, batch, entries } = scanner;
    const order = this.timeOrder(ts, count, now);
    for (let n = 0; n < count; n++) {
      const i = order === null ? n : order[n];
      const entry = entries[i];
      const hint = entry < 0 ? -1 : scanner.hintOf(entry);
      const slot = this.accept(topic, keys[i], ts[i], position[i], size[i], batch ? i : undefined, now, hint);
      if (entry >= 0 && slot !== hint) scanner.attach(entry, slot);
    }
    this.flushChanges();
  }

  /** The full path, for every message the scanner declines: JSON.parse, then each item checked on its own. */
  private handleParsed(topic: string, payload: Buffer): void {
    // Decoding would turn each broken sequence into U+FFFD, and keys broken alike into one key: JSON text
    // is UTF-8 (RFC 8259), so a message that is not is not JSON.
    if (!isUtf8(payload)) return this.rejectMessage(topic, 'invalid UTF-8: the payload must be UTF-8 text');
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return this.rejectMessage(topic, `invalid JSON: ${(err as Error).message.slice(0, 120)}`);
    }
    const now = this.begin(topic);
    if (Array.isArray(body)) {
      if (body.length > this.opts.maxBatchItems) {
        return this.rejectMessage(
          topic,
          `batch too large: ${body.length} items exceeds the limit of ${this.opts.maxBatchItems}`,
        );
      }
      let valid = 0;
      for (let i = 0; i < body.length; i++) if (this.item(topic, body[i], i, valid)) valid++;
      if (this.recent.isRepeat(topic, payload.length, this.parsed, valid)) return this.repeated();
      const { keys, ts, position, size, index } = this.parsed;
      const order = this.timeOrder(ts, valid, now);
      for (let n = 0; n < valid; n++) {
        const i = order === null ? n : order[n];
        this.accept(topic, keys[i], ts[i], position[i], size[i], index[i], now);
      }
    } else if (typeof body === 'object' && body !== null) {
      const { keys, ts, position, size } = this.parsed;
      if (this.item(topic, body, undefined, 0)) {
        if (this.recent.isRepeat(topic, payload.length, this.parsed, 1)) return this.repeated();
        this.accept(topic, keys[0], ts[0], position[0], size[0], undefined, now);
      }
    } else {
      return this.rejectMessage(topic, 'payload must be an event object or an array of events');
    }
    this.flushChanges();
  }

  /** A message taken lately came again (a QoS 1 redelivery, a device re-sending): counted, not fed. */
  private repeated(): void {
    this.counters.repeatedMessages++;
  }

  /** Starts feeding a message's events: its source, and the wall clock once. Returns the time now. */
  private begin(topic: string): number {
    this.source = this.engine.sourceId(sourceOf(this.topics, topic));
    this.engine.beginBatch();
    return this.opts.now();
  }

  /**
   * Checks one item; a valid one is written at `at` in `parsed` (returns true), an invalid one reported
   * with its `index` in the batch.
   */
  private item(topic: string, raw: unknown, index: number | undefined, at: number): boolean {
    // zod builds an error object with a stack for every failure (~10–30 µs); the two commonest kinds of
    // junk are named here for free so a flood of junk batches cannot buy much CPU.
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      this.rejectEvent(topic, 'event must be a JSON object', index);
      return false;
    }
    const fields = raw as Record<string, unknown>;
    if (typeof fields.key !== 'string') {
      this.rejectEvent(topic, KEY_REQUIRED, index);
      return false;
    }
    let ev: AccessEvent;
    if (isPlainEvent(fields)) {
      ev = fields;
    } else {
      const parsed = accessEventSchema.safeParse(raw);
      if (!parsed.success) {
        this.rejectEvent(topic, describe(parsed.error), index);
        return false;
      }
      ev = parsed.data;
    }
    const out = this.parsed;
    out.keys[at] = ev.key;
    out.ts[at] = ev.ts ?? Number.NaN;
    out.position[at] = ev.position ?? Number.NaN;
    out.size[at] = ev.size ?? 0;
    out.index[at] = index ?? -1;
    return true;
  }

  /**
   * The order in which to feed `count` events with times `ts` (NaN: received `now`): null when they are
   * in time order already, as nearly every batch is; else their indexes sorted by time, ties in batch
   * order. Fed as they came, a batch written newest first — or shuffled by a device's queue — read as
   * every access stepping back, and a stream it held was random; an access that came after a later one
   * is late to the engine, which leaves it out of the stream.
   */
  private timeOrder(ts: Float64Array, count: number, now: number): Int32Array | null {
    let previous = Number.NEGATIVE_INFINITY;
    let i = 0;
    for (; i < count; i++) {
      const t = Number.isNaN(ts[i]) ? now : ts[i];
      if (t < previous) break;
      previous = t;
    }
    if (i === count) return null;
    const order = this.order.subarray(0, count);
    for (let j = 0; j < count; j++) order[j] = j;
    const at = (j: number) => (Number.isNaN(ts[j]) ? now : ts[j]);
    return order.sort((a, b) => at(a) - at(b) || a - b);
  }

  /**
   * A valid event, from either path: `ts` NaN when it has none (then it happened now), `position` NaN when
   * it has none, `size` 0 when unknown; `slotHint` the engine slot the key had before, or −1. Returns the
   * key's slot, or −1 when the event was rejected.
   */
  private accept(
    topic: string,
    key: string,
    eventTs: number,
    position: number,
    size: number,
    index: number | undefined,
    now: number,
    slotHint = -1,
  ): number {
    const ts = Number.isNaN(eventTs) ? now : eventTs;
    if (ts - now > this.opts.maxFutureSkewMs) {
      this.rejectEvent(
        topic,
        `ts: ${Math.round((ts - now) / 1000)} s in the future (limit ${this.opts.maxFutureSkewMs / 1000} s); check the device clock`,
        index,
      );
      return -1;
    }
    if (ts >= SECONDS_LIKE_MIN && ts < SECONDS_LIKE_MAX) this.warnSeconds(topic, ts);
    if (Number.isNaN(eventTs) && this.replaying(now)) this.warnUnstamped(topic, now);
    if (this.held !== null) this.settle(ts);
    if (this.holds(ts)) {
      this.held = { topic, key, ts, position, size, index, source: this.source, at: now };
      return -1;
    }
    return this.feed(key, ts, position, size, this.source, slotHint);
  }

  /**
   * Is `ts` a replayed event's time far ahead of engine time (more than `maxFutureSkewMs`)? Such an event
   * is held until the next one: while a log is replayed, engine time follows the events alone, and one
   * event of a device whose clock was days off took it days ahead at once — every schedule expired and every
   * key's next accesses were late (an outside evaluation: no burst found for the rest of the replay). Live,
   * the same event is refused against the wall clock; and an event at the wall clock's time is live traffic,
   * never held (a device on time next to one that stamps epoch seconds). If the next event comes within
   * `maxFutureSkewMs` of it, time moved on (a quiet night of the log ended, a replay caught up with live
   * traffic) and both are fed; if not, the held one is refused. With no next event it is fed after
   * `HELD_FOR_MS` (`settleQuiet`).
   */
  private holds(ts: number): boolean {
    return this.replaying(ts) && !this.engine.isLiveTime(ts);
  }

  /** Is engine time a replay's, more than `maxFutureSkewMs` behind `ts`? */
  private replaying(ts: number): boolean {
    return !this.engine.isLive && this.engine.now > 0 && ts - this.engine.now > this.opts.maxFutureSkewMs;
  }

  /**
   * Feeds the held event unless it is more than `maxFutureSkewMs` ahead of the event after it (at `next`;
   * Infinity: none), which then says that time did not move on; else refuses it. Judged against engine
   * time instead, as far ahead as the held one, a log's first event after a quiet gap of just over five
   * minutes was refused when the next came from a device that delivered ten seconds later: 55-58 runs of
   * jobs on devices only 4-120 s fast were lost in a four-week replay (an outside evaluation).
   */
  private settle(next: number): void {
    const held = this.held as HeldEvent;
    this.held = null;
    const ahead = held.ts - next;
    if (!(ahead > this.opts.maxFutureSkewMs)) {
      this.feed(held.key, held.ts, held.position, held.size, held.source, -1);
      return;
    }
    this.rejectEvent(
      held.topic,
      `ts: ${Math.round(ahead / 1000)} s ahead of the events around it (limit ${this.opts.maxFutureSkewMs / 1000} s); check the device clock`,
      held.index,
    );
  }

  /**
   * Feeds an event held for `HELD_FOR_MS` of wall time with no event after it (`stopping`: whatever is held,
   * before the state is saved). Call periodically.
   */
  settleQuiet(stopping = false): void {
    if (this.held !== null && (stopping || this.opts.now() - this.held.at >= HELD_FOR_MS)) {
      this.settle(Number.POSITIVE_INFINITY);
      this.flushChanges();
    }
  }

  private feed(
    key: string,
    ts: number,
    position: number,
    size: number,
    source: number,
    slotHint: number,
  ): number {
    this.counters.events++;
    const changes = this.engine.patternSetChanges;
    const slot = this.engine.observe(key, ts, position, size, source, slotHint);
    this.onAccess?.(slot, key, ts, position, size);
    if (this.engine.patternSetChanges !== changes) this.flushChanges();
    return slot;
  }

  private warnSeconds(topic: string, ts: number): void {
    this.warnOnce(
      this.secondsWarned,
      { topic, ts, as_ms: new Date(ts).toISOString(), as_seconds: new Date(ts * 1000).toISOString() },
      'event ts looks like epoch seconds; the contract reads ts as epoch milliseconds (send ts * 1000)',
    );
  }

  /**
   * An event without `ts` among replayed ones: stamped with the time of receipt, as the contract says, it
   * takes engine time from the replay's to now, and the replay's later events are late (an outside
   * evaluation found its replay spoiled with no word of why).
   */
  private warnUnstamped(topic: string, now: number): void {
    this.warnOnce(
      this.unstampedWarned,
      { topic, engine_time: new Date(this.engine.now).toISOString(), received: new Date(now).toISOString() },
      'event without ts during a replay: stamped with the time of receipt, it moves engine time to now and the replay behind it is late (give replayed events their ts)',
    );
  }

  /** Logs `message` once per source of `warned` (a bound: a flood of topics cannot grow it). */
  private warnOnce(warned: Set<number>, fields: Record<string, unknown>, message: string): void {
    if (warned.has(this.source) || warned.size >= MAX_SOURCE_WARNINGS) return;
    warned.add(this.source);
    this.opts.log.warn(fields, message);
  }

  private rejectMessage(topic: string, reason: string): void {
    this.counters.rejectedMessages++;
    this.errors.report({ topic, reason });
  }

  private rejectEvent(topic: string, reason: string, index: number | undefined): void {
    this.counters.rejectedEvents++;
    this.errors.report(index === undefined ? { topic, reason } : { topic, reason, index });
  }
}
