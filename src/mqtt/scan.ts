/**
 * The fast path of ingest: reads plain access payloads straight from the message bytes into columns, in
 * place of JSON.parse, the per-item checks and a fresh string per key.
 *
 * Why: JSON.parse builds an object per event and a new string per key, which the engine's key index then
 * hashes and compares character by character; on batches that was half of what patternd spent per event
 * (`npm run bench:handler`). This scanner makes nothing per event but the key, and for a key it saw
 * recently not even that: it hashes the key's bytes while it scans them and takes the string it made last
 * time from a small direct-mapped cache — the very string the engine's index holds, which it finds by
 * pointer.
 *
 * It takes the shape devices send and the contract shows:
 *   - one event object, or an array of at most `maxItems` of them, with JSON whitespace anywhere;
 *   - the fields `key` (string), `ts`, `position`, `size` (numbers) and `op` (string), each at most once
 *     and in any order, plus fields it does not know whose value is a string, number, true, false or null
 *     (ignored, as the full path ignores them);
 *   - strings without escapes in known fields (the key may be UTF-8), numbers in JSON's grammar;
 *   - every event valid, by the checks of `isPlainEvent`.
 * Anything else — an escape in a key, an ISO date, a `context`, a nested unknown value, one bad item, text
 * that is not JSON — declines the whole message (DECLINED), and the caller takes the full path: JSON.parse
 * and zod, which judge and explain every rejection. So the scanner decides no rejection; it accepts only
 * what the full path accepts, with the same values (test/scan.test.ts holds it to JSON.parse on seeded
 * payloads and junk).
 */
import { isUtf8 } from 'node:buffer';
import { MAX_KEY_CHARS, MAX_OP_CHARS, MAX_TS } from './validate.ts';

export const DECLINED = -1;

/**
 * Keys remembered by the cache (a power of two). A direct-mapped cache of 8,192 keys finds ~88 % of a
 * working set of 2,000 keys (the rest collide); keys beyond its reach are made afresh, as JSON.parse did.
 */
export const KEY_CACHE_ENTRIES = 8192;
/**
 * Longest key (bytes) the cache holds. A cached key is compared with the payload byte for byte against a
 * copy of its bytes, not the string: the service also uses keys as property names, which turns strings
 * into references to an interned copy, and reading their characters then took as long as JSON.parse.
 */
export const KEY_CACHE_BYTES = 128;
const KEY_CACHE_WORDS = KEY_CACHE_BYTES / 4;
/**
 * An entry of the cache: its key's hash, length, hint (see `entries`) and bytes, side by side, so that a
 * lookup reads one or two cache lines of the CPU, not one in each of four arrays.
 */
const HASH = 0;
const LENGTH = 1;
const HINT = 2;
const WORDS = 4;
const ENTRY_WORDS = WORDS + KEY_CACHE_WORDS;
/** Bytes of the cache's entries, and of the columns of a batch (3 of 8 bytes, 1 of 4) per item. */
export const KEY_CACHE_ENTRY_BYTES = 4 * ENTRY_WORDS;
export const BATCH_COLUMN_BYTES = 3 * 8 + 4;

/** The bytes the scanner looks for. */
enum Byte {
  Quote = 0x22,
  Backslash = 0x5c,
  Comma = 0x2c,
  Colon = 0x3a,
  OpenBrace = 0x7b,
  CloseBrace = 0x7d,
  OpenBracket = 0x5b,
  CloseBracket = 0x5d,
  Minus = 0x2d,
  Plus = 0x2b,
  Dot = 0x2e,
  Zero = 0x30,
  Nine = 0x39,
  /** OR-ed into an ASCII letter, this makes it lower case. */
  LowerCase = 0x20,
  LowerE = 0x65,
  LowerN = 0x6e,
}

