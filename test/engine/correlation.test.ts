import { describe, expect, it } from 'vitest';
import type { Replay } from '../../bench/replay.ts';
import {
  correlatedGroup,
  periodic,
  poisson,
  Rng,
  sequential,
  type TraceBuilder,
} from '../../bench/workloads.ts';
import { LEADERS_PER_KEY } from '../../src/engine/correlation.ts';
import { Engine } from '../../src/engine/engine.ts';
import { CORRELATED } from '../../src/engine/types.ts';
import { builder, DAY, engineConfig, HOUR, MINUTE, reporting, run, SECOND, T0, view } from './helpers.ts';

/** Pairs `lead/i` → `follow/i` (i < count), the follower `lagMs(i)` after its leader. */
function plantPairs(
  b: TraceBuilder,
  count: number,
  lagMs: (i: number) => number,
  confidence: number,
  leaderRatePerS: number,
): void {
  for (let i = 0; i < count; i++)
    correlatedGroup(
      b,
      `lead/${i}`,
      [{ key: `follow/${i}`, lagMs: lagMs(i), confidence }],
      leaderRatePerS,
      'pair',
    );
}

/** How many of the planted pairs the leader lists. */
function pairsFound(r: Replay, count: number): number {
  let found = 0;
  for (let i = 0; i < count; i++)
    if (view(r, `lead/${i}`).correlated.some((p) => p.key === `follow/${i}`)) found++;
  return found;
}

/**
 * A phone's morning sync on `day`: its state file written after each of 40 photos, the thumbnail index
 * 0.5-2 s after each write. Returns when it began and ended.
 */
function morningSync(b: TraceBuilder, day: number): [number, number] {
  const start = T0 + day * DAY + b.rng.uniform(6, 7.5) * HOUR;
  let t = start;
  for (let photo = 0; photo < 40; photo++) {
    t += 1200;
    b.add('sync/phone/.sync-state.db', t);
    t += b.rng.uniform(500, 2000);
    b.add('photos/.thumbs/thumbs.db', t);
    t += b.rng.uniform(1000, 3000);
  }
  return [start, t];
}

