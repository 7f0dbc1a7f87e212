import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../bench/rng.ts';
import { layoutOf, RowTable, rowMigration, type Schema } from '../../src/engine/table.ts';

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

  it('reads rows of an earlier layout field by field: kept, converted, new at zero, a resized section anew', () => {
    const before = { when: ['f64', 1], rate: ['f64', 1], gone: ['u16', 1], count: ['u32', 1] } as const;
    const ring = { head: ['u8', 1], ring: ['u32', 4] } as const;
    const after = { count: ['u32', 1], when: ['f64', 1], rate: ['f32', 1], fresh: ['f32', 1] } as const;
    const longer = { head: ['u8', 1], ring: ['u32', 8] } as const;
    const extra = { level: ['f32', 1] } as const;
    const old = new RowTable([before, ring], 1);
    const at = old.fieldsOf(before);
    old.f64[at.when] = 1_796_593_117_441.5;
    old.f64[at.rate] = 0.125;
    old.u16[at.gone] = 7;
    old.u32[at.count] = 4_000_000_000;
    old.u8[old.fieldsOf(ring).head] = 3;
    const stored = new Uint8Array(old.section(before).rowBytes + old.section(ring).rowBytes);
    old.section(ring).writeRow(0, stored, old.section(before).writeRow(0, stored, 0));

    // A section added in front, the others matched by name.
    const migration = rowMigration(
      layoutOf([
        ['main', before],
        ['ring', ring],
      ]),
      [
        ['extra', extra],
        ['main', after],
        ['ring', longer],
      ],
    );
    expect(migration).not.toBeNull();
    if (!migration) return;
    expect(migration.dropped).toEqual(['main.gone']);
    expect(migration.added).toEqual(['extra.level', 'main.fresh', 'ring.head', 'ring.ring']);
    expect(migration.reset).toEqual(['ring']);
    const row = migration.convert(stored);
    expect(row).not.toBeNull();
    const now = new RowTable([extra, after, longer], 1);
    let offset = 0;
    for (const schema of [extra, after, longer])
      offset = now.section(schema).readRow(0, row ?? stored, offset);
    const na = now.fieldsOf(after);
    expect(now.f64[na.when]).toBe(1_796_593_117_441.5);
    expect(now.f32[na.rate]).toBe(0.125);
    expect(now.u32[na.count]).toBe(4_000_000_000);
    expect(now.f32[na.fresh]).toBe(0);
    expect(now.f32[now.fieldsOf(extra).level]).toBe(0);
    expect(now.u8[now.fieldsOf(longer).head]).toBe(0);
    // A row of another length is not of that layout.
    expect(migration.convert(stored.subarray(1))).toBeNull();
    // A section dropped: its fields are.
    expect(rowMigration(layoutOf([['main', before]]), [])?.dropped).toHaveLength(4);
    expect(rowMigration('when:f64', [['main', after]])).toBeNull();
  });

  it('reads layouts written before sections had names by position, as many sections as there are', () => {
    const before = { when: ['f64', 1], count: ['u32', 1] } as const;
    const after = { count: ['u32', 1], when: ['f64', 1] } as const;
    const stored = new Uint8Array(12);
    const view = new DataView(stored.buffer);
    view.setFloat64(0, 12.5, true);
    view.setUint32(8, 9, true);
    const unnamed = 'when:f641,count:u321';
    const row = rowMigration(unnamed, [['main', after]])?.convert(stored);
    expect(row && new DataView(row.buffer).getUint32(0, true)).toBe(9);
    expect(row && new DataView(row.buffer).getFloat64(4, true)).toBe(12.5);
    expect(rowMigration(unnamed, [])).toBeNull();
    expect(
      rowMigration(unnamed, [
        ['main', after],
        ['other', before],
      ]),
    ).toBeNull();
  });

  it('does not wrap a value the new kind cannot hold: the field starts at zero', () => {
    const from = { n: ['f64', 3] } as const;
    const to = { n: ['u8', 3] } as const;
    const stored = new Uint8Array(24);
    const view = new DataView(stored.buffer);
    for (const [i, v] of [200, 300, 2.5].entries()) view.setFloat64(8 * i, v, true);
    const row = rowMigration(layoutOf([['n', from]]), [['n', to]])?.convert(stored);
    expect(row && [...row]).toEqual([200, 0, 0]);
  });
});
