import { z } from 'zod';

/**
 * The contract's access event. zod gives every rejection a precise reason ("key: …", "ts: …") that is
 * reported back on B/errors; unknown fields are dropped, which also disarms `__proto__`/`constructor`.
 */
const isoTimestamp = z
  .string()
  .max(64)
  .transform((s, ctx) => {
    const ms = Date.parse(s);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds or an ISO-8601 date string' });
      return z.NEVER;
    }
    return ms;
  });

export const KEY_REQUIRED = 'key: required, a string of 1–512 characters';

export const accessEventSchema = z.object({
  key: z
    .string({ error: KEY_REQUIRED.slice('key: '.length) })
    .min(1, 'must not be empty')
    .max(512, 'must be at most 512 characters')
    .refine((k) => !k.includes('\u0000'), 'must not contain NUL'),
  ts: z
    .union([z.number().finite().min(0).max(8.64e15), isoTimestamp], {
      error: 'must be epoch milliseconds or an ISO-8601 date string',
    })
    .optional(),
  position: z.number({ error: 'must be a finite number' }).finite().optional(),
  size: z.number({ error: 'must be a non-negative number' }).finite().min(0).optional(),
  op: z.string({ error: 'must be a short string' }).max(32).optional(),
  context: z.record(z.string(), z.unknown(), { error: 'must be an object' }).optional(),
});

export type AccessEvent = z.output<typeof accessEventSchema>;

/** One line naming the first problem of an invalid event. */
export function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid event';
  const field = issue.path.join('.');
  if (issue.code === 'invalid_type' && issue.path.length === 0) return 'event must be a JSON object';
  return field ? `${field}: ${issue.message}` : issue.message;
}
