import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { type Config, loadConfig } from '../../src/config.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { PatternState } from '../../src/engine/types.ts';
import { Service } from '../../src/service.ts';
import type { Store } from '../../src/store/store.ts';

/** Real servers for integration tests: the embedded aedes on a free port, or the machine's Mosquitto. */
export const MOSQUITTO_URL = process.env.TEST_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export function tmpDir(prefix = 'patternd-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function uniqueBase(): string {
  return `pdtest${Math.random().toString(36).slice(2, 10)}`;
}

/** Is something listening on host:port? */
export function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname, () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface TestService {
  service: Service;
  config: Config;
  url: string;
  stop(): Promise<void>;
}

export type BrokerKind = 'embedded' | 'mosquitto';

/** Starts patternd with test-friendly settings; `overrides` deep-merge into the config. */
export async function startService(
  opts: {
    broker?: BrokerKind;
    overrides?: Record<string, unknown>;
    dataDir?: string;
    base?: string;
    store?: Store;
    /** The wall clock patternd sees (live traffic moves engine time with it). */
    clock?: () => number;
  } = {},
): Promise<TestService> {
  const broker = opts.broker ?? 'embedded';
  const port = broker === 'embedded' ? await freePort() : 0;
  const base = opts.base ?? uniqueBase();
  const config = loadConfig({
    env: {},
    overrides: deepMerge(
      {
        mqtt: {
          baseTopic: base,
          clientId: `patternd-${base}`,
          publishIntervalMs: 50,
          statsIntervalMs: 200,
          ...(broker === 'mosquitto' ? { url: MOSQUITTO_URL } : {}),
        },
        broker: { host: '127.0.0.1', port },
        store: { dataDir: opts.dataDir ?? tmpDir(), flushIntervalMs: 200 },
        http: { enabled: false },
        log: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
      },
      opts.overrides ?? {},
    ),
  });
  const service = new Service({
    config,
    log: pino({ level: config.log.level }),
    store: opts.store,
    clock: opts.clock,
  });
  await service.start();
  const url = broker === 'embedded' ? `mqtt://127.0.0.1:${service.brokerPort}` : MOSQUITTO_URL;
  return { service, config, url, stop: () => service.stop() };
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object'
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** An MQTT client that records every message and can wait for one. */
export class Observer {
  readonly messages: { topic: string; payload: string; retain: boolean }[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString(), retain: packet.retain });
    });
  }

  static async connect(
    url: string,
    subscriptions: string[],
    login: { username: string; password: string } | object = {},
  ): Promise<Observer> {
    const client = await mqtt.connectAsync(url, {
      clientId: `obs-${Math.random().toString(36).slice(2, 10)}`,
      reconnectPeriod: 0,
      ...login,
    });
    const obs = new Observer(client);
    if (subscriptions.length > 0) await client.subscribeAsync(subscriptions, { qos: 1 });
    return obs;
  }

  /** Latest payload on `topic`, or undefined. */
  latest(topic: string): string | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--)
      if (this.messages[i].topic === topic) return this.messages[i].payload;
    return undefined;
  }

  on(topic: string): string[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => m.payload);
  }

  /** Resolves with the first message on `topic` (already received or future) that satisfies `pred`. */
  async waitFor(
    topic: string,
    pred: (payload: string) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.messages.find((m) => m.topic === topic && pred(m.payload));
      if (hit) return hit.payload;
      if (Date.now() > deadline) {
        const seen = this.on(topic).slice(-3).join(' | ').slice(0, 400);
        throw new Error(`timed out waiting for a matching message on ${topic}; last: ${seen || 'none'}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Waits for the pattern state of `key` to satisfy `pred` and returns it parsed. */
  async state(
    base: string,
    key: string,
    pred: (s: Record<string, unknown>) => boolean = () => true,
    timeoutMs = 5000,
  ) {
    const raw = await this.waitFor(
      `${base}/pattern/${encodeURIComponent(key)}`,
      (p) => p.length > 0 && pred(JSON.parse(p)),
      timeoutMs,
    );
    return JSON.parse(raw) as Record<string, unknown>;
  }

  publish(topic: string, payload: string | Buffer, retain = false): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/**
 * Removes retained messages under `base/` from a shared broker (Mosquitto) after a test, and the Home
 * Assistant discovery configs of that instance (under `homeassistant/`, naming topics under `base/`): left
 * behind, every test run added a dozen devices to the machine's broker.
 */
export async function clearRetained(url: string, base: string): Promise<void> {
  const obs = await Observer.connect(url, [`${base}/#`, 'homeassistant/device/+/config']);
  await new Promise((r) => setTimeout(r, 200));
  const ours = (m: { topic: string; payload: string }) =>
    m.topic.startsWith(`${base}/`) || m.payload.includes(`"${base}/`);
  const topics = new Set(
    obs.messages.filter((m) => m.retain && m.payload.length > 0 && ours(m)).map((m) => m.topic),
  );
  for (const t of topics) await obs.publish(t, '', true);
  await obs.close();
}

export interface BridgeResponse {
  status: 'ok' | 'error';
  data: Record<string, unknown>;
  error?: string;
  transaction?: string | number;
}

let transactions = 0;

/** Sends `B/request/<command>` and resolves with the response carrying the same (fresh) transaction. */
export async function bridgeRequest(
  obs: Observer,
  base: string,
  command: string,
  body: Record<string, unknown> = {},
): Promise<BridgeResponse> {
  const transaction = `tx-${++transactions}`;
  await obs.publish(`${base}/request/${command}`, JSON.stringify({ ...body, transaction }));
  const raw = await obs.waitFor(
    `${base}/response/${command}`,
    (p) => JSON.parse(p).transaction === transaction,
  );
  return JSON.parse(raw) as BridgeResponse;
}

/** Calls `find` until it returns something, or fails after `timeoutMs` naming `what`. */
export async function poll<T>(what: string, find: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = find();
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Redis for the store tests: CI must have it, a developer's machine may skip. */
export async function requireRedis(url = REDIS_URL): Promise<boolean> {
  const up = await reachable(url);
  if (!up && process.env.CI) throw new Error(`CI: Redis must be running at ${url}`);
  return up;
}

/** Deletes every Redis key under `prefix` (a test's own namespace). */
export async function dropRedisPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
}

/** A key prefix no other test (or run) uses. */
export function uniquePrefix(): string {
  return `${uniqueBase()}:`;
}

/** Every tracked key's view, by key. */
export function allViews(engine: Engine): Map<string, PatternState> {
  const out = new Map<string, PatternState>();
  for (const slot of engine.keys.slots()) out.set(engine.keys.keys[slot], engine.view(slot));
  return out;
}

/** Polls `pred` until it holds (usable outside a test, unlike expect.poll). */
export async function waitUntil(
  pred: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string | (() => string),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) {
      const described = typeof what === 'string' ? what : what();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${described}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Accesses per key, from the latest non-empty state on each `base/pattern/…` topic. */
export function accessesByKey(obs: Observer, base: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of obs.messages) {
    if (!m.topic.startsWith(`${base}/pattern/`) || m.payload === '') continue;
    const s = JSON.parse(m.payload) as { key: string; accesses: number };
    out.set(s.key, s.accesses);
  }
  return out;
}
