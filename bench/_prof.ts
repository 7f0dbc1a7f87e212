import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { mulberry32 } from './rng.ts';
const nKeys = Number(process.argv[2] ?? 100000);
const n = 1_000_000;
const rnd = mulberry32(7);
const keys = Array.from({ length: nKeys }, (_, i) => `dev${i % 97}/share/folder${i % 1013}/file-${i}.bin`);
const keyIndex = new Uint32Array(n), ts = new Float64Array(n), pos = new Float64Array(n);
const next = new Float64Array(nKeys);
let t = Date.parse('2026-11-01T00:00:00Z');
for (let i = 0; i < n; i++) {
  const k = rnd() < 0.5 ? Math.floor(rnd() * Math.max(1, nKeys / 10)) : Math.floor(rnd() * nKeys);
  keyIndex[i] = k; t += rnd() * 2; ts[i] = t;
  if (k % 3 === 0) { pos[i] = next[k]; next[k] += 65536; } else pos[i] = Math.floor(rnd() * 1e9);
}
const cfg = loadConfig({ env: {}, overrides: { engine: { maxKeys: nKeys } } });
const engine = new Engine(cfg.engine);
const t0 = performance.now();
for (let i = 0; i < n; i++) { engine.observe(keys[keyIndex[i]], ts[i], pos[i], 65536); if ((i & 1023) === 1023) engine.drainChanges(() => {}); }
const ms = performance.now() - t0;
console.log(nKeys, Math.round(n / ms * 1000), 'ev/s');
