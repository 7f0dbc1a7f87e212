import { EventEmitter } from 'node:events';
import type { Aedes } from 'aedes';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { readPemFile, redactUrl } from '../config.ts';
import { UnreachableError } from '../errors.ts';

/**
 * How patternd talks MQTT, whichever broker it is. With the embedded aedes it subscribes and publishes
 * in-process (no socket, no serialisation: about twice the throughput of a TCP client, reference A(b3));
 * with an external broker it is an MQTT.js client with a persistent session.
 */
/**
 * `retained`: the broker replayed a stored message on subscribe, rather than forwarding a live publish
 * (commands must not be re-run from a retained copy at every restart).
 */
export type MessageHandler = (topic: string, payload: Buffer, retained: boolean) => void;
export type PublishCallback = (err?: Error) => void;

export interface PublishOptions {
  retain: boolean;
  qos: 0 | 1;
}

export interface Transport extends EventEmitter {
  readonly connected: boolean;
  subscribe(filter: string, qos: 0 | 1, handler: MessageHandler): Promise<void>;
  /** Ends every subscription made with exactly this filter. */
  unsubscribe(filter: string): Promise<void>;
  publish(topic: string, payload: string | Buffer, opts: PublishOptions, cb: PublishCallback): void;
  /**
   * The first step of a graceful stop: messages that arrive from now on are neither handed to the handlers
   * nor acknowledged, so that they stay with the broker for the next run, while publishing goes on.
   */
  stopTaking(): void;
  /** Stops delivering messages to handlers and disconnects. */
  close(): Promise<void>;
}

/** In-process transport on the embedded aedes broker. */
export class AedesTransport extends EventEmitter implements Transport {
  private readonly subs: {
    filter: string;
    deliver: (packet: { topic: string; payload: unknown }, cb: () => void) => void;
  }[] = [];
  readonly connected = true;

  constructor(private readonly aedes: Aedes) {
    super();
  }

  subscribe(filter: string, _qos: 0 | 1, handler: MessageHandler): Promise<void> {
    const deliver = (packet: { topic: string; payload: unknown }, cb: () => void) => {
      const payload = packet.payload;
      // aedes replays stored messages only to network clients, never to in-process subscriptions.
      handler(packet.topic, Buffer.isBuffer(payload) ? payload : Buffer.from(String(payload)), false);
      cb();
    };
    this.subs.push({ filter, deliver });
    return new Promise((resolve) => this.aedes.subscribe(filter, deliver as never, resolve));
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions, cb: PublishCallback): void {
    this.aedes.publish(
      {
        cmd: 'publish',
        topic,
        payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
        qos: opts.qos,
        retain: opts.retain,
        dup: false,
      },
      (err) => cb(err ?? undefined),
    );
  }

  async unsubscribe(filter: string): Promise<void> {
    await this.end(this.subs.filter((s) => s.filter === filter));
  }

  /**
   * Nothing to do here: an in-process subscriber that does not call back holds up aedes' other deliveries
   * (the `offline` status among them). The devices' connections are closed instead, once the last states
   * are out (`EmbeddedBroker.disconnectClients`), and they resend what was not acknowledged.
   */
  stopTaking(): void {}

  async close(): Promise<void> {
    await this.end(this.subs);
  }

  private async end(subs: AedesTransport['subs']): Promise<void> {
    for (const sub of [...subs]) {
      this.subs.splice(this.subs.indexOf(sub), 1);
      await new Promise<void>((resolve) => this.aedes.unsubscribe(sub.filter, sub.deliver as never, resolve));
    }
  }
}

export interface ClientTransportOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  will: { topic: string; payload: string };
  log: Logger;
}

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;
const FIRST_CONNECT_RETRY_MAX_MS = 4000;

/** A connection closed this soon after it opened, three times in a row, points at a second client with our id. */
const QUICK_CLOSE_MS = 5000;
const QUICK_CLOSES = 3;
/** The same warning at most this often. */
const WARN_EVERY_MS = 60_000;