/** Field numbers; bit `1 << field` marks a field as seen in the current event. */
enum Field {
  Key = 0,
  Ts = 1,
  Position = 2,
  Size = 3,
  Op = 4,
  Unknown = 5,
  /** A field the full path reads that the scanner does not take (`context`). */
  Refused = 6,
}

/** Integers of up to 15 digits are exact when accumulated digit by digit in a double. */
const EXACT_DIGITS = 15;

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number) => c >= Byte.Zero && c <= Byte.Nine;

/** `Buffer#latin1Slice` and `#utf8Slice` without a Buffer: one string straight from the bytes. */
const latin1 = Buffer.prototype.latin1Slice;
const utf8 = Buffer.prototype.utf8Slice;

export class EventScanner {
  /** The events of the last accepted message, `count` of them: key, and NaN / NaN / 0 where absent. */
  readonly keys: string[];
  /**
   * Per event, its key's cache entry, or −1 when the key was not cached. The caller may attach a number to
   * an entry (`attach`, read back with `hintOf`): the engine keeps the key's slot there, and finds the key
   * without looking it up while the slot still holds it.
   */
  readonly entries: Int32Array;
  readonly ts: Float64Array;
  readonly position: Float64Array;
  readonly size: Float64Array;
  /** Whether the last accepted message was an array (rejections then name the item's index). */
  batch = false;

  private readonly cachedKey: string[] = new Array(KEY_CACHE_ENTRIES).fill('');
  /** Entry e at e · ENTRY_WORDS; its bytes as little-endian 32-bit words, the last one padded with 0. */
  private readonly cache = new Int32Array(KEY_CACHE_ENTRIES * ENTRY_WORDS);
  /** The words of the key being scanned. */
  private readonly keyWords = new Int32Array(KEY_CACHE_WORDS);
  /** Where `scanNumber` and `scanKey` leave what they read besides the next index. */
  private number = 0;
  private text = '';
  private entry = -1;
  /**
   * The memory of the payload being scanned, for reading four bytes at once, and where the payload begins
   * in it. Payloads are slices of a few large buffers (the socket's reads, Node's pool), so the view is
   * made once per buffer, not per message: one per message cost single-event messages 5 %.
   */
  private view: DataView = new DataView(new ArrayBuffer(0));
  private viewOffset = 0;

  constructor(private readonly maxItems: number) {
    this.keys = new Array(maxItems).fill('');
    this.entries = new Int32Array(maxItems);
    this.ts = new Float64Array(maxItems);
    this.position = new Float64Array(maxItems);
    this.size = new Float64Array(maxItems);
  }

