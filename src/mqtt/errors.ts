import type { Logger } from 'pino';

/**
 * Reports rejected input on B/errors — rate-limited, so a flood of junk cannot make patternd send a
 * flood of its own. Up to `perSecond` individual reports per second; beyond that, the rest are counted
 * and one summary per second says how many were suppressed and why.
 */
export interface Rejection {
  topic: string;
  reason: string;
  index?: number;
}

export class ErrorReporter {
  private sentThisSecond = 0;
  private windowStart = 0;
  private suppressed = 0;
  private readonly suppressedReasons = new Map<string, number>();
  private summaryTimer: NodeJS.Timeout | undefined;
  /** Rejections by reason class (the part of the reason before the first ':'). */
  readonly byReason = new Map<string, number>();
  total = 0;

  constructor(
    private readonly perSecond: number,
    private readonly send: (payload: string) => void,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  report(r: Rejection): void {
    this.total++;
    const reasonClass = r.reason.split(':')[0].slice(0, 64);
    this.byReason.set(reasonClass, (this.byReason.get(reasonClass) ?? 0) + 1);
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.sentThisSecond = 0;
    }
    if (this.sentThisSecond < this.perSecond) {
      this.sentThisSecond++;
      this.log.warn({ topic: r.topic, reason: r.reason, index: r.index }, 'rejected input');
      this.send(JSON.stringify(r));
      return;
    }
    this.suppressed++;
    this.suppressedReasons.set(reasonClass, (this.suppressedReasons.get(reasonClass) ?? 0) + 1);
    this.summaryTimer ??= setTimeout(() => this.flushSummary(), 1000);
  }

  flushSummary(): void {
    clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    if (this.suppressed === 0) return;
    const summary = {
      topic: '*',
      reason: `rate limited: ${this.suppressed} further rejections not reported individually`,
      suppressed: this.suppressed,
      reasons: Object.fromEntries(this.suppressedReasons),
    };
    this.log.warn(summary, 'rejections suppressed');
    this.send(JSON.stringify(summary));
    this.suppressed = 0;
    this.suppressedReasons.clear();
  }

  stop(): void {
    this.flushSummary();
  }
}
