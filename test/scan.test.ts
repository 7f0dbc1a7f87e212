import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../bench/rng.ts';
import { AWKWARD_NAMES } from '../bench/workloads.ts';
import { DECLINED, EventScanner, KEY_CACHE_BYTES } from '../src/mqtt/scan.ts';
import { accessEventSchema } from '../src/mqtt/validate.ts';

/**
 * The ingest scanner against JSON.parse and the full path's validation: on seeded payloads of plain events
 * written every way JSON allows, it must read exactly what JSON.parse reads; on the same payloads broken
 * at random, whatever it accepts must be JSON whose every item the full path accepts with those values.
 */
type Rnd = () => number;
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const space = (rnd: Rnd) => (rnd() < 0.8 ? '' : pick(rnd, [' ', '\n', '\t', '\r\n  ', '  ']));

const KEYS = [
  ...AWKWARD_NAMES,
  'nas/share/file-1.bin',
  'a',
  'x'.repeat(KEY_CACHE_BYTES + 1),
  'x'.repeat(512),
  'Películas/año.mkv',
  '😀/🎬.mp4',
  'del\u007fkey',
];
const NUMBERS = [
  '0',
  '-0',
  '4096',
  '1793577600048',
  '12.5',
  '1e3',
  '1E+2',
  '2.5e-3',
  '123456789012345678',
  '-7',
];
const UNKNOWN_VALUES = [
  '"x"',
  '"with \\"escapes\\" \\u00e9 \\n"',
  '"é"',
  '1',
  '-2.5e10',
  'true',
  'false',
  'null',
];

/** An optional field's value, or now and then null (how many serializers write an unset field). */
const orNull = (rnd: Rnd, value: string) => (rnd() < 0.1 ? 'null' : value);

/** Unknown names that begin as a known one does (the scanner reads known names a word at a time). */
const LIKE_KNOWN_NAMES = [
  '"keys"',
  '"tsz"',
  '"sizeBytes"',
  '"positional"',
  '"posi"',
  '"opx"',
  '"k"',
  '"siz"',
];

/** A plain event as JSON text: key, some of the numbers, maybe op and unknown fields, in any order. */
function plainEvent(rnd: Rnd): string {
  const fields = [`"key":${JSON.stringify(pick(rnd, KEYS))}`];
  const nonNegative = NUMBERS.filter((n) => !n.startsWith('-') || n === '-0');
  // A time must also be at most 8.64e15, the largest a Date holds.
  if (rnd() < 0.7)
    fields.push(
      `"ts":${orNull(
        rnd,
        pick(
          rnd,
          nonNegative.filter((n) => Number(n) <= 8.64e15),
        ),
      )}`,
    );
  if (rnd() < 0.7) fields.push(`"position":${orNull(rnd, pick(rnd, NUMBERS))}`);
  if (rnd() < 0.6) fields.push(`"size":${orNull(rnd, pick(rnd, nonNegative))}`);
  if (rnd() < 0.5) fields.push(`"op":${orNull(rnd, pick(rnd, ['"read"', '""', `"${'w'.repeat(32)}"`]))}`);
  if (rnd() < 0.2)
    fields.push(
      `${pick(rnd, ['"device"', '"__proto__"', '"constructor"', '"ké"', ...LIKE_KNOWN_NAMES])}:${pick(rnd, UNKNOWN_VALUES)}`,
    );
  for (let i = fields.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [fields[i], fields[j]] = [fields[j], fields[i]];
  }
  const spaced = fields.map((f) => f.replace(':', `${space(rnd)}:${space(rnd)}`));
  return `{${space(rnd)}${spaced.join(`${space(rnd)},${space(rnd)}`)}${space(rnd)}}`;
}

function plainPayload(rnd: Rnd): string {
  if (rnd() < 0.2) return `${space(rnd)}${plainEvent(rnd)}${space(rnd)}`;
  const n = rnd() < 0.1 ? 0 : 1 + Math.floor(rnd() * 40);
  const items = Array.from({ length: n }, () => plainEvent(rnd));
  return `${space(rnd)}[${space(rnd)}${items.join(`${space(rnd)},${space(rnd)}`)}${space(rnd)}]${space(rnd)}`;
}

/** What the scanner must have read for each item of JSON.parse's `body`: key, ts, position, size. */
function columnsOf(body: unknown): unknown[][] {
  const items = Array.isArray(body) ? body : [body];
  return items.map((raw) => {
    const ev = accessEventSchema.parse(raw);
    return [ev.key, ev.ts ?? Number.NaN, ev.position ?? Number.NaN, ev.size ?? 0];
  });
}

function scanned(s: EventScanner, count: number): unknown[][] {
  return Array.from({ length: count }, (_, i) => [s.keys[i], s.ts[i], s.position[i], s.size[i]]);
}

