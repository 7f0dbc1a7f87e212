import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../bench/rng.ts';
import { RowTable, type Schema } from '../../src/engine/table.ts';

/**
 * The engine's state row: every field aligned, sections apart, and a section's snapshot bytes independent
 * of where the row places its fields.
 */
const a = { big: ['f64', 2], small: ['u8', 3], mid: ['f32', 1], word: ['u32', 2], half: ['u16', 1] } as const;
const b = { flag: ['u8', 1], when: ['f64', 1], count: ['i32', 3] } as const;

/** Fills field `f` of `slot` through the row's views with seeded values that fit its type. */
function fill(row: RowTable, schema: Schema, slot: number, rnd: () => number): void {
  const at = row.fieldsOf(schema);
  const r8 = slot * row.stride8;
  for (const [f, [kind, width]] of Object.entries(schema)) {
    for (let i = 0; i < width; i++) {
      const v = rnd();
      if (kind === 'f64') row.f64[r8 + at[f] + i] = v * 1e12;
      else if (kind === 'f32') row.f32[2 * r8 + at[f] + i] = v;
      else if (kind === 'u32') row.u32[2 * r8 + at[f] + i] = Math.floor(v * 2 ** 32);
      else if (kind === 'i32') row.i32[2 * r8 + at[f] + i] = Math.floor(v * 2 ** 31) - 2 ** 30;
      else if (kind === 'u16') row.u16[4 * r8 + at[f] + i] = Math.floor(v * 65536);
      else row.u8[8 * r8 + at[f] + i] = Math.floor(v * 256);
    }
  }
}

describe('row table', () => {
  it('aligns every field and keeps sections apart', () => {
    const row = new RowTable([a, b], 4);
    expect(row.stride8 * 8).toBeGreaterThanOrEqual(16 + 3 + 4 + 8 + 2 + 1 + 8 + 12);
    expect(row.slotBytes % 8).toBe(0);
    // Writing every field of slot 1 leaves slots 0 and 2 untouched (no field spills past its row).
    fill(row, a, 1, mulberry32(1));
    fill(row, b, 1, mulberry32(2));
    const bytes = row.stride8 * 8;
    expect(row.u8.subarray(0, bytes).every((x) => x === 0)).toBe(true);
    expect(row.u8.subarray(2 * bytes, 3 * bytes).every((x) => x === 0)).toBe(true);
  });

  it('stores a section as its fields in schema order, little-endian, unpadded, and reads it back', () => {
    const row = new RowTable([a, b], 8);
    const rnd = mulberry32(3);
    for (let slot = 0; slot < 8; slot++) {
      fill(row, a, slot, rnd);
      fill(row, b, slot, rnd);
    }
    const section = row.section(a);
    const at = row.fieldsOf(a);
    expect(section.rowBytes).toBe(16 + 3 + 4 + 8 + 2);
    for (let slot = 0; slot < 8; slot++) {
      const stored = new Uint8Array(section.rowBytes);
      expect(section.writeRow(slot, stored, 0)).toBe(section.rowBytes);
      const view = new DataView(stored.buffer);
      const r8 = slot * row.stride8;
      expect(view.getFloat64(0, true)).toBe(row.f64[r8 + at.big]);
      expect(view.getFloat64(8, true)).toBe(row.f64[r8 + at.big + 1]);
      for (let i = 0; i < 3; i++) expect(stored[16 + i]).toBe(row.u8[8 * r8 + at.small + i]);
      expect(view.getFloat32(19, true)).toBe(row.f32[2 * r8 + at.mid]);
      expect(view.getUint32(23, true)).toBe(row.u32[2 * r8 + at.word]);
      expect(view.getUint32(27, true)).toBe(row.u32[2 * r8 + at.word + 1]);
      expect(view.getUint16(31, true)).toBe(row.u16[4 * r8 + at.half]);
      // Into a row of another layout (other sections around it) and out again: the same bytes.
      const other = new RowTable([b, a], 8);
      other.section(a).readRow(slot, stored, 0);
      const again = new Uint8Array(section.rowBytes);
      other.section(a).writeRow(slot, again, 0);
      expect(again).toEqual(stored);
    }
  });

  it('keeps rows when it grows and clears one row only', () => {
    const row = new RowTable([a, b], 2);
    fill(row, a, 0, mulberry32(4));
    fill(row, a, 1, mulberry32(5));
    const before = row.u8.slice(0, 2 * row.slotBytes);
    row.grow(1024);
    expect(row.capacity).toBe(1024);
    expect(row.u8.subarray(0, 2 * row.slotBytes)).toEqual(before);
    row.clear(0);
    expect(row.u8.subarray(0, row.slotBytes).every((x) => x === 0)).toBe(true);
    expect(row.u8.subarray(row.slotBytes, 2 * row.slotBytes)).toEqual(before.subarray(row.slotBytes));
  });

  it('refuses a schema that is not one of its sections', () => {
    expect(() => new RowTable([a], 1).fieldsOf(b)).toThrow(/not a section/);
  });
});