describe('correlation detector', () => {
  it('finds pairs and one-to-many groups; both sides list each other with confidence and lag', () => {
    const b = builder(41, DAY);
    correlatedGroup(b, 'movie.mkv', [{ key: 'movie.srt', lagMs: 400, confidence: 0.95 }], 1 / 600, 'pair');
    correlatedGroup(
      b,
      'album/index',
      [
        { key: 'album/1.jpg', lagMs: 300, confidence: 0.9 },
        { key: 'album/2.jpg', lagMs: 1500, confidence: 0.9 },
      ],
      1 / 900,
      'one-to-many',
    );
    for (let i = 0; i < 10; i++) poisson(b, `noise/${i}`, 1 / 200);
    const trace = b.build();
    const r = run(trace);
    const srt = view(r, 'movie.srt').correlated.find((p) => p.key === 'movie.mkv');
    const mkv = view(r, 'movie.mkv').correlated.find((p) => p.key === 'movie.srt');
    expect(mkv).toMatchObject({ direction: 'after' });
    expect(srt).toMatchObject({ direction: 'before' });
    expect(mkv?.confidence).toBeGreaterThan(0.8);
    expect(Math.abs((mkv?.lag_s ?? 0) - 0.4)).toBeLessThan(0.15);
    const index = view(r, 'album/index').correlated.map((p) => p.key);
    expect(index).toEqual(expect.arrayContaining(['album/1.jpg', 'album/2.jpg']));
    for (const l of trace.labels.filter((x) => x.key.startsWith('noise/')))
      expect(view(r, l.key).correlated, l.key).toEqual([]);
  });

  it('finds pairs while films stream (the recent keys are distinct keys, not the latest reads)', () => {
    const b = builder(45, 3 * HOUR);
    plantPairs(b, 4, (i) => 500 + 700 * i, 0.95, 1 / 300);
    // Two films streaming the whole time, 20 reads a second each, interleaved.
    for (const film of ['films/a.mkv', 'films/b.mkv'])
      sequential(b, film, { size: 65536, gap: 0, jumps: 0.01, meanGapMs: 50 });
    expect(pairsFound(run(b.build()), 4)).toBe(4);
  });

  // 18 pairs each. Four a second: all found; with the first of the weakest follower entries replaced
  // instead of the oldest, 10. Eight a second: every background key lands in every leader's 5-second
  // window, and while such keys could take follower entries, 10 (they now cannot: MAX_NEW_FOLLOWER_CHANCE).
  it.each([
    [20, 'four'],
    [40, 'eight'],
  ])('finds pairs among %i memoryless keys read every five seconds (%s a second)', (keys) => {
    let falsePartners = 0;
    const found = [1, 2, 3].map((seed) => {
      const b = builder(seed, 8 * HOUR);
      plantPairs(b, 6, (i) => 300 + 500 * i, 0.9, 1 / 600);
      for (let i = 0; i < keys; i++) poisson(b, `background/${i}`, 0.2);
      const r = run(b.build());
      for (let i = 0; i < keys; i++) falsePartners += view(r, `background/${i}`).correlated.length;
      return pairsFound(r, 6);
    });
    expect(found.reduce((a, n) => a + n, 0)).toBeGreaterThanOrEqual(16);
    expect(falsePartners).toBe(0);
  });

  it('finds pairs up to 1.5 s apart among 50 memoryless keys read every two seconds (25 a second)', () => {
    // Found by an outside evaluation: with 16 recent keys, the leader had left the ring, pushed out by the
    // background, before a follower 1.2-1.4 s behind it arrived (6 of 8 pairs found, confidence 0.3 of 0.7).
    let falsePartners = 0;
    const found = [1, 2].map((seed) => {
      const b = builder(seed, 6 * HOUR);
      plantPairs(b, 6, (i) => 500 + 200 * i, 0.7, 1 / 600);
      for (let i = 0; i < 50; i++) poisson(b, `background/${i}`, 0.5);
      const r = run(b.build());
      for (let i = 0; i < 50; i++) falsePartners += view(r, `background/${i}`).correlated.length;
      return pairsFound(r, 6);
    });
    expect(found).toEqual([6, 6]);
    expect(falsePartners).toBe(0);
  });

  it('finds a rule that holds on a third of the leader episodes, among Zipf-popular background keys', () => {
    // The research notes' weakest planted rule: B follows 30 % of A's episodes. With the seed's 50 %
    // confidence floor none of these 24 pairs was listed at the end of the day.
    let falsePartners = 0;
    const found = [1, 2, 3].map((seed) => {
      const b = builder(seed, DAY);
      plantPairs(b, 8, (i) => 300 + 300 * i, 0.3, 1 / 600);
      for (let rank = 1; rank <= 100; rank++) poisson(b, `zipf/${rank}`, 0.4 / rank);
      const r = run(b.build());
      for (let rank = 1; rank <= 100; rank++) falsePartners += view(r, `zipf/${rank}`).correlated.length;
      return pairsFound(r, 8);
    });
    expect(found.reduce((a, n) => a + n, 0)).toBeGreaterThanOrEqual(12);
    expect(falsePartners).toBe(0);
  });

  it('keeps a rule whose follower always comes listed from the episode that proves it on, without a drop', () => {
    // A sync file every 30-60 s and its index 0.5-2 s after each. The fifth or sixth episode's start was
    // counted as a miss before the index could come, and the rule of four follows of four dropped until it
    // did (an outside evaluation, live: off for 1-56 s, on 4 of 5 seeds here).
    for (let seed = 1; seed <= 5; seed++) {
      const rng = new Rng(seed);
      const engine = new Engine(engineConfig());
      let listedSince = -1;
      let drops = 0;
      for (let t = T0 + SECOND; t < T0 + 30 * MINUTE; t += rng.uniform(30, 60) * SECOND) {
        for (const [key, at] of [
          ['sync/a.db', t],
          ['sync/a.idx', t + rng.uniform(0.5, 2) * SECOND],
        ] as const) {
          engine.observe(key, at, Number.NaN, 0);
          const listed = engine.viewOf('sync/a.db')?.patterns.includes('correlated') ?? false;
          if (listed && listedSince < 0) listedSince = at;
          if (!listed && listedSince >= 0) drops++;
        }
      }
      expect(listedSince, `seed ${seed}`).toBeGreaterThan(0);
      expect(drops, `seed ${seed}`).toBe(0);
    }
  });

  it('drops a rule that stopped within a few episodes however long it held, and lists it again when it resumes', () => {
    for (const held of [20, 100, 300]) {
      const rng = new Rng(held);
      const engine = new Engine(engineConfig());
      const listed = () => engine.viewOf('player')?.correlated.some((p) => p.key === 'subtitles') ?? false;
      let t = T0;
      // The player opens a film about every hour; its subtitles are read a second later, or, once the
      // subtitles are embedded, on their own at random times far from any film.
      const episode = (follows: boolean) => {
        engine.observe('player', t, Number.NaN, 0);
        engine.observe(
          'subtitles',
          t + (follows ? SECOND : rng.uniform(10, 50) * 60 * SECOND),
          Number.NaN,
          0,
        );
        t += rng.uniform(55, 65) * 60 * SECOND;
      };
      for (let i = 0; i < held; i++) episode(true);
      expect(listed(), `after ${held} episodes together`).toBe(true);
      let apart = 0;
      while (listed() && apart < 1000) {
        episode(false);
        apart++;
      }
      // Counted since the pair was first seen, it stayed listed for three times as many episodes as it held.
      // (A miss counts once its episode is over, at the next one's start: an episode is not a miss while its
      // follower may still come.)
      expect(apart, `held ${held}`).toBeLessThanOrEqual(7);
      expect(engine.viewOf('subtitles')?.correlated).toEqual([]);
      episode(true);
      episode(true);
      expect(listed(), `held ${held}, resumed`).toBe(true);
    }
  });

  it('keeps a long rule through a run of misses that its own miss rate explains', () => {
    // A follower that comes after four leader episodes in five, and is read on its own as well, among 300
    // background keys. Five misses in a row are a 1-in-3,000 run at that rate, but one a rule meets every
    // few days when each episode tests it anew: dropped at such a run, the pair was not found again for
    // 14-21 hours (an outside evaluation, 4 of 135 pairs), its follower's next follows taken for chance.
    const rng = new Rng(5);
    const engine = new Engine(engineConfig());
    const listed = () => engine.viewOf('app/state')?.correlated.some((p) => p.key === 'app/index') ?? false;
    const events: [string, number][] = [];
    const end = T0 + 3 * DAY;
    let episode = 0;
    for (let t = T0; t < end; t += rng.uniform(5, 15) * MINUTE, episode++) {
      events.push(['app/state', t]);
      // Episodes 200-204 miss in a row; otherwise four in five are followed.
      const follows = episode >= 200 && episode < 205 ? false : rng.next() < 0.8;
      if (follows) events.push(['app/index', t + rng.uniform(0.5, 3) * SECOND]);
    }
    for (let t = T0; t < end; t += rng.exp(3 * MINUTE)) events.push(['app/index', t]);
    for (let k = 0; k < 300; k++)
      for (let t = T0 + rng.exp(5 * MINUTE); t < end; t += rng.exp(5 * MINUTE)) events.push([`bg/${k}`, t]);
    events.sort((a, b) => a[1] - b[1]);
    let leaderEpisodes = 0;
    let unlisted = 0;
    for (const [key, t] of events) {
      engine.observe(key, t, Number.NaN, 0);
      if (key !== 'app/state' || t < T0 + 12 * HOUR) continue;
      leaderEpisodes++;
      unlisted += +!listed();
    }
    expect(leaderEpisodes).toBeGreaterThan(300);
    expect(unlisted).toBeLessThan(0.02 * leaderEpisodes);
  });

  it('does not list a rule again that chance brings back after it stopped', () => {
    // A leader read every ten minutes or so, its follower a few seconds after each, for a day; then the
    // follower is read on its own, as often. Now and then it lands within the lag of a leader's read by
    // chance: with the old evidence kept, each such coincidence listed the rule again for hours, at the
    // confidence and support of the day it held.
    let listedAfterStop = 0;
    let episodesAfterStop = 0;
    for (const seed of [1, 2, 3, 4]) {
      const rng = new Rng(seed);
      const engine = new Engine(engineConfig());
      const listed = () =>
        engine.viewOf('app/leader')?.correlated.some((p) => p.key === 'app/follower') ?? false;
      const events: [string, number][] = [];
      const stop = T0 + DAY;
      for (let t = T0; t < T0 + 3 * DAY; t += rng.exp(10 * 60 * SECOND)) {
        events.push(['app/leader', t]);
        events.push([
          'app/follower',
          t < stop ? t + rng.uniform(1, 5) * SECOND : t + rng.exp(10 * 60 * SECOND),
        ]);
      }
      events.sort((a, b) => a[1] - b[1]);
      let dropped = false;
      for (const [key, t] of events) {
        engine.observe(key, t, Number.NaN, 0);
        if (key !== 'app/leader') continue;
        if (t < stop) continue;
        dropped ||= !listed();
        if (!dropped) continue;
        episodesAfterStop++;
        listedAfterStop += +listed();
      }
      expect(dropped, `seed ${seed}`).toBe(true);
    }
    expect(episodesAfterStop).toBeGreaterThan(1000);
    expect(listedAfterStop / episodesAfterStop).toBeLessThan(0.02);
  });

  it('finds almost no rules among independent keys of many rates', () => {
    const b = builder(42, DAY);
    for (let i = 0; i < 40; i++) poisson(b, `indep/${i}`, 10 ** b.rng.uniform(-3.5, -0.5));
    const trace = b.build();
    const r = run(trace);
    expect(reporting(r, trace, 'correlated').length).toBeLessThanOrEqual(1);
  });

  it('correlates a scheduled job with the key it always reads right after (both periodic)', () => {
    const b = builder(44, 40 * HOUR + 30 * 60_000);
    for (let k = 0; k < 40; k++) {
      const at = T0 + k * HOUR + b.rng.normal(0.02 * HOUR);
      b.add('job/config', at);
      b.add('job/data', at + b.rng.uniform(350, 650));
    }
    const trace = b.build();
    const r = run(trace);
    for (const [key, partner] of [
      ['job/config', 'job/data'],
      ['job/data', 'job/config'],
    ]) {
      expect(view(r, key).patterns).toEqual(expect.arrayContaining(['periodic', 'correlated']));
      expect(view(r, key).correlated.map((p) => p.key)).toEqual([partner]);
    }
  });

  it('correlates an hourly job with the log it reads 0.5-2 s after each run', () => {
    // The job starts up to a minute late; its log follows within a lag that spreads 0.43 s: far steadier
    // than the schedules, but not steadier than a quarter of the spread of a lag uniform over the whole
    // window (0.36 s), which coinciding schedules with a wider jitter than the window have. The rule was
    // listed for a few hours now and then and never kept (an independent evaluation's workload).
    const b = builder(45, 4 * DAY);
    for (let pair = 0; pair < 4; pair++) {
      for (let at = T0 + (41 + pair) * 60_000; at < b.end; at += HOUR) {
        const run = at + b.rng.uniform(0, 60_000);
        b.add(`backup/${pair}/job`, run);
        b.add(`backup/${pair}/log`, run + b.rng.uniform(500, 2000));
      }
    }
    const trace = b.build();
    const r = run(trace);
    for (let pair = 0; pair < 4; pair++) {
      expect(view(r, `backup/${pair}/job`).correlated.map((p) => p.key)).toEqual([`backup/${pair}/log`]);
      expect(view(r, `backup/${pair}/log`).correlated.map((p) => p.key)).toEqual([`backup/${pair}/job`]);
    }
  });

  it('correlates a file written after each write of another while both are busy for minutes each morning', () => {
    // A phone's sync writes its state file after each photo, and the thumbnailer its index 0.5-2 s later,
    // 40 times over a few minutes each morning. Within the minutes both are busy, each key is in the other's
    // window anyway: hundreds of such episodes, counted as trials, buried the one a morning that says
    // something, and the pair was never correlated (an outside evaluation).
    const b = builder(47, 30 * DAY);
    for (let day = 0; day < 30; day++) morningSync(b, day);
    const r = run(b.build());
    expect(view(r, 'sync/phone/.sync-state.db').correlated.map((p) => p.key)).toEqual([
      'photos/.thumbs/thumbs.db',
    ]);
    expect(view(r, 'photos/.thumbs/thumbs.db').correlated.map((p) => p.key)).toEqual([
      'sync/phone/.sync-state.db',
    ]);
  });

  it('correlates a key with the one that precedes each of its sessions, though that one is mostly alone', () => {
    // The sync client also polls its state file about three times an hour all day, so the thumbnail index
    // follows a fiftieth of the file's sessions, but every one of its own is preceded by the file: "regularly
    // followed (or preceded)". Counted against the leader's sessions alone, never correlated (an outside
    // evaluation).
    const b = builder(48, 30 * DAY);
    for (let day = 0; day < 30; day++) {
      const [syncStart, syncEnd] = morningSync(b, day);
      for (let t = T0 + day * DAY + b.rng.exp(HOUR / 3); t < T0 + (day + 1) * DAY; t += b.rng.exp(HOUR / 3))
        if (t < syncStart - 60 * SECOND || t > syncEnd + 60 * SECOND) b.add('sync/phone/.sync-state.db', t);
    }
    const r = run(b.build());
    const partner = (key: string) => view(r, key).correlated;
    expect(partner('photos/.thumbs/thumbs.db')).toMatchObject([
      { key: 'sync/phone/.sync-state.db', direction: 'before' },
    ]);
    expect(partner('sync/phone/.sync-state.db')).toMatchObject([
      { key: 'photos/.thumbs/thumbs.db', direction: 'after' },
    ]);
    // The share of its sessions that began within the lag after a session of the file began: 0.60 in this
    // trace (the writes' gaps straddle the session gap, so some of the index's sessions begin within the
    // file's). Counted only where the file was read rarely just then, it read over 0.7.
    expect(partner('photos/.thumbs/thumbs.db')[0].confidence).toBeCloseTo(0.6, 1);
  });

  it('correlates a film with its subtitles, read as playback starts, though the film is paused often', () => {
    // Each pause longer than the session gap begins a session of the film, so the subtitles follow one
    // session in eight; but every one of theirs is preceded by the film's. Never listed with six or ten
    // pauses a playback (an outside evaluation: the film's pace was read from its latest read, a second
    // before, and it passed for a key busy all the time).
    const b = builder(52, 10 * DAY);
    const films = 4;
    for (let i = 0; i < films; i++)
      for (let day = 0; day < 10; day++) {
        const start = T0 + day * DAY + b.rng.uniform(18, 22) * HOUR;
        b.add(`media/${i}.srt`, start + b.rng.uniform(300, 1500), 0, 40_000);
        const pauses = Array.from({ length: 6 + (i % 2) * 4 }, () => b.rng.uniform(0.1, 0.9)).sort();
        const length = b.rng.uniform(20, 40) * 60 * SECOND;
        let position = 0;
        for (let t = start, played = 0; played < length; played += 500) {
          b.add(`media/${i}.mkv`, t, position, 1 << 20);
          position += 1 << 20;
          t += 500;
          if (pauses.length > 0 && played / length > pauses[0]) {
            pauses.shift();
            t += b.rng.uniform(30, 120) * SECOND;
          }
        }
      }
    poisson(b, 'bg/memoryless', 1 / 600);
    const r = run(b.build());
    for (let i = 0; i < films; i++)
      expect(view(r, `media/${i}.srt`).correlated, `film ${i}`).toMatchObject([
        { key: `media/${i}.mkv`, direction: 'before' },
      ]);
  });

  it('keeps a film correlated with its .nfo, read as each evening playback starts, once both pass for periodic', () => {
    // One playback an evening at a random time in a two-hour band: by the sixth, the .nfo (and the film's
    // first session) pass for a daily schedule jittering ~10 minutes, fitted on the very evenings it followed
    // the film. Its lag, 0.5-3 s, is far steadier than that jitter but spreads about as much as half of a lag
    // uniform over the window (0.72 s), the most asked between periodic keys: the rule, 6 follows of 6, was
    // dropped at the sixth playback in 3 of these 8 films (an outside evaluation: most of its missed pairs).
    // Read in bursts of chunks, a burst every 5-30 s: a session of the film every few bursts.
    expectEveningNfoRules(54, 8, (b, film, start) => {
      let position = 0;
      const end = start + b.rng.uniform(90, 120) * 60 * SECOND;
      for (let t = start; t < end; t += b.rng.uniform(5, 30) * SECOND)
        for (let chunk = b.rng.int(2, 6), at = t; chunk > 0; chunk--, at += b.rng.uniform(10, 150)) {
          b.add(film, at, position, 1 << 19);
          position += 1 << 19;
        }
    });
  });

  it('keeps a film whose player requests a range at a steady pace correlated with its .nfo', () => {
    // The player asks for a range every 11.5 s (± 0.3 s), so the film's occurrences keep a steady pace,
    // which the rule between two keys that keep time took for a schedule: the .nfo, read 0.5-3 s after each
    // playback begins, was asked to lag within a quarter of the pace's spread, and its rule came and went
    // (an outside re-evaluation: listed at the fourth playback, dropped at the fifth). The pace is how the
    // film is read within a playback, not when a playback begins.
    expectEveningNfoRules(55, 6, (b, film, start) => {
      let position = 0;
      for (let t = start; t < start + 90 * 60 * SECOND; t += 11_500 + b.rng.normal(300)) {
        b.add(film, t, position, 1 << 21);
        position += 1 << 21;
      }
    });
  });

  it('does not correlate two periodic keys whose schedules merely coincide, at any time', () => {
    // Pairs of hourly jobs at the same minute, each up to 0.5 s or 5 s late. They followed each other from
    // their fourth run, before either could be periodic, and their rule held until both were; and a lag
    // spread held to half the schedules' jitter let every few hours through (its positive half spreads
    // ~0.6-0.85 of it).
    // Pairs whose jitter (30 s) is wider than the lag window see a lag spread over all of it.
    const b = builder(43, 3 * DAY);
    const pairs = 9;
    for (let i = 0; i < pairs; i++)
      for (const key of [`cron/${i}/a`, `cron/${i}/b`])
        periodic(b, key, {
          periodMs: HOUR,
          phaseMs: 10 * 60_000,
          jitter: [0.00014, 0.0014, 0.0083][i % 3],
          missed: 0.05,
        });
    const trace = b.build();
    const r = run(trace);
    for (let i = 0; i < pairs; i++)
      for (const key of [`cron/${i}/a`, `cron/${i}/b`]) {
        expect(view(r, key).patterns).toContain('periodic');
        const correlated = (r.timelines.get(key) ?? []).filter((t) => t.mask & CORRELATED);
        expect(correlated.length, `${key}: times it was correlated`).toBe(0);
      }
  });

  it('does not correlate jobs whose schedules often bring one seconds after the other, at any time', () => {
    // An hourly job at :17, up to 8 s late, reading its state three to five times, and a health check
    // every 15 minutes whose :17 run comes 1-20 s late: in about a third of the hours it lands within the lag
    // window after the job. A second check on the same schedule lands within it after the first about as
    // often. Judged at their rates (a chance of 0.006 in 5 s), four follows in a row were a rule of
    // confidence 1 for an hour, twice a week here and in an outside evaluation. Databases read at random
    // meanwhile must not be correlated either.
    for (const seed of [61, 62, 63]) {
      const b = builder(seed, 7 * DAY);
      const groups = 4;
      const jobs = (i: number) => [
        `cron/${i}/hourly.state`,
        `cron/${i}/check-a.json`,
        `cron/${i}/check-b.json`,
      ];
      for (let i = 0; i < groups; i++) {
        const [hourly, ...checks] = jobs(i);
        for (let run = T0 + (17 + 3 * i) * 60_000; run < b.end; run += HOUR) {
          if (b.rng.next() < 0.05) continue;
          let t = run + b.rng.uniform(0, 8) * SECOND;
          for (let read = b.rng.int(3, 6); read > 0; read--, t += b.rng.uniform(50, 400)) b.add(hourly, t);
        }
        for (const check of checks)
          for (let run = T0 + (2 + 3 * i) * 60_000; run < b.end; run += 15 * 60_000)
            if (b.rng.next() >= 0.03) b.add(check, run + b.rng.uniform(1, 20) * SECOND);
      }
      const databases = [0.2, 0.1, 0.05, 0.02].map((rate, i) => {
        poisson(b, `db/${i}.ibd`, rate, { positions: true });
        return `db/${i}.ibd`;
      });
      const r = run(b.build());
      for (const key of [...Array.from({ length: groups }, (_, i) => jobs(i)).flat(), ...databases]) {
        const correlated = (r.timelines.get(key) ?? []).filter((t) => t.mask & CORRELATED);
        expect(correlated.length, `seed ${seed}, ${key}: times it was correlated`).toBe(0);
      }
    }
  });

  it('does not correlate steady pollers whose phases drift, at any time', () => {
    // A sensor's log polled every 30 s and a sync client's state every 58-62 s: neither keeps a schedule
    // (each gap adds its error to the next start), so their phases drift through each other. While they
    // are close, one follows the other at every read for minutes: listed and unlisted 170 times in three
    // days (an outside evaluation), and a memoryless database busy meanwhile listed them too.
    const b = builder(51, 3 * DAY);
    const pairs = 4;
    for (let i = 0; i < pairs; i++) {
      for (let t = T0 + b.rng.uniform(0, 30) * SECOND; t < b.end; t += 30 * SECOND + b.rng.normal(800))
        b.add(`iot/${i}/sensor.csv`, t);
      for (let t = T0 + b.rng.uniform(0, 60) * SECOND; t < b.end; t += b.rng.uniform(58, 62) * SECOND)
        b.add(`sync/${i}/state.json`, t);
    }
    poisson(b, 'db/app.sqlite', 0.5);
    const r = run(b.build());
    for (const key of [
      ...Array.from({ length: pairs }, (_, i) => [`iot/${i}/sensor.csv`, `sync/${i}/state.json`]).flat(),
      'db/app.sqlite',
    ]) {
      const correlated = (r.timelines.get(key) ?? []).filter((t) => t.mask & CORRELATED);
      expect(correlated.length, `${key}: times it was correlated`).toBe(0);
    }
  });

  it('does not correlate two hourly jobs at the same minute whose runs read several times', () => {
    // Measured from the leader's latest read, the lag of a run's first read after the other's was held
    // under the second between two reads, far steadier than the schedules: 4 of 6 such pairs were listed
    // (an outside evaluation). From the start of the leader's session it spreads as the schedules do.
    const b = builder(49, 3 * DAY);
    const pairs = 6;
    for (let i = 0; i < pairs; i++)
      for (let at = T0 + 7 * 60_000; at < b.end; at += HOUR)
        for (const key of [`cron/${i}/a`, `cron/${i}/b`]) {
          const run = at + b.rng.normal(2000);
          for (let read = 0; read < 4; read++) b.add(key, run + read * 1000);
        }
    const r = run(b.build());
    for (let i = 0; i < pairs; i++)
      for (const key of [`cron/${i}/a`, `cron/${i}/b`]) {
        expect(view(r, key).patterns).toContain('periodic');
        expect(view(r, key).correlated, key).toEqual([]);
      }
  });
});

