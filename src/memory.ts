import type { Config } from './config.ts';
import { PREDICTION_ENTRY_BYTES, PREDICTOR_SLOT_BYTES } from './engine/predict.ts';
import { RECENT_MESSAGE_BYTES, RECENT_MESSAGES } from './mqtt/duplicates.ts';
import { PUBLISHER_SLOT_BYTES } from './mqtt/publisher.ts';
import {
  BATCH_COLUMN_BYTES,
  KEY_CACHE_BYTES,
  KEY_CACHE_ENTRIES,
  KEY_CACHE_ENTRY_BYTES,
} from './mqtt/scan.ts';
import { ROWS_PER_WRITE } from './store/persistence.ts';

/**
 * How much memory patternd may use, derived from its configuration: what grows with `maxKeys`, the fixed
 * tables the config sizes, what a message in progress costs, and the slack V8's garbage collector takes
 * under load, on top of the process as measured at start. It is an upper estimate meant for sizing a
 * machine (and for the flood test, which checks a real process's peak RSS against it), not an average:
 * a quiet patternd stays well below it.
 *
 * Sizes of V8 objects are those of 64-bit Node 20 without pointer compression (8-byte pointers).
 */
export interface BudgetTerm {
  name: string;
  bytes: number;
  /** What the term is and where its size comes from. */
  why: string;
}

export interface MemoryBudget {
  bytes: number;
  terms: BudgetTerm[];
}

/** Per-key sizes of the engine: a stored row (`Engine.rowBytes`) and a slot in memory (`Engine.slotBytes`). */
export interface EngineSizes {
  rowBytes: number;
  slotBytes: number;
}

/** The process as measured at start, before any key is tracked. */
export interface Baseline {
  rss: number;
  heapUsed: number;
}

/** Key length the estimate assumes (one-byte characters; keys may have up to 512). */
export const TYPICAL_KEY_CHARS = 64;

/** A V8 string: map, hash and length, then the characters, padded to 8 bytes. */
const stringBytes = (chars: number) => 16 + Math.ceil(chars / 8) * 8;
/**
 * An entry of a V8 Map or Set (key, value, chain link, a share of the buckets), doubled because the
 * table grows by doubling and shrinks only when it is a quarter full.
 */
const HASH_ENTRY_BYTES = 2 * 32;
/** aedes keeps a retained message as a packet object in a Map: fields, Map entry, Buffer object. */
const RETAINED_PACKET_BYTES = 300;
/**
 * A pattern state as JSON: 360–1,600 B over the keys of the seeded test workload (test/support/workload.ts),
 * the long ones sequential keys listing their predictions.
 */
const STATE_JSON_BYTES = 1024;
/** A parsed event object with its key string, plus zod's validated copy of it. */
const PARSED_EVENT_BYTES = 2 * 200;
/** V8's default semi-space on 64-bit: the young generation is two of them. */
const SEMI_SPACE_BYTES = 16 * 1024 * 1024;
/**
 * V8 sets the old generation's next limit at 1.1–4× what was live after a full collection, depending on
 * how fast it collects; the flood test measured about 2.7× on a 25 MiB heap (+45 MiB). Twice the live size
 * estimated from the terms is what the test's peak stays under, with the other V8 terms' slack.
 */
const OLD_GENERATION_GROWTH = 2;
/** V8 starts a collection once ArrayBuffer memory (Buffers) grew by this much since the last one. */
const EXTERNAL_SOFT_LIMIT_BYTES = 64 * 1024 * 1024;

/** Capacity per-slot tables reach: they start at 1024 rows and double past `maxKeys`. */
function doubledCapacity(maxKeys: number): number {
  return 1024 * 2 ** Math.max(0, Math.ceil(Math.log2(maxKeys / 1024)));
}

