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

  /** Copies one row into `out` at `offset`; returns the offset after it. */
  writeRow(slot: number, out: Uint8Array, offset: number): number {
    for (const f of this.fields) {
      const width = this.schema[f][1];
      const arr = this.c[f] as AnyArray;
      const bpe = arr.BYTES_PER_ELEMENT;
      const src = new Uint8Array(arr.buffer, arr.byteOffset + slot * width * bpe, width * bpe);
      out.set(src, offset);
      offset += src.length;
    }
    return offset;
  }

  /** Inverse of `writeRow`. */
  readRow(slot: number, input: Uint8Array, offset: number): number {
    for (const f of this.fields) {
      const width = this.schema[f][1];
      const arr = this.c[f] as AnyArray;
      const bpe = arr.BYTES_PER_ELEMENT;
      const dst = new Uint8Array(arr.buffer, arr.byteOffset + slot * width * bpe, width * bpe);
      dst.set(input.subarray(offset, offset + dst.length));
      offset += dst.length;
    }
    return offset;
  }
}