/**
 * MQTT.js client to an external broker (Mosquitto, EMQX, …).
 *
 * A QoS 1 event is acknowledged only after the handlers ran, i.e. once it is in the engine and queued
 * for the store. MQTT.js sends the PUBACK when `handleMessage` calls back and reads no further packet
 * until then, so an event of the persistent session that arrives before the subscription's handler is
 * registered is held unacknowledged and handed over when the handler comes, instead of being
 * acknowledged and dropped.
 */
export class ClientTransport extends EventEmitter implements Transport {
  private readonly client: MqttClient;
  private readonly handlers: { filter: string; handler: MessageHandler; matcher: RegExp }[] = [];
  private held: { packet: IPublishPacket; done: () => void } | undefined;
  private taking = true;
  private readonly log: Logger;
  private readonly clientId: string;
  private connectedAt = 0;
  private everConnected = false;
  /** The latest connection error, for the message when the first connection never comes. */
  private lastError: string | undefined;
  private readonly url: string;
  private quickCloses = 0;
  private readonly warnedAt = { takeover: -WARN_EVERY_MS, foreign: -WARN_EVERY_MS };

  constructor(opts: ClientTransportOptions) {
    super();
    this.log = opts.log;
    this.clientId = opts.clientId;
    this.url = redactUrl(opts.url);
    const options: IClientOptions = {
      clientId: opts.clientId,
      username: opts.username,
      password: opts.password,
      // A persistent session: QoS 1 events published while patternd is down are delivered when it returns.
      clean: false,
      reconnectPeriod: RECONNECT_MIN_MS,
      connectTimeout: 10_000,
      keepalive: 30,
      will: { topic: opts.will.topic, payload: Buffer.from(opts.will.payload), qos: 1, retain: true },
      ...(opts.tls?.ca ? { ca: readPemFile('mqtt.tls.ca', opts.tls.ca, 'cert') } : {}),
      ...(opts.tls?.cert ? { cert: readPemFile('mqtt.tls.cert', opts.tls.cert, 'cert') } : {}),
      ...(opts.tls?.key ? { key: readPemFile('mqtt.tls.key', opts.tls.key, 'key') } : {}),
      ...(opts.tls?.rejectUnauthorized !== undefined
        ? { rejectUnauthorized: opts.tls.rejectUnauthorized }
        : {}),
    };
    this.client = mqtt.connect(opts.url, options);
    this.client.on('connect', (ack) => {
      // MQTT.js leaves Nagle on: every small publish would wait ~40 ms for the previous one's ACK.
      (this.client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      opts.log.info(
        { url: redactUrl(opts.url), sessionPresent: ack.sessionPresent },
        'connected to MQTT broker',
      );
      this.client.options.reconnectPeriod = RECONNECT_MIN_MS;
      this.connectedAt = performance.now();
      this.everConnected = true;
      this.emit('connect');
    });
    this.client.on('close', () => {
      this.noteClose();
      this.emit('disconnect');
    });
    this.client.on('error', (err) => {
      this.lastError = err.message;
      opts.log.warn({ err: err.message }, 'MQTT client error');
    });
    this.client.on('reconnect', () => {
      // Exponential backoff (MQTT.js retries at a fixed period): a broker that is down for a while is not
      // hammered, and one that restarts quickly is back within a second. Before the first connection the
      // wait stays short: patternd waits for its broker only so long at start (a broker up 22 s in was
      // never tried again before the start gave up at 30 s).
      const period = this.client.options.reconnectPeriod ?? RECONNECT_MIN_MS;
      const most = this.everConnected ? RECONNECT_MAX_MS : FIRST_CONNECT_RETRY_MAX_MS;
      this.client.options.reconnectPeriod = Math.min(period * 2, most);
      opts.log.info({ nextRetryMs: this.client.options.reconnectPeriod }, 'reconnecting to MQTT broker');
    });
    this.client.handleMessage = (packet, done) => {
      // Called back with an error, MQTT.js sends no PUBACK and goes on with the next packet: the broker
      // keeps the event in patternd's persistent session and delivers it again to the next run.
      if (!this.taking) done(new Error('patternd is stopping'));
      else if (this.handlers.length === 0) this.held = { packet, done: () => done() };
      else this.deliver(packet, () => done());
    };
  }

  private deliver(packet: IPublishPacket, done: () => void): void {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    let matched = false;
    for (const h of this.handlers) {
      if (!h.matcher.test(packet.topic)) continue;
      matched = true;
      h.handler(packet.topic, payload, packet.retain);
    }
    if (!matched)
      this.warnAtMost(
        'foreign',
        { topic: packet.topic, clientId: this.clientId },
        "a message matched none of this instance's subscriptions and was dropped: the broker's persistent session for this client id holds subscriptions of another configuration (an earlier run with other topics — they stay in the session — or a second instance with the same mqtt.clientId)",
      );
    done();
  }

  /**
   * A second client with our id (another instance, a copied config) takes the session at each connect, and
   * the broker closes the other connection: seconds-long connections, over and over, with nothing else
   * in the log. Said out loud, with what to change.
   */
  private noteClose(): void {
    const lasted = this.connectedAt > 0 ? performance.now() - this.connectedAt : Number.POSITIVE_INFINITY;
    this.connectedAt = 0;
    this.quickCloses = lasted < QUICK_CLOSE_MS ? this.quickCloses + 1 : 0;
    if (this.quickCloses >= QUICK_CLOSES)
      this.warnAtMost(
        'takeover',
        { clientId: this.clientId, closes: this.quickCloses },
        'the broker keeps closing the connection within seconds of connecting: is another client using the same client id? Each takes the session from the other and events are lost; give each instance its own mqtt.clientId',
      );
  }

  private warnAtMost(kind: keyof ClientTransport['warnedAt'], fields: object, message: string): void {
    const now = performance.now();
    if (now - this.warnedAt[kind] < WARN_EVERY_MS) return;
    this.warnedAt[kind] = now;
    this.log.warn(fields, message);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Resolves once connected for the first time (or rejects on a fatal error such as a bad URL). */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new UnreachableError(
              `could not connect to the MQTT broker at ${this.url} within ${timeoutMs} ms: ${this.lastError ?? 'no answer'}`,
            ),
          ),
        timeoutMs,
      );
      this.client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async subscribe(filter: string, qos: 0 | 1, handler: MessageHandler): Promise<void> {
    this.handlers.push({ filter, handler, matcher: filterToRegExp(filter) });
    // A held message blocks the SUBACK behind it.
    const held = this.held;
    this.held = undefined;
    if (held) this.deliver(held.packet, held.done);
    await this.client.subscribeAsync(filter, { qos });
  }

