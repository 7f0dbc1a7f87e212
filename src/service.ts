import type { Logger } from 'pino';
import { BridgeApi, BridgeRequests } from './bridge/requests.ts';
import { Bus } from './bus.ts';
import { type Config, defaultClientId, MAX_WATCH_GLOBS } from './config.ts';
import type { Extension, PublishedState, ServiceContext } from './context.ts';
import { Engine } from './engine/engine.ts';
import { Predictor } from './engine/predict.ts';
import { Discovery } from './homeassistant/discovery.ts';
import { ownDiscoveryStart } from './homeassistant/payloads.ts';
import { WatchList } from './homeassistant/watchlist.ts';
import { LiveFeed } from './http/live.ts';
import { RecentAccesses } from './http/recent.ts';
import { HttpServer } from './http/server.ts';
import { createLogger } from './log.ts';
import { baselineNow, type MemoryBudget, MiB, memoryBudget } from './memory.ts';
import { type EmbeddedBroker, startBroker } from './mqtt/broker.ts';
import { ErrorReporter } from './mqtt/errors.ts';
import { Ingest } from './mqtt/ingest.ts';
import { Publisher } from './mqtt/publisher.ts';
import { StaleStateSweep } from './mqtt/stale.ts';
import { type Topics, topics } from './mqtt/topics.ts';
import { AedesTransport, ClientTransport, type Transport } from './mqtt/transport.ts';
import { StatsCollector } from './stats.ts';
import { createStore } from './store/create.ts';
import { Persistence } from './store/persistence.ts';
import type { Store } from './store/store.ts';
import { VERSION } from './version.ts';

/**
 * The controller: builds every part once, wires them together, and runs the lifecycle.
 * This is the only module that knows about all the others.
 *
 * Data flow: transport → Ingest → Engine → (changes) → Publisher → transport
 *                                        → (unsaved) → Persistence → Store
 */
export interface ServiceOptions {
  config: Config;
  log?: Logger;
  /** Wall clock, injectable for tests. */
  clock?: () => number;
  /** Store override (tests). Defaults to Redis when `store.redisUrl` is set, else the file store. */
  store?: Store;
}

const TICK_MS = 250;
const CONNECT_TIMEOUT_MS = 30_000;

