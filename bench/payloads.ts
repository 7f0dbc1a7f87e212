/**
 * Access payloads as the end-to-end benchmarks publish them: `perMessage` events per message (a batch, or a
 * single event object when 1) over 2,000 keys of one share, read at 4 KiB positions, stamped with the time
 * they were rendered. Every payload is a new message: patternd drops a message it has just taken (a
 * redelivery), so payloads sent again would measure that instead of the work on new events.
 */
import { mulberry32 } from './rng.ts';

/** Renders payload `i` of a sequence, stamped now. */
export function payloadRenderer(perMessage: number, seed: number): (i: number) => string {
  const rnd = mulberry32(seed);
  return (i) => {
    const t = Date.now();
    const events = [];
    for (let j = 0; j < perMessage; j++) {
      const k = Math.floor(rnd() * 2000);
      events.push({
        key: `nas/share/file-${k}.bin`,
        ts: t,
        position: (i * perMessage + j) * 4096,
        size: 4096,
        op: 'read',
      });
    }
    return JSON.stringify(perMessage === 1 ? events[0] : events);
  };
}

/** `count` payloads rendered ahead, so that building them is not part of what is measured. */
export function renderPayloads(count: number, perMessage: number, seed: number, first = 0): string[] {
  const render = payloadRenderer(perMessage, seed);
  return Array.from({ length: count }, (_, i) => render(first + i));
}
