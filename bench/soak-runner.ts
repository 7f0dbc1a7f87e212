/**
 * Runs soak shapes in worker threads and watches them: a worker whose heartbeat stops for `stallMs` is
 * terminated and reported as a hang, with the seed that reproduces it.
 */
import { Worker } from 'node:worker_threads';
import type { SoakStats } from './soak-check.ts';
import type { SoakJob } from './soak-worker.ts';

export interface SoakOutcome {
  seed: number;
  scale: number;
  summary: string;
  ms: number;
  events: number;
  stats?: SoakStats;
  /** Why the shape failed (an invariant, an exception, a stall); undefined when it passed. */
  failure?: string;
}

export interface SoakOptions {
  scale: number;
  stallMs: number;
}

export function soakSeed(seed: number, opts: SoakOptions): Promise<SoakOutcome> {
  const heartbeat = new Int32Array(new SharedArrayBuffer(8));
  const job: SoakJob = { seed, scale: opts.scale, heartbeat };
  const started = performance.now();
  // tsx's loader is registered inside the worker before its TypeScript entry is imported (an entry
  // given as a .ts file is resolved before `--import tsx` could apply to it on Node 20).
  const entry = JSON.stringify(new URL('./soak-worker.ts', import.meta.url).href);
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${entry}); });`;
  const worker = new Worker(boot, { eval: true, workerData: job });
  const outcome: SoakOutcome = { seed, scale: opts.scale, summary: '', ms: 0, events: 0 };
  return new Promise((resolve) => {
    let lastBeat = -1;
    let lastMove = performance.now();
    let finished = false;
    const finish = (failure?: string) => {
      if (finished) return;
      finished = true;
      clearInterval(watch);
      outcome.ms = performance.now() - started;
      outcome.events = outcome.stats?.events ?? Atomics.load(heartbeat, 1);
      if (failure !== undefined) outcome.failure = failure;
      void worker.terminate();
      resolve(outcome);
    };
    const watch = setInterval(() => {
      const beat = Atomics.load(heartbeat, 0);
      if (beat !== lastBeat) {
        lastBeat = beat;
        lastMove = performance.now();
      } else if (performance.now() - lastMove > opts.stallMs) {
        finish(`stalled: no progress for ${opts.stallMs} ms at event ${Atomics.load(heartbeat, 1)}`);
      }
    }, 100);
    worker.on('message', (m: { kind: string; summary?: string; stats?: SoakStats; message?: string }) => {
      if (m.kind === 'shape') outcome.summary = m.summary ?? '';
      else if (m.kind === 'done') {
        outcome.stats = m.stats;
        finish();
      } else if (m.kind === 'failed') finish(m.message);
    });
    worker.on('error', (err) => finish(`worker error: ${err.stack ?? err.message}`));
    worker.on('exit', (code) => finish(`worker exited with code ${code} before reporting`));
  });
}

/** The command line that replays one shape. */
export function reproduction(o: SoakOutcome): string {
  const scale = o.scale === 1 ? '' : ` --scale ${o.scale}`;
  return `node --import tsx bench/soak.ts --seed ${o.seed} --shapes 1${scale}`;
}
