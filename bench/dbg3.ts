import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { fitSchedule, HISTORY, type PeriodicFit } from '../src/engine/periodic.ts';
import { standardWorkload } from './workloads.ts';

const cfg = loadConfig({ env: {} }).engine;
const trace = standardWorkload({ seed: Number(process.env.SEED ?? 1) });
const key = process.argv[2];
const until = Date.parse(process.argv[3]);
const e = new Engine(cfg);
for (let i = 0; i < trace.n && trace.ts[i] <= until; i++)
  e.observe(trace.keyNames[trace.key[i]], trace.ts[i], trace.pos[i], trace.size[i]);
const slot = e.keys.slotOf(key);
const c = e.periodic.table.c;
const n = Math.min(c.count[slot], HISTORY);
const t = new Float64Array(n);
for (let i = 0; i < n; i++)
  t[i] = c.base[slot] + c.starts[slot * HISTORY + ((c.count[slot] - n + i) % HISTORY)];
t.sort();
const out: PeriodicFit = { period: 0, beat: 0, jitter: 0, score: 0, ok: false };
fitSchedule(t, n, cfg.periodic, out);
console.log(n, JSON.stringify(out), 'crit', 1 - out.score);
const g = [];
for (let i = 1; i < n; i++) g.push(((t[i] - t[i - 1]) / 1000).toFixed(0));
console.log(g.join(' '));
