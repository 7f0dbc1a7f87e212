/**
 * Struct-of-arrays storage for per-key detector state.
 *
 * Every detector declares its per-key fields once as a schema (`{ lastPos: ['f64', 1], ring: ['f64', 8] }`);
 * the table allocates one typed array per field, indexed by the key's slot, and grows them by doubling.
 * Keeping state in typed arrays instead of one object per key means no per-event allocation, no GC
 * pressure at a million keys, and a row can be copied byte for byte into a snapshot.
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

/** What the engine needs of every per-key table, whichever its layout: growth, reset and snapshot rows. */
export interface KeyTable {
  readonly schema: Schema;
  readonly capacity: number;
  readonly rowBytes: number;
  /** Bytes one slot occupies in memory (a row with its padding). */
  readonly slotBytes: number;
  grow(capacity: number): void;
  clear(slot: number): void;
  /** Copies one row into `out` at `offset`; returns the offset after it. */
  writeRow(slot: number, out: Uint8Array, offset: number): number;
  /** Inverse of `writeRow`. */
  readRow(slot: number, input: Uint8Array, offset: number): number;
}

export class Table<S extends Schema> implements KeyTable {
  /** The columns; re-read after `grow` (arrays are replaced). */
  c: Columns<S>;
  capacity: number;
  private readonly fields: (keyof S & string)[];
  /** Each column as bytes (for snapshot rows), and the bytes one row of it takes. */
  private bytes: Uint8Array[] = [];
  private readonly fieldBytes: number[];
  /** Bytes one row occupies across all columns. */
  readonly rowBytes: number;
  readonly slotBytes: number;

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
    this.slotBytes = bytes;
    this.fieldBytes = this.fields.map((f) => CTORS[schema[f][0]].BYTES_PER_ELEMENT * schema[f][1]);
    this.viewBytes();
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
    this.viewBytes();
  }

  private viewBytes(): void {
    this.bytes = this.fields.map((f) => {
      const arr = this.c[f] as AnyArray;
      return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    });
  }

  /** Resets a row to zeros (a freed or reused slot must not inherit its predecessor's state). */
  clear(slot: number): void {
    for (const f of this.fields) {
      const width = this.schema[f][1];
      (this.c[f] as AnyArray).fill(0, slot * width, slot * width + width);
    }
  }

  /** Copies one row into `out` at `offset`; returns the offset after it. */
  writeRow(slot: number, out: Uint8Array, offset: number): number {
    for (let i = 0; i < this.bytes.length; i++) {
      const length = this.fieldBytes[i];
      copyBytes(this.bytes[i], slot * length, out, offset, length);
      offset += length;
    }
    return offset;
  }

  /** Inverse of `writeRow`. */
  readRow(slot: number, input: Uint8Array, offset: number): number {
    for (let i = 0; i < this.bytes.length; i++) {
      const length = this.fieldBytes[i];
      copyBytes(input, offset, this.bytes[i], slot * length, length);
      offset += length;
    }
    return offset;
  }
}

/**
 * Row-major storage: all fields of one key side by side in a single buffer.
 *
 * `Table` keeps a column per field, so touching one key's state costs a cache line per field; a hot
 * detector reads a dozen fields of a key on every access, and at 100 k keys and more (rows far beyond
 * the CPU caches) each of those lines is a miss. Here a key's fields share one or two lines.
 * Fields are laid out by element size, largest first, so every field is naturally aligned; a row is
 * padded to 8 bytes. Fields are read through the typed views over the one buffer:
 *
 *     const r = slot * t.stride8;               // the row, in 8-byte elements
 *     t.f64[r + at.recent]; t.f32[2 * r + at.trigger]; t.u8[8 * r + at.active]
 *
 * where `at` (from `rowLayout`) gives each field's index within the row in elements of its own size.
 * Snapshot rows are the same bytes as `Table`'s (field by field, in schema order, no padding), so a
 * detector can switch between the two without changing what is stored.
 */
export interface RowLayout<S extends Schema> {
  /** Index of each field's first element within a row, in elements of the field's own size. */
  readonly at: { readonly [F in keyof S]: number };
  /** Row length in 8-byte elements (a row of slot s starts at s · stride8 in `f64`). */
  readonly stride8: number;
}

export function rowLayout<S extends Schema>(schema: S): RowLayout<S> {
  const fields = Object.keys(schema) as (keyof S & string)[];
  const size = (f: keyof S) => CTORS[schema[f][0]].BYTES_PER_ELEMENT;
  const ordered = [...fields].sort((a, b) => size(b) - size(a));
  const at = {} as { [F in keyof S]: number };
  let bytes = 0;
  for (const f of ordered) {
    at[f] = bytes / size(f);
    bytes += size(f) * schema[f][1];
  }
  return { at, stride8: Math.ceil(bytes / 8) };
}

export class RowTable<S extends Schema> implements KeyTable {
  f64: Float64Array;
  f32: Float32Array;
  u32: Uint32Array;
  i32: Int32Array;
  u16: Uint16Array;
  u8: Uint8Array;
  capacity: number;
  readonly layout: RowLayout<S>;
  readonly stride8: number;
  /** Bytes one row occupies in a snapshot (no padding). */
  readonly rowBytes: number;
  readonly slotBytes: number;
  /** Per field in schema order (the snapshot's order): its byte offset within a row, and its length. */
  private readonly fieldStart: Int32Array;
  private readonly fieldBytes: Int32Array;

  constructor(
    readonly schema: S,
    capacity: number,
  ) {
    const fields = Object.keys(schema) as (keyof S & string)[];
    this.layout = rowLayout(schema);
    this.stride8 = this.layout.stride8;
    this.slotBytes = this.stride8 * 8;
    this.fieldStart = new Int32Array(fields.length);
    this.fieldBytes = new Int32Array(fields.length);
    fields.forEach((f, i) => {
      const [kind, width] = schema[f];
      const bpe = CTORS[kind].BYTES_PER_ELEMENT;
      this.fieldStart[i] = this.layout.at[f] * bpe;
      this.fieldBytes[i] = width * bpe;
    });
    this.rowBytes = this.fieldBytes.reduce((a, b) => a + b, 0);
    this.capacity = 0;
    this.u8 = new Uint8Array(0);
    this.f64 = new Float64Array(0);
    this.f32 = new Float32Array(0);
    this.u32 = new Uint32Array(0);
    this.i32 = new Int32Array(0);
    this.u16 = new Uint16Array(0);
    this.grow(capacity);
  }

  grow(capacity: number): void {
    if (capacity <= this.capacity) return;
    const buffer = new ArrayBuffer(capacity * this.stride8 * 8);
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
    const start = slot * this.stride8 * 8;
    this.u8.fill(0, start, start + this.stride8 * 8);
  }

  writeRow(slot: number, out: Uint8Array, offset: number): number {
    const row = slot * this.stride8 * 8;
    for (let i = 0; i < this.fieldStart.length; i++) {
      copyBytes(this.u8, row + this.fieldStart[i], out, offset, this.fieldBytes[i]);
      offset += this.fieldBytes[i];
    }
    return offset;
  }

  readRow(slot: number, input: Uint8Array, offset: number): number {
    const row = slot * this.stride8 * 8;
    for (let i = 0; i < this.fieldStart.length; i++) {
      copyBytes(input, offset, this.u8, row + this.fieldStart[i], this.fieldBytes[i]);
      offset += this.fieldBytes[i];
    }
    return offset;
  }
}