describe('ingest scanner', () => {
  it('reads plain payloads, written every way JSON allows, exactly as JSON.parse does', () => {
    const rnd = mulberry32(20261206);
    const scanner = new EventScanner(1000);
    let events = 0;
    for (let m = 0; m < 3000; m++) {
      const text = plainPayload(rnd);
      const body = JSON.parse(text);
      const count = scanner.scan(Buffer.from(text));
      expect(count, text).toBe(Array.isArray(body) ? body.length : 1);
      expect(scanner.batch).toBe(Array.isArray(body));
      // toEqual tells -0 from 0 and takes NaN as equal to NaN.
      expect(scanned(scanner, count), text).toEqual(columnsOf(body));
      events += count;
    }
    expect(events).toBeGreaterThan(40_000);
  });

  it('accepts nothing the full path would reject or read differently, on payloads broken at random', () => {
    const rnd = mulberry32(1206);
    const scanner = new EventScanner(50);
    const junk = [
      '\\',
      '"',
      '{',
      '}',
      '[',
      ']',
      ',',
      ':',
      ' ',
      '\u0000',
      '\u00ff',
      '9',
      'e',
      '.',
      '-',
      'é',
      'x',
    ];
    let accepted = 0;
    let declined = 0;
    for (let m = 0; m < 30_000; m++) {
      let bytes = Buffer.from(plainPayload(rnd));
      for (let k = 1 + Math.floor(rnd() * 3); k > 0 && bytes.length > 0; k--) {
        const at = Math.floor(rnd() * bytes.length);
        const roll = rnd();
        if (roll < 0.3) bytes[at] = Math.floor(rnd() * 256);
        else if (roll < 0.6)
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(pick(rnd, junk)), bytes.subarray(at)]);
        else if (roll < 0.9) bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
        else bytes = bytes.subarray(0, at);
      }
      const count = scanner.scan(bytes);
      if (count === DECLINED) {
        declined++;
        continue;
      }
      accepted++;
      // The full path would parse it (UTF-8 text only), and judge every item valid, with the values the
      // scanner read.
      expect(isUtf8(bytes)).toBe(true);
      const body = JSON.parse(bytes.toString('utf8'));
      const items = Array.isArray(body) ? body : [body];
      expect(items.length).toBe(count);
      for (const raw of items) expect(accessEventSchema.safeParse(raw).success).toBe(true);
      expect(scanned(scanner, count)).toEqual(columnsOf(body));
    }
    // Both outcomes are common, so neither is exercised by accident only.
    expect(accepted).toBeGreaterThan(3_000);
    expect(declined).toBeGreaterThan(10_000);
  });

  it('declines what only the full path may judge', () => {
    const scanner = new EventScanner(2);
    for (const text of [
      '{"key":"a\\u0000b"}', // an escape in the key (here a NUL, which is rejected)
      '{"k\\u0065y":"a"}', // an escaped name: JSON.parse reads `key`
      '{"key":"a","ts":"2026-11-24T10:00:00Z"}', // an ISO date
      '{"key":"a","context":{}}',
      '{"key":"a","extra":{"nested":1}}',
      '{"key":"a","key":"b"}', // JSON.parse keeps the last
      '{"key":"a","ts":-1}',
      '{"key":"a","size":-1}',
      '{"key":"a","position":1e400}',
      `{"key":"${'x'.repeat(513)}"}`,
      `{"key":"a","op":"${'w'.repeat(33)}"}`,
      '{"key":""}',
      '{"ts":1}',
      '[{"key":"a"},{"key":"b"},{"key":"c"}]', // more items than the limit
      '[{"key":"a"},5]',
      '[{"key":"a"},]',
      '{"key":"a"} x',
      '{"key":"a","ts":01}',
      '\ufeff{"key":"a"}',
      '',
    ])
      expect(scanner.scan(Buffer.from(text)), text).toBe(DECLINED);
    // Not UTF-8, in the key or in a field nobody reads: the full path rejects the message.
    const broken = Buffer.from([0xff, 0xfe]);
    for (const [before, after] of [
      ['{"key":"a', '"}'],
      ['{"key":"a","device":"', '"}'],
    ])
      expect(scanner.scan(Buffer.concat([Buffer.from(before), broken, Buffer.from(after)]))).toBe(DECLINED);
  });

  it('gives back the same string for a key it has seen, so the key index compares pointers', () => {
    const scanner = new EventScanner(10);
    scanner.scan(Buffer.from('[{"key":"nas/a"},{"key":"nas/b"}]'));
    const [a, b] = scanner.keys;
    scanner.scan(Buffer.from('{"key":"nas/b"}'));
    expect(scanner.keys[0]).toBe(b);
    scanner.scan(Buffer.from('{"key":"nas/a"}'));
    expect(scanner.keys[0]).toBe(a);
  });
});
