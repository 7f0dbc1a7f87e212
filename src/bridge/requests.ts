import { z } from 'zod';
import { keyGlob, MAX_WATCH_GLOBS, redactConfig } from '../config.ts';
import type { Extension, ServiceContext } from '../context.ts';
import { PATTERNS } from '../engine/types.ts';
import { Glob } from '../glob.ts';
import type { WatchList } from '../homeassistant/watchlist.ts';
import type { MemoryBudget } from '../memory.ts';
import { accessEventSchema, describe } from '../mqtt/validate.ts';
import { VERSION } from '../version.ts';

/**
 * The bridge API, as Zigbee2MQTT's: a request on `B/request/<command>` (a JSON object, or empty) is
 * answered on `B/response/<command>` with `{status: "ok"|"error", data, error?, transaction?}`; `data` is
 * `{}` on error and `transaction` is echoed so a caller can match answers to questions. Nothing a caller
 * sends can throw past `handle`.
 *
 * Unknown fields are errors, not ignored: a misspelt `confirm` or `page_size` should say so rather than
 * silently do something else. Retained requests are refused: a retained `reset` would run again at every
 * restart.
 */
export interface BridgeDeps {
  watch: WatchList;
  health(): { ok: boolean; reasons: string[] };
  stats(): Record<string, unknown>;
  /** What patternd may use at most with its configuration, term by term. */
  memoryBudget: MemoryBudget;
  /** Hands keys the engine just dropped to the publisher (empty retained) and the store. */
  applyRemovals(): void;
  /** A key's predictions, or null when the key is not tracked (or predictions are off). */
  predict(key: string): unknown;
}

export type BridgeResponse =
  | { status: 'ok'; data: unknown; transaction?: string | number }
  | { status: 'error'; data: Record<string, never>; error: string; transaction?: string | number };

const MAX_REQUEST_BYTES = 64 * 1024;
const DEFAULT_PAGE_SIZE = 100;

const transaction = z.union([z.string().max(256), z.number()]).optional();
const noFields = z.strictObject({ transaction });
const globs = z.strictObject({
  transaction,
  globs: z.array(keyGlob).min(1).max(MAX_WATCH_GLOBS),
});

function snapshotSchema(maxPageSize: number) {
  const pageSize = z.number().int().min(1).max(maxPageSize);
  return z
    .strictObject({
      transaction,
      page: z.number().int().min(1).optional(),
      page_size: pageSize.optional(),
      offset: z.number().int().min(0).optional(),
      limit: pageSize.optional(),
      pattern: z.enum(PATTERNS).optional(),
      glob: keyGlob.optional(),
    })
    .refine(
      (r) => !((r.page ?? r.page_size) !== undefined && (r.offset ?? r.limit) !== undefined),
      'use either page/page_size or offset/limit',
    );
}

type SnapshotRequest = z.output<ReturnType<typeof snapshotSchema>>;

class RequestError extends Error {}

interface Command {
  schema: z.ZodType;
  run(req: unknown): unknown;
}

function command<S extends z.ZodType>(schema: S, run: (req: z.output<S>) => unknown): Command {
  return { schema, run: run as (req: unknown) => unknown };
}

/**
 * The commands themselves, callable in-process: the MQTT bridge below and the HTTP dashboard's actions
 * share this one implementation, so a dashboard "forget" is exactly a bridge `forget`.
 */