describe('arrival order', () => {
  it('does not matter: leaders delivered seconds after their followers are correlated as when in order', () => {
    const b = builder(77, DAY);
    plantPairs(b, 6, (i) => 300 + 350 * i, 0.85, 1 / 600);
    for (let i = 0; i < 20; i++) poisson(b, `noise/${i}`, 1 / 120);
    const trace = b.build();
    // The leaders' device sends its log in batches, 1-10 s after the fact; everything else arrives at once.
    const order = Array.from({ length: trace.n }, (_, i) => i);
    const arrival = (i: number) =>
      trace.ts[i] + (trace.keyNames[trace.key[i]].startsWith('lead/') ? 1000 + (i % 10) * 1000 : 0);
    order.sort((x, y) => arrival(x) - arrival(y));
    const engine = new Engine(engineConfig());
    for (const i of order)
      engine.observe(trace.keyNames[trace.key[i]], trace.ts[i], trace.pos[i], trace.size[i]);
    const inOrder = run(trace);
    for (let i = 0; i < 6; i++) {
      const late = engine.viewOf(`lead/${i}`)?.correlated.find((p) => p.key === `follow/${i}`);
      const timely = view(inOrder, `lead/${i}`).correlated.find((p) => p.key === `follow/${i}`);
      expect(timely, `lead/${i} in order`).toBeDefined();
      expect(late, `lead/${i} delivered late`).toBeDefined();
      expect(late?.confidence).toBeCloseTo(timely?.confidence ?? 0, 1);
      expect(engine.viewOf(`follow/${i}`)?.correlated.some((p) => p.key === `lead/${i}`)).toBe(true);
    }
    for (let i = 0; i < 20; i++) expect(engine.viewOf(`noise/${i}`)?.correlated).toEqual([]);
  });
});

