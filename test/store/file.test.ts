import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineMeta } from '../../src/engine/engine.ts';
import { FileStore } from '../../src/store/file.ts';
import type { StoredKey } from '../../src/store/store.ts';
import { tmpDir } from '../support/harness.ts';

/** The embedded store's crash cases, on real files: torn appends and a compaction cut short. */
const meta: EngineMeta = { now: 1000, layout: 'test', sources: [] };

function rec(key: string, slot: number, fill: number): StoredKey {
  return { key, slot, generation: 1, row: new Uint8Array(16).fill(fill) };
}

async function loaded(dir: string): Promise<Map<string, number>> {
  const store = new FileStore(dir);
  await store.open();
  const { keys } = await store.load();
  await store.close();
  return new Map(keys.map((k) => [k.key, k.row[0]]));
}

describe('file store', () => {
  it('drops a torn tail and keeps appending after the last whole frame', async () => {
    const dir = tmpDir();
    const store = new FileStore(dir);
    await store.open();
    await store.load();
    await store.write({ meta, upserts: [rec('a', 0, 1), rec('b', 1, 1)], deletes: [] });
    await store.close();
    // A crash in the middle of an append: half a frame at the end of the log.
    const log = path.join(dir, 'state.log');
    const whole = fs.statSync(log).size;
    fs.appendFileSync(log, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 1, 9]));

    const again = new FileStore(dir);
    await again.open();
    expect((await again.load()).keys.map((k) => k.key).sort()).toEqual(['a', 'b']);
    expect(fs.statSync(log).size).toBe(whole);
    await again.write({ meta, upserts: [rec('c', 2, 1)], deletes: ['a'] });
    await again.close();
    expect(await loaded(dir)).toEqual(
      new Map([
        ['b', 1],
        ['c', 1],
      ]),
    );
  });

  it('ignores the previous log when a compaction was cut short before the log restarted', async () => {
    const dir = tmpDir();
    const store = new FileStore(dir);
    await store.open();
    await store.load();
    await store.write({ meta, upserts: [rec('a', 0, 1), rec('b', 1, 1)], deletes: [] });
    await store.write({ meta, upserts: [], deletes: ['b'] });
    const log = path.join(dir, 'state.log');
    const oldLog = fs.readFileSync(log);
    // After the last flush 'b' came back and 'a' changed; the compaction snapshots that state.
    await store.compact(meta, [rec('a', 0, 2), rec('b', 1, 2)]);
    await store.close();
    // Crash between the snapshot's rename and the log's restart: the old log is still there.
    fs.writeFileSync(log, oldLog);
    expect(await loaded(dir)).toEqual(
      new Map([
        ['a', 2],
        ['b', 2],
      ]),
    );

    // The stale log is replaced, and new writes after the snapshot apply on top of it.
    const again = new FileStore(dir);
    await again.open();
    await again.load();
    await again.write({ meta, upserts: [rec('c', 2, 3)], deletes: ['a'] });
    await again.close();
    expect(await loaded(dir)).toEqual(
      new Map([
        ['b', 2],
        ['c', 3],
      ]),
    );
  });
});
