/**
 * Engine throughput on pre-parsed events, at 10 k / 100 k / 1 M keys, for two shapes of traffic:
 *   - single reads: each key read once every few seconds to minutes, so most accesses start a session (~86 %
 *     at 100 k keys) — the worst case, since a session start is where the periodic refit and the
 *     correlation credits run;
 *   - sessions of ~8 accesses (a file opened and read), 64 keys in session at a time, interleaved.
 *
 *   npm run bench:engine            (add --quick for a short run; --keys N and --session M run one row,
 *                                    e.g. under --cpu-prof)
 *
 * Baseline, run side by side on the same events: a loop that only looks each key up in a Map and
 * counts it — the least any per-key engine must do. The ratio says what the detectors cost on top.
 */
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { mulberry32 } from './rng.ts';

const quick = process.argv.includes('--quick');
const EVENTS = quick ? 500_000 : 2_000_000;
const argValue = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : undefined;
};
const onlyKeys = argValue('--keys');
const onlySession = argValue('--session');

interface Events {
  keys: string[];
  keyIndex: Uint32Array;
  ts: Float64Array;
  pos: Float64Array;
  size: Float64Array;
}

/**
 * A mix: a third of keys stream sequentially, the rest are read at random offsets; Zipf-ish popularity
 * (half the sessions go to the hottest 10 % of keys). `meanSession`: accesses per session on average
 * (geometric), with `CONCURRENT_SESSIONS` interleaved; 1: single reads of keys picked independently.
 */
const CONCURRENT_SESSIONS = 64;

function makeEvents(nKeys: number, n: number, seed: number, meanSession: number): Events {
  const rnd = mulberry32(seed);
  const keys = Array.from({ length: nKeys }, (_, i) => `dev${i % 97}/share/folder${i % 1013}/file-${i}.bin`);
  const keyIndex = new Uint32Array(n);
  const ts = new Float64Array(n);
  const pos = new Float64Array(n);
  const size = new Float64Array(n);
  const next = new Float64Array(nKeys);
  const inSession = new Uint32Array(CONCURRENT_SESSIONS);
  const left = new Float64Array(CONCURRENT_SESSIONS);
  const pickKey = () =>
    rnd() < 0.5 ? Math.floor(rnd() * Math.max(1, nKeys / 10)) : Math.floor(rnd() * nKeys);
  let t = Date.parse('2026-11-01T00:00:00Z');
  for (let i = 0; i < n; i++) {
    let k: number;
    if (meanSession <= 1) k = pickKey();
    else {
      const s = Math.floor(rnd() * CONCURRENT_SESSIONS);
      if (left[s] <= 0) {
        inSession[s] = pickKey();
        left[s] = Math.ceil(Math.log(1 - rnd()) / Math.log(1 - 1 / meanSession));
      }
      left[s]--;
      k = inSession[s];
    }
    keyIndex[i] = k;
    t += rnd() * 2;
    ts[i] = t;
    if (k % 3 === 0) {
      pos[i] = next[k];
      next[k] += 65536;
    } else {
      pos[i] = Math.floor(rnd() * 1e9);
    }
    size[i] = 65536;
  }
  return { keys, keyIndex, ts, pos, size };
}

/**
 * Feeds the first half of the events untimed, then times the second half on the same engine: "at N keys"
 * means an engine that already tracks them (and has grown its tables), as a running service does. The
 * untimed half also lets V8 compile the hot paths.
 */
function runEngine(ev: Events, nKeys: number): number {
  const cfg = loadConfig({ env: {}, overrides: { engine: { maxKeys: nKeys } } });
  const engine = new Engine(cfg.engine);
  const { keys, keyIndex, ts, pos, size } = ev;
  const half = keyIndex.length >> 1;
  let t0 = 0;
  for (let i = 0; i < keyIndex.length; i++) {
    if (i === half) t0 = performance.now();
    engine.observe(keys[keyIndex[i]], ts[i], pos[i], size[i]);
    // The service drains changes after every message; do the same per 1000 events (a batch).
    if ((i & 1023) === 1023) engine.drainChanges(noop);
  }
  return performance.now() - t0;
}

/** The same halves into a Map that only counts. */
function runBaseline(ev: Events): number {
  const counts = new Map<string, number>();
  const { keys, keyIndex } = ev;
  const half = keyIndex.length >> 1;
  let t0 = 0;
  for (let i = 0; i < keyIndex.length; i++) {
    if (i === half) t0 = performance.now();
    const k = keys[keyIndex[i]];
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return performance.now() - t0;
}

function noop() {}

console.log(
  `engine throughput, ${EVENTS.toLocaleString()} events timed per run after as many untimed, node ${process.version}`,
);
for (const meanSession of onlySession ? [onlySession] : [1, 8]) {
  console.log(
    meanSession === 1
      ? '\nsingle reads (most accesses start a session)'
      : `\nsessions of ~${meanSession} accesses, ${CONCURRENT_SESSIONS} at a time`,
  );
  console.log('keys       engine ev/s   µs/event   baseline ev/s   engine/baseline');
  for (const nKeys of onlyKeys ? [onlyKeys] : [10_000, 100_000, 1_000_000]) {
    const ev = makeEvents(nKeys, 2 * EVENTS, 42 + nKeys, meanSession);
    const base = runBaseline(ev);
    const eng = runEngine(ev, nKeys);
    const evps = EVENTS / (eng / 1000);
    const baseEvps = EVENTS / (base / 1000);
    console.log(
      `${String(nKeys).padEnd(10)} ${Math.round(evps).toLocaleString().padStart(12)}   ${((eng * 1000) / EVENTS).toFixed(3).padStart(8)}   ${Math.round(baseEvps).toLocaleString().padStart(13)}   ${(evps / baseEvps).toFixed(3).padStart(8)}`,
    );
  }
}
