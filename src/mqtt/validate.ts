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
 * basic (`20261207T080000Z`, `20261207T080000,5+0100`), with `Z`, `±hh`, `±hhmm` or `±hh:mm`: calendar
 * dates (`2026-12-07`), ordinal dates (`2026-341`) and week dates (`2026-W50-1`), times to the hour or the
 * minute (`T08Z`, `T08:00`) with a fraction of their last unit (`T08.5`: 08:30), and `T24:00` for the end of
 * a day. Without a zone they are UTC, as event times must not depend on the machine patternd runs on:
 * `Date.parse` read `2026-12-07T08:00:00` in the process's time zone (under America/New_York, five hours
 * in the future and rejected), took `2026-02-30` for March 2 and refused `+01` and `,5`; ordinal and week
 * dates, hours alone and 24:00 were refused too (two outside evaluations). NaN for anything else, an
 * impossible date or time included.
 */
const ISO =
  /^(\d{4})(-?)(?:(\d{2})\2(\d{2})|(\d{3})|W(\d{2})\2([1-7]))(?:[Tt ](\d{2})(?:(:?)(\d{2})(?:\9(\d{2}))?)?(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

const HOUR_MS = 3_600_000;

export function parseIso(s: string): number {
  const m = ISO.exec(s);
  if (!m) return Number.NaN;
  const year = Number(m[1]);
  const date = dayOf(year, m);
  if (Number.isNaN(date)) return Number.NaN;
  const [hour, minute, second] = [m[8], m[10], m[11]].map((v) => (v === undefined ? 0 : Number(v)));
  const fraction = m[12];
  // The fraction belongs to the time's last unit. Of seconds, milliseconds by their digits (beyond them
  // truncated, as Date.parse does): 0.58 × 1000 is 579.99….
  const unit = m[11] !== undefined ? 1000 : m[10] !== undefined ? 60_000 : HOUR_MS;
  const part =
    fraction === undefined
      ? 0
      : unit === 1000
        ? Number(fraction.padEnd(3, '0').slice(0, 3))
        : Math.round(Number(`0.${fraction}`) * unit);
  const endOfDay = hour === 24 && minute === 0 && second === 0 && part === 0;
  if (
    (hour > 23 && !endOfDay) ||
    minute > 59 ||
    second > 59 ||
    (m[8] === undefined && fraction !== undefined)
  )
    return Number.NaN;
  const offsetMin = zoneOffset(m[13] ?? '');
  if (Number.isNaN(offsetMin)) return Number.NaN;
  return date + hour * HOUR_MS + minute * 60_000 + second * 1000 + part - offsetMin * 60_000;
}

/** Epoch ms of 00:00 UTC of the date `m` names (calendar, ordinal or week date), NaN if there is none. */
function dayOf(year: number, m: RegExpExecArray): number {
  const day = 86_400_000;
  const jan1 = new Date(0);
  jan1.setUTCFullYear(year, 0, 1);
  if (m[3] !== undefined) {
    const month = Number(m[3]);
    const dayOfMonth = Number(m[4]);
    const daysInMonth =
      new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeap(year) ? 1 : 0);
    if (month < 1 || month > 12 || dayOfMonth < 1 || dayOfMonth > daysInMonth) return Number.NaN;
    const at = new Date(0);
    at.setUTCFullYear(year, month - 1, dayOfMonth);
    return at.getTime();
  }
  if (m[5] !== undefined) {
    const ordinal = Number(m[5]);
    if (ordinal < 1 || ordinal > (isLeap(year) ? 366 : 365)) return Number.NaN;
    return jan1.getTime() + (ordinal - 1) * day;
  }
  // Week 1 is the week (Monday first) that holds 4 January; a year has 53 when it begins on a Thursday, or
  // on a Wednesday in a leap year.
  const week = Number(m[6]);
  const weekday = Number(m[7]);
  const jan1Weekday = (jan1.getUTCDay() + 6) % 7;
  const weeks = jan1Weekday === 3 || (jan1Weekday === 2 && isLeap(year)) ? 53 : 52;
  if (week < 1 || week > weeks) return Number.NaN;
  const week1Monday = jan1.getTime() + ((jan1Weekday <= 3 ? 0 : 7) - jan1Weekday) * day;
  return week1Monday + ((week - 1) * 7 + weekday - 1) * day;
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** Minutes east of UTC of a zone designator (`Z`, `±hh`, `±hhmm`, `±hh:mm`; none: UTC), NaN if invalid. */
function zoneOffset(zone: string): number {
  if (zone.length <= 1) return 0;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59) return Number.NaN;
  return (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
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
