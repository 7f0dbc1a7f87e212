import { describe, expect, it } from 'vitest';
import { Rng, sequential } from '../../bench/workloads.ts';
import { Engine } from '../../src/engine/engine.ts';
import { builder, DAY, engineConfig, HOUR, reporting, run, T0, view } from './helpers.ts';

/**
 * 400 reads of a stream, ~5 per second from `from`, each reaching patternd up to `lateMs` after it was
 * made: in arrival order, with its own time and position.
 */
function lateStream(rng: Rng, from: number, size: number, lateMs: number) {
  const reads: { ts: number; arrival: number; pos: number }[] = [];
  for (let i = 0, t = from; i < 400; i++, t += rng.exp(200))
    reads.push({ ts: t, arrival: t + rng.uniform(0, lateMs), pos: i * size });
  return reads.sort((a, b) => a.arrival - b.arrival);
}

describe('sequential detector', () => {
  it('finds forward and backward streams of offsets and chunk indexes, with gaps and ~10 % random jumps', () => {
    const b = builder(11, HOUR);
    const cases = [
      { size: 65536, gap: 0, backward: false },
      { size: 4096, gap: 0, backward: true },
      { size: 1, gap: 0, backward: false },
      { size: 1, gap: 2, backward: true },
      { size: 1 << 20, gap: 1, backward: false },
    ];
    cases.forEach((c, i) => {
      sequential(b, `seq/${i}`, { ...c, jumps: 0.1, meanGapMs: 500 });
    });
    const trace = b.build();
    const r = run(trace);
    for (const l of trace.labels) {
      const v = view(r, l.key);
      expect(v.patterns, l.key).toContain('sequential');
      expect(v.pattern, l.key).toBe('sequential');
      expect(v.sequential, l.key).toMatchObject({ stride: l.stride, direction: l.direction });
    }
  });

  it('counts two or three interleaved readers on one key as sequential', () => {
    const b = builder(12, HOUR);
    for (let readers = 2; readers <= 3; readers++)
      sequential(b, `multi/${readers}`, { size: 4096, gap: 0, jumps: 0.05, readers, meanGapMs: 400 });
    const trace = b.build();
    const r = run(trace);
    for (const l of trace.labels) {
      const v = view(r, l.key);
      expect(v.patterns).toContain('sequential');
      expect(v.sequential?.streams).toBeGreaterThanOrEqual(2);
    }
  });

  it('follows two or three clients of one movie a few chunks apart (a watch party) as sequential', () => {
    // Strict turns at 2 to 6 chunks apart, then clients started within 2 s at ~4 chunks/s with jittered
    // turns. Taking the one ahead's steps as the other's, the head bounced between the two readers and the
    // key read random on every access (strict turns) or on 43-98 % of them (jittered; 0-17 % now).
    const rng = new Rng(15);
    const size = 256 * 1024;
    for (const clients of [2, 3]) {
      for (const apart of [2, 3, 4, 6]) {
        const e = new Engine(engineConfig());
        let sequentialViews = 0;
        for (let i = 0; i < 600; i++) {
          const c = i % clients;
          e.observe('movie.mkv', 1e12 + i * 100, (Math.floor(i / clients) + c * apart) * size, size);
          if (i >= 60 && e.viewOf('movie.mkv')?.patterns.includes('sequential')) sequentialViews++;
        }
        if (clients === 2 || apart > 2)
          expect(sequentialViews / 540, `${clients} clients ${apart} apart`).toBeGreaterThan(0.95);
      }
    }
    for (let party = 0; party < 6; party++) {
      const e = new Engine(engineConfig());
      const reads: { ts: number; pos: number }[] = [];
      for (let c = 0; c < 2 + (party % 2); c++) {
        const start = 1e12 + rng.uniform(0, 2000);
        for (let i = 0, t = start; i < 400; i++, t += rng.uniform(150, 350))
          reads.push({ ts: t, pos: i * size });
      }
      reads.sort((a, b) => a.ts - b.ts);
      let sequentialViews = 0;
      reads.forEach((r, i) => {
        e.observe('movie.mkv', r.ts, r.pos, size);
        if (i >= 60 && e.viewOf('movie.mkv')?.patterns.includes('sequential')) sequentialViews++;
      });
      expect(sequentialViews / (reads.length - 60), `party ${party}`).toBeGreaterThan(0.75);
    }
  });

  it('counts one stream for a reader that seeks once or reads a file again from the start', () => {
    const size = 65536;
    const e = new Engine(engineConfig());
    let t = 1e12;
    // A seek ahead after 100 reads; then the file read again from 0 every minute, 20 chunks a pass. The
    // heads left where the reader was counted as streams: 2 for 20-50 reads after a seek, 3 forever on
    // the re-read file.
    for (let i = 0; i < 140; i++) e.observe('seek.bin', t + i * 100, (i < 100 ? i : 4900 + i) * size, size);
    expect(e.viewOf('seek.bin')?.sequential?.streams).toBe(1);
    for (let pass = 0; pass < 20; pass++) {
      for (let i = 0; i < 20; i++) e.observe('again.bin', t + i * 20, i * size, size);
      t += 60_000;
      if (pass > 0) expect(e.viewOf('again.bin')?.sequential?.streams, `pass ${pass}`).toBe(1);
    }
  });

  it('keeps a job that reads a small file from its start every minute sequential, without flapping', () => {
    for (const reads of [4, 5, 6]) {
      const engine = new Engine(engineConfig());
      let changes = 0;
      let was = false;
      for (let run = 0; run < 240; run++) {
        for (let i = 0; i < reads; i++) {
          engine.observe('job/state.db', T0 + run * 60_000 + i * 200, i * 4096, 4096);
          const now = engine.viewOf('job/state.db')?.patterns.includes('sequential') ?? false;
          if (now !== was) changes++;
          was = now;
        }
      }
      expect(was, `${reads} reads a run`).toBe(true);
      // On once, after the first run or two; before, off and on at every run.
      expect(changes, `${reads} reads a run`).toBeLessThanOrEqual(3);
    }
  });

  it('reports random positions as random, never sequential', () => {
    const b = builder(13, HOUR);
    for (let i = 0; i < 10; i++) {
      for (let t = b.start; t < b.end; t += b.rng.exp(2000))
        b.add(`rand/${i}`, t, b.rng.int(0, 1e6) * 4096, 4096);
      b.label({ key: `rand/${i}`, kind: 'random positions', expect: ['random'] });
    }
    const trace = b.build();
    const r = run(trace);
    expect(reporting(r, trace, 'sequential')).toEqual([]);
    for (const l of trace.labels) expect(view(r, l.key).pattern).toBe('random');
  });

  it('recognises a new stream by its tenth read, and seldom a random walk over a few blocks at its start', () => {
    // The direction used to start from 0 with the weight of 16 steps (a stream needed 12 reads); fully
    // bias-corrected, 3 steps one way made 90 % of these walks a stream for a while (6 % now; 0 before).
    const e = new Engine(engineConfig());
    let detectedAt = -1;
    for (let i = 0; i < 40 && detectedAt < 0; i++) {
      e.observe('movie.mkv', 1e12 + i * 100, i * 65536, 65536);
      if (e.viewOf('movie.mkv')?.patterns.includes('sequential')) detectedAt = i + 1;
    }
    expect(detectedAt).toBeGreaterThan(0);
    expect(detectedAt).toBeLessThanOrEqual(10);

    const rng = new Rng(16);
    let falseStarts = 0;
    for (let k = 0; k < 100; k++) {
      let block = 1000;
      for (let i = 0; i < 20; i++) {
        block += (rng.next() < 0.5 ? -1 : 1) * rng.int(1, 8);
        e.observe(`db/${k}`, 1e12 + i * 500, block, 1);
      }
      if (e.viewOf(`db/${k}`)?.patterns.includes('sequential')) falseStarts++;
    }
    expect(falseStarts).toBeLessThanOrEqual(10);
  });

  it('calls a small file read whole, front to back in 4-8 chunks, sequential; read at random, not', () => {
    // Too short for `minLength` steps, a photo or a thumbnail read front to back read random.
    const e = new Engine(engineConfig());
    const rng = new Rng(48);
    const sequentialKeys = (prefix: string) =>
      [...e.keys.slots()].filter((slot) => {
        const v = e.view(slot);
        return v.key.startsWith(prefix) && v.patterns.includes('sequential');
      }).length;
    let t = T0;
    for (let k = 0; k < 120; k++) {
      const reads = 4 + (k % 5);
      const chunks = 4 + (k % 13);
      for (let i = 0; i < reads; i++, t += 120) {
        e.observe(`photo/${k}.jpg`, t, i * 65536, 65536);
        e.observe(`thumb/${k}`, t + 40, i, 0);
        e.observe(`db/${k}`, t + 80, rng.int(0, chunks - 1) * 4096, 4096);
      }
      // A file whose header is read, then seeked at random (a database, an indexed image): it looks read
      // whole until its first seek, and must not stay sequential through the seeks that follow.
      for (let i = 0; i < 4 + reads; i++, t += 40)
        e.observe(`index/${k}.db`, t, (i < 4 ? i : rng.int(8, 63)) * 4096, 4096);
      t += HOUR;
    }
    expect(sequentialKeys('photo/')).toBe(120);
    expect(sequentialKeys('thumb/')).toBe(120);
    expect(sequentialKeys('db/')).toBe(0);
    // One (seeks 51, 11, 16, 18, 9, 37, 23, 57) is sequential at its last read through the gap rule, as it
    // was before small files were read whole; on the first version of that rule, 66 of 120.
    expect(sequentialKeys('index/')).toBeLessThanOrEqual(1);
    const photo = e.viewOf('photo/0.jpg');
    expect(photo?.pattern).toBe('sequential');
    expect(photo?.confidence).toBeGreaterThanOrEqual(0.75);
    // A stream from the start with two chunks swapped stays sequential from its fourth read on, with a
    // score (between its whole read and `minLength` steps it had none).
    for (const [i, chunk] of [0, 1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11, 12].entries()) {
      e.observe('swapped.mkv', t + i * 40, chunk * 65536, 65536);
      const v = e.viewOf('swapped.mkv');
      if (i < 3) continue;
      expect(v?.patterns, `read ${i + 1}`).toEqual(['sequential']);
      expect(v?.scores.sequential, `read ${i + 1}`).toBeGreaterThan(0.4);
    }
  });

  it('calls small files read whole with two adjacent chunks completed out of order sequential', () => {
    // A phone fetching a photo in 4-8 chunks with two requests in flight logs two neighbours swapped now
    // and then (0, 1, 3, 2, 4, …): 7 of 30 such files were sequential in an outside evaluation, every one
    // read in order was.
    for (const seed of [1, 2, 3, 4]) {
      const e = new Engine(engineConfig());
      const rng = new Rng(seed);
      let t = T0;
      const files = { inorder: 0, swapped: 0 };
      const found = { inorder: 0, swapped: 0 };
      for (let k = 0; k < 200; k++) {
        const chunks = rng.int(4, 8);
        const order = Array.from({ length: chunks }, (_, c) => c);
        const kind = k % 2 === 1 ? 'swapped' : 'inorder';
        if (kind === 'swapped') {
          const j = rng.int(1, chunks - 2);
          [order[j], order[j + 1]] = [order[j + 1], order[j]];
        }
        // Byte offsets of 512 KiB chunks, or chunk indexes without a size.
        const size = k % 4 < 2 ? 512 * 1024 : 0;
        const key = `photo/${kind}-${k}`;
        for (const [i, c] of order.entries()) e.observe(key, t + i * 80, size > 0 ? c * size : c, size);
        files[kind]++;
        if (e.viewOf(key)?.patterns.includes('sequential')) found[kind]++;
        t += HOUR;
      }
      expect(found.inorder, `seed ${seed}`).toBe(files.inorder);
      expect(found.swapped / files.swapped, `seed ${seed}`).toBeGreaterThanOrEqual(0.9);
    }
  });

  it('keeps a database read at random with short scans random, without flapping; a backup of it is a stream', () => {
    // Random 4 KiB pages of 200 MB at 0.5 operations a second, one in twenty a scan of 5-20 pages: judged by
    // its latest ~16 steps, it went sequential at each longer scan and back, ~950 published flips a day.
    for (const seed of [1, 2, 3]) {
      const e = new Engine(engineConfig());
      const rng = new Rng(seed);
      const key = 'db/nextcloud.sqlite';
      const warmUp = T0 + HOUR;
      const end = T0 + 2 * DAY;
      let since = -1;
      let sequentialMs = 0;
      let flips = 0;
      const observe = (ts: number, pos: number, size: number) => {
        e.observe(key, ts, pos, size);
        e.drainChanges((slot, urgent) => {
          const on = urgent && e.patternsOf(slot).includes('sequential');
          if (!urgent || on === since >= 0) return;
          if (ts >= warmUp) flips++;
          if (on) since = ts;
          else {
            sequentialMs += Math.max(0, ts - Math.max(since, warmUp));
            since = -1;
          }
        });
      };
      let t = T0;
      while (t < end) {
        t += rng.exp(2000);
        const scan = rng.next() < 0.05 ? rng.int(5, 20) : 1;
        const page = rng.int(0, 50_000);
        for (let j = 0; j < scan; j++) observe(t + j * 3, (page + j) * 4096, 4096);
      }
      if (since >= 0) sequentialMs += t - Math.max(since, warmUp);
      expect(sequentialMs / (t - warmUp), `seed ${seed}: share of the time sequential`).toBeLessThan(0.01);
      expect(flips, `seed ${seed}: flips in two days`).toBeLessThanOrEqual(4);
      expect(e.viewOf(key)?.pattern, `seed ${seed}`).toBe('random');
      // A backup then reads it whole in 1 MiB chunks: a stream whatever came before, found within a
      // hundred reads (the share over ~1,000 steps would take ~700).
      let found = -1;
      for (let i = 0; i < 200 && found < 0; i++) {
        observe(t + i * 50, i * 2 ** 20, 2 ** 20);
        if (e.viewOf(key)?.patterns.includes('sequential')) found = i + 1;
      }
      expect(found, `seed ${seed}: backup found at read`).toBeGreaterThan(0);
      expect(found, `seed ${seed}: backup found at read`).toBeLessThanOrEqual(100);
    }
  });

  it('scores agree with the patterns: what is not sequential scores as random', () => {
    // A share of steps that continue alone scored 1 for both keys below, which are random.
    const e = new Engine(engineConfig());
    const rng = new Rng(17);
    let block = 1000;
    for (let i = 0; i < 400; i++) {
      block += (rng.next() < 0.5 ? -1 : 1) * rng.int(1, 8);
      e.observe('db/pages', T0 + i * 500, block, 1);
      // A job that reads the first three chunks of a file every minute: two steps forward, one back.
      if (i % 3 === 0)
        for (let c = 0; c < 3; c++) e.observe('job/head', T0 + i * 20_000 + c * 200, c * 4096, 4096);
    }
    for (const key of ['db/pages', 'job/head']) {
      const v = e.viewOf(key);
      expect(v?.patterns, key).toContain('random');
      expect(v?.patterns, key).not.toContain('sequential');
      expect(v?.scores.random, key).toBeGreaterThan(0.5);
      expect(v?.scores.sequential, key).toBeLessThan(0.5);
    }
    expect(e.viewOf('db/pages')?.confidence).toBeGreaterThan(0.5);
  });

  it('keeps a stream delivered slightly out of order (up to 0.5 s late) sequential throughout', () => {
    const rng = new Rng(14);
    const e = new Engine(engineConfig());
    const size = 128 * 1024;
    for (let k = 0; k < 5; k++) {
      // Each read reaches patternd up to 0.5 s late, so neighbours often swap.
      const reads = lateStream(rng, T0 + k * HOUR, size, 500);
      let flips = 0;
      let was = false;
      for (const r of reads) {
        e.observe(`movie/${k}`, r.ts, r.pos, size);
        const now = e.viewOf(`movie/${k}`)?.patterns.includes('sequential') ?? false;
        if (was && !now) flips++;
        was = now;
      }
      expect(flips, `movie/${k}`).toBe(0);
      expect(e.viewOf(`movie/${k}`)?.sequential, `movie/${k}`).toMatchObject({
        direction: 'forward',
        stride: size,
      });
    }
    expect(e.counters.lateEvents).toBeGreaterThan(5 * 400 * 0.2);
  });

  it("keeps a player's parallel range requests sequential: 2 or 4 in flight, completing in any order", () => {
    // Each window's requests are logged as they complete, in random order: taken as steps back, they
    // turned the key from sequential to random and back 45-57 times in 1,600 reads (an outside evaluation).
    const rng = new Rng(3);
    for (const [inflight, size] of [
      [4, 1 << 20],
      [2, 2 << 20],
    ]) {
      const e = new Engine(engineConfig());
      const key = `movie/parallel-${inflight}`;
      let t = T0;
      let next = 0;
      let flips = 0;
      let sequentialReads = 0;
      let was = false;
      for (let read = 0; read < 1600; ) {
        const window = Array.from({ length: inflight }, (_, i) => next + i * size);
        next += inflight * size;
        for (let i = window.length - 1; i > 0; i--) {
          const j = Math.floor(rng.uniform(0, i + 1));
          [window[i], window[j]] = [window[j], window[i]];
        }
        for (const pos of window) {
          t += rng.uniform(20, 80);
          e.observe(key, t, pos, size);
          const now = e.viewOf(key)?.patterns.includes('sequential') ?? false;
          if (was && !now) flips++;
          was = now;
          sequentialReads += +now;
          read++;
        }
      }
      expect(flips, key).toBeLessThanOrEqual(1);
      expect(sequentialReads / 1600, key).toBeGreaterThan(0.9);
      expect(e.viewOf(key)?.sequential, key).toMatchObject({ direction: 'forward', stride: size });
    }
  });

  it('reports the read size as the stride of a stream delivered up to 3 s late, not a multiple of it', () => {
    // At 5 reads a second, a read up to 3 s late usually arrives after several later ones and is left out
    // of the stream: the steps seen in order span two, three or more reads. The majority vote of steps
    // ended on one of those multiples on half the keys.
    const rng = new Rng(15);
    const e = new Engine(engineConfig());
    const size = 128 * 1024;
    for (let k = 0; k < 8; k++) {
      for (const r of lateStream(rng, T0 + k * HOUR, size, 3000)) e.observe(`movie/${k}`, r.ts, r.pos, size);
      expect(e.viewOf(`movie/${k}`)?.sequential, `movie/${k}`).toMatchObject({
        direction: 'forward',
        stride: size,
      });
    }
  });

  it('follows a steady step longer than a few units: byte offsets without sizes, strided reads', () => {
    const b = builder(15, HOUR);
    // Offsets of 4 KiB blocks and of 256 KiB reads reported without a size, and 4 KiB read every 64 KiB.
    const cases = [
      { key: 'blocks/no-size', step: 4096, size: 0 },
      { key: 'reads/no-size', step: 256 * 1024, size: 0 },
      { key: 'strided/4k-every-64k', step: 65536, size: 4096 },
    ];
    for (const c of cases) {
      let pos = 0;
      for (let t = b.start; t < b.end; t += b.rng.exp(500)) {
        // 10 % stray reads elsewhere; the reader goes on where it was.
        if (b.rng.next() < 0.1) b.add(c.key, t, b.rng.int(0, 1 << 20) * 4096, c.size);
        else {
          b.add(c.key, t, pos, c.size);
          pos += c.step;
        }
      }
      b.label({ key: c.key, kind: 'long steady step', expect: ['sequential'], stride: c.step });
    }
    const trace = b.build();
    const r = run(trace);
    for (const l of trace.labels)
      expect(view(r, l.key).sequential, l.key).toMatchObject({
        direction: 'forward',
        stride: l.stride,
        streams: 1,
      });
  });

  it.each([
    [4, 3],
    [6, 4],
    [8, 3],
  ])('keeps following %i interleaved readers through stray accesses', (readers, liveStreams) => {
    const b = builder(16 + readers, HOUR);
    const size = 128 * 1024;
    for (let k = 0; k < 6; k++) {
      // Readers (players, download threads) in their own parts of a file, in random turns; one access in
      // ten is a stray read elsewhere (a thumbnail, an index lookup) and moves no reader. With four stream
      // heads the first key of eight readers was not sequential, and that of six showed two streams.
      const parts = Array.from({ length: readers }, (_, r) => r * 2 ** 32);
      for (let t = b.start; t < b.end; t += b.rng.exp(400)) {
        if (b.rng.next() < 0.1) b.add(`readers/${k}`, t, b.rng.int(0, 1 << 20) * 4096, size);
        else {
          const r = b.rng.int(0, readers - 1);
          b.add(`readers/${k}`, t, parts[r], size);
          parts[r] += size;
        }
      }
      b.label({
        key: `readers/${k}`,
        kind: `${readers} readers, strays`,
        expect: ['sequential'],
        stride: size,
      });
    }
    const trace = b.build();
    const r = run(trace);
    for (const l of trace.labels) {
      const v = view(r, l.key);
      expect(v.sequential, l.key).toMatchObject({ direction: 'forward', stride: size });
      expect(v.sequential?.streams, l.key).toBeGreaterThanOrEqual(liveStreams);
    }
  });
});

describe('steps at the ends of the float range', () => {
  it('takes no step that overflows, or is beyond the 32-bit stride range, as a stream step', () => {
    // Positions and sizes may be any finite numbers. From −1.7e308 to 1.7e308 is a step of Infinity,
    // which "continued" a head whose size rounded to a 32-bit Infinity and became the key's stride, and a
    // step of 1e308 became a 32-bit stride of Infinity, which every later step matches within 1 %.
    const e = new Engine(engineConfig());
    const far = 1.7e308;
    const walks = [
      [-far, far],
      [far, -far],
      [0, 1e308, 5e8],
      [0, -far, 0],
    ];
    for (const [i, walk] of walks.entries()) {
      const key = `far/${i}`;
      for (const [k, pos] of walk.entries()) e.observe(key, T0 + k, pos, far);
      const slot = e.keys.slotOf(key);
      expect(Number.isFinite(e.sequential.signedStride(slot)), key).toBe(true);
      expect(e.viewOf(key)?.scores.random, key).toBe(1);
    }
  });
});
