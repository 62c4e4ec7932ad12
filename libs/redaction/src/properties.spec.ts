// Property tests: generators of VALID values of each type (always masked, and nothing of the
// original left in the output but what the level keeps) and of INVALID look-alikes (left as they
// are, and counted as rejected).
import fc from 'fast-check';
import * as phoneLib from 'libphonenumber-js/core';
import type { CountryCode } from 'libphonenumber-js/core';
import metadata from 'libphonenumber-js/max/metadata';
import examples from 'libphonenumber-js/mobile/examples';
import { ibanCheckDigits, maskText, type MaskingLevel, type PiiType } from './index.js';

const RUNS = { numRuns: 300 };
const LEVELS: MaskingLevel[] = ['standard', 'strict'];

function nonZero(counts: Record<PiiType, number>): Partial<Record<PiiType, number>> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}

/** Text around the value: words that hold no PII, always separated from it by a space. */
const filler = fc.constantFrom(
  '',
  'Customer',
  'see below:',
  'value',
  'the record says',
  'ok.',
  'Note',
);
const framed = <T>(value: fc.Arbitrary<T>) => fc.tuple(filler, value, filler);
const frame = (before: string, text: string, after: string) => `${before} ${text} ${after}`;

/** Digits → '*' except the last `keep`. */
function keepLastDigits(s: string, keep: number): string {
  let toMask = (s.match(/\d/g) ?? []).length - keep;
  return s.replace(/\d/g, (d) => (toMask-- > 0 ? '*' : d));
}
const digitsOf = (s: string) => s.replace(/\D/g, '');

/** A valid value: masked to `expected[level]`, one finding, and the original gone. */
function expectMasked(
  type: PiiType,
  before: string,
  original: string,
  after: string,
  expected: Record<'standard' | 'strict', string>,
): void {
  for (const level of ['standard', 'strict'] as const) {
    const { value, report } = maskText(frame(before, original, after), { level });
    expect(value).toBe(frame(before, expected[level], after));
    expect(value).not.toContain(original);
    expect(nonZero(report.masked)).toEqual({ [type]: 1 });
    expect(nonZero(report.rejected)).toEqual({});
  }
}

/** An invalid look-alike: unchanged at both levels, one rejection. */
function expectRejected(type: PiiType, before: string, original: string, after: string): void {
  for (const level of LEVELS) {
    const input = frame(before, original, after);
    const { value, report } = maskText(input, { level });
    expect(value).toBe(input);
    expect(nonZero(report.masked)).toEqual({});
    expect(nonZero(report.rejected)).toEqual({ [type]: 1 });
  }
}

/** Digits-only values: standard keeps the last 4 digits and nothing else, strict none. */
function expectDigitsMasked(type: PiiType, before: string, original: string, after: string): void {
  expectMasked(type, before, original, after, {
    standard: keepLastDigits(original, 4),
    strict: keepLastDigits(original, 0),
  });
  const standard = maskText(original, { level: 'standard' }).value;
  expect(digitsOf(standard)).toBe(digitsOf(original).slice(-4));
  expect(digitsOf(maskText(original, { level: 'strict' }).value)).toBe('');
}

const digitString = (min: number, max: number) =>
  fc
    .array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max })
    .map((d) => d.join(''));

// --- SSN ----------------------------------------------------------------------------------------

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const ssnOf = (area: number, group: number, serial: number, sep: string) =>
  `${pad(area, 3)}${sep}${pad(group, 2)}${sep}${pad(serial, 4)}`;
const validArea = fc.oneof(fc.integer({ min: 1, max: 665 }), fc.integer({ min: 667, max: 899 }));
const ssnSep = fc.constantFrom('-', ' ');

describe('SSN properties', () => {
  it('masks every valid SSN (area 001-665/667-899, group 01-99, serial 0001-9999)', () => {
    const valid = fc.tuple(
      validArea,
      fc.integer({ min: 1, max: 99 }),
      fc.integer({ min: 1, max: 9999 }),
      ssnSep,
    );
    fc.assert(
      fc.property(framed(valid), ([before, [a, g, s, sep], after]) =>
        expectDigitsMasked('ssn', before, ssnOf(a, g, s, sep), after),
      ),
      RUNS,
    );
  });

  it('leaves SSNs with area 000, 666 or 9xx, group 00 or serial 0000 alone', () => {
    const group = fc.integer({ min: 1, max: 99 });
    const serial = fc.integer({ min: 1, max: 9999 });
    const invalid = fc.oneof(
      fc.tuple(fc.constantFrom(0, 666), group, serial, ssnSep),
      fc.tuple(fc.integer({ min: 900, max: 999 }), group, serial, ssnSep),
      fc.tuple(validArea, fc.constant(0), serial, ssnSep),
      fc.tuple(validArea, group, fc.constant(0), ssnSep),
    );
    fc.assert(
      fc.property(framed(invalid), ([before, [a, g, s, sep], after]) =>
        expectRejected('ssn', before, ssnOf(a, g, s, sep), after),
      ),
      RUNS,
    );
  });
});

