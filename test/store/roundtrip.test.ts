import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { Engine } from '../../src/engine/engine.ts';
import { type ColumnKind, layoutOf, type NamedSection, rowMigration } from '../../src/engine/table.ts';
import { FileStore } from '../../src/store/file.ts';
import { Persistence } from '../../src/store/persistence.ts';
import { RedisStore } from '../../src/store/redis.ts';
import type { Store, StoredKey } from '../../src/store/store.ts';
import {
  allViews,
  dropRedisPrefix,
  REDIS_URL,
  requireRedis,
  tmpDir,
  uniquePrefix,
} from '../support/harness.ts';
import { feed, makeWorkload } from '../support/store-workload.ts';

/**
 * Both stores against real storage (a temp directory, the machine's Redis): everything the engine
 * knows comes back identical — every key's view, slot, generation and row bytes — through incremental
 * flushes with deletes, through a full rewrite, and after expiry.
 */
const redisUp = await requireRedis();
const log = pino({ level: 'silent' });
const cfg = loadConfig({ env: {} });
const prefixes: string[] = [];

afterAll(async () => {
  for (const p of prefixes) await dropRedisPrefix(REDIS_URL, p);
});

type Kind = 'file' | 'redis';

/** A factory whose stores all see the same storage (same directory or same key prefix). */
function storage(kind: Kind): () => Store {
  if (kind === 'file') {
    const dir = tmpDir();
    return () => new FileStore(dir);
  }
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  return () => new RedisStore({ url: REDIS_URL, keyPrefix: prefix, log });
}

function persistence(engine: Engine, store: Store, expireDays = 3650): Persistence {
  return new Persistence(engine, store, { intervalMs: 1000, expireDays, maxPendingDeletes: 1000 }, log);
}

/** An empty engine on a new, opened store of `kind`, with its persistence restored (from nothing). */
async function fresh(kind: Kind) {
  const open = storage(kind);
  const engine = new Engine(cfg.engine);
  const store = open();
  await store.open();
  const p = persistence(engine, store);
  await p.restore();
  return { open, engine, store, p };
}

async function restored(open: () => Store, expireDays?: number): Promise<Engine> {
  const engine = new Engine(cfg.engine);
  const store = open();
  await store.open();
  await persistence(engine, store, expireDays).restore();
  await store.close();
  return engine;
}

function rowsOf(engine: Engine): StoredKey[] {
  return [...engine.keys.slots()].map((slot) => ({
    key: engine.keys.keys[slot],
    slot,
    generation: engine.keys.generation[slot],
    row: engine.exportRow(slot),
  }));
}

/** The sections of a stored layout (the inverse of `layoutOf`). */
function sectionsOf(layout: string): NamedSection[] {
  return layout.split('|').map((section) => {
    const [, name, fields] = /^(\w+)\{(.*)\}$/.exec(section) ?? [];
    const schema = Object.fromEntries(
      fields.split(',').map((field) => {
        const [, fieldName, kind, width] = /^([^:]+):(f64|f32|u32|i32|u16|u8)(\d+)$/.exec(field) ?? [];
        return [fieldName, [kind as ColumnKind, Number(width)] as const];
      }),
    );
    return [name, schema];
  });
}

function expectSameState(a: Engine, b: Engine): void {
  expect(b.now).toBe(a.now);
  expect(b.keys.size).toBe(a.keys.size);
  expect(allViews(b)).toEqual(allViews(a));
  for (const rec of rowsOf(a)) {
    const slot = b.keys.slotOf(rec.key);
    expect(slot).toBe(rec.slot);
    expect(b.keys.generation[slot]).toBe(rec.generation);
    expect(Buffer.from(b.exportRow(slot)).equals(Buffer.from(rec.row))).toBe(true);
  }
  expect(b.counters.patterns).toEqual(a.counters.patterns);
}

