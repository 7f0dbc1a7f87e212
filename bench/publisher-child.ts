/**
 * Publisher process for the end-to-end benchmarks: sends `messages` payloads to `topic` with QoS 1 and at
 * most `window` unacknowledged publishes (MQTT.js has no outbound flow control of its own).
 * argv: url topic messages eventsPerMessage window seed [messagesPerSecond]
 * With a rate, it paces itself (background load for the latency benchmark) instead of going flat out.
 */
import mqtt from 'mqtt';
import { payloadRenderer, renderPayloads } from './payloads.ts';

const [url, topic, messagesS, perMessageS, windowS, seedS, rateS] = process.argv.slice(2);
const rate = Number(rateS ?? 0);
const messages = Number(messagesS);
const perMessage = Number(perMessageS);
const window = Number(windowS);
// Flat out, pre-rendered so the publisher's own JSON work does not limit the rate being measured; paced,
// rendered as sent (for as long as the benchmark needs the load).
const payloads = rate > 0 ? [] : renderPayloads(messages, perMessage, Number(seedS));
const render = payloadRenderer(perMessage, Number(seedS));
const client = mqtt.connect(url, { clientId: `bench-pub-${process.pid}`, clean: true, reconnectPeriod: 0 });
client.on('connect', () => {
  process.send?.({ type: 'start' });
  if (rate > 0) {
    let i = 0;
    setInterval(() => {
      for (let k = 0; k < rate / 100; k++) client.publish(topic, render(i++), { qos: 0 });
    }, 10);
    return;
  }
  let sent = 0;
  let acked = 0;
  let out = 0;
  const pump = () => {
    while (out < window && sent < messages) {
      out++;
      client.publish(topic, payloads[sent++], { qos: 1 }, (err) => {
        if (err) throw err;
        out--;
        acked++;
        if (acked === messages) {
          process.send?.({ type: 'done' });
          client.end(false, () => process.exit(0));
        } else if (out < window / 2) setImmediate(pump);
      });
    }
  };
  pump();
});