// --- credit cards -------------------------------------------------------------------------------

function luhnCheckDigit(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    let d = Number(payload[payload.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

/** Issuer-like prefix + random digits + Luhn check digit; 16 digits, or 15 for Amex. */
const cardDigits = fc
  .tuple(
    fc.constantFrom('4', '51', '55', '2221', '2720', '34', '37', '6011', '65', '35', '36'),
    digitString(14, 14),
  )
  .map(([prefix, rest]) => {
    const length = prefix === '34' || prefix === '37' ? 15 : 16;
    const payload = (prefix + rest).slice(0, length - 1);
    return payload + luhnCheckDigit(payload);
  });
/** Any first digit (even 0 or 1) in the 4-4-4-4 grouped format. */
const groupedAnyPrefix = digitString(15, 15).map((p) => p + luhnCheckDigit(p));

function formatCard(digits: string, style: 'plain' | 'space' | 'hyphen'): string {
  if (style === 'plain') return digits;
  const sep = style === 'space' ? ' ' : '-';
  if (digits.length === 15)
    return [digits.slice(0, 4), digits.slice(4, 10), digits.slice(10)].join(sep);
  return digits.match(/\d{4}/g)!.join(sep);
}
const cardText = fc.oneof(
  fc
    .tuple(
      cardDigits,
      fc.constantFrom('plain', 'space', 'hyphen') as fc.Arbitrary<'plain' | 'space' | 'hyphen'>,
    )
    .map(([d, s]) => formatCard(d, s)),
  fc
    .tuple(groupedAnyPrefix, fc.constantFrom('space', 'hyphen') as fc.Arbitrary<'space' | 'hyphen'>)
    .map(([d, s]) => formatCard(d, s)),
);

describe('credit card properties', () => {
  it('masks every Luhn-valid card, keeping only the last 4 digits at standard', () => {
    fc.assert(
      fc.property(framed(cardText), ([before, card, after]) =>
        expectDigitsMasked('credit_card', before, card, after),
      ),
      RUNS,
    );
  });

  it('leaves a card with one digit off (Luhn fails) alone', () => {
    const offByOne = fc
      .tuple(cardText, fc.nat(), fc.integer({ min: 1, max: 9 }))
      .map(([card, at, delta]) => {
        const positions = [...card].flatMap((c, i) => (/\d/.test(c) ? [i] : []));
        const i = positions[at % positions.length]!;
        const changed = String((Number(card[i]) + delta) % 10);
        return card.slice(0, i) + changed + card.slice(i + 1);
      });
    fc.assert(
      fc.property(
        framed(offByOne).filter(([, card]) => /^[2-6]/.test(card) || /[ -]/.test(card)),
        ([before, card, after]) => expectRejected('credit_card', before, card, after),
      ),
      RUNS,
    );
  });
});

// --- IBAN ---------------------------------------------------------------------------------------

const upperAlnum = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.split(''));
const letters = (n: number) =>
  fc
    .array(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('')), {
      minLength: n,
      maxLength: n,
    })
    .map((a) => a.join(''));
const alnum = (n: number) =>
  fc.array(upperAlnum, { minLength: n, maxLength: n }).map((a) => a.join(''));

/** [country, BBAN] in each country's format. */
const bban = fc.oneof(
  digitString(18, 18).map((b) => ['DE', b] as const), // bank code 8 + account 10
  fc.tuple(letters(4), digitString(14, 14)).map(([bank, rest]) => ['GB', bank + rest] as const),
  fc
    .tuple(digitString(10, 10), alnum(11), digitString(2, 2))
    .map(([a, b, c]) => ['FR', a + b + c] as const),
  fc.tuple(letters(4), digitString(10, 10)).map(([bank, acct]) => ['NL', bank + acct] as const),
  digitString(20, 20).map((b) => ['ES', b] as const),
);
const groupIban = (compact: string, grouped: boolean) =>
  grouped ? compact.match(/.{1,4}/g)!.join(' ') : compact;
const ibanParts = fc.tuple(bban, fc.boolean());

describe('IBAN properties', () => {
  it('masks every IBAN with correct mod-97 check digits (DE, GB, FR, NL, ES; compact or grouped)', () => {
    fc.assert(
      fc.property(framed(ibanParts), ([before, [[country, b], grouped], after]) => {
        const compact = country + ibanCheckDigits(country, b) + b;
        const text = groupIban(compact, grouped);
        let seen = 0;
        const standard = [...text]
          .map((c) => (c === ' ' ? c : seen++ < 2 || seen > compact.length - 4 ? c : '*'))
          .join('');
        const strict = text.replace(/[A-Z0-9]/g, '*');
        expectMasked('iban', before, text, after, { standard, strict });
      }),
      RUNS,
    );
  });

  it('leaves an IBAN with wrong check digits alone', () => {
    fc.assert(
      fc.property(
        framed(fc.tuple(ibanParts, fc.integer({ min: 1, max: 96 }))),
        ([before, [[[country, b], grouped], shift], after]) => {
          const right = Number(ibanCheckDigits(country, b));
          const wrong = pad((right + shift) % 97, 2);
          expectRejected('iban', before, groupIban(country + wrong + b, grouped), after);
        },
      ),
      RUNS,
    );
  });
});

// --- email --------------------------------------------------------------------------------------

const localPart = fc.stringMatching(/^[a-z0-9]{1,12}(?:[._+-][a-z0-9]{1,12}){0,3}$/);
const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);
const tld = fc.stringMatching(/^[a-z]{2,8}$/);
const emailAddress = fc
  .tuple(localPart, fc.array(label, { minLength: 1, maxLength: 3 }), tld, fc.boolean())
  .map(([l, labels, t, upper]) => {
    const address = `${l}@${[...labels, t].join('.')}`;
    return upper ? address.toUpperCase() : address;
  });

