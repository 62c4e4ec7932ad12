/** The kinds of personal data and secrets the masker knows. */
export const PII_TYPES = [
  'email',
  'phone',
  'ssn',
  'credit_card',
  'iban',
  'ip',
  'jwt',
  'aws_key',
  'bearer_token',
  'api_key',
  'private_key',
] as const;

export type PiiType = (typeof PII_TYPES)[number];

/**
 * `standard` keeps what the seed keeps (last 4 digits of phones, SSNs and cards; an email's TLD;
 * an IBAN's country and last 4; an IP's first group), `strict` masks every character of the value,
 * `off` returns the input untouched (and an all-zero report).
 */
export type MaskingLevel = 'standard' | 'strict' | 'off';

export interface MaskOptions {
  level: MaskingLevel;
  /** Object keys (exact names, at any depth) whose values are left as they are. */
  allowFields?: readonly string[];
  /**
   * Object keys whose values are replaced by `[redacted]` whatever they hold (credentials such as
   * `password`), matched like the policy's forbidden fields: case, `_`, `-` and spaces ignored.
   */
  redactFields?: readonly string[];
  /** Also redacted: keys whose normalised name (see normalizeFieldName) matches this pattern. */
  redactFieldPattern?: RegExp;
}

const normalized = new Map<string, string>();

/** `API-Key`, `api_key` and `apiKey` are one name. */
export function normalizeFieldName(name: string): string {
  let n = normalized.get(name);
  if (n === undefined) {
    n = name.toLowerCase().replace(/[-_\s]/g, '');
    // Field names repeat (every event has the same few); bounded, so random names cannot grow it.
    if (normalized.size < 10_000) normalized.set(name, n);
  }
  return n;
}

/** What a value under one of `redactFields` becomes. */
export const REDACTED = '[redacted]';

/**
 * Counts only, never values. `masked`: values that were found, validated and masked. `rejected`:
 * look-alikes a detector saw but refused to mask because validation failed (bad Luhn, SSN area
 * 000, IBAN failing mod-97, invalid phone number, …); they are left unchanged in the output.
 */
export interface MaskingReport {
  masked: Record<PiiType, number>;
  rejected: Record<PiiType, number>;
}

function zeroCounts(): Record<PiiType, number> {
  return {
    email: 0,
    phone: 0,
    ssn: 0,
    credit_card: 0,
    iban: 0,
    ip: 0,
    jwt: 0,
    aws_key: 0,
    bearer_token: 0,
    api_key: 0,
    private_key: 0,
  };
}

/** A report with every count at 0. */
export function emptyReport(): MaskingReport {
  return { masked: zeroCounts(), rejected: zeroCounts() };
}

/** Adds `from`'s counts into `into` (mutates and returns `into`). */
export function mergeReports(into: MaskingReport, from: MaskingReport): MaskingReport {
  for (const type of PII_TYPES) {
    into.masked[type] += from.masked[type];
    into.rejected[type] += from.rejected[type];
  }
  return into;
}

/** Total number of values masked, over all types. */
export function totalMasked(report: MaskingReport): number {
  let n = 0;
  for (const type of PII_TYPES) n += report.masked[type];
  return n;
}
