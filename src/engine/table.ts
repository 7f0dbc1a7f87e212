/**
 * Typed-array storage for per-key state.
 *
 * State is declared once as a schema (`{ lastPos: ['f64', 1], ring: ['f64', 8] }`) and kept in typed arrays
 * indexed by the key's slot instead of one object per key: no per-event allocation, no GC pressure at a
 * million keys, and a key's bytes can be copied as they are into a snapshot. Two layouts: `RowTable`
 * (the engine's state, one row per key) and `Table` (a column per field, for state read a field at a
 * time: the predictor's and the publisher's).
 */
const CTORS = {
  f64: Float64Array,
  f32: Float32Array,
  u32: Uint32Array,
  i32: Int32Array,
  u16: Uint16Array,
  u8: Uint8Array,
} as const;

export type ColumnKind = keyof typeof CTORS;
export type Schema = Record<string, readonly [ColumnKind, number]>;
type ArrayOf<K extends ColumnKind> = InstanceType<(typeof CTORS)[K]>;
export type Columns<S extends Schema> = { [F in keyof S]: ArrayOf<S[F][0]> };
type AnyArray = ArrayOf<ColumnKind>;

/** A part of a key's stored state: a snapshot row is these parts' bytes, in a fixed order. */
export interface StoredFields {
  readonly schema: Schema;
  readonly rowBytes: number;
  /** Copies one row into `out` at `offset`; returns the offset after it. */
  writeRow(slot: number, out: Uint8Array, offset: number): number;
  /** Inverse of `writeRow`. */
  readRow(slot: number, input: Uint8Array, offset: number): number;
}

export class Table<S extends Schema> {
  /** The columns; re-read after `grow` (arrays are replaced). */
  c: Columns<S>;
  capacity: number;
  private readonly fields: (keyof S & string)[];
  /** Bytes one row occupies across all columns. */
  readonly rowBytes: number;

  constructor(
    readonly schema: S,
    capacity: number,
  ) {
    this.fields = Object.keys(schema) as (keyof S & string)[];
    this.capacity = capacity;
    this.c = {} as Columns<S>;
    let bytes = 0;
    for (const f of this.fields) {
      const [kind, width] = schema[f];
      this.c[f] = new CTORS[kind](capacity * width) as Columns<S>[typeof f];
      bytes += CTORS[kind].BYTES_PER_ELEMENT * width;
    }
    this.rowBytes = bytes;
  }

  grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    for (const f of this.fields) {
      const [kind, width] = this.schema[f];
      const next = new CTORS[kind](capacity * width);
      next.set(this.c[f] as AnyArray as never);
      this.c[f] = next as Columns<S>[typeof f];
    }
    this.capacity = capacity;
  }

  /** Resets a row to zeros (a freed or reused slot must not inherit its predecessor's state). */
  clear(slot: number): void {
    for (const f of this.fields) {
      const width = this.schema[f][1];
      (this.c[f] as AnyArray).fill(0, slot * width, slot * width + width);
    }
  }
}

/** A stored part of a key's row, by the name it has in the layout. */
export type NamedSection = readonly [name: string, schema: Schema];

/**
 * The stored layout of a snapshot row made of `sections`: each section's name and its fields' names, kinds
 * and element counts, in stored order (`periodic{count:u321,starts:u3248,…}|burst{…}`). Saved with every
 * snapshot, so a later version can find each field again (`rowMigration`).
 */
export function layoutOf(sections: readonly NamedSection[]): string {
  return sections
    .map(
      ([name, schema]) =>
        `${name}{${Object.entries(schema)
          .map(([field, [kind, width]]) => `${field}:${kind}${width}`)
          .join(',')}}`,
    )
    .join('|');
}

/** What reading rows of an earlier layout into the current one keeps and loses. */
export interface RowMigration {
  /** The row in the current layout, or null if `row` is not of the earlier layout's length. */
  convert(row: Uint8Array): Uint8Array | null;
  /** Fields (`section.field`) that start at zero: new, or of a section that starts over. */
  added: string[];
  /** Fields of the earlier layout that are no longer kept. */
  dropped: string[];
  /** Sections whose element counts changed: they start over whole (their fields depend on each other). */
  reset: string[];
}

interface StoredField {
  name: string;
  kind: ColumnKind;
  width: number;
  /** Byte offset in the stored row. */
  offset: number;
}

interface StoredSection {
  /** '' in layouts written before sections had names (stop 19): those are matched by position. */
  name: string;
  fields: StoredField[];
}

/** The sections of a stored layout; null if it is not one `layoutOf` writes or wrote. */
function parseLayout(layout: string): StoredSection[] | null {
  let offset = 0;
  const sections: StoredSection[] = [];
  for (const section of layout === '' ? [] : layout.split('|')) {
    const named = /^(\w+)\{(.*)\}$/.exec(section);
    const list = named ? named[2] : section;
    const fields: StoredField[] = [];
    for (const field of list === '' ? [] : list.split(',')) {
      const m = /^([^:{}]+):(f64|f32|u32|i32|u16|u8)(\d+)$/.exec(field);
      if (!m) return null;
      const kind = m[2] as ColumnKind;
      const width = Number(m[3]);
      fields.push({ name: m[1], kind, width, offset });
      offset += CTORS[kind].BYTES_PER_ELEMENT * width;
    }
    sections.push({ name: named ? named[1] : '', fields });
  }
  return sections;
}