export function memoryBudget(
  config: Config,
  baseline: Baseline,
  engine: EngineSizes,
  keyChars = TYPICAL_KEY_CHARS,
): MemoryBudget {
  const n = config.engine.maxKeys;
  const capacity = doubledCapacity(n);
  const key = stringBytes(keyChars);
  const state = STATE_JSON_BYTES;
  const window = config.mqtt.inflightWindow;
  const offHeap: BudgetTerm[] = [];
  const onHeap: BudgetTerm[] = [];

  const rows = n * engine.slotBytes;
  offHeap.push(
    {
      name: 'engine rows',
      bytes: rows,
      why: `maxKeys × ${engine.slotBytes} B (the state row with its bookkeeping and padding, the key's generation and LRU links)`,
    },
    {
      name: 'engine growth',
      bytes: rows / 2,
      why: 'the row buffer doubles as keys arrive; the one it replaces is garbage until the next collection',
    },
  );
  onHeap.push({
    name: 'key strings',
    bytes: n * (key + HASH_ENTRY_BYTES + 8),
    why: `maxKeys × (a ${keyChars}-character string, its entry in the key index and the slot → key array)`,
  });
  if (config.prediction.enabled) {
    offHeap.push({
      name: 'predictor',
      bytes:
        capacity * PREDICTOR_SLOT_BYTES +
        2 ** Math.ceil(Math.log2(config.prediction.tableSize)) * PREDICTION_ENTRY_BYTES,
      why: 'per-key stream state, and the issued-prediction table (prediction.tableSize, rounded up to a power of 2)',
    });
  }
  offHeap.push({
    name: 'publisher slots',
    bytes: capacity * PUBLISHER_SLOT_BYTES,
    why: 'per-key throttle, hash and queue flags',
  });
  onHeap.push(
    {
      name: 'publisher queues',
      bytes: n * (HASH_ENTRY_BYTES + 3 * 8) + window * 8,
      why: 'keys that may be retained (a set entry each), the urgent queue (one entry per key at most, twice while it compacts) and the pending clears (at most the tracked keys plus the in-flight window)',
    },
    {
      name: 'queued changes',
      bytes: config.mqtt.queuedChanges * (2 * state + 64),
      why: `mqtt.queuedChanges × a pattern state (≈ ${state} B) rendered when its patterns changed, with its record`,
    },
    {
      name: 'in-flight publishes',
      bytes: window * (3 * state + RETAINED_PACKET_BYTES),
      why: `mqtt.inflightWindow × a pattern state (≈ ${state} B) as JSON string, Buffer and packet`,
    },
  );
  if (config.mqtt.url) {
    onHeap.push({
      name: 'stale states',
      bytes: n * (key + 8),
      why: 'at start, clears of pattern states an earlier run left on the broker for keys the store does not know (at most maxKeys per start)',
    });
  } else {
    onHeap.push(
      {
        name: 'embedded broker',
        bytes: n * (state + key + RETAINED_PACKET_BYTES),
        why: "aedes keeps every tracked key's retained state (payload, topic, packet) in memory",
      },
      {
        name: "other clients' retained messages",
        bytes: config.broker.maxRetainedBytes,
        why: 'broker.maxRetainedBytes: what the embedded broker keeps for clients other than patternd',
      },
      {
        name: 'packet in progress',
        bytes: 2 * config.broker.maxPacketBytes,
        why: 'broker.maxPacketBytes: the largest packet a client may send, buffered and parsed',
      },
    );
  }
  onHeap.push({
    name: 'store bookkeeping',
    bytes: n * (2 * HASH_ENTRY_BYTES + key) + Math.min(n, ROWS_PER_WRITE) * (2 * engine.rowBytes + key + 200),
    why: `changed slots and deleted keys waiting for the next flush (each at most maxKeys), and one write of up to ${ROWS_PER_WRITE} rows`,
  });
  if (config.http.enabled) {
    onHeap.push({
      name: 'dashboard ring',
      bytes: config.http.recentAccesses * (24 + key),
      why: 'http.recentAccesses × (time, position, key); the ring keeps the strings of keys evicted since',
    });
  }
  offHeap.push({
    name: 'ingest scanner',
    bytes: KEY_CACHE_ENTRIES * KEY_CACHE_ENTRY_BYTES + config.mqtt.maxBatchItems * BATCH_COLUMN_BYTES,
    why: `its key cache (${KEY_CACHE_ENTRIES} keys of up to ${KEY_CACHE_BYTES} bytes, with hash, length and engine slot) and the columns of one batch`,
  });
  onHeap.push(
    {
      name: 'ingest key cache',
      bytes:
        KEY_CACHE_ENTRIES * (8 + stringBytes(Math.min(keyChars, KEY_CACHE_BYTES))) +
        config.mqtt.maxBatchItems * 8,
      why: `the strings of the ${KEY_CACHE_ENTRIES} keys the scanner remembers (keys evicted since among them), and a batch's key column`,
    },
    {
      name: 'message in progress',
      bytes: 3 * config.mqtt.maxPayloadBytes + config.mqtt.maxBatchItems * PARSED_EVENT_BYTES,
      why: 'the largest accepted payload as Buffer and as (possibly two-byte) string, and its parsed batch',
    },
    {
      name: 'error reports',
      bytes: config.mqtt.errorReportsPerSecond * 2048 + 64 * 1024,
      why: 'reports in flight on B/errors (errorReportsPerSecond per second) and the counts by reason',
    },
    {
      name: 'recent messages',
      bytes: RECENT_MESSAGES * RECENT_MESSAGE_BYTES,
      why: `the signatures of the last ${RECENT_MESSAGES} messages, to tell one delivered twice`,
    },
  );

  const live = baseline.heapUsed + onHeap.reduce((sum, t) => sum + t.bytes, 0);
  const gc: BudgetTerm[] = [
    {
      name: 'V8 young generation',
      bytes: 2 * SEMI_SPACE_BYTES,
      why: 'two 16 MiB semi-spaces, filled under load before each scavenge',
    },
    {
      name: 'V8 old-generation growth',
      bytes: (OLD_GENERATION_GROWTH - 1) * live,
      why: `garbage promoted between full collections: the old generation may reach ${OLD_GENERATION_GROWTH}× its live size (the heap at start plus the terms above that live on it)`,
    },
    {
      name: 'V8 external garbage',
      bytes: EXTERNAL_SOFT_LIMIT_BYTES,
      why: 'Buffers of past messages and publishes, freed by the next collection, which V8 starts once they reach 64 MiB',
    },
  ];
  const terms: BudgetTerm[] = [
    {
      name: 'process',
      bytes: baseline.rss,
      why: 'resident size measured at start: Node, V8, the loaded modules',
    },
    ...offHeap,
    ...onHeap,
    ...gc,
  ].map((t) => ({ ...t, bytes: Math.round(t.bytes) }));
  return { bytes: terms.reduce((sum, t) => sum + t.bytes, 0), terms };
}

/** The process's current memory, to measure a budget against. */
export function baselineNow(): Baseline {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}

export const MiB = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;
