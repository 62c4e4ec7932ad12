import { DETECTORS, type Strictness } from './detectors.js';
import {
  emptyReport,
  normalizeFieldName,
  REDACTED,
  type MaskingReport,
  type MaskOptions,
} from './types.js';

interface Claim {
  start: number;
  end: number;
  /** undefined: a rejected look-alike, kept as it is. */
  replacement: string | undefined;
}

/** What claimed text is replaced with in the working copy, so later detectors cannot match it. */
const BLANK = '\u0000';

/** Masks one string, adding its counts to `report`. */
function maskInto(text: string, level: Strictness, report: MaskingReport): string {
  // Nothing but an IPv6 address (`::1`, 3 characters) can match fewer than 7 characters (a phone
  // or an IPv4 address): the common short strings skip the scan.
  if (text.length < 7 && (text.length < 3 || !text.includes(':'))) return text;
  let work = text;
  let claims: Claim[] | undefined;
  for (const detector of DETECTORS) {
    if (!detector.mayContain(work)) continue;
    const pattern = detector.pattern;
    pattern.lastIndex = 0;
    let found: Claim[] | undefined;
    for (let m = pattern.exec(work); m !== null; m = pattern.exec(work)) {
      const finding = detector.judge(m, level);
      if (finding === null) continue;
      if (finding.kind === 'mask') report.masked[detector.type]++;
      else report.rejected[detector.type]++;
      (found ??= []).push({
        start: finding.start,
        end: finding.end,
        replacement: finding.kind === 'mask' ? finding.replacement : undefined,
      });
      // Go on after the finding, which may be shorter than the match (a phone without trailing
      // groups: the rest is looked at again) or longer (a private key block up to its END line).
      pattern.lastIndex = finding.end;
    }
    if (found === undefined) continue;
    // Blank the claimed spans so that no later detector sees them.
    let next = '';
    let at = 0;
    for (const c of found) {
      next += work.slice(at, c.start) + BLANK.repeat(c.end - c.start);
      at = c.end;
    }
    work = next + work.slice(at);
    claims = claims === undefined ? found : claims.concat(found);
  }
  if (claims === undefined) return text;
  claims.sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (const c of claims) {
    if (c.replacement === undefined) continue;
    out += text.slice(at, c.start) + c.replacement;
    at = c.end;
  }
  return out + text.slice(at);
}

/**
 * Masks the PII and secrets in one string. Returns the masked string (the same string when there
 * was nothing to mask, or with level `off`) and the counts.
 */
export function maskText(
  text: string,
  opts: MaskOptions,
): { value: string; report: MaskingReport } {
  const report = emptyReport();
  if (opts.level === 'off') return { value: text, report };
  return { value: maskInto(text, opts.level, report), report };
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Masks every string in a JSON-like value, recursively, and returns a new value of the same
 * shape: arrays stay arrays of the same length, objects keep their keys (keys are never masked),
 * numbers, booleans and null are untouched (only strings are scanned: a card number stored as a
 * JSON number is not masked). The value of a key listed in `allowFields` (exact name, at any
 * depth) is kept as it is, whatever it holds; the value of a key in `redactFields` becomes
 * `[redacted]` (even with level `off`). Other objects (Date, Map, class instances, …) are
 * kept as they are. With level `off` the input itself is returned.
 */
export function maskPii(
  value: unknown,
  opts: MaskOptions,
): { value: unknown; report: MaskingReport } {
  const report = emptyReport();
  if (opts.level === 'off' && !opts.redactFields?.length && !opts.redactFieldPattern)
    return { value, report };
  const level = opts.level;
  const allow =
    opts.allowFields !== undefined && opts.allowFields.length > 0
      ? new Set(opts.allowFields)
      : undefined;
  const redactSet =
    opts.redactFields !== undefined && opts.redactFields.length > 0
      ? new Set(opts.redactFields.map(normalizeFieldName))
      : undefined;
  const pattern = opts.redactFieldPattern;
  const redact =
    redactSet || pattern
      ? {
          has: (name: string) => redactSet?.has(name) === true || pattern?.test(name) === true,
        }
      : undefined;
  const ancestors = new Set<object>();

  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return level === 'off' ? v : maskInto(v, level, report);
    if (typeof v !== 'object' || v === null) return v;
    if (ancestors.has(v)) throw new TypeError('maskPii: the value contains a circular reference');
    if (Array.isArray(v)) {
      ancestors.add(v);
      const out = v.map(walk);
      ancestors.delete(v);
      return out;
    }
    if (!isPlainObject(v)) return v;
    ancestors.add(v);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) {
      const field = v[key];
      const masked = redact?.has(normalizeFieldName(key))
        ? REDACTED
        : allow?.has(key)
          ? field
          : walk(field);
      // A `__proto__` key (JSON.parse makes it an own key) is copied as one, not set as the prototype.
      if (key === '__proto__')
        Object.defineProperty(out, key, {
          value: masked,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      else out[key] = masked;
    }
    ancestors.delete(v);
    return out;
  };

  return { value: walk(value), report };
}