describe('email properties', () => {
  it('masks every valid address, keeping only the TLD at standard', () => {
    fc.assert(
      fc.property(framed(emailAddress), ([before, address, after]) =>
        expectMasked('email', before, address, after, {
          standard: `***@***${address.slice(address.lastIndexOf('.'))}`,
          strict: '***@***.***',
        }),
      ),
      RUNS,
    );
  });

  it("masks fast-check's own addresses whose local part uses the common characters", () => {
    const common = fc
      .emailAddress()
      .filter((a) => /^[A-Za-z0-9._%+-]+@/.test(a) && !/^[.]|[.]@|\.\./.test(a) && a.length <= 254);
    fc.assert(
      fc.property(common, (address) => {
        const { value, report } = maskText(`mail ${address} now`, { level: 'strict' });
        expect(value).toBe('mail ***@***.*** now');
        expect(report.masked.email).toBe(1);
      }),
      RUNS,
    );
  });

  it('leaves addresses with a dot at either end or doubled in the local part alone', () => {
    // A local part holding `ey…` can also be a JWT candidate (and be rejected as one too).
    const bad = fc
      .tuple(
        localPart.filter((l) => !l.includes('ey')),
        fc.constantFrom('lead', 'trail', 'double'),
        label,
        tld,
      )
      .map(([l, how, d, t]) => {
        const local = how === 'lead' ? `.${l}` : how === 'trail' ? `${l}.` : `${l}..x`;
        return `${local}@${d}.${t}`;
      });
    fc.assert(
      fc.property(framed(bad), ([before, address, after]) =>
        expectRejected('email', before, address, after),
      ),
      RUNS,
    );
  });
});

// --- phone --------------------------------------------------------------------------------------

// libphonenumber-js with the full metadata (the same data the masker validates with).
const getCountries = () => phoneLib.getCountries(metadata);
const getExampleNumber = (c: CountryCode, ex: typeof examples) =>
  phoneLib.getExampleNumber(c, ex, metadata);
const isValidPhoneNumber = (text: string, country?: CountryCode) =>
  country === undefined
    ? phoneLib.isValidPhoneNumber(text, metadata)
    : phoneLib.isValidPhoneNumber(text, country, metadata);
const parsePhoneNumberFromString = (text: string, country: CountryCode) =>
  phoneLib.parsePhoneNumberFromString(text, country, metadata);

/** Countries whose example mobile number (from libphonenumber's metadata) has ≥ 7 digits with its country code. */
const countries = getCountries().filter((c) => {
  const n = getExampleNumber(c, examples);
  return n !== undefined && n.number.length - 1 >= 7;
});