  async unsubscribe(filter: string): Promise<void> {
    for (let i = this.handlers.length - 1; i >= 0; i--)
      if (this.handlers[i].filter === filter) this.handlers.splice(i, 1);
    await this.client.unsubscribeAsync(filter);
  }

  publish(topic: string, payload: string | Buffer, opts: PublishOptions, cb: PublishCallback): void {
    this.client.publish(topic, payload, { qos: opts.qos, retain: opts.retain }, (err) =>
      cb(err ?? undefined),
    );
  }

  /**
   * Without it, the final flush of a graceful stop chased the changes of events that kept coming, and
   * under live traffic timed out (5 s) every time; events taken meanwhile but not yet acknowledged when the
   * connection closed were delivered again and counted twice.
   */
  stopTaking(): void {
    this.taking = false;
  }

  /** The broker keeps the subscription (persistent session) and queues what is published meanwhile. */
  async close(): Promise<void> {
    await this.client.endAsync(false);
  }
}

/** MQTT topic filter → RegExp (`+` one level, `#` the rest). */
export function filterToRegExp(filter: string): RegExp {
  const parts = filter.split('/').map((level) => {
    if (level === '+') return '[^/]*';
    if (level === '#') return '.*';
    return level.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  let source = parts.join('/');
  // `a/#` also matches `a` itself.
  if (filter.endsWith('/#')) source = `${parts.slice(0, -1).join('/')}(?:/.*)?`;
  return new RegExp(`^${source}$`);
}
