import { loadConfig } from '../src/config.ts';
import { BURST } from '../src/engine/types.ts';
import { episodes, replay } from './replay.ts';
import { standardWorkload } from './workloads.ts';

const cfg = loadConfig({ env: {} }).engine;
const trace = standardWorkload({ seed: Number(process.argv[2] ?? 1) });
const r = replay(trace, cfg);
for (const l of trace.labels) {
  const eps = episodes(r.timelines.get(l.key), BURST, trace.end);
  for (const [a, b] of eps) {
    const ok = (l.bursts ?? []).some(([x, y]) => a >= x && a <= y + 60000);
    if (!ok && a >= (l.judgeBurstsFrom ?? 0))
      console.log(
        l.kind,
        l.key,
        new Date(a).toISOString(),
        ((b - a) / 1000).toFixed(0),
        's',
        l.periodMs,
        'judge from',
        new Date(l.judgeBurstsFrom ?? 0).toISOString(),
      );
  }
}
for (const k of process.argv.slice(3)) {
  for (const t of r.timelines.get(k) ?? []) console.log(k, new Date(t.ts).toISOString(), t.accesses, t.mask);
}