/** A valid number: a country's example with its last 3 digits changed, kept if still valid. */
const validPhone = fc
  .tuple(fc.constantFrom(...countries), digitString(3, 3), fc.boolean())
  .map(([country, tail, national]) => {
    const example = getExampleNumber(country as CountryCode, examples)!;
    const e164 = example.number.slice(0, -3) + tail;
    const parsed = parsePhoneNumberFromString(e164, 'US')!;
    // national format only for US numbers (the masker parses national formats as US)
    return {
      e164,
      text: national && country === 'US' ? parsed.formatNational() : parsed.formatInternational(),
    };
  })
  .filter(({ e164 }) => isValidPhoneNumber(e164));

/** US numbers in the common national formats. */
type UsFormat = (area: string, exchange: string, subscriber: string) => string;
const usFormats: UsFormat[] = [
  (a, e, s) => `(${a}) ${e}-${s}`,
  (a, e, s) => `${a}-${e}-${s}`,
  (a, e, s) => `${a}.${e}.${s}`,
  (a, e, s) => `${a} ${e} ${s}`,
  (a, e, s) => `+1 ${a} ${e} ${s}`,
  (a, e, s) => `1-${a}-${e}-${s}`,
];
const usAreas = [
  '201',
  '212',
  '213',
  '305',
  '312',
  '415',
  '512',
  '617',
  '646',
  '702',
  '718',
  '917',
];
const usPhone = fc
  .tuple(
    fc.constantFrom(...usAreas),
    fc.integer({ min: 200, max: 999 }),
    digitString(4, 4),
    fc.constantFrom(...usFormats),
  )
  .map(([a, e, s, format]) => format(a, String(e), s))
  .filter((text) => isValidPhoneNumber(text, 'US'));

describe('phone properties', () => {
  it(`masks valid numbers of every country with an example (${countries.length} countries), international format`, () => {
    fc.assert(
      fc.property(framed(validPhone), ([before, { text }, after]) =>
        expectDigitsMasked('phone', before, text, after),
      ),
      RUNS,
    );
  });

  it('masks valid US numbers in national formats', () => {
    fc.assert(
      fc.property(framed(usPhone), ([before, text, after]) =>
        expectDigitsMasked('phone', before, text, after),
      ),
      RUNS,
    );
  });

  it('leaves phone-shaped numbers that libphonenumber-js says are invalid alone', () => {
    // NANP area codes never start with 0 or 1, and 555 is not assigned
    const invalid = fc
      .tuple(
        fc.oneof(fc.integer({ min: 0, max: 199 }), fc.constant(555)),
        fc.integer({ min: 200, max: 999 }),
        digitString(4, 4),
        fc.constantFrom(...usFormats),
      )
      .map(([a, e, s, format]) => format(pad(a, 3), String(e), s))
      .filter((text) => !isValidPhoneNumber(text, 'US'));
    fc.assert(
      fc.property(framed(invalid), ([before, text, after]) =>
        expectRejected('phone', before, text, after),
      ),
      RUNS,
    );
  });
});

// --- IP -----------------------------------------------------------------------------------------

describe('IP properties', () => {
  it('masks every IPv4 address (standard keeps the first octet)', () => {
    fc.assert(
      fc.property(framed(fc.ipV4()), ([before, ip, after]) => {
        const first = ip.slice(0, ip.indexOf('.'));
        expectMasked('ip', before, ip, after, { standard: `${first}.*.*.*`, strict: '*.*.*.*' });
      }),
      RUNS,
    );
  });

  it('masks every IPv6 address (standard keeps the first group)', () => {
    fc.assert(
      fc.property(
        // something to mask after the first group (not "::" or "1::", where standard keeps it all)
        framed(fc.ipV6().filter((ip) => /[0-9a-f]/i.test(ip.slice(ip.indexOf(':'))))),
        ([before, ip, after]) => {
          const sep = ip.indexOf(':');
          const standard = ip.slice(0, sep) + ip.slice(sep).replace(/[0-9a-f]+/gi, '*');
          expectMasked('ip', before, ip, after, {
            standard,
            strict: ip.replace(/[0-9a-f]+/gi, '*'),
          });
        },
      ),
      RUNS,
    );
  });

  it('leaves dotted quads with an octet over 255 alone', () => {
    const bad = fc
      .tuple(
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 256, max: 999 }),
      )
      .map(([octets, at, big]) => octets.map((o, i) => (i === at ? big : o)).join('.'));
    fc.assert(
      fc.property(framed(bad), ([before, ip, after]) => expectRejected('ip', before, ip, after)),
      RUNS,
    );
  });
});

// --- secrets ------------------------------------------------------------------------------------

const b64url = (s: string | Uint8Array) => Buffer.from(s).toString('base64url');
const claims = fc.dictionary(
  fc.stringMatching(/^[a-z]{1,8}$/),
  fc.oneof(fc.string(), fc.integer(), fc.boolean()),
  { maxKeys: 5 },
);

