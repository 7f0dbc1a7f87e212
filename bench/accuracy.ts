/**
 * `npm run bench:accuracy [-- --seed N --days D --scale S]`: replays a generated, labelled multi-day trace
 * through the pure engine (no MQTT) and prints detection quality per class. With `--mqtt` it also sends
 * the trace through the real service on the embedded broker and compares the retained states.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { disagreements, serviceViews } from './accuracy-mqtt.ts';
import { replay } from './replay.ts';
import { CLASSES, score } from './score.ts';
import { standardWorkload } from './workloads.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    days: { type: 'string', default: '10' },
    scale: { type: 'string', default: '1' },
    verbose: { type: 'boolean', default: false },
    mqtt: { type: 'boolean', default: false },
  },
});
const cfg = loadConfig({ env: {} }).engine;
const began = performance.now();
const trace = standardWorkload({
  seed: Number(values.seed),
  days: Number(values.days),
  scale: Number(values.scale),
});
const generated = performance.now();
const r = replay(trace, cfg);
const replayed = performance.now();
const s = score(trace, r, cfg.burst.windowMs);

const pct = (x: number) => (Number.isNaN(x) ? '   -  ' : `${(100 * x).toFixed(1).padStart(5)}%`);
const num = (x: number, d = 1) => (Number.isNaN(x) ? '-' : x.toFixed(d));
const pad = (x: string | number, w: number) => String(x).padStart(w);

console.log(
  `trace: seed ${values.seed}, ${values.days} days, ${trace.labels.length} labelled keys, ${trace.n} events ` +
    `(generated in ${((generated - began) / 1000).toFixed(1)} s, replayed in ${((replayed - generated) / 1000).toFixed(1)} s)`,
);
console.log('');
console.log('class        keys   TP   FP   FN  precision  recall      F1   detect s (p50/p90)  accesses');
for (const c of CLASSES) {
  const x = s.classes[c];
  console.log(
    `${c.padEnd(11)} ${pad(x.truth, 5)} ${pad(x.tp, 4)} ${pad(x.fp, 4)} ${pad(x.fn, 4)}  ${pct(x.precision)}  ` +
      `${pct(x.recall)}  ${pct(x.f1)}  ${pad(`${num(x.detectS)} / ${num(x.detectP90S)}`, 18)}  ${pad(num(x.detectAccesses, 0), 8)}`,
  );
}
console.log('');
console.log(`macro-F1                        ${pct(s.macroF1)}   (target >= 97 %)`);
console.log(
  `false alarms on random-only keys ${pct(s.falseAlarmsEnd)} at the end, ${pct(s.falseAlarmsEver)} at any time (${s.negatives} keys; target <= 1 %)`,
);
for (const [pattern, kinds] of Object.entries(s.falseAlarmsEverBy)) {
  const byKind = new Map<string, number>();
  for (const k of kinds) byKind.set(k, (byKind.get(k) ?? 0) + 1);
  console.log(`  passing ${pattern.padEnd(10)} on ${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')}`);
}
console.log(
  `period within 5 %               ${pct(s.periodWithin5)}   (median error ${pct(s.periodErrorMedian)}; target >= 95 %)`,
);
console.log(`stride + direction correct      ${pct(s.strideAccuracy)}`);
console.log(`partners right (all, no others) ${pct(s.partnerAccuracy)}`);
console.log(`burst end, s after planted end  ${num(s.burstEndDelayS)}`);
console.log('');
console.log('kind              keys  exact');
for (const k of s.kinds) console.log(`${k.kind.padEnd(16)} ${pad(k.keys, 5)}  ${pad(k.exact, 5)}`);

if (values.verbose) {
  console.log('');
  for (const l of trace.labels) {
    if (l.expect.join() !== 'random') continue;
    const list = r.timelines.get(l.key) ?? [];
    const flashes = list.filter((t) => t.mask !== 16).map((t) => `${t.mask}@${t.accesses}`);
    if (flashes.length)
      console.log(`${l.kind.padEnd(16)} ${l.key.slice(0, 24).padEnd(24)} ${flashes.slice(0, 8).join(' ')}`);
  }
  for (const l of trace.labels) {
    const v = r.final.get(l.key);
    const got = (v?.patterns ?? []).filter((p) => p !== 'random');
    const want = l.expect.filter((p) => p !== 'random');
    if (got.length === want.length && want.every((p) => got.includes(p))) continue;
    console.log(
      `${l.kind.padEnd(16)} ${l.key.slice(0, 24).padEnd(24)} want ${want.join('+') || 'random'} got ${got.join('+') || 'random'}`,
      l.periodMs ? `P=${l.periodMs / 1000}s` : '',
      JSON.stringify({
        seq: v?.sequential,
        per: v?.periodic,
        cor: v?.correlated.map((c) => [c.key, c.confidence, c.support]),
      }),
    );
  }
}

if (values.mqtt) {
  // The service sees the events, not the end of the trace: compare with the engine at the same time.
  const atLastEvent = replay(trace, cfg, false);
  const views = await serviceViews(trace, atLastEvent.engine.now);
  const differ = disagreements(atLastEvent, views);
  const viaService = score(trace, { ...atLastEvent, final: views }, cfg.burst.windowMs);
  const viaEngine = score(trace, atLastEvent, cfg.burst.windowMs);
  console.log('');
  console.log(
    `through MQTT (embedded aedes, batches of 1000): ${views.size} retained states, ` +
      `${atLastEvent.final.size - differ.length}/${atLastEvent.final.size} keys with the engine's pattern set` +
      (differ.length ? ` (differ: ${differ.slice(0, 5).join(', ')})` : ''),
  );
  console.log(
    `macro-F1 at the last event: service ${pct(viaService.macroF1)}, engine ${pct(viaEngine.macroF1)}`,
  );
  process.exit(differ.length === 0 ? 0 : 1);
}
