import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PACKAGE_ROOT } from './paths.ts';

/**
 * Every tunable of patternd. `config/default.json` holds the documented defaults; a `--config` file and
 * the contract's environment variables override them. Validation happens once, at start, so a typo
 * fails loudly with the field's path instead of surfacing as odd behaviour hours later.
 */
const positiveMs = z.number().int().positive();

export const engineSchema = z.strictObject({
  maxKeys: z.number().int().min(16).max(10_000_000),
  liveWindowMs: positiveMs,
  maxFutureSkewMs: positiveMs,
  sessionGapMs: positiveMs,
  sequential: z.strictObject({
    maxGap: z.number().int().min(0).max(1024),
    minLength: z.number().int().min(2).max(64),
    threshold: z.number().gt(0).lt(1),
    exitThreshold: z.number().gt(0).lt(1),
    smoothing: z.number().int().min(4).max(256),
  }),
  periodic: z.strictObject({
    minOccurrences: z.number().int().min(4).max(32),
    minPeriodMs: positiveMs,
    maxPeriodMs: positiveMs,
    maxJitter: z.number().gt(0).lt(0.5),
    driftBayesFactor: z.number().gte(1),
    minFillRatio: z.number().gt(0).max(1),
    missedPeriodsToExpire: z.number().gt(1),
  }),
  burst: z.strictObject({
    windowMs: positiveMs,
    baselineMs: positiveMs,
    sustainedMs: positiveMs,
    minEvents: z.number().int().min(2),
    minRatio: z.number().gt(1),
    maxPValue: z.number().gt(0).lt(1),
    exitRatio: z.number().gt(0),
    habitMs: positiveMs,
  }),
  correlation: z.strictObject({
    maxLagMs: positiveMs,
    recentKeys: z.number().int().min(4).max(256),
    partnersPerKey: z.number().int().min(1).max(32),
    minSupport: z.number().int().min(2),
    minConfidence: z.number().gt(0).max(1),
    maxPValue: z.number().gt(0).lt(1),
  }),
  schedule: z.strictObject({
    minHistoryDays: z.number().positive(),
    halfLifeDays: z.number().positive(),
  }),
  trend: z.strictObject({
    days: z.number().int().min(3).max(31),
    flatBelow: z.number().min(0),
    significance: z.number().gt(0).lt(1),
  }),
});