  /**
   * Reads the payload's events into the columns and returns how many, or DECLINED. One loop over the
   * bytes that keeps the current byte in `c`; values are read by methods. Written as a method per
   * structure (event, field name) that re-read the byte at each return, it took about 1.5 times as long.
   */
  scan(b: Uint8Array): number {
    const end = b.length;
    if (this.view.buffer !== b.buffer) this.view = new DataView(b.buffer);
    this.viewOffset = b.byteOffset;
    let i = 0;
    let c = b[0];
    while (isSpace(c)) c = b[++i];
    const batch = c === Byte.OpenBracket;
    this.batch = batch;
    if (batch) {
      c = b[++i];
      while (isSpace(c)) c = b[++i];
    }
    let n = 0;
    if (batch && c === Byte.CloseBracket) c = b[++i];
    else
      for (;;) {
        if (c !== Byte.OpenBrace || n === this.maxItems) return DECLINED;
        c = b[++i];
        while (isSpace(c)) c = b[++i];
        let seen = 0;
        let ts = Number.NaN;
        let position = Number.NaN;
        let size = 0;
        if (c !== Byte.CloseBrace)
          for (;;) {
            // The field's name. One with an escape is declined: JSON.parse would decode it (`k\u0065y` is
            // `key`); so is one that is not UTF-8, which the full path rejects.
            if (c !== Byte.Quote) return DECLINED;
            const nameStart = i + 1;
            let field = nameStart + LONGEST_COMMON_NAME < end ? this.commonField(nameStart) : Field.Unknown;
            if (field !== Field.Unknown) i = nameStart + NAME_LENGTHS[field];
            else {
              let asciiName = true;
              for (c = b[++i]; c !== Byte.Quote; c = b[++i]) {
                if (i >= end || c < 0x20 || c === Byte.Backslash) return DECLINED;
                if (c > 0x7e) asciiName = false;
              }
              if (!asciiName && !isUtf8(b.subarray(nameStart, i))) return DECLINED;
              field = fieldNamed(b, nameStart, i - nameStart);
            }
            if (field === Field.Refused || (field !== Field.Unknown && seen & (1 << field))) return DECLINED;
            seen |= 1 << field;
            c = b[++i];
            while (isSpace(c)) c = b[++i];
            if (c !== Byte.Colon) return DECLINED;
            c = b[++i];
            while (isSpace(c)) c = b[++i];
            // Its value.
            if (field === Field.Key) {
              i = this.scanKey(b, i);
              if (i < 0) return DECLINED;
              this.keys[n] = this.text;
              this.entries[n] = this.entry;
            } else if (c === Byte.LowerN && sameBytes(NULL, b, i)) {
              // An optional field set to null is absent, as on the full path.
              i += NULL.length;
            } else if (field === Field.Op) {
              // Printable ASCII only: its length in bytes is then its length in characters.
              const start = i + 1;
              i = skipString(b, i, true);
              if (i < 0 || i - 1 - start > MAX_OP_CHARS) return DECLINED;
            } else if (field === Field.Unknown) {
              i = this.skipScalar(b, i);
              if (i < 0) return DECLINED;
            } else {
              i = this.scanNumber(b, i);
              if (i < 0) return DECLINED;
              const value = this.number;
              if (field === Field.Ts) {
                if (!(value >= 0 && value <= MAX_TS)) return DECLINED;
                ts = value;
              } else if (!Number.isFinite(value) || (field === Field.Size && value < 0)) return DECLINED;
              else if (field === Field.Position) position = value;
              else size = value;
            }
            c = b[i];
            while (isSpace(c)) c = b[++i];
            if (c === Byte.CloseBrace) break;
            if (c !== Byte.Comma) return DECLINED;
            c = b[++i];
            while (isSpace(c)) c = b[++i];
          }
        if (!(seen & (1 << Field.Key))) return DECLINED;
        this.ts[n] = ts;
        this.position[n] = position;
        this.size[n] = size;
        n++;
        c = b[++i];
        while (isSpace(c)) c = b[++i];
        if (!batch) break;
        if (c === Byte.CloseBracket) {
          c = b[++i];
          break;
        }
        if (c !== Byte.Comma) return DECLINED;
        c = b[++i];
        while (isSpace(c)) c = b[++i];
      }
    while (isSpace(c)) c = b[++i];
    return i === end ? n : DECLINED;
  }