describe('the recent keys a follower is credited to', () => {
  /**
   * Ten sessions of `a`, about ten minutes apart (at random: no schedule). Around each, `others` keys never seen before are read 20 times
   * each, interleaved: their sessions start just before `a` (so they do not follow it), and go on after
   * it, so that each is read again after `a`. `b` starts a session a second after `a`. Is `b` correlated
   * with `a`?
   */
  function followsThrough(others: number): boolean {
    const e = new Engine(engineConfig());
    const rng = new Rng(48);
    let t = T0;
    for (let episode = 0; episode < 10; episode++) {
      t += 60 * SECOND + rng.exp(10 * 60 * SECOND);
      for (let k = 0; k < others; k++) e.observe(`other/${episode}/${k}`, t - 500 + k, Number.NaN, 0);
      e.observe('a', t, Number.NaN, 0);
      for (let read = 1; read < 20; read++)
        for (let k = 0; k < others; k++)
          e.observe(`other/${episode}/${k}`, t + 40 * read + k + rng.next(), Number.NaN, 0);
      e.observe('b', t + SECOND, Number.NaN, 0);
    }
    return (e.viewOf('a')?.correlated ?? []).some((p) => p.key === 'b');
  }

  it('are the last `recentKeys` distinct keys, however often each was read since', () => {
    const { recentKeys } = engineConfig().correlation;
    expect(followsThrough(recentKeys - 1)).toBe(true);
    expect(followsThrough(recentKeys)).toBe(false);
  });
});