const mqttTopicPrefix = z
  .string()
  .min(1)
  .refine((s) => !/[#+]/.test(s) && !s.includes('\u0000'), 'must not contain # + or NUL')
  .refine((s) => !s.startsWith('/') && !s.endsWith('/'), 'must not start or end with /');

export const MAX_WATCH_GLOBS = 100;
/** Watched-key globs: `*` any run of characters (`/` included), `?` exactly one. */
export const keyGlob = z.string().min(1).max(512);

export const predictionSchema = z.strictObject({
  enabled: z.boolean(),
  confidenceThreshold: z.number().min(0).max(1),
  maxPredictions: z.number().int().min(1).max(1000),
  lookaheadMs: z.number().int().positive(),
  minProbability: z.number().min(0).max(1),
  maxDegree: z.number().int().min(1).max(1024),
  tableSize: z
    .number()
    .int()
    .min(1024)
    .max(1 << 24),
  publishIntervalMs: z.number().int().positive(),
});

const configObject = z.strictObject({
  mqtt: z.strictObject({
    url: z
      .string()
      .regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'must start with mqtt://, mqtts://, ws:// or wss://')
      .optional(),
    baseTopic: mqttTopicPrefix,
    /** Unset: `defaultClientId(baseTopic)`. */
    clientId: z.string().min(1).max(64).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    tls: z
      .strictObject({
        ca: z.string().min(1).optional(),
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        rejectUnauthorized: z.boolean().optional(),
      })
      .optional(),
    qos: z.literal([0, 1]),
    maxPayloadBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024),
    maxBatchItems: z.number().int().min(1).max(100_000),
    publishIntervalMs: z.number().int().min(0),
    inflightWindow: z.number().int().min(1).max(65_535),
    queuedChanges: z.number().int().min(0).max(1_000_000),
    statsIntervalMs: positiveMs,
    errorReportsPerSecond: z.number().int().min(1),
  }),
  broker: z
    .strictObject({
      host: z.string().min(1),
      port: z.number().int().min(0).max(65_535),
      username: z.string().min(1).optional(),
      passwordHash: z
        .string()
        .regex(
          /^scrypt\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/,
          'must be a hash made by `patternd hash-password`',
        )
        .optional(),
      tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
      maxPacketBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .max(256 * 1024 * 1024),
      maxRetainedBytes: z
        .number()
        .int()
        .min(0)
        .max(4 * 1024 * 1024 * 1024),
    })
    // One without the other is a login that checks nothing: the broker let everyone in while its log
    // said a login was on (an outside evaluation).
    .superRefine((b, ctx) => {
      if ((b.username === undefined) === (b.passwordHash === undefined)) return;
      ctx.addIssue({
        code: 'custom',
        message: 'username and passwordHash go together: set both for a login, or neither',
        path: [b.username === undefined ? 'username' : 'passwordHash'],
      });
    }),
  store: z.strictObject({
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .optional(),
    dataDir: z.string().min(1),
    keyPrefix: z.string(),
    flushIntervalMs: positiveMs,
    expireDays: z.number().positive(),
  }),
  http: z.strictObject({
    enabled: z.boolean(),
    host: z.string().min(1),
    port: z.number().int().min(0).max(65_535),
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    allowedHosts: z.array(z.string().min(1).max(253)).max(64),
    recentAccesses: z.number().int().min(100).max(1_000_000),
  }),
  homeassistant: z
    .strictObject({
      enabled: z.boolean(),
      discoveryPrefix: mqttTopicPrefix,
      statusTopic: mqttTopicPrefix,
      birthDelayMs: z.number().int().min(0).max(300_000),
      watch: z.array(keyGlob).max(MAX_WATCH_GLOBS),
      burstingTopN: z.number().int().min(0).max(1000),
      maxKeys: z.number().int().min(0).max(10_000),
    })
    .refine((ha) => ha.burstingTopN <= ha.maxKeys, {
      message: 'must not exceed maxKeys',
      path: ['burstingTopN'],
    }),
  bridge: z.strictObject({
    enabled: z.boolean(),
    maxPageSize: z.number().int().min(1).max(10_000),
  }),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    pretty: z.boolean(),
  }),
  engine: engineSchema,
  prediction: predictionSchema,
});

export const configSchema = configObject.refine((c) => c.homeassistant.discoveryPrefix !== c.mqtt.baseTopic, {
  message: 'must differ from mqtt.baseTopic',
  path: ['homeassistant', 'discoveryPrefix'],
});

export type Config = z.infer<typeof configSchema>;
export type EngineConfig = z.infer<typeof engineSchema>;
export type PredictionConfig = z.infer<typeof predictionSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const DEFAULT_FILE = path.join(PACKAGE_ROOT, 'config', 'default.json');

/** Objects merge key by key; anything else (arrays, scalars) replaces. */
function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  // Digits only: Number() reads " " as 0 (a random port), "1e3" as 1000 and "0x5000" as 20480.
  if (!/^[0-9]+$/.test(raw))
    throw new ConfigError(`environment variable ${name} must be an integer, got "${raw}"`);
  return Number(raw);
}