  /**
   * Reads the key string at `i` into `text` (checked: 1 to MAX_KEY_CHARS characters); returns the index
   * after it, or DECLINED. Printable ASCII keys come from the cache when the same bytes were a key before.
   *
   * Four bytes at a time: each word is tested for a quote, a backslash, a control character and a byte
   * past ASCII with bit tricks on a 32-bit integer, hashed with one multiply, and compared with the cached
   * key's word. Byte by byte, with a multiply per byte, a 22-byte key cost about as much as the rest of its
   * event together. Anything but printable ASCII takes the byte-wise `scanUnusualKey`.
   */
  private scanKey(b: Uint8Array, i: number): number {
    if (b[i] !== Byte.Quote) return DECLINED;
    const { view, viewOffset } = this;
    const start = i + 1;
    const words = this.keyWords;
    let end = start;
    let hash = FNV_OFFSET;
    let n = 0;
    for (; end + 4 <= b.length; end += 4) {
      const w = view.getInt32(viewOffset + end, true);
      if (!isPlainText(w)) break;
      hash = Math.imul(hash ^ w, FNV_PRIME);
      if (n < KEY_CACHE_WORDS) words[n] = w;
      n++;
    }
    // The rest byte by byte: up to three bytes before the closing quote, as the low bytes of a word, or
    // whatever made a word not plain text.
    let tail = 0;
    let shift = 0;
    for (let c = b[end]; c !== Byte.Quote; c = b[++end]) {
      if (end >= b.length || c > 0x7e) return this.scanUnusualKey(b, start);
      if (c < 0x20 || c === Byte.Backslash) return DECLINED;
      tail |= c << shift;
      shift += 8;
    }
    const length = end - start;
    if (length === 0 || length > MAX_KEY_CHARS) return DECLINED;
    if (shift > 0) {
      hash = Math.imul(hash ^ tail, FNV_PRIME);
      if (n < KEY_CACHE_WORDS) words[n] = tail;
      n++;
    }
    hash = mix(hash ^ length);
    const at = hash & (KEY_CACHE_ENTRIES - 1);
    const cache = this.cache;
    const entry = at * ENTRY_WORDS;
    if (cache[entry + HASH] === hash && cache[entry + LENGTH] === length) {
      let j = 0;
      while (j < n && cache[entry + WORDS + j] === words[j]) j++;
      if (j === n) {
        this.text = this.cachedKey[at];
        this.entry = at;
        return end + 1;
      }
    }
    this.text = latin1.call(b, start, end);
    this.entry = -1;
    if (n <= KEY_CACHE_WORDS) {
      this.entry = at;
      this.cachedKey[at] = this.text;
      cache[entry + HASH] = hash;
      cache[entry + LENGTH] = length;
      cache[entry + HINT] = -1;
      cache.set(words.subarray(0, n), entry + WORDS);
    }
    return end + 1;
  }

  /**
   * A key with a byte that is not printable ASCII, from its first byte at `start`: UTF-8 is decoded as the
   * full path's `toString('utf8')` decodes it, and not cached. Broken UTF-8 and an escape (NUL among them)
   * are the full path's to reject or decode; a control character is not JSON.
   */
  private scanUnusualKey(b: Uint8Array, start: number): number {
    let end = start;
    for (let c = b[end]; c !== Byte.Quote; c = b[++end])
      if (end >= b.length || c < 0x20 || c === Byte.Backslash) return DECLINED;
    if (!isUtf8(b.subarray(start, end))) return DECLINED;
    const key = utf8.call(b, start, end);
    if (key.length === 0 || key.length > MAX_KEY_CHARS) return DECLINED;
    this.text = key;
    this.entry = -1;
    return end + 1;
  }

  /** Attaches `hint` to a cache entry (from `entries`); it is −1 again when the entry takes another key. */
  attach(entry: number, hint: number): void {
    this.cache[entry * ENTRY_WORDS + HINT] = hint;
  }

  /** What was last attached to cache entry `entry` (−1: nothing, or −1 itself). */
  hintOf(entry: number): number {
    return this.cache[entry * ENTRY_WORDS + HINT];
  }

  /**
   * The field whose name, with its closing quote, the bytes at `at` are, if it is one of those every event
   * has (Field.Unknown otherwise, and for a name these bytes only begin). Compared a word at a time: byte
   * by byte, looking for the closing quote and then matching the name took a third of the scan of a plain
   * event. The caller makes sure `LONGEST_COMMON_NAME` bytes follow `at`.
   */
  private commonField(at: number): number {
    const { view } = this;
    const at0 = this.viewOffset + at;
    const w = view.getInt32(at0, true);
    if (w === KEY_QUOTED) return Field.Key;
    if ((w & 0xffffff) === TS_QUOTED) return Field.Ts;
    if ((w & 0xffffff) === OP_QUOTED) return Field.Op;
    if (w === SIZE && view.getUint8(at0 + 4) === Byte.Quote) return Field.Size;
    if (w === POSI && view.getInt32(at0 + 4, true) === TION && view.getUint8(at0 + 8) === Byte.Quote)
      return Field.Position;
    return Field.Unknown;
  }

