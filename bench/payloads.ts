/**
 * Access payloads as the end-to-end benchmarks publish them: `perMessage` events per message (a batch, or a
 * single event object when 1) over 2,000 keys of one share, read at 4 KiB positions, stamped with the time
 * they were rendered. Rendered ahead, so that building them is not part of what is measured.
 */
import { mulberry32 } from './rng.ts';

export function renderPayloads(count: number, perMessage: number, seed: number): string[] {
  const rnd = mulberry32(seed);
  const payload = (i: number): string => {
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
  return Array.from({ length: count }, (_, i) => payload(i));
}
