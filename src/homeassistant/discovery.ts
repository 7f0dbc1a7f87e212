import type { Extension, ServiceContext } from '../context.ts';
import { bridgeDiscovery, type DeviceDiscovery, discoveryTopic, keyDiscovery } from './payloads.ts';
import type { WatchList } from './watchlist.ts';

/**
 * Home Assistant MQTT discovery: the bridge device, and one device per key that is watched (globs) or
 * among the top-N bursting keys, up to `maxKeys` devices.
 *
 * Configs are retained (HA finds them after its own restart) and also sent again on HA's birth message,
 * after a random delay (HA's advice, so bridges do not all answer at once), and on reconnect (a broker
 * restarted without persistence has lost them). A key that leaves the set gets an empty retained config,
 * which removes its device; so does a config of ours the broker still retains from an earlier run that is
 * no longer wanted (ghost entities are the classic complaint about retained discovery).
 *
 * Which keys are watched is kept incrementally from the service's bus (pattern changes include a new
 * key's first patterns; removals include evictions), so the cost per event stays a set lookup; a full
 * scan happens only when the watch list itself changes.
 */
const RECONCILE_DELAY_MS = 200;

export class Discovery implements Extension {
  readonly name = 'homeassistant';
  /** Keys whose device config is out: key → device id. */
  private readonly published = new Map<string, string>();
  /** Tracked keys matching the watch list. */
  private readonly watched = new Set<string>();
  private readonly bursting = new Set<string>();
  private reconcileTimer: NodeJS.Timeout | undefined;
  private birthTimer: NodeJS.Timeout | undefined;
  /** Discovery publishes go out one at a time: a thousand configs must not flood HA or the broker. */
  private queue: Promise<void> = Promise.resolve();
  private lastCappedCount = 0;
  private stopped = false;
  private readonly cfg: ServiceContext['config']['homeassistant'];
  private readonly bridge: DeviceDiscovery;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly watch: WatchList,
  ) {
    this.cfg = ctx.config.homeassistant;
    this.bridge = bridgeDiscovery(this.cfg.discoveryPrefix, ctx.topics);
  }

  async start(): Promise<void> {
    this.rescanWatched();
    if (this.cfg.burstingTopN > 0) {
      for (const slot of this.ctx.engine.keys.slots()) this.trackBursting(slot);
    }
    this.ctx.bus.on('patternsChanged', this.onPatternsChanged);
    this.ctx.bus.on('keysRemoved', this.onKeysRemoved);
    this.watch.on('change', this.onWatchChange);
    this.ctx.transport.on('connect', this.republishAll);
    this.republishAll();
    await this.ctx.transport.subscribe(this.cfg.statusTopic, 0, this.onHomeAssistantStatus);
    await this.ctx.transport.subscribe(
      `${this.cfg.discoveryPrefix}/device/+/config`,
      0,
      this.onRetainedConfig,
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconcileTimer);
    clearTimeout(this.birthTimer);
    this.ctx.bus.off('patternsChanged', this.onPatternsChanged);
    this.ctx.bus.off('keysRemoved', this.onKeysRemoved);
    this.watch.off('change', this.onWatchChange);
    this.ctx.transport.off('connect', this.republishAll);
    await this.queue;
  }

  private readonly onPatternsChanged = (slot: number): void => {
    const key = this.ctx.engine.keys.keys[slot];
    if (!key) return;
    let changed = false;
    if (!this.watched.has(key) && this.watch.matches(key)) {
      this.watched.add(key);
      changed = true;
    }
    if (this.cfg.burstingTopN > 0) changed = this.trackBursting(slot) || changed;
    if (changed) this.scheduleReconcile();
  };

  /**
   * Keys that left the engine lose their entities at once, before their retained states are cleared
   * (`keysRemoved` comes first): an empty state reaching HA's live entities logged template errors for
   * each. Their places go to other keys at the next reconcile.
   */
  private readonly onKeysRemoved = (keys: string[]): void => {
    let changed = false;
    for (const key of keys) {
      this.watched.delete(key);
      this.bursting.delete(key);
      const id = this.published.get(key);
      if (id === undefined) continue;
      this.published.delete(key);
      this.send(discoveryTopic(this.cfg.discoveryPrefix, id), '');
      changed = true;
    }
    if (changed) this.scheduleReconcile();
  };

  private readonly onWatchChange = (): void => {
    this.rescanWatched();
    this.scheduleReconcile();
  };

  private readonly onHomeAssistantStatus = (_topic: string, payload: Buffer): void => {
    if (payload.toString() !== 'online') return;
    clearTimeout(this.birthTimer);
    this.birthTimer = setTimeout(this.republishAll, Math.random() * this.cfg.birthDelayMs);
    this.birthTimer.unref();
  };

  /** A retained config of ours from an earlier run (same availability topic) that is no longer wanted. */
  private readonly onRetainedConfig = (topic: string, payload: Buffer, retained: boolean): void => {
    if (!retained || payload.length === 0) return;
    const id = topic.split('/').at(-2) ?? '';
    if (id === this.bridge.id || this.isPublishedId(id) || !id.startsWith('patternd_')) return;
    let config: unknown;
    try {
      config = JSON.parse(payload.toString());
    } catch {
      return;
    }
    if ((config as { availability_topic?: unknown })?.availability_topic !== this.ctx.topics.status) return;
    this.ctx.log.info({ topic }, 'removing stale Home Assistant discovery config');
    this.send(topic, '');
  };

  private isPublishedId(id: string): boolean {
    for (const published of this.published.values()) if (published === id) return true;
    return false;
  }

  private rescanWatched(): void {
    this.watched.clear();
    const keys = this.ctx.engine.keys;
    for (const slot of keys.slots())
      if (this.watch.matches(keys.keys[slot])) this.watched.add(keys.keys[slot]);
  }

  /** Updates whether the slot's key is bursting; true if that changed. */
  private trackBursting(slot: number): boolean {
    const key = this.ctx.engine.keys.keys[slot];
    const now = this.ctx.engine.patternsOf(slot).includes('burst');
    if (now === this.bursting.has(key)) return false;
    if (now) this.bursting.add(key);
    else this.bursting.delete(key);
    return true;
  }

  private scheduleReconcile(): void {
    if (this.reconcileTimer || this.stopped) return;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      this.reconcile();
    }, RECONCILE_DELAY_MS);
    this.reconcileTimer.unref();
  }

  /**
   * Watched keys (those already in HA before new ones, so a full set does not churn), then the
   * hardest-bursting others. `burstingTopN` of the `maxKeys` places are kept for bursting keys, so a broad
   * glob cannot crowd them out.
   */
  private wantedKeys(): string[] {
    const room = this.cfg.maxKeys - this.cfg.burstingTopN;
    const watched = [...this.watched];
    if (watched.length > room && watched.length !== this.lastCappedCount) {
      this.ctx.log.warn(
        { watched: watched.length, room },
        'more watched keys than homeassistant.maxKeys allows entities for; the rest are left out',
      );
    }
    this.lastCappedCount = watched.length > room ? watched.length : 0;
    const kept = [
      ...watched.filter((k) => this.published.has(k)),
      ...watched.filter((k) => !this.published.has(k)),
    ].slice(0, room);
    return [...kept, ...this.topBursting()];
  }

  private topBursting(): string[] {
    const { engine } = this.ctx;
    return [...this.bursting]
      .filter((key) => !this.watched.has(key))
      .map((key) => ({ key, ratio: engine.viewOf(key)?.burst?.ratio ?? 0 }))
      .sort((a, b) => b.ratio - a.ratio)
      .slice(0, this.cfg.burstingTopN)
      .map((b) => b.key);
  }

  private reconcile(): void {
    const wanted = new Set(this.wantedKeys());
    for (const [key, id] of this.published) {
      if (wanted.has(key)) continue;
      this.published.delete(key);
      this.send(discoveryTopic(this.cfg.discoveryPrefix, id), '');
    }
    for (const key of wanted) if (!this.published.has(key)) this.publishKey(key);
  }

  private publishKey(key: string): void {
    const d = keyDiscovery(this.cfg.discoveryPrefix, this.ctx.topics, key);
    this.published.set(key, d.id);
    this.send(d.topic, JSON.stringify(d.payload));
  }

  /** Everything again (HA restarted, or the broker may have lost its retained messages). */
  private readonly republishAll = (): void => {
    if (this.stopped) return;
    this.send(this.bridge.topic, JSON.stringify(this.bridge.payload));
    for (const key of this.published.keys()) this.publishKey(key);
    this.reconcile();
  };

  private send(topic: string, payload: string): void {
    this.queue = this.queue.then(
      () =>
        new Promise<void>((resolve) =>
          this.ctx.transport.publish(topic, payload, { retain: true, qos: 1 }, (err) => {
            if (err) this.ctx.log.warn({ topic, err: err.message }, 'discovery publish failed');
            resolve();
          }),
        ),
    );
  }
}
