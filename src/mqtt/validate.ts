import { z } from 'zod';

/**
 * The contract's access event. zod gives every rejection a precise reason ("key: …", "ts: …") that is
 * reported back on B/errors; unknown fields are dropped, which also disarms `__proto__`/`constructor`.
 */
const isoTimestamp = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const ms = parseIso(s);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds or an ISO-8601 date string' });
      return z.NEVER;
    }
    return ms;
  });

/**
 * ISO 8601 date-times, extended (`2026-12-07T08:00:00.5+01:00`, a space for the T, a comma for the point) or
 * basic (`20261207T080000Z`, `20261207T080000,5+0100`), and dates (`2026-12-07`), with `Z`, `±hh`, `±hhmm`
 * or `±hh:mm`. Without a zone they are UTC, as event times must not depend on the machine patternd runs on:
 * `Date.parse` read `2026-12-07T08:00:00` in the process's time zone (under America/New_York, five hours
 * in the future and rejected), took `2026-02-30` for March 2 and refused `+01` and `,5` (an outside
 * evaluation). NaN for anything else, an impossible date or time included.
 */
const EXTENDED_ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;
const BASIC_ISO =
  /^(\d{4})(\d{2})(\d{2})[Tt](\d{2})(\d{2})(\d{2})(?:[.,](\d{1,9}))?([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

export function parseIso(s: string): number {
  const m = EXTENDED_ISO.exec(s) ?? BASIC_ISO.exec(s);
  if (!m) return Number.NaN;
  const [year, month, day, hour, minute, second] = m
    .slice(1, 7)
    .map((v) => (v === undefined ? 0 : Number(v)));
  // Milliseconds by their digits (beyond them truncated, as Date.parse does): 0.58 × 1000 is 579.99….
  const ms = m[7] === undefined ? 0 : Number(m[7].padEnd(3, '0').slice(0, 3));
  const zone = m[8] ?? '';
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59)
    return Number.NaN;
  let offsetMin = 0;
  if (zone.length > 1) {
    const digits = zone.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (hours > 23 || minutes > 59) return Number.NaN;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, 0);
  return utc.getTime() + ms - offsetMin * 60_000;
}

/** The largest time a Date can hold (epoch ms). */
export const MAX_TS = 8.64e15;
export const MAX_KEY_CHARS = 512;
export const MAX_OP_CHARS = 32;

export const KEY_REQUIRED = `key: required, a string of 1–${MAX_KEY_CHARS} characters`;
/**
 * JSON can spell half of a UTF-16 surrogate pair on its own (`"\ud800"`), which is no character: it has no
 * UTF-8 form, so no MQTT topic can name the key (encodeURIComponent throws on it).
 */
const NOT_WELL_FORMED = 'must be valid Unicode (a lone surrogate such as \\ud800 is not a character)';

/**
 * An optional field that may also be `null`, read as absent: many serializers (Python's `json.dumps` of
 * `None`, a C struct with unset members) write unset fields as null rather than leaving them out.
 */
const absentIfNull = <T extends z.ZodType>(field: T) => field.nullish().transform((v) => v ?? undefined);

export const accessEventSchema = z.object({
  key: z
    .string({ error: KEY_REQUIRED.slice('key: '.length) })
    .min(1, 'must not be empty')
    .max(MAX_KEY_CHARS, `must be at most ${MAX_KEY_CHARS} characters`)
    .refine((k) => !k.includes('\u0000'), 'must not contain NUL')
    .refine((k) => k.isWellFormed(), NOT_WELL_FORMED),
  ts: absentIfNull(
    z.union([z.number().finite().min(0).max(MAX_TS), isoTimestamp], {
      error: 'must be epoch milliseconds or an ISO-8601 date string',
    }),
  ),
  position: absentIfNull(z.number({ error: 'must be a finite number' }).finite()),
  size: absentIfNull(z.number({ error: 'must be a non-negative number' }).finite().min(0)),
  op: absentIfNull(z.string({ error: 'must be a short string' }).max(MAX_OP_CHARS)),
  context: absentIfNull(z.record(z.string(), z.unknown(), { error: 'must be an object' })),
});

export type AccessEvent = z.output<typeof accessEventSchema>;

/**
 * True when `raw` (an object from JSON.parse) is an event zod would accept unchanged: only number `ts` and
 * no `context`, so its fields can be read as they are (the unknown fields zod would drop stay, unread).
 * zod costs about a microsecond per event and builds an output object for each; a batch of plain events
 * needs neither. Anything else answers false and goes to zod, which stays the judge of every rejection
 * and its message; test/validate.test.ts holds the two to agreement.
 */
export function isPlainEvent(raw: Record<string, unknown>): raw is AccessEvent {
  const { key, ts, position, size, op } = raw;
  return (
    typeof key === 'string' &&
    key.length >= 1 &&
    key.length <= MAX_KEY_CHARS &&
    !key.includes('\u0000') &&
    key.isWellFormed() &&
    (ts === undefined || (typeof ts === 'number' && ts >= 0 && ts <= MAX_TS)) &&
    (position === undefined || (typeof position === 'number' && Number.isFinite(position))) &&
    (size === undefined || (typeof size === 'number' && Number.isFinite(size) && size >= 0)) &&
    (op === undefined || (typeof op === 'string' && op.length <= MAX_OP_CHARS)) &&
    raw.context === undefined
  );
}

/** One line naming the first problem of an invalid event. */
export function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid event';
  const field = issue.path.join('.');
  if (issue.code === 'invalid_type' && issue.path.length === 0) return 'event must be a JSON object';
  return field ? `${field}: ${issue.message}` : issue.message;
}