describe('secret properties', () => {
  it('masks every JWT (header with alg) as [redacted:jwt], at both levels', () => {
    const jwt = fc
      .tuple(
        fc.constantFrom('HS256', 'RS256', 'ES384', 'none'),
        fc.boolean(),
        claims,
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
      )
      .map(([alg, typ, payload, sig]) => {
        const header = typ ? { alg, typ: 'JWT' } : { alg };
        return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${alg === 'none' ? '' : b64url(sig)}`;
      });
    fc.assert(
      fc.property(framed(jwt), ([before, token, after]) =>
        expectMasked('jwt', before, token, after, {
          standard: '[redacted:jwt]',
          strict: '[redacted:jwt]',
        }),
      ),
      RUNS,
    );
  });

  it('leaves three-part tokens whose header has no alg alone', () => {
    const notJwt = fc
      .tuple(
        fc.constantFrom({ typ: 'JWT' }, { kid: 'k1' }, {}),
        claims,
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
      )
      .map(
        ([header, payload, sig]) =>
          `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${b64url(sig)}`,
      )
      .filter((t) => /^ey[A-Za-z0-9_-]{8,}\./.test(t));
    fc.assert(
      fc.property(framed(notJwt), ([before, token, after]) =>
        expectRejected('jwt', before, token, after),
      ),
      RUNS,
    );
  });

  it('masks every AWS access key id', () => {
    const key = fc
      .tuple(
        fc.constantFrom('AKIA', 'ASIA'),
        fc.array(upperAlnum, { minLength: 16, maxLength: 16 }),
      )
      .map(([p, rest]) => p + rest.join(''));
    fc.assert(
      fc.property(framed(key), ([before, k, after]) =>
        expectMasked('aws_key', before, k, after, {
          standard: '[redacted:aws_key]',
          strict: '[redacted:aws_key]',
        }),
      ),
      RUNS,
    );
  });

  it('masks every provider API token of a documented shape', () => {
    const token = fc.oneof(
      fc.tuple(
        fc.constantFrom('ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'npm_'),
        fc.stringMatching(/^[A-Za-z0-9]{36}$/),
      ),
      fc.tuple(
        fc.constantFrom('sk_live_', 'rk_live_', 'sk_test_'),
        fc.stringMatching(/^[A-Za-z0-9]{16,99}$/),
      ),
      fc.tuple(
        fc.constantFrom('xoxb-', 'xoxp-'),
        fc.stringMatching(/^[0-9]{10,13}-[A-Za-z0-9]{24}$/),
      ),
      fc.tuple(fc.constant('AIza'), fc.stringMatching(/^[A-Za-z0-9_-]{35}$/)),
      fc.tuple(fc.constant('hf_'), fc.stringMatching(/^[A-Za-z0-9]{34}$/)),
      fc.tuple(
        fc.constantFrom('sk-', 'sk-proj-'),
        fc.stringMatching(/^[A-Za-z0-9]{20,60}[0-9][A-Za-z0-9]{11}$/),
      ),
    );
    fc.assert(
      fc.property(framed(token), ([before, [prefix, body], after]) =>
        expectMasked('api_key', before, prefix + body, after, {
          standard: '[redacted:api_key]',
          strict: '[redacted:api_key]',
        }),
      ),
      RUNS,
    );
  });

  it('masks every bearer token, keeping the scheme word', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9\-._~+/]{15,60}[0-9]$/);
    fc.assert(
      fc.property(
        framed(fc.tuple(fc.constantFrom('Bearer', 'bearer', 'BEARER'), token)),
        ([before, [scheme, t], after]) =>
          expectMasked('bearer_token', before, `${scheme} ${t}`, after, {
            standard: `${scheme} [redacted:bearer_token]`,
            strict: `${scheme} [redacted:bearer_token]`,
          }),
      ),
      RUNS,
    );
  });

  it('masks every private key block', () => {
    const block = fc
      .tuple(
        fc.constantFrom('', 'RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED '),
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
      )
      .map(([label, bytes]) => {
        const body = Buffer.from(bytes)
          .toString('base64')
          .match(/.{1,64}/g)!
          .join('\n');
        return `-----BEGIN ${label}PRIVATE KEY-----\n${body}\n-----END ${label}PRIVATE KEY-----`;
      });
    fc.assert(
      fc.property(framed(block), ([before, pem, after]) =>
        expectMasked('private_key', before, pem, after, {
          standard: '[redacted:private_key]',
          strict: '[redacted:private_key]',
        }),
      ),
      RUNS,
    );
  });
});
