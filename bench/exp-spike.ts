/**
 * `node --import tsx bench/exp-spike.ts [perMin] [multiplier] [minutes] [seeds]`: how much of a planted
 * surge a key's burst covers. A memoryless key read `perMin` times a minute for two days surges to
 * `multiplier` times that for `minutes`, once per seed, with a heartbeat key moving engine time every 5 s
 * (as other keys' traffic does). Prints the surges found, the share of surge time reported `burst`, the
 * bursts that ended over a minute before the surge did, bursts split inside a surge, bursts outside one,
 * and each burst's end relative to the surge's end (s). Env `OVR`: JSON overrides of the configuration.
 */
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { Rng } from './workloads.ts';

const MINUTE = 60_000;
const [perMin, multiplier, minutes, seeds] = [1, 20, 10, 20].map((d, i) => Number(process.argv[2 + i] ?? d));
const cfg = loadConfig({ env: {}, overrides: JSON.parse(process.env.OVR ?? '{}') }).engine;
let found = 0;
let early = 0;
let splits = 0;
let outside = 0;
let cover = 0;
const ends: number[] = [];
for (let seed = 1; seed <= seeds; seed++) {
  const rng = new Rng(seed);
  const engine = new Engine(cfg);
  const t0 = Date.UTC(2026, 2, 2);
  const from = t0 + 2 * 24 * 60 * MINUTE + rng.uniform(0, 60) * MINUTE;
  const to = from + minutes * MINUTE;
  const starts: number[] = [];
  const stops: number[] = [];
  let bursting = false;
  const look = (now: number) => {
    engine.drainChanges(() => {});
    const on = engine.viewOf('key')?.patterns.includes('burst') ?? false;
    if (on !== bursting) (on ? starts : stops).push(now);
    bursting = on;
  };
  let t = t0;
  let heartbeat = t0;
  while (t < to + 30 * MINUTE) {
    const rate = t >= from && t < to ? perMin * multiplier : perMin;
    let next = t + rng.exp(MINUTE / rate);
    if (t < from && next > from) next = from + rng.exp(MINUTE / (perMin * multiplier));
    for (; heartbeat < next; heartbeat += 5000) {
      engine.observe('heartbeat', heartbeat, 0, 0);
      engine.tick();
      look(heartbeat);
    }
    t = next;
    engine.observe('key', t, rng.int(0, 1e6), 4096);
    look(t);
  }
  const within = starts.filter((s) => s >= from && s < to + MINUTE);
  outside += starts.length - within.length;
  if (within.length === 0) continue;
  found++;
  splits += within.length - 1;
  for (const s of within) {
    const stop = stops.find((x) => x > s) ?? Number.POSITIVE_INFINITY;
    cover += Math.max(Math.min(stop, to) - s, 0) / (to - from);
  }
  if ((stops.find((x) => x > within[0]) ?? Number.POSITIVE_INFINITY) < to - MINUTE) early++;
  ends.push(Math.round(((stops.at(-1) ?? Number.POSITIVE_INFINITY) - to) / 1000));
}
console.log(
  `${perMin}/min x${multiplier} for ${minutes} min: found ${found}/${seeds}, covered ${Math.round((cover / seeds) * 100)} %, ` +
    `ended early ${early}, splits ${splits}, outside ${outside}, end s ${ends.sort((a, b) => a - b).join(' ')}`,
);
