/**
 * The accuracy trace through the real service: patternd on the embedded broker, the events published as
 * MQTT batches of 1000 by a client, the retained pattern states collected by a subscriber — compared key
 * by key with the pure engine fed the same events, and scored the same way.
 *
 *   npm run bench:accuracy -- --mqtt
 */
import mqtt from 'mqtt';
import type { PatternState } from '../src/engine/types.ts';
import type { Replay } from './replay.ts';
import { startBenchService } from './service.ts';
import type { Trace } from './workloads.ts';

const BATCH = 1000;

export async function serviceViews(
  trace: Trace,
  engineTimeAtEnd: number,
): Promise<Map<string, PatternState>> {
  const bench = await startBenchService('aedes');
  const client = await mqtt.connectAsync(bench.url, { reconnectPeriod: 0 });
  const topic = `${bench.base}/access/bench`;
  for (let from = 0; from < trace.n; from += BATCH) {
    const batch = [];
    for (let i = from; i < Math.min(trace.n, from + BATCH); i++) {
      const ev: Record<string, unknown> = { key: trace.keyNames[trace.key[i]], ts: trace.ts[i] };
      if (!Number.isNaN(trace.pos[i])) ev.position = trace.pos[i];
      if (trace.size[i] > 0) ev.size = trace.size[i];
      batch.push(ev);
    }
    await client.publishAsync(topic, JSON.stringify(batch), { qos: 1 });
  }
  while (bench.service.ingest.counters.events + bench.service.ingest.counters.rejectedEvents < trace.n) {
    await new Promise((r) => setTimeout(r, 20));
  }
  if (bench.service.engine.now !== engineTimeAtEnd)
    throw new Error('service and engine disagree on engine time');
  // Every key's latest view is published within the publish interval; then read the retained states.
  await new Promise((r) => setTimeout(r, bench.service.config.mqtt.publishIntervalMs + 500));
  const views = new Map<string, PatternState>();
  client.on('message', (_t, payload) => {
    if (payload.length === 0) return;
    const state = JSON.parse(payload.toString()) as PatternState;
    views.set(state.key, state);
  });
  await client.subscribeAsync(`${bench.base}/pattern/#`, { qos: 1 });
  const expected = bench.service.engine.keys.size;
  for (let waited = 0; views.size < expected && waited < 10_000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
  }
  await client.endAsync();
  await bench.stop();
  return views;
}

/** Keys whose pattern set differs between the service's retained state and the pure engine's view. */
export function disagreements(engine: Replay, service: Map<string, PatternState>): string[] {
  const out: string[] = [];
  for (const [key, view] of engine.final) {
    const s = service.get(key);
    if (!s || s.patterns.join() !== view.patterns.join()) out.push(key);
  }
  return out;
}
