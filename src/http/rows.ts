import type { PatternState } from '../engine/types.ts';

const PARTNERS_IN_ROW = 3;

/** One line of the dashboard's key table (and of the SSE `keys` event): the view without the details. */
export function keyRow(view: PatternState) {
  return {
    key: view.key,
    pattern: view.pattern,
    confidence: view.confidence,
    patterns: view.patterns,
    accesses: view.accesses,
    last_ts: view.last_ts,
    period_s: view.periodic?.period_s ?? null,
    partners: view.correlated
      .slice(0, PARTNERS_IN_ROW)
      .map((p) => ({ key: p.key, confidence: p.confidence })),
  };
}

export type KeyRow = ReturnType<typeof keyRow>;

/**
 * The first `k` items of `items` in `compare` order, without sorting them all: a bounded heap whose root
 * is the worst item kept, so n items cost O(n log k).
 */
export function selectTop<T>(items: Iterable<T>, k: number, compare: (a: T, b: T) => number): T[] {
  const heap: T[] = [];
  const worse = (i: number, j: number) => compare(heap[i], heap[j]) > 0;
  const swap = (i: number, j: number) => {
    [heap[i], heap[j]] = [heap[j], heap[i]];
  };
  for (const item of items) {
    if (heap.length < k) {
      heap.push(item);
      for (let i = heap.length - 1; i > 0 && worse(i, (i - 1) >> 1); i = (i - 1) >> 1) swap(i, (i - 1) >> 1);
    } else if (k > 0 && compare(item, heap[0]) < 0) {
      heap[0] = item;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && worse(l, m)) m = l;
        if (r < heap.length && worse(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
  }
  return heap.sort(compare);
}