const INTEGER_RANGE: Record<ColumnKind, [number, number] | null> = {
  f64: null,
  f32: null,
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
  u16: [0, 0xffff],
  u8: [0, 0xff],
};

function readElement(view: DataView, kind: ColumnKind, at: number): number {
  switch (kind) {
    case 'f64':
      return view.getFloat64(at, true);
    case 'f32':
      return view.getFloat32(at, true);
    case 'u32':
      return view.getUint32(at, true);
    case 'i32':
      return view.getInt32(at, true);
    case 'u16':
      return view.getUint16(at, true);
    case 'u8':
      return view.getUint8(at);
  }
}

function writeElement(view: DataView, kind: ColumnKind, at: number, value: number): void {
  const range = INTEGER_RANGE[kind];
  // A value the new kind cannot hold is not carried over wrapped or truncated: the field starts at zero.
  if (range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])) return;
  switch (kind) {
    case 'f64':
      return view.setFloat64(at, value, true);
    case 'f32':
      return view.setFloat32(at, value, true);
    case 'u32':
      return view.setUint32(at, value, true);
    case 'i32':
      return view.setInt32(at, value, true);
    case 'u16':
      return view.setUint16(at, value, true);
    case 'u8':
      return view.setUint8(at, value);
  }
}

/**
 * Reads rows stored under an earlier `layout` into the layout of `sections`, so that an upgrade which adds,
 * drops or retypes a field, or adds or drops a detector's section, keeps what every other field has learned
 * (a weekly schedule takes weeks to learn again). Sections are matched by name (by position in layouts
 * written before they had names, which then must have as many), fields by name within their section: the
 * same kind and count are copied, another kind is converted value by value, a new field or section starts
 * at zero. A section whose fields changed their element counts starts over whole, since its fields depend on
 * each other (a ring and its count). Null when nothing can be matched safely. So a field or section whose
 * meaning changes must get a new name.
 */
export function rowMigration(layout: string, sections: readonly NamedSection[]): RowMigration | null {
  const from = parseLayout(layout);
  const to = parseLayout(layoutOf(sections));
  if (!from || !to) return null;
  const positional = from.some((s) => s.name === '');
  if (positional && from.length !== to.length) return null;
  const bytesOf = (all: StoredSection[]) =>
    all.reduce((n, s) => n + s.fields.reduce((m, f) => m + CTORS[f.kind].BYTES_PER_ELEMENT * f.width, 0), 0);
  const fromBytes = bytesOf(from);
  const toBytes = bytesOf(to);
  const moves: { from: StoredField; to: StoredField }[] = [];
  const migration: RowMigration = { convert: () => null, added: [], dropped: [], reset: [] };
  const matched = new Set<StoredSection>();
  for (const [i, section] of to.entries()) {
    const earlier = positional ? from[i] : from.find((s) => s.name === section.name);
    if (earlier) matched.add(earlier);
    const old = new Map((earlier?.fields ?? []).map((f) => [f.name, f]));
    const resized = section.fields.some((f) => {
      const o = old.get(f.name);
      return o !== undefined && o.width !== f.width;
    });
    if (resized) migration.reset.push(section.name);
    for (const f of section.fields) {
      const o = old.get(f.name);
      if (o && !resized) moves.push({ from: o, to: f });
      else migration.added.push(`${section.name}.${f.name}`);
    }
    const kept = new Set(section.fields.map((f) => f.name));
    for (const o of old.values()) if (!kept.has(o.name)) migration.dropped.push(`${section.name}.${o.name}`);
  }
  for (const s of from)
    if (!matched.has(s)) for (const f of s.fields) migration.dropped.push(`${s.name}.${f.name}`);
  migration.convert = (row) => {
    if (row.length !== fromBytes) return null;
    const out = new Uint8Array(toBytes);
    const input = new DataView(row.buffer, row.byteOffset, row.length);
    const output = new DataView(out.buffer);
    for (const { from: o, to: f } of moves) {
      if (o.kind === f.kind) {
        out.set(row.subarray(o.offset, o.offset + CTORS[o.kind].BYTES_PER_ELEMENT * o.width), f.offset);
        continue;
      }
      const ob = CTORS[o.kind].BYTES_PER_ELEMENT;
      const fb = CTORS[f.kind].BYTES_PER_ELEMENT;
      for (let i = 0; i < f.width; i++)
        writeElement(output, f.kind, f.offset + i * fb, readElement(input, o.kind, o.offset + i * ob));
    }
    return out;
  };
  return migration;
}

