import type { Engine } from './engine/engine.ts';
import type { MemoryBudget } from './memory.ts';
import type { ErrorReporter } from './mqtt/errors.ts';
import type { Ingest } from './mqtt/ingest.ts';
import type { Publisher } from './mqtt/publisher.ts';
import type { Persistence } from './store/persistence.ts';
import type { Store } from './store/store.ts';

/** The counters published on B/stats (and exposed on /metrics). */
export interface StatsSources {
  engine: Engine;
  ingest: Ingest;
  errors: ErrorReporter;
  publisher: Publisher;
  store: Store;
  persistence: Persistence;
  startedAt: number;
  version: string;
  predictions?: () => unknown;
  budget: MemoryBudget;
  /** The embedded broker's refusals of its other clients; absent with an external broker. */
  broker?: () => { oversizePackets: number; unkeptRetained: number };
}

export class StatsCollector {
  private lastEvents = 0;
  private lastAt = 0;
  eventsPerSecond = 0;

  constructor(
    private readonly s: StatsSources,
    private readonly now: () => number,
  ) {
    this.lastAt = now();
  }

  /** Updates the event rate over the time since the previous call. */
  sample(): void {
    const t = this.now();
    const events = this.s.ingest.counters.events;
    const dt = (t - this.lastAt) / 1000;
    if (dt > 0) this.eventsPerSecond = (events - this.lastEvents) / dt;
    this.lastEvents = events;
    this.lastAt = t;
  }

  private brokerCounts(): Record<string, number> | null {
    const refused = this.s.broker?.();
    return refused
      ? { oversize_packets: refused.oversizePackets, retained_not_kept: refused.unkeptRetained }
      : null;
  }

  snapshot(): Record<string, unknown> {
    const { engine, ingest, errors, publisher, store, persistence } = this.s;
    const c = engine.counters;
    const st = store.status();
    return {
      version: this.s.version,
      uptime_s: Math.round((this.now() - this.s.startedAt) / 1000),
      messages: ingest.counters.messages,
      events: ingest.counters.events,
      events_per_s: Math.round(this.eventsPerSecond * 10) / 10,
      rejected_messages: ingest.counters.rejectedMessages,
      rejected_events: ingest.counters.rejectedEvents,
      repeated_messages: ingest.counters.repeatedMessages,
      rejected_by_reason: Object.fromEntries(errors.byReason),
      keys: c.keys,
      max_keys: engine.cfg.maxKeys,
      evicted: c.evicted,
      late_events: c.lateEvents,
      patterns: c.patterns,
      published: publisher.published,
      publish_backlog: publisher.backlog,
      publish_inflight: publisher.inFlight,
      publish_failed: publisher.failed,
      store: {
        kind: st.kind,
        up: st.up,
        detail: st.detail,
        pending: persistence.pending,
        writes: persistence.writes,
        failures: persistence.failures,
        dropped_deletes: persistence.droppedDeletes,
        expired: persistence.expired,
      },
      predictions: this.s.predictions?.() ?? null,
      broker: this.brokerCounts(),
      memory: {
        rss_bytes: process.memoryUsage.rss(),
        // maxRSS is in KiB.
        peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
        budget_bytes: this.s.budget.bytes,
      },
      engine_time: Math.round(engine.now),
      live: engine.isLive,
    };
  }
}