  /** Reads the JSON number at `i` into `number`; returns the index after it, or DECLINED. */
  private scanNumber(b: Uint8Array, i: number): number {
    const start = i;
    const negative = b[i] === Byte.Minus;
    if (negative) i++;
    let value = 0;
    const digits = i;
    if (b[i] === Byte.Zero) i++;
    else if (isDigit(b[i])) {
      // Four digits at a time while there are (a timestamp has 13), then one at a time: a double's
      // multiply-add per digit is a chain of several cycles each.
      for (; i + 4 <= b.length; i += 4) {
        const w = this.view.getInt32(this.viewOffset + i, true);
        if (!areDigits(w)) break;
        value = value * 10000 + digitsValue(w);
      }
      for (let c = b[i]; isDigit(c); c = b[++i]) value = value * 10 + (c - Byte.Zero);
    } else return DECLINED;
    let exact = i - digits <= EXACT_DIGITS;
    if (b[i] === Byte.Dot) {
      if (!isDigit(b[++i])) return DECLINED;
      while (isDigit(b[i])) i++;
      exact = false;
    }
    if ((b[i] | Byte.LowerCase) === Byte.LowerE) {
      i++;
      if (b[i] === Byte.Plus || b[i] === Byte.Minus) i++;
      if (!isDigit(b[i])) return DECLINED;
      while (isDigit(b[i])) i++;
      exact = false;
    }
    // Fractions, exponents and long integers: the text is valid JSON here, and Number() rounds it as
    // JSON.parse does (both to the nearest double).
    this.number = exact ? (negative ? -value : value) : Number(latin1.call(b, start, i));
    return i;
  }

  /** Skips the value of a field the scanner does not read: a string, number, true, false or null. */
  private skipScalar(b: Uint8Array, i: number): number {
    const c = b[i];
    if (c === Byte.Quote) return skipString(b, i, false);
    if (c === Byte.Minus || isDigit(c)) return this.scanNumber(b, i);
    for (const word of LITERALS) if (c === word[0] && sameBytes(word, b, i)) return i + word.length;
    return DECLINED;
  }
}

/** Are the bytes of `b` from `start` on those of `s`? */
function sameBytes(s: Uint8Array, b: Uint8Array, start: number): boolean {
  for (let j = 0; j < s.length; j++) if (s[j] !== b[start + j]) return false;
  return true;
}

/**
 * Field names by number (Field.Key …; Field.Unknown has none); `context` is the full path's to judge.
 * As bytes: compared with the payload's, where a string's characters would be read through `charCodeAt`.
 */
const FIELD_NAMES = ['key', 'ts', 'position', 'size', 'op', '', 'context'].map((name) => Buffer.from(name));
const NAME_LENGTHS = Uint8Array.from(FIELD_NAMES, (name) => name.length);

/** Words of four bytes of the common field names (little-endian, as `commonField` reads them). */
const wordOf = (text: string) => Buffer.from(text.padEnd(4, '\0')).readInt32LE(0);
const KEY_QUOTED = wordOf('key"');
const TS_QUOTED = wordOf('ts"');
const OP_QUOTED = wordOf('op"');
const SIZE = wordOf('size');
const POSI = wordOf('posi');
const TION = wordOf('tion');
/** `position` and its closing quote. */
const LONGEST_COMMON_NAME = 9;

