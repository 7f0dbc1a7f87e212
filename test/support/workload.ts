import { mulberry32 } from '../../bench/rng.ts';
/**
 * A small seeded workload with every pattern, as replayed history ending `end` (ms): the same events on
 * every run, so the dashboard tests and the screenshot in docs/ show the same thing.
 */
export interface AccessEvent {
  key: string;
  ts: number;
  position?: number;
  size?: number;
}

export const WORKLOAD_KEYS = {
  sequential: 'media/movies/big.mkv',
  periodic: 'backup/nightly.tar',
  burst: 'photos/album 2026.zip',
  leader: 'docs/report.tex',
  follower: 'docs/report.pdf',
  random: 'db/index.db',
} as const;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export function workload(end: number, seed = 8): AccessEvent[] {
  const random = mulberry32(seed);
  const exponential = (mean: number) => -mean * Math.log(1 - random());
  const k = WORKLOAD_KEYS;
  const events: AccessEvent[] = [];

  for (let i = 0; i < 40; i++) {
    events.push({ key: k.sequential, ts: end - 10_000 + i * 200, position: i * 65536, size: 65536 });
  }
  for (let i = 0; i < 30; i++) {
    events.push({ key: k.periodic, ts: end - 10 * MINUTE - (29 - i) * HOUR + Math.round(random() * 4000) });
  }
  // Irregular gaps, so the baseline is a slow rate and not a schedule.
  for (let ts = end - 10 * HOUR; ts < end - 5 * MINUTE; ts += exponential(25 * MINUTE)) {
    events.push({ key: k.burst, ts: Math.round(ts) });
  }
  for (let i = 0; i < 60; i++) events.push({ key: k.burst, ts: end - MINUTE + i * 1000 });
  let episode = end - 3 * HOUR;
  for (let i = 0; i < 30; i++) {
    events.push({ key: k.leader, ts: Math.round(episode) });
    events.push({ key: k.follower, ts: Math.round(episode) + 300 });
    episode += 2 * MINUTE + exponential(3 * MINUTE);
  }
  for (let i = 0; i < 40; i++) {
    const ts = end - HOUR + Math.round(random() * 55 * MINUTE);
    events.push({ key: k.random, ts, position: Math.floor(random() * 1_000_000) * 4096, size: 4096 });
  }
  return events.sort((a, b) => a.ts - b.ts);
}