describe.each<Kind>(['file', 'redis'])('%s store round trip', (kind) => {
  const skip = kind === 'redis' && !redisUp;

  it.skipIf(skip)('restores every key exactly after incremental flushes with deletes', async () => {
    const { open, engine, store, p } = await fresh(kind);
    const w = makeWorkload(1, 30_000, 400);
    const forgettable = w.keys.filter((_, k) => k % 7 < 3 && k < 400);
    for (let from = 0; from < w.length; from += 5000) {
      feed(engine, w, from, from + 5000);
      // Forgotten keys must be deleted from the store, not come back at load; their partners stop listing
      // them at once (some are in the workload's follow-up pairs).
      for (const key of forgettable.slice(from / 2500, from / 2500 + 2)) engine.forget(key);
      p.removed(engine.drainDeleted());
      await p.flush();
    }
    expect(p.pending).toBe(0);
    expect(p.writes).toBe(6);
    await store.close();

    const back = await restored(open);
    expectSameState(engine, back);
    expect(engine.counters.patterns.sequential).toBeGreaterThan(0);
    expect(engine.counters.patterns.periodic).toBeGreaterThan(0);
    expect(engine.counters.patterns.correlated).toBeGreaterThan(0);
  });

  it.skipIf(skip)(
    'reads a store written under an earlier layout field by field, then rewrites it',
    async () => {
      const { open, engine, store, p } = await fresh(kind);
      feed(engine, makeWorkload(1, 30_000, 400));
      await p.flush();
      // The store as stop 18 wrote it: before the burst detector's `sustained` counter, with `baseline` an
      // f64, and sections without names in the layout.
      const earlier = sectionsOf(engine.layout).map(([name, schema]): NamedSection => {
        if (name !== 'burst') return [name, schema];
        const { sustained: _, ...rest } = schema;
        return [name, { ...rest, baseline: ['f64', 1] as const }];
      });
      const toEarlier = rowMigration(engine.layout, earlier);
      expect(toEarlier?.dropped).toEqual(['burst.sustained']);
      const rows = rowsOf(engine).map((r) => ({ ...r, row: toEarlier?.convert(r.row) ?? new Uint8Array() }));
      const unnamed = layoutOf(earlier).replace(/\w+\{([^}]*)\}/g, '$1');
      await store.compact({ ...engine.exportMeta(), layout: unnamed }, rows);
      await store.close();

      const upgraded = new Engine(cfg.engine);
      const reopened = open();
      await reopened.open();
      const q = persistence(upgraded, reopened);
      expect(await q.restore()).toBe(engine.keys.size);
      // Everything learned is back (the new counter starts at zero and shows in no view)...
      expect(allViews(upgraded)).toEqual(allViews(engine));
      expect(upgraded.counters.patterns.periodic).toBeGreaterThan(0);
      // ...and the store is rewritten in the current layout, so the next start reads it as it is.
      await q.flush();
      await reopened.close();
      const again = await restored(open);
      expect(allViews(again)).toEqual(allViews(engine));
      const check = open();
      await check.open();
      expect((await check.load()).meta?.layout).toBe(engine.layout);
      await check.close();
    },
  );

  it.skipIf(skip)('writes more changed keys than one batch holds in one flush', async () => {
    const { open, engine, store, p } = await fresh(kind);
    feed(engine, makeWorkload(5, 24_000, 12_000));
    expect(engine.keys.size).toBeGreaterThan(5000);
    await p.flush();
    expect(p.pending).toBe(0);
    await store.close();
    expectSameState(engine, await restored(open));
  });

  it.skipIf(skip)('restores every key exactly after a full rewrite', async () => {
    const open = storage(kind);
    const engine = new Engine(cfg.engine);
    feed(engine, makeWorkload(2, 10_000, 300));
    const store = open();
    await store.open();
    await store.load();
    // Rows a rewrite must drop: a key the engine no longer holds.
    await store.write({
      meta: engine.exportMeta(),
      upserts: [{ key: 'gone', slot: 999, generation: 1, row: engine.exportRow(0) }],
      deletes: [],
    });
    await store.compact(engine.exportMeta(), rowsOf(engine));
    await store.close();
    const back = await restored(open);
    expect(back.keys.slotOf('gone')).toBe(-1);
    expectSameState(engine, back);
  });

  it.skipIf(skip)('forgets keys not accessed within expireDays, at load', async () => {
    const open = storage(kind);
    const engine = new Engine(cfg.engine);
    const store = open();
    await store.open();
    const p = persistence(engine, store);
    // Four days of events; with expireDays = 1 only keys accessed on the last day survive.
    const w = makeWorkload(3, 20_000, 200, 17_000);
    feed(engine, w);
    await p.flush();
    await store.close();
    const dayAgo = engine.now - 86_400_000;
    const recent = [...engine.keys.slots()].filter((s) => engine.lastAccess(s) >= dayAgo);
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.length).toBeLessThan(engine.keys.size);

    const back = await restored(open, 1);
    expect(back.keys.size).toBe(recent.length);
    for (const slot of recent) expect(back.viewOf(engine.keys.keys[slot])).toEqual(engine.view(slot));
    expect(back.drainRemoved()).toHaveLength(engine.keys.size - recent.length);
  });

  it.skipIf(skip)('deletes the rows of evicted keys, and queues nothing for keys never stored', async () => {
    const open = storage(kind);
    const engine = new Engine({ ...cfg.engine, maxKeys: 100 });
    const store = open();
    await store.open();
    const p = persistence(engine, store);
    const T0 = Date.parse('2026-11-02T00:00:00Z');
    for (let i = 0; i < 100; i++) engine.observe(`kept/${i}`, T0 + i, i, 1);
    await p.flush();
    // A flood of unique keys between two flushes: the stored keys are evicted, then the flood's own keys.
    for (let i = 0; i < 5000; i++) engine.observe(`flood/${i}`, T0 + 1000 + i, 0, 1);
    expect(engine.drainRemoved()).toHaveLength(5000);
    const deleted = engine.drainDeleted();
    expect(deleted.sort()).toEqual(Array.from({ length: 100 }, (_, i) => `kept/${i}`).sort());
    p.removed(deleted);
    // Pending: the rows of the 100 keys tracked now, and the 100 deletes — not 5000.
    expect(p.pending).toBe(engine.keys.size + 100);
    await p.flush();
    expect(p.pending).toBe(0);
    await store.close();
    // What comes back is the last 100 flood keys, none of the evicted ones.
    const back = await restored(open);
    expect(back.keys.size).toBe(100);
    expect(back.viewOf('kept/0')).toBeNull();
    expect(back.viewOf('flood/4999')).not.toBeNull();
  });
});

