/**
 * The in-process part of the end-to-end benchmark: the same payloads fed straight into patternd's message
 * handler (parse, validate, engine, predictions, publishing queue), against a sink that only JSON-parses
 * them, run side by side in one process. No broker and no socket: what is left is what patternd does per
 * event, and the ratio is the best the end-to-end ratio could be. A third loop feeds the same events,
 * parsed beforehand, to an engine of its own: the engine's share of the handler's time (the rest is
 * validation, predictions, the dashboard's ring and the publishing queue).
 *
 *   npm run bench:handler            (add --quick for a short run)
 */
import { loadConfig } from '../src/config.ts';
import { Engine } from '../src/engine/engine.ts';
import { renderPayloads } from './payloads.ts';
import { startBenchService } from './service.ts';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 7;
const shapes = [
  { name: 'batch×1000', messages: 300, perMessage: 1000 },
  { name: 'single', messages: 60_000, perMessage: 1 },
];

const bench = await startBenchService('aedes');
const topic = `${bench.base}/access/nas`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`message handler vs JSON.parse-only sink, node ${process.version}, median of ${ROUNDS} rounds`);
console.log('payload      sink µs/event   handler µs/event   engine µs/event   sink/handler');
for (const shape of shapes) {
  // Each round's messages are new ones (same keys, later positions): the same payloads again would be
  // taken as redeliveries and dropped.
  const roundPayloads = (round: number) =>
    renderPayloads(shape.messages, shape.perMessage, 7, round * shape.messages).map((p) => Buffer.from(p));
  let payloads = roundPayloads(0);
  const events = shape.messages * shape.perMessage;
  const sink: number[] = [];
  const handler: number[] = [];
  const engineOnly: number[] = [];
  let parsed = 0;
  // The round's events as the engine gets them, one message's worth after another: new ones each round,
  // as for the handler (the same ones again would be late, re-reads of positions the engine has seen).
  const itemsOf = (round: Buffer[]) =>
    round.flatMap((p) => {
      const body = JSON.parse(p.toString('utf8'));
      return Array.isArray(body) ? body : [body];
    });
  let items = itemsOf(payloads);
  const engine = new Engine(loadConfig({ env: {} }).engine);
  const noop = () => {};
  // The first round warms both up; every round alternates them so drift in the machine hits both.
  for (let round = 0; round <= ROUNDS; round++) {
    if (round > 0) {
      payloads = roundPayloads(round);
      items = itemsOf(payloads);
    }
    let t0 = performance.now();
    for (const p of payloads) {
      const body = JSON.parse(p.toString('utf8'));
      parsed += Array.isArray(body) ? body.length : 1;
    }
    const sinkMs = performance.now() - t0;
    t0 = performance.now();
    for (const p of payloads) bench.service.ingest.handle(topic, p);
    const handlerMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < items.length; i++) {
      if (i % shape.perMessage === 0) engine.beginBatch();
      const ev = items[i];
      engine.observe(ev.key, ev.ts, ev.position, ev.size);
      if (i % shape.perMessage === shape.perMessage - 1) engine.drainChanges(noop);
    }
    const engineMs = performance.now() - t0;
    if (round === 0) continue;
    engineOnly.push((engineMs * 1000) / events);
    sink.push((sinkMs * 1000) / events);
    handler.push((handlerMs * 1000) / events);
  }
  if (parsed !== (ROUNDS + 1) * events) throw new Error('the sink lost events');
  if (bench.service.ingest.counters.repeatedMessages > 0)
    throw new Error('patternd took messages for repeats');
  console.log(
    `${shape.name.padEnd(12)} ${median(sink).toFixed(3).padStart(13)}   ${median(handler).toFixed(3).padStart(16)}   ${median(engineOnly).toFixed(3).padStart(15)}   ${(median(sink) / median(handler)).toFixed(2).padStart(12)}`,
  );
}
await bench.stop();
process.exit(0);
