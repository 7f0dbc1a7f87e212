/**
 * Worker thread of the engine soak: runs one shape and posts its stats or its failure. The parent watches
 * the shared heartbeat and ends the worker if it stops moving (a synchronous loop that never returns
 * cannot be caught from inside its own thread).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from '../src/config.ts';
import { runShape } from './soak-check.ts';
import { drawShape, Workload } from './soak-shapes.ts';

export interface SoakJob {
  seed: number;
  scale: number;
  /** [beats, events]: bumped by the worker, read by the parent. */
  heartbeat: Int32Array;
}

const job = workerData as SoakJob;
const shape = drawShape(job.seed, loadConfig({ env: {} }).engine, job.scale);
const workload = new Workload(shape);
parentPort?.postMessage({ kind: 'shape', summary: `${shape.summary} actors:${workload.actorSummary}` });
try {
  const stats = runShape(workload, {
    beat(events) {
      Atomics.add(job.heartbeat, 0, 1);
      Atomics.store(job.heartbeat, 1, events);
    },
  });
  parentPort?.postMessage({ kind: 'done', stats });
} catch (err) {
  parentPort?.postMessage({ kind: 'failed', message: err instanceof Error ? err.message : String(err) });
}
