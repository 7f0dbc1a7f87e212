import { startBenchService } from './service.ts';
import { mulberry32 } from './rng.ts';
const rnd = mulberry32(7);
const nkeys = Number(process.argv[2] ?? 2000);
function payload(i: number): Buffer {
  const t = Date.now();
  const events = [];
  for (let j = 0; j < 1000; j++) {
    const k = Math.floor(rnd() * nkeys);
    events.push({ key: `nas/share/file-${k}.bin`, ts: t + i, position: (i * 1000 + j) * 4096, size: 4096, op: 'read' });
  }
  return Buffer.from(JSON.stringify(events));
}
const payloads = Array.from({ length: 300 }, (_, i) => payload(i));
const b = await startBenchService('aedes');
const topic = `${b.base}/access/nas`;
const N = Number(process.argv[3] ?? 600);
let t0 = performance.now();
let n = 0;
for (let i = 0; i < N; i++) { const body = JSON.parse(payloads[i % 300].toString('utf8')); n += body.length; await new Promise((r) => setImmediate(r)); }
const sink = performance.now() - t0;
t0 = performance.now();
for (let i = 0; i < N; i++) { b.service.ingest.handle(topic, payloads[i % 300]); await new Promise((r) => setImmediate(r)); }
const ours = performance.now() - t0;
console.log('sink', Math.round(N * 1000 / sink * 1000), 'ours', Math.round(N * 1000 / ours * 1000), 'ratio', (sink / ours).toFixed(2));
await b.stop();
process.exit(0);