/**
 * The cache's hash: FNV-1a over the key's 32-bit words while they are scanned, then murmur3's finalizer,
 * since a word's last bytes reach only the hash's high bits, and the cache is indexed by its low ones.
 */
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Bit tricks on four bytes in a 32-bit word (Anderson's "bit twiddling hacks"): non-zero when one of the
 * bytes is `byte`, or below `limit` (≤ 0x80). Exact as a yes/no, which is all the scanner asks.
 */
const LOW_BITS = 0x01010101;
const HIGH_BITS = 0x80808080 | 0;

function hasByteBelow(w: number, limit: number): number {
  return (w - Math.imul(LOW_BITS, limit)) & ~w & HIGH_BITS;
}

function hasByte(w: number, byte: number): number {
  return hasByteBelow(w ^ Math.imul(LOW_BITS, byte), 1);
}

/**
 * Are the four bytes of `w` printable ASCII other than a quote or a backslash (a key's bytes, but for
 * its closing quote)? A byte of 0x7f or more has its high bit set, itself or once 1 is added.
 */
function isPlainText(w: number): boolean {
  const special =
    hasByteBelow(w, 0x20) |
    hasByte(w, Byte.Quote) |
    hasByte(w, Byte.Backslash) |
    ((w | (w + LOW_BITS)) & HIGH_BITS);
  return special === 0;
}

/** Are the four bytes of `w` ASCII digits? */
function areDigits(w: number): boolean {
  return (w & 0xf0f0f0f0) === 0x30303030 && ((w + 0x06060606) & 0xf0f0f0f0) === 0x30303030;
}

/** The value of four ASCII digits in a little-endian word (the first digit in the low byte). */
function digitsValue(w: number): number {
  let d = w - 0x30303030;
  d = (Math.imul(d, 10) + (d >>> 8)) & 0x00ff00ff;
  return (Math.imul(d, 100) + (d >>> 16)) & 0xffff;
}

/**
 * Which field the name of `length` bytes at `start` is: the one of that length and first letter (no two
 * names share both), if its bytes are the same.
 */
function fieldNamed(b: Uint8Array, start: number, length: number): number {
  const first = b[start];
  for (let field = 0; field < FIELD_NAMES.length; field++) {
    const name = FIELD_NAMES[field];
    if (length === name.length && first === name[0]) return sameBytes(name, b, start) ? field : Field.Unknown;
  }
  return Field.Unknown;
}

/**
 * Skips the string at `i` (its opening quote); returns the index after it, or DECLINED. `plain`: printable
 * ASCII without escapes only; otherwise any valid JSON string (escapes checked, other bytes taken as they
 * are: the value is not read).
 */
function skipString(b: Uint8Array, i: number, plain: boolean): number {
  if (b[i] !== Byte.Quote) return DECLINED;
  const start = i + 1;
  let ascii = true;
  for (let c = b[++i]; c !== Byte.Quote; c = b[++i]) {
    if (i >= b.length || c < 0x20) return DECLINED;
    if (c === Byte.Backslash) {
      if (plain) return DECLINED;
      i = skipEscape(b, i);
      if (i < 0) return DECLINED;
    } else if (c > 0x7e) {
      if (plain) return DECLINED;
      ascii = false;
    }
  }
  // Broken UTF-8 anywhere in a message is the full path's to reject, ignored field or not.
  return ascii || isUtf8(b.subarray(start, i)) ? i + 1 : DECLINED;
}

/** The bytes that may follow a backslash besides `u`. */
const SIMPLE_ESCAPES = new Set(Buffer.from('"\\/bfnrt'));

/** Checks the escape at `i` (its backslash); returns the index of its last byte, or DECLINED. */
function skipEscape(b: Uint8Array, i: number): number {
  const c = b[++i];
  if (c === 0x75) {
    for (let k = 0; k < 4; k++) if (!isHex(b[++i])) return DECLINED;
    return i;
  }
  return SIMPLE_ESCAPES.has(c) ? i : DECLINED;
}

function isHex(c: number): boolean {
  return isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

const LITERALS = ['true', 'false', 'null'].map((word) => Buffer.from(word));
const NULL = LITERALS[2];
