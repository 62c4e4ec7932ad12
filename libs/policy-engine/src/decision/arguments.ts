/** Checks over a call's arguments: pure functions of the JSON, no I/O. */
import { normalizeFieldName } from '@sg/redaction';

export { normalizeFieldName };

/** The JSON-pointer path of the first field whose name is forbidden, at any depth. */
export function findForbiddenField(
  value: unknown,
  forbidden: ReadonlySet<string>,
  path = '',
): string | null {
  if (forbidden.size === 0 || value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findForbiddenField(value[i], forbidden, `${path}/${i}`);
      if (hit) return hit;
    }
    return null;
  }
  for (const [key, child] of Object.entries(value)) {
    const here = `${path}/${key}`;
    if (forbidden.has(normalizeFieldName(key))) return here;
    const hit = findForbiddenField(child, forbidden, here);
    if (hit) return hit;
  }
  return null;
}

export interface ComplexityWeights {
  per_100_chars: number;
  per_field: number;
  per_depth_level: number;
}

export interface Complexity {
  score: number;
  chars: number;
  fields: number;
  depth: number;
}

/** Seed 003's complexity: the arguments' length, how many fields they hold, how deep they nest. */
export function complexityOf(args: Record<string, unknown>, w: ComplexityWeights): Complexity {
  let fields = 0;
  let depth = 0;
  const walk = (v: unknown, level: number) => {
    if (v === null || typeof v !== 'object') return;
    depth = Math.max(depth, level);
    const children = Array.isArray(v) ? v : Object.values(v);
    if (!Array.isArray(v)) fields += children.length;
    for (const c of children) walk(c, level + 1);
  };
  walk(args, 0);
  const chars = JSON.stringify(args).length;
  const score =
    Math.round(
      ((chars / 100) * w.per_100_chars + fields * w.per_field + depth * w.per_depth_level) * 100,
    ) / 100;
  return { score, chars, fields, depth };
}

/** The first of `phrases` (lower-case) found in any string value, with where it was. */
export function findPhrase(
  value: unknown,
  phrases: readonly string[],
  path = '',
): { phrase: string; path: string } | null {
  if (phrases.length === 0) return null;
  if (typeof value === 'string') {
    const lower = value.toLowerCase();
    const phrase = phrases.find((p) => lower.includes(p));
    return phrase ? { phrase, path: path || '/' } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  for (const [key, child] of Object.entries(value)) {
    const hit = findPhrase(child, phrases, `${path}/${key}`);
    if (hit) return hit;
  }
  return null;
}

/** The tenants a call names in `field`: a string or a list of strings; null when absent. */
export function tenantsNamed(args: Record<string, unknown>, field: string): string[] | null {
  const v = args[field];
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map(String);
  return [JSON.stringify(v)];
}
