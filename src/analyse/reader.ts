import fs from 'node:fs';
import readline from 'node:readline';

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
      const ev: RawEvent = { key: '', ts: Number.NaN, position: Number.NaN, size: 0 };
      for (const r of rules) {
        const v = r.apply(cells[r.column] ?? '');
        if (r.target === 'key') ev.key = String(v);
        else if (r.target === 'ts') ev.ts = Number(v);
        else if (r.target === 'position') ev.position = Number(v);
        else if (r.target === 'size') ev.size = Number(v);
      }
      if (!ev.key || !Number.isFinite(ev.ts)) onError(n, 'missing key or time');
      else yield ev;
      continue;
    }
    try {
      const o = JSON.parse(line) as { key?: unknown; ts?: unknown; position?: unknown; size?: unknown };
      const ts = typeof o.ts === 'string' ? Date.parse(o.ts) : Number(o.ts);
      if (typeof o.key !== 'string' || o.key.length === 0 || !Number.isFinite(ts)) {
        onError(n, 'needs a string key and a ts');
        continue;
      }
      yield {
        key: o.key,
        ts,
        position: typeof o.position === 'number' ? o.position : Number.NaN,
        size: typeof o.size === 'number' ? o.size : 0,
      };
    } catch (err) {
      onError(n, `invalid JSON: ${(err as Error).message}`);
    }
  }
}
