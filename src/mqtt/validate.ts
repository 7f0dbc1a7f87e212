import { z } from 'zod';

/**
 * The contract's access event. zod gives every rejection a precise reason ("key: …", "ts: …") that is
 * reported back on B/errors; unknown fields are dropped, which also disarms `__proto__`/`constructor`.
 */
const isoTimestamp = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const ms = Date.parse(extendedIso(s));
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds or an ISO-8601 date string' });
      return z.NEVER;
    }
    return ms;
  });

/**
 * ISO 8601's basic format (`20261207T080000Z`, `20261207T080000,5+0100`) in the extended form that
 * `Date.parse` reads; any other string as it is. Devices with little room for text send the basic one.
 */
const BASIC_ISO = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
function extendedIso(s: string): string {
  const m = BASIC_ISO.exec(s);
  if (!m) return s;
  const [, year, month, day, hour, minute, second, fraction, zone = ''] = m;
  // ±hh, ±hhmm or ±hh:mm: the hours, then the minutes when given.
  const offset = zone.length > 1 ? `${zone.slice(0, 3)}:${zone.length > 3 ? zone.slice(-2) : '00'}` : zone;
  return `${year}-${month}-${day}T${hour}:${minute}:${second}${fraction ? `.${fraction}` : ''}${offset}`;
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
