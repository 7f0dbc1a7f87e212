import type { Extension, ServiceContext } from '../context.ts';
import { keyOfPattern } from './topics.ts';

/**
 * Clears pattern states an earlier run left retained on an external broker for keys this run does not
 * track. The restore covers the keys the store knew; this covers the rest — keys published after the last
 * store flush of a run that crashed, or kept by a broker whose patternd lost its data directory. Left alone,
 * such a topic shows a key's last pattern forever (a ghost on every dashboard), and a key evicted before
 * its first publish in this run would never clear it, since only keys that may have a retained state are
 * cleared when they go.
 *
 * Once at start it subscribes to `B/pattern/#` (QoS 0, so the persistent session queues nothing for it)
 * and takes the states the broker replays as retained; live publishes, patternd's own among them, are not
 * marked retained and are ignored. It unsubscribes once the replay has been quiet for `QUIET_MS` (a broker
 * replays retained messages right after the SUBACK), or after `MAX_MS` at most.
 */
const QUIET_MS = 1000;
const MAX_MS = 30_000;

export class StaleStateSweep implements Extension {
  readonly name = 'stale-states';
  private quiet: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private ending = false;
  private markFinished: () => void = () => {};
  private readonly done = new Promise<void>((resolve) => {
    this.markFinished = resolve;
  });
  /** Stale states cleared so far. */
  cleared = 0;

  constructor(
    private readonly ctx: ServiceContext,
    /** Clears the retained state of a key that is not tracked. */
    private readonly clearState: (key: string) => void,
  ) {}

  async start(): Promise<void> {
    this.deadline = setTimeout(() => void this.end(), MAX_MS);
    await this.ctx.transport.subscribe(this.ctx.topics.patternFilter, 0, this.onState);
    // The replay follows the SUBACK: the quiet time counts from here.
    if (!this.ending) this.quiet = setTimeout(() => void this.end(), QUIET_MS);
  }

  /** Resolves when the sweep has ended (tests). */
  finished(): Promise<void> {
    return this.done;
  }

  stop(): Promise<void> {
    return this.end();
  }

  private readonly onState = (topic: string, payload: Buffer, retained: boolean): void => {
    if (!retained || payload.length === 0 || this.ending) return;
    this.quiet?.refresh();
    const key = keyOfPattern(this.ctx.topics, topic);
    if (key !== null && this.ctx.engine.keys.slotOf(key) < 0) {
      this.cleared++;
      this.clearState(key);
      // The clears wait for the publisher's window: at most maxKeys of them per start (the memory budget
      // counts that many); the next start clears what is left.
      if (this.cleared >= this.ctx.config.engine.maxKeys) void this.end();
    }
  };

  /** Ends the sweep once, however it ends (quiet replay, deadline, cap, stop); resolves when it has. */
  private end(): Promise<void> {
    if (!this.ending) {
      this.ending = true;
      void this.unsubscribe().then(this.markFinished);
    }
    return this.done;
  }

  private async unsubscribe(): Promise<void> {
    clearTimeout(this.quiet);
    clearTimeout(this.deadline);
    await this.ctx.transport.unsubscribe(this.ctx.topics.patternFilter).catch((err: Error) => {
      this.ctx.log.warn({ err: err.message }, 'could not unsubscribe from the pattern states');
    });
    if (this.cleared >= this.ctx.config.engine.maxKeys)
      this.ctx.log.warn(
        { keys: this.cleared },
        'cleared as many stale pattern states of an earlier run as maxKeys allows; the next start clears more',
      );
    else if (this.cleared > 0)
      this.ctx.log.info({ keys: this.cleared }, 'cleared stale pattern states of an earlier run');
  }
}
