import type { Logger } from 'pino';
import { TimeHeap } from '../engine/heap.ts';
import { Table } from '../engine/table.ts';
import type { Transport } from './transport.ts';

/**
 * Publishes key states as retained messages, throttled per key, with a bounded in-flight window.
 *
 * Rules (contract, "Publishing rules"):
 *   - a change of a key's pattern set goes out at once (`offer(…, urgent = true)`), rendered as it is
 *     then unless the in-flight window is full;
 *   - other changes at most once per `intervalMs` per key, and the latest view always within that interval;
 *   - a view identical to the last one published (ignoring `updated_ts`) is not sent again.
 * Coalescing is natural: a pending key is rendered only when its turn comes, so ten changes in a second
 * cost one publish of the newest view. A change of the pattern set is the exception: it is rendered when it
 * happens and queued as such (up to `queuedChanges` of them), since by its turn the view may have moved on
 * (a burst over within the batch of a replay). MQTT.js has no outbound flow control, so at most `window` QoS 1
 * publishes await their PUBACK; the rest wait here, never in an unbounded socket buffer.
 *
 * Keys are addressed by slot (dense ids from the engine); a slot's generation guards against a key
 * being evicted and its slot reused while a publish was pending.
 */
export interface ViewSource {
  /** A slot's current view, or null if the slot is no longer that key. */
  render(slot: number, generation: number): RenderedView | null;
  generation(slot: number): number;
  /** Is the key tracked (again) now? */
  isTracked(key: string): boolean;
}

/** A key's view as JSON; `compared`: how many leading characters of `json` decide whether it is unchanged. */
export interface RenderedView {
  key: string;
  json: string;
  compared: number;
}

interface RenderedChange extends RenderedView {
  slot: number;
  gen: number;
}

export interface PublisherOptions {
  intervalMs: number;
  window: number;
  /** Changes of pattern sets rendered and queued while the window is full; beyond it they coalesce. */
  queuedChanges: number;
  qos: 0 | 1;
  topicOf: (key: string) => string;
  now: () => number;
  log: Logger;
}

/**
 * FNV-1a of `s`'s first `length` characters, enough to notice "same view as last time" without keeping
 * every published payload. A length rather than a slice: reading a sliced string char by char is ~1.5×
 * slower than reading the flat one it points into.
 */
