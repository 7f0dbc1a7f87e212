import fs from 'node:fs';
import readline from 'node:readline';
import { accessEventSchema, describe } from '../mqtt/validate.ts';

/**
 * Event sources for `patternd analyse`: JSONL of contract event objects, or CSV with a column mapping.
 *
 * Mapping grammar (comma-separated): `target[:expr]` where target is ts|time, key, position, size or op.
 *   - `size` alone: column `size` → size.
 *   - `time:s` (or ms, us, ns): column `time` in that unit → ts in ms.
 *   - `key:lbn>>11`, `position:lbn*512`, `ts:usec/1000`: column with one operation (>> n, * n, / n).
 *   - `key:col` copies a column; the key is the number or text of that column.
 */
export interface RawEvent {
  key: string;
  ts: number;
  position: number;
  size: number;
}

export class MappingError extends Error {
  override name = 'MappingError';
}

type Target = 'ts' | 'key' | 'position' | 'size' | 'op';
const TARGETS = new Set(['ts', 'time', 'key', 'position', 'size', 'op']);
const UNITS: Record<string, number> = { s: 1000, ms: 1, us: 0.001, ns: 0.000001 };

interface Rule {
  target: Target;
  column: number;
  apply: (x: string) => number | string;
}

export function parseMapping(spec: string, header: string[]): Rule[] {
  const rules: Rule[] = [];
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [rawTarget, expr = rawTarget] = part.split(':', 2);
    if (!TARGETS.has(rawTarget)) {
      throw new MappingError(
        `mapping "${part}": unknown target "${rawTarget}"; use ts|time, key, position, size or op`,
      );
    }
    const target: Target = rawTarget === 'time' ? 'ts' : (rawTarget as Target);
    let columnName = expr;
    let apply: (x: string) => number | string = target === 'key' || target === 'op' ? (x) => x : Number;
    const unitScale = UNITS[expr];
    const op = /^([^*/>]+)(>>|\*|\/)(\d+(?:\.\d+)?)$/.exec(expr);
    if (unitScale !== undefined && target === 'ts') {
      columnName = rawTarget;
      apply = (x) => Number(x) * unitScale;
    } else if (op) {
      columnName = op[1];
      const n = Number(op[3]);
      if (op[2] === '>>') {
        const div = 2 ** n;
        apply =
          target === 'key' ? (x) => String(Math.floor(Number(x) / div)) : (x) => Math.floor(Number(x) / div);
      } else if (op[2] === '*')
        apply = target === 'key' ? (x) => String(Number(x) * n) : (x) => Number(x) * n;
      else {
        if (n === 0) throw new MappingError(`mapping "${part}": division by zero`);
        apply = target === 'key' ? (x) => String(Number(x) / n) : (x) => Number(x) / n;
      }
    } else if (/[*/>]/.test(expr)) {
      throw new MappingError(
        `mapping "${part}": bad expression "${expr}"; use column, column>>n, column*n or column/n`,
      );
    }
    const column = header.indexOf(columnName);
    if (column < 0) {
      throw new MappingError(
        `mapping "${part}": no column "${columnName}" in the CSV header (${header.join(', ')})`,
      );
    }
    rules.push({ target, column, apply });
  }
  if (!rules.some((r) => r.target === 'key'))
    throw new MappingError('mapping needs a key (e.g. key:lbn>>11)');
  return rules;
}

/** Streams events from a JSONL or CSV file; calls `onError` for lines that cannot be used. */
export async function* readEvents(
  file: string,
  csvMapping: string | undefined,
  onError: (line: number, reason: string) => void,
): AsyncGenerator<RawEvent> {
  const rl = readline.createInterface({
    input: fs.createReadStream(file),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let rules: Rule[] | undefined;
  let n = 0;
  for await (const line of rl) {
    n++;
    if (line.length === 0) continue;
    if (csvMapping !== undefined) {
      if (!rules) {
        rules = parseMapping(
          csvMapping,
          line.split(',').map((h) => h.trim()),
        );
        continue;
      }
      const cells = line.split(',');
      const fields: Record<string, unknown> = {};
      for (const r of rules) {
        const cell = cells[r.column]?.trim() ?? '';
        // An empty cell is an absent field (a request without a size), not zero.
        if (cell !== '' || r.target === 'key') fields[r.target] = r.apply(cell);
      }
      const ev = contractEvent(fields);
      // The limits are the contract's, in its units: say so when the column was in other units.
      if (typeof ev === 'string')
        onError(n, `${ev} (after the column mapping: ts in ms, positions in bytes)`);
      else yield ev;
      continue;
    }
    let body: unknown;
    try {
      body = JSON.parse(line);
    } catch (err) {
      onError(n, `invalid JSON: ${(err as Error).message}`);
      continue;
    }
    const ev = contractEvent(body);
    if (typeof ev === 'string') onError(n, ev);
    else yield ev;
  }
}

/**
 * The event in `body` as the service would take it, or why not: the contract's checks, so that a log
 * the service would reject is not analysed either. An event time beyond any date (1e23 ms) sent the
 * engine's day clock stepping towards it for ever.
 */
function contractEvent(body: unknown): RawEvent | string {
  const parsed = accessEventSchema.safeParse(body);
  if (!parsed.success) return describe(parsed.error);
  const { key, ts, position, size } = parsed.data;
  if (ts === undefined) return 'ts: required to analyse a log (the time of each access)';
  return { key, ts, position: position ?? Number.NaN, size: size ?? 0 };
}