export class BridgeApi {
  private readonly commands: Record<string, Command>;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly deps: BridgeDeps,
  ) {
    this.commands = {
      health: command(noFields, () => ({ ...deps.health(), stats: deps.stats() })),
      info: command(noFields, () => this.info()),
      snapshot: command(snapshotSchema(ctx.config.bridge.maxPageSize), (req) => this.snapshot(req)),
      forget: command(z.strictObject({ transaction, key: accessEventSchema.shape.key }), (req) =>
        this.forget(req.key),
      ),
      reset: command(
        z.strictObject({
          transaction,
          confirm: z.literal(true, { error: 'must be true: reset forgets every key' }),
        }),
        () => this.reset(),
      ),
      predict: command(z.strictObject({ transaction, key: accessEventSchema.shape.key }), (req) => {
        const answer = deps.predict(req.key);
        if (answer === null)
          throw new RequestError(
            `no predictions for ${JSON.stringify(req.key)}: not tracked, or predictions are off`,
          );
        return answer;
      }),
      watch: command(globs, (req) => ({ watch: deps.watch.add(req.globs) })),
      unwatch: command(globs, (req) => ({ watch: deps.watch.remove(req.globs) })),
    };
  }

  /** Runs `command` with a parsed request body; never throws. */
  request(command: string, body: unknown): BridgeResponse {
    const tx = transactionOf(body);
    try {
      return { status: 'ok', data: this.run(command, body), transaction: tx };
    } catch (err) {
      return this.failure(command, err, tx);
    }
  }

  failure(command: string, err: unknown, tx?: string | number): BridgeResponse {
    // RangeError: a limit such as the number of watched globs; anything else is a bug worth a log line.
    const expected = err instanceof RequestError || err instanceof RangeError;
    if (!expected) this.ctx.log.error({ err, command }, 'bridge request failed');
    return { status: 'error', data: {}, error: (err as Error).message, transaction: tx };
  }

  private run(name: string, body: unknown): unknown {
    if (!Object.hasOwn(this.commands, name)) {
      throw new RequestError(`unknown command "${name}"; known: ${Object.keys(this.commands).join(', ')}`);
    }
    const { schema, run } = this.commands[name];
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new RequestError(describe(parsed.error));
    return run(parsed.data);
  }

  private info() {
    const { config } = this.ctx;
    return {
      version: VERSION,
      base_topic: this.ctx.topics.base,
      commands: Object.keys(this.commands),
      homeassistant: {
        enabled: config.homeassistant.enabled,
        discovery_prefix: config.homeassistant.discoveryPrefix,
        watch: this.deps.watch.list(),
      },
      config: redactConfig(config),
      memory_budget: this.deps.memoryBudget,
    };
  }

  /** Keys sorted by name, so paging is stable while other keys are being accessed. */
  private snapshot(req: SnapshotRequest) {
    const { engine } = this.ctx;
    const glob = req.glob === undefined ? null : new Glob(req.glob);
    const selected: { key: string; slot: number }[] = [];
    for (const slot of engine.keys.slots()) {
      const key = engine.keys.keys[slot];
      if (glob && !glob.matches(key)) continue;
      if (req.pattern && !engine.patternsOf(slot).includes(req.pattern)) continue;
      selected.push({ key, slot });
    }
    selected.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const limit =
      req.limit ?? req.page_size ?? Math.min(DEFAULT_PAGE_SIZE, this.ctx.config.bridge.maxPageSize);
    const offset = req.offset ?? ((req.page ?? 1) - 1) * limit;
    const end = Math.min(selected.length, offset + limit);
    return {
      total: selected.length,
      offset,
      limit,
      ...(req.offset === undefined ? { page: req.page ?? 1, page_size: limit } : {}),
      next_offset: end < selected.length ? end : null,
      keys: selected.slice(offset, end).map(({ slot }) => this.ctx.state(slot)),
    };
  }

  private forget(key: string) {
    if (!this.ctx.engine.forget(key)) throw new RequestError(`key is not tracked: ${JSON.stringify(key)}`);
    this.deps.applyRemovals();
    return { key };
  }

  private reset() {
    const forgotten = this.ctx.engine.keys.size;
    this.ctx.engine.reset();
    this.deps.applyRemovals();
    this.ctx.log.warn({ forgotten }, 'every key forgotten by a bridge reset request');
    return { forgotten };
  }
}

/** The bridge API over MQTT: `B/request/<command>` answered on `B/response/<command>`. */
export class BridgeRequests implements Extension {
  readonly name = 'bridge';

  constructor(
    private readonly ctx: ServiceContext,
    private readonly api: BridgeApi,
  ) {}

  async start(): Promise<void> {
    await this.ctx.transport.subscribe(this.ctx.topics.requestFilter, 0, (topic, payload, retained) =>
      this.handle(topic, payload, retained),
    );
  }

  async stop(): Promise<void> {}

  private handle(topic: string, payload: Buffer, retained: boolean): void {
    const command = topic.slice(this.ctx.topics.requestPrefix.length);
    if (retained) {
      this.ctx.log.warn({ topic }, 'ignoring a retained bridge request; publish requests without retain');
      return;
    }
    let response: BridgeResponse;
    try {
      response = this.api.request(command, parse(payload));
    } catch (err) {
      response = this.api.failure(command, err);
    }
    this.ctx.transport.publish(
      this.ctx.topics.response(command),
      JSON.stringify(response),
      { retain: false, qos: this.ctx.config.mqtt.qos },
      (err) => {
        if (err) this.ctx.log.warn({ command, err: err.message }, 'bridge response not sent');
      },
    );
  }
}

function parse(payload: Buffer): unknown {
  if (payload.length > MAX_REQUEST_BYTES)
    throw new RequestError(`request too large: ${payload.length} bytes, at most ${MAX_REQUEST_BYTES}`);
  const text = payload.toString('utf8').trim();
  if (text === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new RequestError(`invalid JSON: ${(err as Error).message.slice(0, 120)}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new RequestError('request must be a JSON object');
  return body;
}

function transactionOf(body: unknown): string | number | undefined {
  const tx = (body as { transaction?: unknown }).transaction;
  return typeof tx === 'string' || typeof tx === 'number' ? tx : undefined;
}