function hash(s: string, length: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const perSlot = {
  /** When the slot's key was last published (0: never) and a hash of that view. */
  lastAt: ['f64', 1],
  lastHash: ['u32', 1],
  /** Generation a pending publish is for (0 = nothing pending). */
  pendingGen: ['u32', 1],
  /** Generation of the key that lastAt/lastHash describe. */
  ownerGen: ['u32', 1],
  /** 1 while the slot waits in the urgent queue: one entry per slot, however often it is offered. */
  queued: ['u8', 1],
} as const;

/** Bytes of publishing state per key slot (the memory budget counts them). */
export const PUBLISHER_SLOT_BYTES = new Table(perSlot, 0).rowBytes;

/**
 * A first-in first-out queue. `Array#shift` copies the whole array once it is large (V8 cannot trim
 * arrays in large-object space), which made a long queue quadratic to drain; here the consumed prefix is
 * dropped only once it is half the array, so both ends are amortised O(1).
 */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

export class Publisher {
  /** Per-slot publishing state (see `perSlot`). */
  private readonly slots = new Table(perSlot, 1024);
  private readonly due = new TimeHeap();
  private readonly urgent = new Fifo<number>();
  /**
   * Keys that may have a retained state on the broker: published by this process, or assumed from a
   * previous run. Only these are cleared when they go, so a flood of unique keys evicted before their first
   * publish costs no clears, and what is queued stays within the tracked keys plus the in-flight window.
   */
  private readonly retained = new Set<string>();
  /** Changes of pattern sets rendered when they happened, waiting for the window (see `offer`). */
  private readonly changes = new Fifo<RenderedChange>();
  /** Retained topics to clear (evicted or forgotten keys). */
  private readonly clears = new Fifo<string>();
  private inflight = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When `timer` fires (performance.now() time). */
  private timerAt = 0;
  private scheduled = false;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  published = 0;
  skippedUnchanged = 0;
  failed = 0;

  constructor(
    private readonly transport: Transport,
    private readonly views: ViewSource,
    private readonly opts: PublisherOptions,
  ) {}

  /** A key's view changed. */
  offer(slot: number, urgent: boolean): void {
    this.ensure(slot);
    const gen = this.views.generation(slot);
    if (this.slots.c.ownerGen[slot] !== gen) {
      // A different key now lives on this slot: the previous key's throttle and hash do not apply.
      this.slots.c.ownerGen[slot] = gen;
      this.slots.c.lastAt[slot] = 0;
      this.slots.c.lastHash[slot] = 0;
      this.slots.c.pendingGen[slot] = 0;
    }
    if (urgent) {
      this.slots.c.pendingGen[slot] = gen;
      // Sent now, while the view shows the change, when the window has room and no earlier change waits.
      // Queued, it was rendered when the pump ran, after every message already read from the socket: a
      // replay whose messages arrive in one go had moved engine time past a burst by then, and the burst
      // was never published.
      if (this.waitingUrgent() === 0 && this.inflight < this.opts.window && !this.stopped) {
        this.publishSlot(slot, this.opts.now());
        return;
      }
      // Rendered now, the change is queued as it is: a replay's burst inside one batch was over by its turn,
      // and 15-50 % of a household's 56 replayed morning bursts never reached the retained topic.
      if (this.changes.length < this.opts.queuedChanges && this.urgent.length === 0) this.queueRendered(slot);
      else this.queueUrgent(slot);
    } else if (this.slots.c.pendingGen[slot] !== gen) {
      this.slots.c.pendingGen[slot] = gen;
      this.due.push(this.slots.c.lastAt[slot] + this.opts.intervalMs, slot, gen);
    }
    this.kick();
  }

  /** Clears the retained state of a key that is no longer tracked, if it may have one. */
  clear(key: string): void {
    if (!this.retained.delete(key)) return;
    this.clears.push(key);
    this.kick();
  }

  /** Clears a retained state found on the broker for a key that is not tracked (left by an earlier run). */
  clearStale(key: string): void {
    this.retained.add(key);
    this.clear(key);
  }

  /** Keys whose retained states a previous run may have left on the broker (an external broker keeps them). */
  assumeRetained(keys: Iterable<string>): void {
    for (const key of keys) this.retained.add(key);
  }

  /**
   * Forgets what was published, so pending keys are sent even if unchanged (after a broker restart
   * lost the retained messages).
   */
  forgetPublished(): void {
    this.slots.c.lastHash.fill(0);
    this.slots.c.lastAt.fill(0);
  }

  /** Keys waiting to be published or cleared. */
  get backlog(): number {
    return this.due.size + this.waitingUrgent() + this.clears.length;
  }

  private waitingUrgent(): number {
    return this.changes.length + this.urgent.length;
  }

  private queueRendered(slot: number): void {
    const gen = this.slots.c.pendingGen[slot];
    this.slots.c.pendingGen[slot] = 0;
    const view = this.views.render(slot, gen);
    if (view) this.changes.push({ slot, gen, ...view });
    this.kick();
  }

  get inFlight(): number {
    return this.inflight;
  }

  private queueUrgent(slot: number): void {
    if (this.slots.c.queued[slot] === 1) return;
    this.slots.c.queued[slot] = 1;
    this.urgent.push(slot);
  }

  private ensure(slot: number): void {
    if (slot >= this.slots.capacity) this.slots.grow(Math.max(slot + 1, this.slots.capacity * 2));
  }

  private kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Sends as much as the window allows; re-arms a timer for the next due key. */
  private pump(): void {
    const now = this.opts.now();
    while (this.inflight < this.opts.window) {
      const key = this.clears.shift();
      if (key === undefined) break;
      // Tracked again since (evicted and back within one batch): its new state has gone out, or will.
      // Cleared, the topic ended empty after it while the key was tracked (an outside evaluation).
      if (this.views.isTracked(key)) continue;
      this.send(this.opts.topicOf(key), '');
    }
    while (this.inflight < this.opts.window) {
      const change = this.changes.shift();
      if (change === undefined) break;
      // The key may have gone meanwhile (its clear went out above) or its slot been reused.
      if (this.views.generation(change.slot) === change.gen) this.sendView(change.slot, change, now);
    }
    while (this.inflight < this.opts.window && this.urgent.length > 0) {
      const slot = this.urgent.shift() as number;
      this.slots.c.queued[slot] = 0;
      this.publishSlot(slot, now);
    }
    while (this.inflight < this.opts.window && this.due.size > 0 && this.due.peekTime() <= now) {
      const slot = this.due.peekId();
      const gen = this.due.peekGen();
      this.due.pop();
      if (this.slots.c.pendingGen[slot] !== gen) continue;
      const allowed = this.slots.c.lastAt[slot] + this.opts.intervalMs;
      // An urgent publish may have happened since this entry was queued: keep the throttle.
      if (allowed > now) this.due.push(allowed, slot, gen);
      else this.publishSlot(slot, now);
    }
    if (this.inflight < this.opts.window && this.due.size > 0 && !this.stopped) {
      this.wakeWithin(Math.max(1, this.due.peekTime() - now));
    }
    this.checkIdle();
  }

  /**
   * Makes sure a pump runs within `wait` ms. A timer that fires sooner is kept (an early pump finds
   * nothing due and re-arms): clearing and re-arming it on every pump, i.e. every message when messages
   * carry one event each, cost more than the rest of the publisher. Compared on the monotonic clock, as
   * setTimeout counts, whatever clock `opts.now` is.
   */
  private wakeWithin(wait: number): void {
    const at = performance.now() + wait;
    if (this.timer !== undefined && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, wait);
  }

  private publishSlot(slot: number, now: number): void {
    const gen = this.slots.c.pendingGen[slot];
    if (gen === 0) return; // already published via the urgent path
    this.slots.c.pendingGen[slot] = 0;
    const view = this.views.render(slot, gen);
    if (view) this.sendView(slot, view, now);
  }

  /** Publishes a rendered view of `slot`'s key unless it is the one last published. */
  private sendView(slot: number, view: RenderedView, now: number): void {
    const h = hash(view.json, view.compared);
    if (h === this.slots.c.lastHash[slot] && this.slots.c.lastAt[slot] > 0) {
      this.skippedUnchanged++;
      return;
    }
    this.slots.c.lastHash[slot] = h;
    this.slots.c.lastAt[slot] = now;
    this.retained.add(view.key);
    this.send(this.opts.topicOf(view.key), view.json);
  }

  private send(topic: string, payload: string): void {
    this.inflight++;
    this.transport.publish(topic, payload, { retain: true, qos: this.opts.qos }, (err) => {
      this.inflight--;
      if (err) {
        this.failed++;
        this.opts.log.warn({ topic, err: err.message }, 'publish failed');
      } else {
        this.published++;
      }
      this.kick();
    });
  }

  private checkIdle(): void {
    if (
      this.inflight === 0 &&
      this.waitingUrgent() === 0 &&
      this.clears.length === 0 &&
      this.due.size === 0
    ) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Publishes everything pending now, ignoring the throttle, and resolves when all publishes are
   * acknowledged (shutdown, tests).
   */
  async flush(): Promise<void> {
    while (this.due.size > 0) {
      const slot = this.due.peekId();
      const gen = this.due.peekGen();
      this.due.pop();
      if (this.slots.c.pendingGen[slot] === gen) this.queueUrgent(slot);
    }
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.pump();
    await idle;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
