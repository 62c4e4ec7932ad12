// The detectors, in the order they claim text: secrets first (a token after `Bearer` counts as
// a bearer token, not as the provider's API key), then IBAN, card, SSN, email, IP,
// phone. Each regex is compiled once. Every pattern starts with a negative lookbehind on the
// characters it begins with, so a match can only start at the start of a run: this keeps the
// scan linear on long runs of letters or digits (no retry at every position of the run).
import { isIP } from 'node:net';
// The core build with the full ("max") metadata, imported as a JS module (the package's JSON
// entry points need an import attribute under some loaders): validation checks the number's
// type patterns, not only its length.
import { parsePhoneNumberFromString } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/max/metadata';
import type { PiiType } from './types.js';
import {
  emailValid,
  IBAN_LENGTHS,
  ibanMod97Valid,
  jwtHeaderValid,
  luhnValid,
  ssnValid,
} from './validators.js';

export type Strictness = 'standard' | 'strict';

/** What a detector makes of one regex match. */
export type Finding =
  /** A validated value: `[start, end)` is replaced by `replacement`. */
  | { kind: 'mask'; start: number; end: number; replacement: string }
  /** A look-alike that failed validation: `[start, end)` is left as is, and no later detector sees it. */
  | { kind: 'reject'; start: number; end: number }
  /** Not a candidate at all (not counted, not claimed). */
  | null;

export interface Detector {
  type: PiiType;
  /** Global regex; run over the text with claimed spans blanked out. */
  pattern: RegExp;
  /** Cheap test on the whole text: false skips the regex. */
  mayContain(text: string): boolean;
  judge(match: RegExpExecArray, level: Strictness): Finding;
}

const STAR = '*';

/** Replaces every ASCII digit with `*`, except the last `keep` digits. */
export function maskDigits(s: string, keep: number): string {
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  let toMask = digits - keep;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57 && toMask > 0) {
      out += STAR;
      toMask--;
    } else out += s[i];
  }
  return out;
}

function countDigits(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

const HAS_DIGIT = /\d/;
const hasDigit = (t: string): boolean => HAS_DIGIT.test(t);
const whole = (m: RegExpExecArray, replacement: string): Finding => ({
  kind: 'mask',
  start: m.index,
  end: m.index + m[0].length,
  replacement,
});
const rejectWhole = (m: RegExpExecArray): Finding => ({
  kind: 'reject',
  start: m.index,
  end: m.index + m[0].length,
});
const redacted = (type: PiiType): string => `[redacted:${type}]`;

// --- secrets (masked the same at both levels) ------------------------------------------------

/**
 * A PEM private key block, BEGIN to the matching END line. A block cut off before its END line
 * is masked from BEGIN to the end of its base64 body all the same.
 */
const PEM_BODY = /[A-Za-z0-9+/=\s]*/y;
/**
 * The last END-line search. Its answer holds for any later start up to the END it found (or any
 * later start at all when it found none), so many BEGIN lines before one END, or without one,
 * cost one scan instead of one each (which was quadratic). Holds the last text searched until
 * the next search.
 */
let lastEnd: { input: string; endLine: string; from: number; at: number } | undefined;
function endLineAt(input: string, endLine: string, from: number): number {
  const c = lastEnd;
  if (
    c &&
    c.input === input &&
    c.endLine === endLine &&
    from >= c.from &&
    (c.at < 0 || from <= c.at)
  )
    return c.at;
  const at = input.indexOf(endLine, from);
  lastEnd = { input, endLine, from, at };
  return at;
}
const privateKey: Detector = {
  type: 'private_key',
  // Only the BEGIN line: the END line is looked for with indexOf, so many BEGIN lines without an
  // END cost one scan each, not a regex backtrack over the rest of the text.
  pattern: /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----/g,
  mayContain: (t) => t.includes('-----BEGIN '),
  judge: (m) => {
    const from = m.index + m[0].length;
    const endLine = `-----END ${m[1] ?? ''}-----`;
    const endAt = endLineAt(m.input, endLine, from);
    let end: number;
    if (endAt >= 0) end = endAt + endLine.length;
    else {
      PEM_BODY.lastIndex = from;
      PEM_BODY.exec(m.input);
      end = PEM_BODY.lastIndex;
    }
    return { kind: 'mask', start: m.index, end, replacement: redacted('private_key') };
  },
};

const jwt: Detector = {
  type: 'jwt',
  // Not after `@` or `.`: a domain such as eyewitness.news.com is an email's or a host's, and a
  // JWT candidate there would hide the address from the email detector.
  pattern: /(?<![\w@.-])ey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?![\w-])/g,
  mayContain: (t) => t.includes('ey'),
  judge: (m) => {
    const header = m[0].slice(0, m[0].indexOf('.'));
    return jwtHeaderValid(header) ? whole(m, redacted('jwt')) : rejectWhole(m);
  },
};