export class Service {
  readonly config: Config;
  readonly log: Logger;
  readonly topics: Topics;
  readonly engine: Engine;
  /** Prefetch hints and their measured quality; undefined when `prediction.enabled` is false. */
  readonly predictor: Predictor | undefined;
  readonly store: Store;
  readonly bus = new Bus();
  /** Keys that get Home Assistant entities; changed at runtime through the bridge API. */
  readonly watch: WatchList;
  private readonly clock: () => number;
  private broker: EmbeddedBroker | undefined;
  transport!: Transport;
  publisher!: Publisher;
  ingest!: Ingest;
  errors!: ErrorReporter;
  persistence!: Persistence;
  stats!: StatsCollector;
  /** Measured against the process as it is when `start` begins, before any key is tracked. */
  budget!: MemoryBudget;
  /** The bridge commands, shared by the MQTT bridge and the dashboard's actions. */
  bridge!: BridgeApi;
  http: HttpServer | undefined;
  /** Clears what an earlier run left retained on an external broker (none on the embedded one). */
  staleStates: StaleStateSweep | undefined;
  /** The latest accesses of all keys, for the dashboard's key pages (only while HTTP is on). */
  private recent: RecentAccesses | undefined;
  private extensions: Extension[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private started = false;
  private stopping: Promise<void> | undefined;

  constructor(opts: ServiceOptions) {
    this.config = opts.config;
    this.log = opts.log ?? createLogger(opts.config.log);
    this.clock = opts.clock ?? Date.now;
    this.topics = topics(opts.config.mqtt.baseTopic);
    this.engine = new Engine(opts.config.engine, {
      clock: this.clock,
      announceAheadMs: opts.config.prediction.enabled ? opts.config.prediction.lookaheadMs : 0,
    });
    this.predictor = opts.config.prediction.enabled
      ? new Predictor(this.engine, opts.config.prediction)
      : undefined;
    this.store = opts.store ?? createStore(opts.config.store, this.log);
    this.watch = new WatchList(opts.config.homeassistant.watch, MAX_WATCH_GLOBS);
  }

  /** Port of the embedded broker (after start), or undefined with an external broker. */
  get brokerPort(): number | undefined {
    return this.broker?.port;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    this.budget = memoryBudget(cfg, baselineNow(), this.engine);
    this.log.info(
      { budget_bytes: this.budget.bytes, terms: this.budget.terms.map((t) => [t.name, t.bytes]) },
      `memory budget ≈ ${MiB(this.budget.bytes)} MiB for maxKeys=${cfg.engine.maxKeys}`,
    );
    await this.store.open();
    this.persistence = new Persistence(
      this.engine,
      this.store,
      {
        intervalMs: cfg.store.flushIntervalMs,
        expireDays: cfg.store.expireDays,
        maxPendingDeletes: cfg.engine.maxKeys,
      },
      this.log,
      this.watch,
    );
    const restored = await this.persistence.restore();
    this.log.info({ keys: restored, store: this.store.status().kind }, 'state restored');

    this.transport = await this.connect();
    const publishRaw = (topic: string, payload: string, retain: boolean) =>
      this.transport.publish(topic, payload, { retain, qos: cfg.mqtt.qos }, (err) => {
        if (err) this.log.warn({ topic, err: err.message }, 'publish failed');
      });

    this.errors = new ErrorReporter(
      cfg.mqtt.errorReportsPerSecond,
      (p) => publishRaw(this.topics.errors, p, false),
      this.log,
    );
    this.publisher = new Publisher(
      this.transport,
      {
        generation: (slot) => this.engine.keys.generation[slot],
        render: (slot, gen) => this.render(slot, gen),
        isTracked: (key) => this.engine.keys.slotOf(key) >= 0,
      },
      {
        intervalMs: cfg.mqtt.publishIntervalMs,
        window: cfg.mqtt.inflightWindow,
        queuedChanges: cfg.mqtt.queuedChanges,
        qos: cfg.mqtt.qos,
        topicOf: this.topics.pattern,
        now: this.clock,
        log: this.log,
      },
    );
    this.ingest = new Ingest(this.engine, this.topics, this.errors, {
      maxPayloadBytes: cfg.mqtt.maxPayloadBytes,
      maxBatchItems: cfg.mqtt.maxBatchItems,
      maxFutureSkewMs: cfg.engine.maxFutureSkewMs,
      now: this.clock,
      log: this.log,
    });
    this.ingest.flushChanges = () => this.forwardChanges();
    this.ingest.onAccess = (slot, key, ts, position, size) => {
      this.predictor?.observe(slot, ts, position, size);
      this.recent?.push(key, ts, position);
    };
    this.stats = new StatsCollector(
      {
        engine: this.engine,
        ingest: this.ingest,
        errors: this.errors,
        publisher: this.publisher,
        store: this.store,
        persistence: this.persistence,
        startedAt: this.clock(),
        predictions: () => this.predictor?.stats ?? null,
        version: VERSION,
        budget: this.budget,
        broker: this.broker ? () => (this.broker as EmbeddedBroker).refused : undefined,
      },
      this.clock,
    );

    // The previous run's retained states may still be on the broker (an external one keeps them): those
    // of the restored keys, and of the keys the restore expired, which the engine hands over as removed.
    this.publisher.assumeRetained([...this.engine.keys.slots()].map((slot) => this.engine.keys.keys[slot]));
    const expired = this.engine.drainRemoved();
    this.publisher.assumeRetained(expired);
    this.removed(expired, this.engine.drainDeleted());
    // Re-establish retained states (the embedded broker forgets them on restart).
    this.forwardChanges();
    this.transport.on('connect', () => {
      // Reconnected: the broker may have lost retained messages (restart without persistence).
      void this.announceOnline();
      this.republishAll();
    });

    // Subscribe before awaiting anything from the broker: events of the persistent session arrive at
    // once and hold up every later packet until a handler takes them.
    await this.transport.subscribe(this.topics.accessFilter, cfg.mqtt.qos, (topic, payload) =>
      this.ingest.handle(topic, payload),
    );
    await this.announceOnline();

    await this.startExtensions();

    this.persistence.start();
    this.every(TICK_MS, () => {
      this.ingest.settleQuiet();
      this.engine.tick();
      this.forwardChanges();
    });
    this.every(cfg.mqtt.statsIntervalMs, () => this.publishStats());
    if (this.predictor) this.every(cfg.prediction.publishIntervalMs, () => this.publishPredictions());
    this.publishStats();

    if (cfg.http.enabled) await this.startHttp();
    this.started = true;
    this.log.info(
      {
        base: this.topics.base,
        broker: cfg.mqtt.url ? 'external' : `embedded:${this.broker?.port}`,
        version: VERSION,
      },
      'patternd started',
    );
  }

  private async connect(): Promise<Transport> {
    const cfg = this.config;
    if (cfg.mqtt.url) {
      const t = new ClientTransport({
        url: cfg.mqtt.url,
        clientId: cfg.mqtt.clientId ?? defaultClientId(cfg.mqtt.baseTopic),
        username: cfg.mqtt.username,
        password: cfg.mqtt.password,
        tls: cfg.mqtt.tls,
        will: { topic: this.topics.status, payload: 'offline' },
        log: this.log,
      });
      await t.waitConnected(CONNECT_TIMEOUT_MS);
      return t;
    }
    const t = this.topics;
    this.broker = await startBroker(
      cfg.broker,
      {
        prefixes: [t.patternPrefix, t.status, t.stats, t.errors, t.predictions, t.responsePrefix],
        starts: [ownDiscoveryStart(cfg.homeassistant.discoveryPrefix)],
      },
      this.log,
    );
    return new AedesTransport(this.broker.aedes);
  }

  /** Home Assistant discovery and the bridge API: features that see only the context. */
  private async startExtensions(): Promise<void> {
    const cfg = this.config;
    const ctx: ServiceContext = {
      config: cfg,
      log: this.log,
      topics: this.topics,
      transport: this.transport,
      engine: this.engine,
      bus: this.bus,
      state: (slot) => this.stateOf(slot),
    };
    if (cfg.homeassistant.enabled) this.extensions.push(new Discovery(ctx, this.watch));
    this.bridge = new BridgeApi(ctx, {
      watch: this.watch,
      health: () => this.health(),
      stats: () => this.stats.snapshot(),
      memoryBudget: this.budget,
      applyRemovals: () => this.forwardChanges(),
      predict: (key) => this.predictionsOf(key),
    });
    if (cfg.bridge.enabled) this.extensions.push(new BridgeRequests(ctx, this.bridge));
    // The embedded broker starts empty; an external one may keep states of keys the store does not know.
    if (cfg.mqtt.url) {
      this.staleStates = new StaleStateSweep(ctx, (key) => this.publisher.clearStale(key));
      this.extensions.push(this.staleStates);
    }
    for (const ext of this.extensions) {
      try {
        await ext.start();
      } catch (err) {
        this.log.error({ err, extension: ext.name }, 'extension failed to start; running without it');
      }
    }
  }

  /** The dashboard, its API, /healthz and /metrics. */
  private async startHttp(): Promise<void> {
    const cfg = this.config.http;
    const recent = new RecentAccesses(cfg.recentAccesses);
    this.recent = recent;
    this.http = new HttpServer({
      host: cfg.host,
      port: cfg.port,
      token: cfg.token,
      allowedHosts: cfg.allowedHosts,
      stats: this.stats,
      storeFlushMs: () => this.persistence.lastFlushMs,
      log: this.log,
      api: {
        engine: this.engine,
        state: (slot) => this.stateOf(slot),
        bridge: this.bridge,
        watch: this.watch,
        recent,
        live: new LiveFeed(this.engine, this.bus, () => this.ingest.counters.events, this.clock),
        health: () => this.health(),
      },
    });
    await this.http.start();
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  /** Hands engine changes to the publisher and the store. */
  private forwardChanges(): void {
    this.engine.drainChanges((slot, urgent) => {
      this.publisher.offer(slot, urgent);
      if (urgent) this.bus.emit('patternsChanged', slot);
    });
    this.removed(this.engine.drainRemoved(), this.engine.drainDeleted());
  }

  /**
   * `keys` left the engine; `stored`, those of them the store holds rows of. A key evicted and tracked
   * again since (within one batch, when more keys than `maxKeys` come in turn) is not gone: its entities
   * and retained topic stay, and its new state replaces the old one. (A clear queued before it came back is
   * dropped by the publisher: see `Publisher.pump`.)
   */
  private removed(all: string[], stored: string[]): void {
    const keys = all.filter((key) => this.engine.keys.slotOf(key) < 0);
    if (keys.length === 0) return;
    // Home Assistant's entities of the keys go before their states (see Discovery).
    this.bus.emit('keysRemoved', keys);
    for (const key of keys) this.publisher.clear(key);
    this.persistence.removed(stored);
  }

  private republishAll(): void {
    this.publisher.forgetPublished();
    for (const slot of this.engine.keys.slots()) this.publisher.offer(slot, false);
  }

  /** A key's state as published: the engine's view with its predictions, `updated_ts` last. */
  private stateOf(slot: number): PublishedState {
    const state = this.engine.view(slot) as PublishedState;
    const { updated_ts } = state;
    // The view is a fresh object: moving `updated_ts` behind `predicted` in place costs ~1 µs, copying
    // the view with rest and spread ~12 µs per publish. Deleting the newest property keeps V8's fast shape.
    delete (state as Partial<PublishedState>).updated_ts;
    state.predicted = this.predictor?.forKey(slot, this.engine.now) ?? [];
    state.updated_ts = updated_ts;
    return state;
  }

  private render(slot: number, gen: number) {
    if (this.engine.keys.generation[slot] !== gen || !this.engine.keys.keys[slot]) return null;
    const state = this.stateOf(slot);
    const json = JSON.stringify(state);
    // `updated_ts` is the last field: everything before it is what "unchanged" compares.
    return { key: state.key, json, compared: json.lastIndexOf(',"updated_ts"') };
  }

  /** A key's predictions (bridge `predict`), or null when the key is not tracked. */
  private predictionsOf(key: string) {
    const slot = this.engine.keys.slotOf(key);
    if (slot < 0 || !this.predictor) return null;
    return { key, predicted: this.predictor.forKey(slot, this.engine.now), stats: this.predictor.stats };
  }

  private lastPredictions = '';

  /** B/predictions (retained): the most probable predictions waiting to come true, when they change. */
  private publishPredictions(): void {
    const predictor = this.predictor as Predictor;
    const predictions = predictor.pending(this.engine.now, this.config.prediction.maxPredictions);
    const body = JSON.stringify({ predictions, stats: predictor.stats });
    if (body === this.lastPredictions) return;
    this.lastPredictions = body;
    this.transport.publish(
      this.topics.predictions,
      body,
      { retain: true, qos: this.config.mqtt.qos },
      () => {},
    );
  }

  private announceOnline(): Promise<void> {
    return new Promise((resolve) =>
      this.transport.publish(this.topics.status, 'online', { retain: true, qos: 1 }, () => resolve()),
    );
  }

  private publishStats(): void {
    this.stats.sample();
    this.transport.publish(
      this.topics.stats,
      JSON.stringify(this.stats.snapshot()),
      { retain: true, qos: 0 },
      () => {},
    );
  }

  health(): { ok: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (!this.transport?.connected) reasons.push('MQTT broker not connected');
    const st = this.store.status();
    if (!st.up) reasons.push(`store (${st.kind}) down: ${st.detail ?? 'unknown'}`);
    return { ok: reasons.length === 0, reasons };
  }

  /** Graceful stop: flush the publisher, publish `offline`, stop ingesting, flush the store, close. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (!this.started) {
      await this.broker?.close();
      await this.store.close();
      return;
    }
    this.log.info('stopping');
    this.transport.stopTaking();
    for (const t of this.timers) clearInterval(t);
    this.ingest.settleQuiet(true);
    for (const ext of this.extensions) {
      await withTimeout(ext.stop(), 3000, () =>
        this.log.warn({ extension: ext.name }, 'extension stop timed out'),
      );
    }
    this.forwardChanges();
    await withTimeout(this.publisher.flush(), 5000, () => this.log.warn('publisher flush timed out'));
    this.errors.stop();
    this.publishStats();
    await withTimeout(
      new Promise<void>((resolve) =>
        this.transport.publish(this.topics.status, 'offline', { retain: true, qos: 1 }, () => resolve()),
      ),
      3000,
      () => this.log.warn('offline status not acknowledged'),
    );
    // Ingest stops with the connection, and only then the store gets its final flush: every event the
    // broker saw acknowledged is in it. Events that arrive later stay with the broker (persistent session)
    // or, on the embedded broker, with the devices, whose connections are closed before patternd's own
    // subscription ends.
    await this.broker?.disconnectClients();
    await this.transport.close();
    this.forwardChanges();
    await this.persistence.stop();
    this.publisher.stop();
    await this.http?.stop();
    await this.broker?.close();
    await this.store.close();
    this.log.info('stopped');
  }
}

async function withTimeout(p: Promise<void>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve();
    }, ms);
  });
  await Promise.race([p, timeout]);
  clearTimeout(timer);
}
