import { describe, expect, it } from 'vitest';
import { RecentAccesses } from '../../src/http/recent.ts';
import { selectTop } from '../../src/http/rows.ts';

describe('recent-access ring', () => {
  it('keeps the latest accesses of all keys, oldest first per key, within its capacity', () => {
    const ring = new RecentAccesses(100);
    for (let i = 0; i < 250; i++) ring.push(i % 2 ? 'odd' : 'even', 1000 + i, i % 5 === 0 ? Number.NaN : i);
    const odd = ring.of('odd', 0, 1000);
    expect(odd.accesses).toHaveLength(50);
    expect(odd.accesses[0]).toEqual({ ts: 1151, position: 151 });
    expect(odd.accesses.at(-1)).toEqual({ ts: 1249, position: 249 });
    expect(odd.since_ts).toBe(1150);
    expect(ring.of('even', 0, 1000).accesses.find((a) => a.ts === 1240)?.position).toBeNull();
    expect(ring.of('odd', 0, 3).accesses.map((a) => a.ts)).toEqual([1245, 1247, 1249]);
    expect(ring.of('odd', 1240, 1000).accesses[0].ts).toBe(1241);
    expect(new RecentAccesses(10).of('none', 0, 10)).toEqual({ accesses: [], since_ts: null });
  });
});

describe('selectTop', () => {
  it('returns the first k in order, as a full sort would', () => {
    const values = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1009);
    const byValue = (a: number, b: number) => a - b;
    for (const k of [0, 1, 10, 999, 1000, 2000]) {
      expect(selectTop(values, k, byValue)).toEqual([...values].sort(byValue).slice(0, k));
    }
  });
});
