/**
 * Latency from publishing an event that changes a key's pattern set to its retained state reaching a
 * subscriber, while background load runs at ~10 k events/s — on the embedded aedes and through Mosquitto.
 * Baseline, side by side: the same probe published to a topic the subscriber receives directly (the
 * broker's own round trip); the difference is patternd's share.
 *
 *   npm run bench:latency
 */
import { fork } from 'node:child_process';
import type net from 'node:net';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { PACKAGE_ROOT } from '../src/paths.ts';
import { startBenchService } from './service.ts';

const PROBES = 300;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function connect(url: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, {
    reconnectPeriod: 0,
    clientId: `lat-${Math.random().toString(36).slice(2, 8)}`,
  });
  // The probe measures patternd, not Nagle on the probe's own socket.
  (c.stream as net.Socket).setNoDelay?.(true);
  return c;
}

async function probe(
  url: string,
  publishTopic: (i: number) => string,
  expectTopic: (i: number) => string,
  payload: (i: number) => string,
) {
  const c = await connect(url);
  const waiting = new Map<string, (t: number) => void>();
  c.on('message', (topic, p) => {
    if (p.length === 0) return;
    waiting.get(topic)?.(performance.now());
  });
  await c.subscribeAsync(expectTopic(-1).replace(/[^/]+$/, '#'), { qos: 0 });
  const samples: number[] = [];
  for (let i = 0; i < PROBES; i++) {
    const topic = expectTopic(i);
    const got = new Promise<number>((resolve) => waiting.set(topic, resolve));
    const t0 = performance.now();
    c.publish(publishTopic(i), payload(i), { qos: 0 });
    samples.push((await got) - t0);
    waiting.delete(topic);
    await new Promise((r) => setTimeout(r, 10));
  }
  await c.endAsync(true);
  return samples;
}

async function run(kind: 'aedes' | 'mosquitto') {
  const bench = await startBenchService(kind);
  const { service, base, url } = bench;
  // Background load: 100 messages/s of 100 events = 10 k events/s, for as long as the probes run.
  const load = fork(
    path.join(PACKAGE_ROOT, 'bench', 'publisher-child.ts'),
    [url, `${base}/access/load`, '100000', '100', '10', '3', '100'],
    {
      execArgv: ['--import', 'tsx'],
    },
  );
  await new Promise((r) => setTimeout(r, 1000));
  const eventsBefore = service.ingest.counters.events;
  const t0 = performance.now();
  const direct = await probe(
    url,
    (i) => `${base}/echo/p${i}`,
    (i) => `${base}/echo/p${i}`,
    () => 'x',
  );
  const ours = await probe(
    url,
    () => `${base}/access/probe`,
    (i) => `${base}/pattern/${encodeURIComponent(`probe/${i}`)}`,
    (i) => JSON.stringify({ key: `probe/${i}`, position: 0 }),
  );
  const rate = (service.ingest.counters.events - eventsBefore) / ((performance.now() - t0) / 1000);
  load.kill();
  await bench.stop();
  const f = (x: number) => x.toFixed(2).padStart(7);
  console.log(
    `${kind.padEnd(10)} ${Math.round(rate).toLocaleString().padStart(8)}   ${f(quantile(direct, 0.5))} ${f(quantile(direct, 0.99))}   ${f(quantile(ours, 0.5))} ${f(quantile(ours, 0.99))}`,
  );
}

console.log('latency in ms (probe → retained state reaches a subscriber), with background load');
console.log('broker     load ev/s   broker-only p50     p99   patternd p50     p99');
await run('aedes');
await run('mosquitto');
process.exit(0);