const awsKeyId: Detector = {
  type: 'aws_key',
  pattern: /(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  mayContain: (t) => t.includes('AKIA') || t.includes('ASIA'),
  judge: (m) => whole(m, redacted('aws_key')),
};

/** A 40-character AWS secret access key, only after a label naming it (the label is kept). */
const awsSecret: Detector = {
  type: 'aws_key',
  pattern:
    /(?<![A-Za-z0-9])(aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?)([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi,
  mayContain: (t) => /secret/i.test(t),
  judge: (m) => {
    const start = m.index + (m[1] ?? '').length;
    return { kind: 'mask', start, end: m.index + m[0].length, replacement: redacted('aws_key') };
  },
};

/**
 * `Bearer <token>` (any case; the scheme word is kept). A token shorter than 16 characters, or one
 * of letters only shorter than 32, is a word in prose ("Bearer authentication"), not a credential:
 * rejected. Candidates shorter than 8 characters are not counted at all.
 */
const bearer: Detector = {
  type: 'bearer_token',
  pattern: /(?<![\w-])(bearer[ \t]+)([A-Za-z0-9\-._~+/]{8,}=*)/gi,
  mayContain: (t) => /bearer/i.test(t),
  judge: (m) => {
    const token = m[2] ?? '';
    const start = m.index + (m[1] ?? '').length;
    const end = m.index + m[0].length;
    const tokenLike = token.length >= 32 || (token.length >= 16 && /[^A-Za-z]/.test(token));
    return tokenLike
      ? { kind: 'mask', start, end, replacement: redacted('bearer_token') }
      : { kind: 'reject', start, end };
  },
};

/**
 * A provider's API token, recognised by its documented prefix: GitHub (`ghp_` `gho_` `ghu_` `ghs_`
 * `ghr_` + 36, `github_pat_`), GitLab (`glpat-`), Stripe secret and restricted keys
 * (`sk_live_`, `rk_test_`...) and webhook secrets (`whsec_`), Slack (`xoxb-` `xoxp-`...), Google
 * (`AIza` + 35), npm (`npm_` + 36), Hugging Face (`hf_` + 34), OpenAI and Anthropic (`sk-`).
 * Masked whole. `sk-` and `xoxo-` also start words (`sk-learn`, `sk-marketing@…`, `xoxo-hugs`),
 * so an `sk-` token needs 32 or more characters after it with a digit among them, and a Slack
 * token a digit; anything else is not a candidate at all, and stays visible to the later
 * detectors (an email address that starts with `sk-` is still masked as one).
 */
const API_TOKEN_PREFIX =
  /gh[pousr]_|github_pat_|glpat-|(?:sk|rk)_(?:live|test)_|whsec_|xox[abposr]-|AIza|npm_|hf_|sk-/;
const apiToken: Detector = {
  type: 'api_key',
  pattern:
    /(?<![A-Za-z0-9_-])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,}|glpat-[A-Za-z0-9_-]{20,}|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9+/=]{24,}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[A-Za-z0-9_-]{35}|npm_[A-Za-z0-9]{36}|hf_[A-Za-z0-9]{34}|sk-[A-Za-z0-9_-]{8,})(?![A-Za-z0-9])/g,
  mayContain: (t) => API_TOKEN_PREFIX.test(t),
  judge: (m) => {
    const token = m[0];
    if (token.startsWith('sk-') && (token.length < 35 || !hasDigit(token))) return null;
    if (token.startsWith('xox') && !hasDigit(token)) return null;
    return whole(m, redacted('api_key'));
  },
};