describe('correlation rules and the pattern mask', () => {
  it('a key that follows more leaders than it can list leaves none of them correlated when it goes', () => {
    // A follower lists at most LEADERS_PER_KEY leaders, and a key going re-judges the leaders it lists. A
    // rule with a fifth leader would survive the follower's removal unnoticed: the leader stayed correlated
    // with no partner to show.
    const e = new Engine(engineConfig());
    const rng = new Rng(47);
    const leaders = Array.from({ length: LEADERS_PER_KEY + 3 }, (_, i) => `leader/${i}`);
    let t = T0;
    for (let round = 0; round < 60; round++) {
      for (const leader of leaders) {
        t += rng.uniform(20, 40) * SECOND;
        e.observe(leader, t, Number.NaN, 0);
        e.observe('follower', t + rng.uniform(200, 400), Number.NaN, 0);
      }
    }
    const correlated = leaders.filter((k) => e.maskOf(e.keys.slotOf(k)) & CORRELATED);
    expect(correlated.length).toBeGreaterThanOrEqual(LEADERS_PER_KEY);
    e.forget('follower');
    for (const key of leaders) {
      const v = e.viewOf(key);
      expect(v?.patterns, key).not.toContain('correlated');
      expect(v?.correlated, key).toEqual([]);
    }
    expect(e.counters.patterns.correlated).toBe(0);
  });
});