describe('maxKeys lowered below the stored keys', () => {
  it('restores the most recently accessed keys, from any slot, and deletes the others', async () => {
    // Restored by slot, the keys kept were the lowest slots': a job's index read a minute before the
    // restart went, files last read days earlier stayed (an outside evaluation).
    const { open, engine, store, p } = await fresh('file');
    const t0 = Date.parse('2026-11-20T00:00:00Z');
    // 40 keys, read in turn, then the last ten (slots 30-39) again a day later.
    for (let k = 0; k < 40; k++) engine.observe(`key/${k}`, t0 + k * 1000, k, 1);
    for (let k = 30; k < 40; k++) engine.observe(`key/${k}`, t0 + 86_400_000 + k * 1000, k + 1, 1);
    await p.flush();
    await store.close();
    const small = new Engine(loadConfig({ env: {}, overrides: { engine: { maxKeys: 20 } } }).engine);
    const again = open();
    await again.open();
    const back = persistence(small, again);
    expect(await back.restore()).toBe(20);
    const kept = [...small.keys.slots()].map((s) => small.keys.keys[s] as string);
    const wanted = Array.from({ length: 20 }, (_, i) => `key/${20 + i}`);
    expect(kept.sort()).toEqual(wanted.sort());
    expect(small.viewOf('key/39')?.accesses).toBe(2);
    // Written back with the slots they have now, without the others: a restart with room for all of them
    // finds the same 20.
    await back.flush();
    await again.close();
    const third = new Engine(cfg.engine);
    const last = open();
    await last.open();
    expect(await persistence(third, last).restore()).toBe(20);
    expect([...third.keys.slots()].map((s) => third.keys.keys[s] as string).sort()).toEqual(wanted.sort());
    await last.close();
  });
});

describe('redis store', () => {
  it.skipIf(!redisUp)('notices that Redis lost its data and rewrites all of it', async () => {
    const open = storage('redis');
    const prefix = prefixes[prefixes.length - 1];
    const engine = new Engine(cfg.engine);
    const store = open();
    await store.open();
    const p = persistence(engine, store);
    await p.restore();
    const w = makeWorkload(4, 6000, 200);
    feed(engine, w, 0, 3000);
    await p.flush();
    // As if Redis restarted without persistence.
    await dropRedisPrefix(REDIS_URL, prefix);
    feed(engine, w, 3000, 3100);
    await p.flush();
    expect(store.wantsCompaction()).toBe(false);
    await store.close();
    expectSameState(engine, await restored(open));
  });

  it.skipIf(!redisUp)('stores rows as binary hash fields under the prefix', async () => {
    const open = storage('redis');
    const prefix = prefixes[prefixes.length - 1];
    const engine = new Engine(cfg.engine);
    engine.observe('a b/#+ü', 1, 0, 10);
    const store = open();
    await store.open();
    await store.write({ meta: engine.exportMeta(), upserts: rowsOf(engine), deletes: [] });
    await store.close();
    const { Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL);
    expect((await redis.keys(`${prefix}*`)).sort()).toEqual([`${prefix}keys`, `${prefix}meta`]);
    const value = await redis.hgetBuffer(`${prefix}keys`, 'a b/#+ü');
    expect(value?.length).toBe(8 + engine.rowBytes);
    redis.disconnect();
  });
});