// --- IBAN -------------------------------------------------------------------------------------

/**
 * Two capital letters, two check digits, then 11–30 capitals/digits, optionally in groups
 * separated by single spaces. The match is cut at the country's registered length; a match with
 * a country not in the registry is not a candidate.
 */
const iban: Detector = {
  type: 'iban',
  pattern: /(?<![A-Za-z0-9])([A-Z]{2})\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9@])/g,
  mayContain: hasDigit,
  judge: (m, level) => {
    const expected = IBAN_LENGTHS[m[1] ?? ''];
    if (expected === undefined) return null;
    const s = m[0];
    let chars = 0;
    let cut = 0;
    while (cut < s.length && chars < expected) {
      if (s[cut] !== ' ') chars++;
      cut++;
    }
    if (chars < expected || (cut < s.length && s[cut] !== ' ')) return rejectWhole(m);
    const text = s.slice(0, cut);
    const compact = text.replaceAll(' ', '');
    const end = m.index + cut;
    if (!ibanMod97Valid(compact)) return { kind: 'reject', start: m.index, end };
    // standard: keep the country code and the last 4 characters; strict: mask every character.
    const keepFrom = expected - 4;
    let seen = 0;
    let out = '';
    for (const ch of text) {
      if (ch === ' ') {
        out += ch;
        continue;
      }
      const keep = level === 'standard' && (seen < 2 || seen >= keepFrom);
      out += keep ? ch : STAR;
      seen++;
    }
    return { kind: 'mask', start: m.index, end, replacement: out };
  },
};

// --- credit card ------------------------------------------------------------------------------

/**
 * Either 13–19 digits in one run starting with 2–6 (the issuer ranges in use; a run starting with
 * 0, 1, 7, 8 or 9 is more likely an id or a timestamp), or groups with one consistent separator
 * (space or hyphen): 4-4-4-4, 4-4-4-4-1..3 (any first digit), 4-6-5 and 4-6-4 (Amex, Diners).
 * Valid when the digits pass Luhn.
 */
const creditCard: Detector = {
  type: 'credit_card',
  pattern:
    /(?<![\w+.-])(?:[2-6]\d{12,18}|\d{4}([ -])(?:\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{6}\1\d{4,5}))(?![\w@-]|\.\d)/g,
  mayContain: hasDigit,
  judge: (m, level) =>
    luhnValid(m[0]) ? whole(m, maskDigits(m[0], level === 'standard' ? 4 : 0)) : rejectWhole(m),
};

// --- SSN --------------------------------------------------------------------------------------

/** `AAA-GG-SSSS` (or with spaces, consistently); area, group and serial rules as the SSA issues them. */
const ssn: Detector = {
  type: 'ssn',
  pattern: /(?<![\w+.-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w@-]|\.\d)/g,
  mayContain: hasDigit,
  judge: (m, level) =>
    ssnValid(m[1] ?? '', m[3] ?? '', m[4] ?? '')
      ? whole(m, maskDigits(m[0], level === 'standard' ? 4 : 0))
      : rejectWhole(m),
};

// --- email ------------------------------------------------------------------------------------