/**
 * `films` films, each played once an evening for eight evenings at a random time in a two-hour band
 * (`playback` reads the film from `start`), its .nfo read 0.5-3 s after each playback begins: each .nfo
 * lists its film as coming before, from its fifth read on at the latest, and never drops it since.
 */
function expectEveningNfoRules(
  seed: number,
  films: number,
  playback: (b: ReturnType<typeof builder>, film: string, start: number) => void,
): void {
  const b = builder(seed, 8 * DAY + 12 * HOUR);
  for (let i = 0; i < films; i++)
    for (let day = 0; day < 8; day++) {
      const start = T0 + day * DAY + b.rng.uniform(18.67, 20.67) * HOUR;
      b.add(`media/${i}.nfo`, start + b.rng.uniform(500, 3000), 0, 4096);
      playback(b, `media/${i}.mkv`, start);
    }
  const r = run(b.build());
  for (let i = 0; i < films; i++) {
    const nfo = `media/${i}.nfo`;
    expect(view(r, nfo).correlated, `film ${i}`).toMatchObject([
      { key: `media/${i}.mkv`, direction: 'before' },
    ]);
    const since = (r.timelines.get(nfo) ?? []).filter((t) => t.accesses >= 5);
    expect(
      since.every((t) => t.mask & CORRELATED),
      `film ${i}: ${since.map((t) => `${t.accesses}:${t.mask}`)}`,
    ).toBe(true);
  }
}
