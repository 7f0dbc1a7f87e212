/**
 * Engine soak: randomized workload shapes (bench/soak-shapes.ts) through fresh engines, with the engine's
 * invariants checked after every batch (bench/soak-check.ts), each shape in a watched worker thread so a
 * hang is reported instead of freezing the run.
 *
 *   node --import tsx bench/soak.ts [--seed N] [--minutes M] [--shapes K] [--scale S] [--stall-ms MS]
 *
 * Shapes use seeds N, N+1, … until M minutes (default 5) or K shapes have run. `--scale` multiplies each
 * shape's event budget. Each failure is printed with the command line that replays its shape.
 */
import { parseArgs } from 'node:util';
import { reproduction, soakSeed } from './soak-runner.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    minutes: { type: 'string', default: '5' },
    shapes: { type: 'string', default: String(Number.MAX_SAFE_INTEGER) },
    scale: { type: 'string', default: '1' },
    'stall-ms': { type: 'string', default: '10000' },
  },
});
const firstSeed = Number(values.seed);
const deadline = performance.now() + Number(values.minutes) * 60_000;
const maxShapes = Number(values.shapes);
const opts = { scale: Number(values.scale), stallMs: Number(values['stall-ms']) };

let events = 0;
let shapes = 0;
const failures: string[] = [];
const started = performance.now();
for (let seed = firstSeed; shapes < maxShapes && performance.now() < deadline; seed++) {
  const o = await soakSeed(seed, opts);
  shapes++;
  events += o.events;
  const seen = o.stats
    ? Object.entries(o.stats.seen)
        .map(([p, n]) => `${p}:${n}`)
        .join(' ')
    : '';
  const extra = o.stats
    ? ` views=${o.stats.views} restores=${o.stats.restores} evicted=${o.stats.evicted} reviews<=${o.stats.maxReviews} ${seen}`
    : '';
  console.log(
    `seed ${seed} ${o.failure ? 'FAIL' : 'ok'} ${(o.ms / 1000).toFixed(1)} s ${o.events} events${extra} | ${o.summary}`,
  );
  if (o.failure) {
    console.log(`  ${o.failure.split('\n').slice(0, 6).join('\n  ')}`);
    failures.push(`${reproduction(o)}   # ${o.failure.split('\n')[0]}`);
  }
}
const minutes = (performance.now() - started) / 60_000;
console.log(
  `\n${shapes} shapes, ${events.toLocaleString('en')} events in ${minutes.toFixed(1)} min, ${failures.length} failed`,
);
for (const f of failures) console.log(`  ${f}`);
process.exitCode = failures.length > 0 ? 1 : 0;