/** Local part of the common characters `A-Z a-z 0-9 . _ % + -`; domain labels; TLD starts with a letter. */
const email: Detector = {
  type: 'email',
  pattern:
    /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z][A-Za-z0-9-]{0,62}(?![A-Za-z0-9-])/g,
  mayContain: (t) => t.includes('@'),
  judge: (m, level) => {
    const address = m[0];
    if (!emailValid(address)) return rejectWhole(m);
    if (level === 'strict') return whole(m, '***@***.***');
    return whole(m, `***@***${address.slice(address.lastIndexOf('.'))}`);
  },
};

// --- IP ---------------------------------------------------------------------------------------

const HEX_RUN = /[0-9A-Fa-f]+/g;

/**
 * IPv4 dotted quads, and IPv6 written with `::` or with all 8 groups (so times like 10:30:00 and
 * MAC addresses are not candidates). Valid when `node:net` isIP() accepts it.
 */
const ip: Detector = {
  type: 'ip',
  pattern:
    /(?<![\w.:])(?:(?:\d{1,3}\.){3}\d{1,3}(?![\w@]|\.\d)|(?=[0-9A-Fa-f:.]*[0-9A-Fa-f])(?:[0-9A-Fa-f]{0,4}:){2,8}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:@]|\.\d))/g,
  mayContain: (t) => t.includes('.') || t.includes(':'),
  judge: (m, level) => {
    const s = m[0];
    const v6 = s.includes(':');
    if (v6 && !s.includes('::') && s.split(':').length < 8 && !s.includes('.')) return null;
    if (v6 && s.includes('.') && !s.includes('::') && s.split(':').length < 7) return null;
    if (isIP(s) === 0) return rejectWhole(m);
    if (level === 'strict') return whole(m, s.replace(HEX_RUN, STAR));
    // standard: keep the first group (IPv4 octet or IPv6 hextet), mask the rest.
    const sep = v6 ? s.indexOf(':') : s.indexOf('.');
    return whole(m, s.slice(0, sep) + s.slice(sep).replace(HEX_RUN, STAR));
  },
};

// --- phone ------------------------------------------------------------------------------------

/**
 * International: `+` then digit groups separated by single spaces, dots or hyphens, or in
 * parentheses. National (parsed as US/NANP): `(AAA) EEE-SSSS`, `AAA-EEE-SSSS`, `AAA.EEE.SSSS`,
 * `AAA EEE SSSS`, optionally after `1 `. Bare digit runs are not candidates (ids, amounts).
 * 7–15 digits; valid when libphonenumber-js (full metadata) says the number is valid.
 */
const LAST_GROUP = /[ .-]?\(?\d+\)?$/;

const phone: Detector = {
  type: 'phone',
  pattern:
    /(?<![\w+.-])(?:\+\d+(?:[ .-]?\(\d+\)|[ .-]\d+)*|(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4})(?![\w@]|[.-]\d)/g,
  mayContain: hasDigit,
  judge: (m, level) => {
    const s = m[0];
    if (countDigits(s) < 7) return null;
    // The pattern may have taken trailing groups that are not part of the number ("+44 20 7946
    // 0958 24 hours"): try the whole match, then without its last groups, down to 7 digits.
    for (let candidate = s; countDigits(candidate) >= 7;) {
      if (
        countDigits(candidate) <= 15 &&
        parsePhoneNumberFromString(candidate, 'US', metadata)?.isValid()
      ) {
        return {
          kind: 'mask',
          start: m.index,
          end: m.index + candidate.length,
          replacement: maskDigits(candidate, level === 'standard' ? 4 : 0),
        };
      }
      const shorter = candidate.replace(LAST_GROUP, '');
      if (shorter === candidate) break;
      candidate = shorter;
    }
    return rejectWhole(m);
  },
};

/** In claiming order. */
export const DETECTORS: readonly Detector[] = [
  privateKey,
  jwt,
  awsKeyId,
  awsSecret,
  bearer,
  apiToken,
  iban,
  creditCard,
  ssn,
  email,
  ip,
  phone,
];
