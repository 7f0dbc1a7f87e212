import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../bench/rng.ts';
import { analyse } from '../src/analyse/analyse.ts';
import { MappingError, parseMapping } from '../src/analyse/reader.ts';
import { tmpDir } from './support/harness.ts';

const SLICE = path.join(import.meta.dirname, 'fixtures', 'cloudphysics-20k.csv');
const HEADER = ['version', 'time', 'op', 'size', 'lbn'];

describe('CSV mapping', () => {
  it('maps time units, shifts and products', () => {
    const rules = parseMapping('time:s,key:lbn>>11,position:lbn*512,size', HEADER);
    const row = ['1', '5633898', '2a', '512', '42932745'];
    const get = (t: string) =>
      rules.find((r) => r.target === t)?.apply(row[rules.find((r) => r.target === t)?.column ?? 0]);
    expect(get('ts')).toBe(5633898000);
    expect(get('key')).toBe(String(Math.floor(42932745 / 2048)));
    expect(get('position')).toBe(42932745 * 512);
    expect(get('size')).toBe(512);
  });

  it.each([
    ['time:s,position:lbn', 'needs a key'],
    ['time:s,key:block', 'no column "block"'],
    ['time:s,key:lbn>>', 'bad expression'],
    ['when:s,key:lbn', 'unknown target "when"'],
    ['time:s,key:lbn/0', 'division by zero'],
  ])('rejects %s with a clear message', (spec, message) => {
    expect(() => parseMapping(spec, HEADER)).toThrow(MappingError);
    expect(() => parseMapping(spec, HEADER)).toThrow(message);
  });
});

describe('patternd analyse', () => {
  it('gives stable output on a slice of the real CloudPhysics trace', async () => {
    const run = () =>
      analyse(SLICE, { csv: 'time:s,key:lbn>>11,position:lbn*512,size', cacheMiB: [16, 64], top: 3 });
    const a = await run();
    const b = await run();
    expect(a.events).toBe(20_000);
    expect({ ...a, seconds: 0, eventsPerSecond: 0 }).toEqual({ ...b, seconds: 0, eventsPerSecond: 0 });
    expect(a.patterns.sequential).toBeGreaterThan(0);
    // Prefetching must help, not hurt, and most prefetches must be worth their bytes.
    for (const c of a.cache) expect(c.withPrefetch).toBeGreaterThan(c.lru);
    expect(a.predictions.issued).toBeGreaterThan(0);
  });

  it('skips lines the service would reject, on both readers, and says why', async () => {
    // An event time beyond any date (1e23 ms) sent the engine's day clock stepping towards it for ever.
    const dir = tmpDir();
    const t0 = Date.parse('2026-11-02T00:00:00Z');
    const jsonl = path.join(dir, 'events.jsonl');
    fs.writeFileSync(
      jsonl,
      [
        JSON.stringify({ key: 'a', ts: t0 }),
        '{"key":"a","ts":1e23}',
        '{"key":"a","ts":1000,"position":1e400}',
        JSON.stringify({ key: 'a', ts: t0 + 1000 }),
      ].join('\n'),
    );
    const fromJsonl = await analyse(jsonl, { cacheMiB: [], top: 1 });
    expect(fromJsonl.events).toBe(2);
    expect(fromJsonl.rejectedLines).toBe(2);
    expect(fromJsonl.firstRejection).toMatch(/^line 2: ts: /);
    const csv = path.join(dir, 'events.csv');
    fs.writeFileSync(
      csv,
      ['time,lbn,size', '1793577600,8,4096', '99999999999999999999999,8,4096', '1793577601,16,'].join('\n'),
    );
    const fromCsv = await analyse(csv, {
      csv: 'time:s,key:lbn>>11,position:lbn*512,size',
      cacheMiB: [1],
      top: 1,
    });
    expect(fromCsv.events).toBe(2);
    expect(fromCsv.rejectedLines).toBe(1);
    expect(fromCsv.firstRejection).toMatch(/^line 3: ts: .*\(after the column mapping: ts in ms/);
  });

  it('prefetches a follower predicted without a position only when the key is requested whole', async () => {
    // A database saved, then its thumbnail index written at a new offset each time: the index is predicted,
    // but where is unknown. Requested at positions, there is nothing to fetch (prefetched as an object of
    // its own, it was never requested); requested whole, it is fetched whole. 600 KiB each in a 1 MiB cache:
    // the one evicts the other.
    const dir = tmpDir();
    const rnd = mulberry32(31);
    const withPositions: string[] = [];
    const whole: string[] = [];
    let t = Date.parse('2026-11-02T00:00:00Z');
    for (let save = 0; save < 60; save++) {
      t += 600_000 + rnd() * 3_600_000;
      const index = { key: 'thumbs.idx', ts: t + 500, size: 600_000 };
      const db = { key: 'library.db', ts: t, size: 600_000 };
      withPositions.push(JSON.stringify({ ...db, position: 0 }));
      withPositions.push(JSON.stringify({ ...index, position: Math.floor(rnd() * 500) * 512 }));
      whole.push(JSON.stringify(db), JSON.stringify(index));
    }
    const run = async (name: string, lines: string[]) => {
      const file = path.join(dir, `${name}.jsonl`);
      fs.writeFileSync(file, lines.join('\n'));
      return analyse(file, { cacheMiB: [1], top: 1 });
    };
    const positioned = await run('positions', withPositions);
    expect(positioned.predictions.byReason.correlated.precision).toBeGreaterThan(0.8);
    expect(positioned.cache[0].prefetched).toBe(0);
    const requestedWhole = await run('whole', whole);
    expect(requestedWhole.predictions.byReason.correlated.precision).toBeGreaterThan(0.8);
    expect(requestedWhole.cache[0].prefetchPrecision).toBeGreaterThan(0.8);
  });

  it('reads JSONL through the CLI and prints JSON with --json', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'events.jsonl');
    const t0 = Date.parse('2026-11-02T00:00:00Z');
    const lines = Array.from({ length: 50 }, (_, i) =>
      JSON.stringify({ key: 'seq', ts: t0 + i * 10, position: i, size: 1 }),
    );
    fs.writeFileSync(file, `${lines.join('\n')}\nnot json\n`);
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'analyse', file, '--json', '--cache', ''],
      {
        encoding: 'utf8',
      },
    );
    const report = JSON.parse(out);
    expect(report.events).toBe(50);
    expect(report.rejectedLines).toBe(1);
    expect(report.top.sequential[0].key).toBe('seq');
  });
});
