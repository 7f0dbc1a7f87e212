/**
 * Memory per tracked key, at 100 k and 1 M keys: heap (incl. typed arrays) and RSS, measured in a fresh
 * process per size after a full GC, against the same process before any key existed (the baseline).
 *
 *   npm run bench:memory
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { type EngineSizes, memoryBudget } from '../src/memory.ts';

const self = fileURLToPath(import.meta.url);
const keyOf = (i: number) => `nas/share/folder-${i % 1000}/file-${i}.bin`;

/** What the memory budget counts per key for what this benchmark holds: engine rows and key strings. */
function budgetPerKey(n: number, engine: EngineSizes, keyChars: number): number {
  const config = loadConfig({ env: {}, overrides: { engine: { maxKeys: n } } });
  const terms = memoryBudget(config, { rss: 0, heapUsed: 0 }, engine, keyChars).terms;
  const sum = (names: string[]) =>
    terms.filter((t) => names.includes(t.name)).reduce((s, t) => s + t.bytes, 0);
  return sum(['engine rows', 'key strings']) / n;
}

async function measure(n: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  const before = process.memoryUsage();
  const engine = new Engine(loadConfig({ env: {}, overrides: { engine: { maxKeys: n } } }).engine);
  let t = Date.parse('2026-11-01T00:00:00Z');
  for (let round = 0; round < 3; round++) {
    // Key strings are built per event, as parsing a message would; the engine keeps one copy per key.
    for (let i = 0; i < n; i++) {
      t += 1;
      engine.observe(keyOf(i), t, i * 4096 + round * 4096, 4096);
    }
    engine.drainChanges(() => {});
  }
  gc();
  // Settle: a single forced GC sometimes leaves ~20 MB of the rounds' garbage counted (bimodal figures
  // at 100 k keys, 1.0 vs 1.2 KB per key, run to run); after a pause and a second GC they agree.
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  const after = process.memoryUsage();
  const heap = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
  const rss = after.rss - before.rss;
  process.stdout.write(
    JSON.stringify({
      n,
      heapPerKey: heap / n,
      rssPerKey: rss / n,
      rowBytes: engine.rowBytes,
      slotBytes: engine.slotBytes,
      keys: engine.keys.size,
      keyChars: keyOf(n - 1).length,
    }),
  );
}

if (process.argv[2] === '--child') {
  await measure(Number(process.argv[3]));
} else {
  console.log(
    'keys        heap+buffers B/key   RSS B/key   state row B/key   budget B/key   (keys ~35 characters, included)',
  );
  for (const n of [100_000, 1_000_000]) {
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', self, '--child', String(n)],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      },
    );
    const r = JSON.parse(out);
    console.log(
      `${String(n).padEnd(10)} ${Math.round(r.heapPerKey).toString().padStart(20)}   ${Math.round(r.rssPerKey).toString().padStart(9)}   ${String(r.rowBytes).padStart(15)}   ${Math.round(
        budgetPerKey(n, r, r.keyChars),
      )
        .toString()
        .padStart(12)}`,
    );
  }
}
