import { loadConfig } from '../src/config.ts';
import { BURST } from '../src/engine/types.ts';
import { episodes, replay } from './replay.ts';
import { standardWorkload } from './workloads.ts';

const cfg = loadConfig({ env: {} }).engine;
const trace = standardWorkload({ seed: Number(process.argv[2]) });
const r = replay(trace, cfg);
const idOf = new Map(trace.keyNames.map((k, i) => [k, i]));
for (const l of trace.labels)
  for (const [a, b] of l.bursts ?? []) {
    const eps = episodes(r.timelines.get(l.key), BURST, trace.end);
    const hit = eps.find(([x]) => x >= a && x <= b + 60000);
    if (hit) continue;
    const id = idOf.get(l.key);
    let before = 0,
      inside = 0;
    for (let i = 0; i < trace.n; i++)
      if (trace.key[i] === id) {
        if (trace.ts[i] < a) before++;
        else if (trace.ts[i] <= b) inside++;
      }
    const rate = before / ((a - trace.start) / 1000);
    console.log(
      'missed',
      l.key,
      'dur s',
      (b - a) / 1000,
      'inside',
      inside,
      'base rate/s',
      rate.toFixed(5),
      'expected in window',
      ((rate * (b - a)) / 1000).toFixed(2),
      'eps',
      eps.map(([x]) => new Date(x).toISOString()).join(' '),
    );
  }