function envStr(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

/** The contract's environment variables, mapped onto the config tree. */
function envOverrides(env: NodeJS.ProcessEnv): unknown {
  return {
    mqtt: { url: envStr(env, 'MQTT_URL'), baseTopic: envStr(env, 'BASE_TOPIC') },
    broker: { host: envStr(env, 'BROKER_HOST'), port: envInt(env, 'BROKER_PORT') },
    store: { redisUrl: envStr(env, 'REDIS_URL'), dataDir: envStr(env, 'DATA_DIR') },
    http: {
      host: envStr(env, 'HTTP_HOST'),
      port: envInt(env, 'HTTP_PORT'),
      token: envStr(env, 'HTTP_TOKEN'),
    },
    log: {
      level: envStr(env, 'LOG_LEVEL'),
      pretty: env.LOG_PRETTY === '1' || env.LOG_PRETTY === 'true' || undefined,
    },
  };
}

/** Strips `_comment`-style documentation keys so default.json can explain itself. */
function stripDocs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDocs);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) if (!k.startsWith('_')) out[k] = stripDocs(val);
  return out;
}

function formatIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const field = issue.path.join('.') || '(root)';
    let detail = issue.message;
    if (issue.code === 'invalid_value' && 'values' in issue) {
      detail = `must be one of ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    } else if (issue.code === 'unrecognized_keys') {
      detail = `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    }
    return `  ${field}: ${detail}`;
  });
  return `invalid configuration (${source}):\n${lines.join('\n')}`;
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Programmatic overrides (tests, embedding), applied last. */
  overrides?: unknown;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  let merged = stripDocs(readJson(DEFAULT_FILE));
  const sources = ['config/default.json'];
  if (opts.file) {
    merged = deepMerge(merged, stripDocs(readJson(opts.file)));
    sources.push(opts.file);
  }
  merged = deepMerge(merged, envOverrides(env));
  if (opts.overrides) merged = deepMerge(merged, opts.overrides);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success)
    throw new ConfigError(formatIssues(parsed.error, [...sources, 'environment'].join(' + ')));
  return parsed.data;
}

/**
 * The MQTT client id when `mqtt.clientId` is unset: one per base topic, since an external broker keeps one
 * persistent session per id. Two instances on one broker with one id took the session from each other
 * twice a second, and each received the other's events into its session and dropped them (457 of 1000 in
 * an outside evaluation). `patternd` for the default base topic, the id every earlier version used, so
 * an upgrade keeps its session and the events queued in it.
 */
export function defaultClientId(baseTopic: string): string {
  return baseTopic === 'homecloud' ? 'patternd' : `patternd-${baseTopic}`.slice(0, 64);
}

/** A file the config names (a TLS certificate), or a ConfigError that names the field, not a bare ENOENT. */
export function readConfiguredFile(field: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${field}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * A PEM certificate (`cert`: a CA or a client's or server's certificate) or private key (`key`) the config
 * names, checked when read: a file of something else failed later with OpenSSL's "no start line" and a
 * stack trace, or, as a CA, as a misleading "self-signed certificate in certificate chain" at every
 * connection attempt for 30 s (an outside evaluation).
 */
export function readPemFile(field: string, file: string, kind: 'cert' | 'key'): Buffer {
  const pem = readConfiguredFile(field, file);
  try {
    if (kind === 'cert') new crypto.X509Certificate(pem);
    else crypto.createPrivateKey(pem);
  } catch (err) {
    const what = kind === 'cert' ? 'a PEM certificate' : 'a PEM private key';
    throw new ConfigError(`${field}: ${file} is not ${what}: ${(err as Error).message}`);
  }
  return pem;
}

/** A URL with its password masked, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, '//$1:***@');
}

/** Config without secrets, for logs and the bridge `info` response. */
export function redactConfig(config: Config): unknown {
  return {
    ...config,
    mqtt: {
      ...config.mqtt,
      url: config.mqtt.url && redactUrl(config.mqtt.url),
      password: config.mqtt.password ? '***' : undefined,
    },
    store: { ...config.store, redisUrl: config.store.redisUrl && redactUrl(config.store.redisUrl) },
    http: { ...config.http, token: config.http.token ? '***' : undefined },
    // A hash is enough to guess the password offline.
    broker: { ...config.broker, passwordHash: config.broker.passwordHash ? '***' : undefined },
  };
}