/**
 * Copies `length` bytes. Snapshot rows are copied field by field, most fields a few bytes long, and a
 * `subarray` view per field would be an allocation each; a loop is faster for those.
 */
function copyBytes(from: Uint8Array, start: number, to: Uint8Array, at: number, length: number): void {
  if (length > 64) {
    to.set(from.subarray(start, start + length), at);
    return;
  }
  for (let i = 0; i < length; i++) to[at + i] = from[start + i];
}

/**
 * Row-major storage: a key's whole state in one row of a single buffer, each detector owning a section.
 *
 * `Table` keeps a column per field, so touching one key's state costs a cache line per field; the hot
 * detectors read dozens of fields of a key on every access, and at 100 k keys and more (state far beyond
 * the CPU caches) each of those lines is a miss. Here a key's fields sit side by side — the engine's
 * per-key state struct, as Linux keeps `file_ra_state` — and one row has one padding, not one per detector.
 * Fields are laid out by element size, largest first, so every field is naturally aligned; a row is
 * padded to 8 bytes. They are read through typed views over the one buffer:
 *
 *     const r = slot * t.stride8;               // the row, in 8-byte elements
 *     t.f64[r + at.recent]; t.f32[2 * r + at.excursion]; t.u8[8 * r + at.active]
 *
 * where `at = t.fieldsOf(schema)` gives each field of a section its index within the row, in elements of
 * the field's own size. A section's snapshot bytes (`section`) are its fields in schema order, each as
 * its little-endian elements, without padding — independent of where the row places them, so the
 * in-memory layout can change without changing what is stored. Sections that are never stored
 * (bookkeeping) simply have no `section` view in the snapshot.
 */
export type FieldIndex<S extends Schema> = { readonly [F in keyof S]: number };

export class RowTable {
  f64 = new Float64Array(0);
  f32 = new Float32Array(0);
  u32 = new Uint32Array(0);
  i32 = new Int32Array(0);
  u16 = new Uint16Array(0);
  u8 = new Uint8Array(0);
  capacity = 0;
  /** Row length in 8-byte elements (the row of slot s starts at s · stride8 in `f64`). */
  readonly stride8: number;
  /** Bytes one slot occupies in memory (its row with the padding). */
  readonly slotBytes: number;
  private readonly index = new Map<Schema, FieldIndex<Schema>>();

  constructor(sections: readonly Schema[], capacity: number) {
    const fields = sections.flatMap((schema) => Object.keys(schema).map((name) => ({ schema, name })));
    const size = (f: { schema: Schema; name: string }) => CTORS[f.schema[f.name][0]].BYTES_PER_ELEMENT;
    for (const schema of sections) this.index.set(schema, {});
    let bytes = 0;
    for (const f of [...fields].sort((a, b) => size(b) - size(a))) {
      (this.index.get(f.schema) as Record<string, number>)[f.name] = bytes / size(f);
      bytes += size(f) * f.schema[f.name][1];
    }
    this.stride8 = Math.ceil(bytes / 8);
    this.slotBytes = this.stride8 * 8;
    this.grow(capacity);
  }

  /** Where the fields of `schema` (one of the sections) lie in a row. */
  fieldsOf<S extends Schema>(schema: S): FieldIndex<S> {
    const at = this.index.get(schema);
    if (!at) throw new Error('schema is not a section of this row');
    return at as FieldIndex<S>;
  }

  /** The snapshot bytes of one section. */
  section(schema: Schema): StoredFields {
    const at = this.fieldsOf(schema);
    const names = Object.keys(schema);
    const bpe = names.map((f) => CTORS[schema[f][0]].BYTES_PER_ELEMENT);
    const start = Int32Array.from(names, (f, i) => at[f] * bpe[i]);
    const length = Int32Array.from(names, (f, i) => schema[f][1] * bpe[i]);
    const rowBytes = length.reduce((a, b) => a + b, 0);
    return {
      schema,
      rowBytes,
      writeRow: (slot, out, offset) => {
        const row = slot * this.slotBytes;
        for (let i = 0; i < start.length; i++) {
          copyBytes(this.u8, row + start[i], out, offset, length[i]);
          offset += length[i];
        }
        return offset;
      },
      readRow: (slot, input, offset) => {
        const row = slot * this.slotBytes;
        for (let i = 0; i < start.length; i++) {
          copyBytes(input, offset, this.u8, row + start[i], length[i]);
          offset += length[i];
        }
        return offset;
      },
    };
  }

  grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    const buffer = new ArrayBuffer(capacity * this.slotBytes);
    const u8 = new Uint8Array(buffer);
    u8.set(this.u8);
    this.u8 = u8;
    this.f64 = new Float64Array(buffer);
    this.f32 = new Float32Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.u16 = new Uint16Array(buffer);
    this.capacity = capacity;
  }

  clear(slot: number): void {
    const start = slot * this.slotBytes;
    this.u8.fill(0, start, start + this.slotBytes);
  }
}
