import { PATHOLOGICAL_INPUTS } from './pathological.js';
import {
  emptyReport,
  maskPii,
  maskText,
  mergeReports,
  PII_TYPES,
  totalMasked,
  type PiiType,
} from './index.js';

const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

function nonZero(counts: Record<PiiType, number>): Partial<Record<PiiType, number>> {
  return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
}

/** The same structure with every leaf replaced by its type. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  return v === null ? 'null' : typeof v;
}

describe('maskPii on nested JSON', () => {
  const record = {
    customer_id: 'C-000123',
    name: 'Jane Doe',
    contact: {
      email: 'jane@example.com',
      phones: ['(212) 555-0100', '+44 20 7946 0958', { note: 'office', number: '212.555.0199' }],
      verified: true,
    },
    ssn: '123-45-6789',
    payment: {
      card: '4111 1111 1111 1111',
      iban: 'DE89 3704 0044 0532 0130 00',
      amount: 12.5,
      cardNumeric: 4111111111111111,
    },
    tags: [],
    meta: null,
    notes: 'Called from 10.1.2.3; said her backup email is jane.doe@work.example.org.',
  };

  it('masks what is under a __proto__ key (JSON.parse makes it an own key) and keeps it as data', () => {
    const input = JSON.parse(
      '{"__proto__": {"email": "jane@example.com", "admin": true}, "n": 1}',
    ) as object;
    const { value, report } = maskPii(input, { level: 'standard' });
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect((value as { admin?: unknown }).admin).toBeUndefined();
    expect(JSON.stringify(value)).toBe('{"__proto__":{"email":"***@***.com","admin":true},"n":1}');
    expect(report.masked.email).toBe(1);
  });

  it('masks strings at any depth and keeps the structure, keys and non-strings', () => {
    const { value, report } = maskPii(record, { level: 'standard' });
    expect(shape(value)).toEqual(shape(record));
    expect(value).toEqual({
      customer_id: 'C-000123',
      name: 'Jane Doe',
      contact: {
        email: '***@***.com',
        phones: ['(***) ***-0100', '+** ** **** 0958', { note: 'office', number: '***.***.0199' }],
        verified: true,
      },
      ssn: '***-**-6789',
      payment: {
        card: '**** **** **** 1111',
        iban: 'DE** **** **** **** **30 00',
        amount: 12.5,
        // strings only: a card number stored as a JSON number is not scanned
        cardNumeric: 4111111111111111,
      },
      tags: [],
      meta: null,
      notes: 'Called from 10.*.*.*; said her backup email is ***@***.org.',
    });
    expect(nonZero(report.masked)).toEqual({
      email: 2,
      phone: 3,
      ssn: 1,
      credit_card: 1,
      iban: 1,
      ip: 1,
    });
    expect(nonZero(report.rejected)).toEqual({});
  });

  it('returns a new value and leaves the input as it was', () => {
    const before = structuredClone(record);
    const { value } = maskPii(record, { level: 'strict' });
    expect(value).not.toBe(record);
    expect((value as typeof record).contact).not.toBe(record.contact);
    expect(record).toEqual(before);
  });

  it('never masks object keys', () => {
    const { value } = maskPii({ 'jane@example.com': '123-45-6789' }, { level: 'strict' });
    expect(value).toEqual({ 'jane@example.com': '***-**-****' });
  });

  it('keeps allowlisted fields as they are, at any depth, whatever they hold', () => {
    const input = {
      support_email: 'help@example.com',
      user: { email: 'jane@example.com', support_email: 'help@example.com' },
      list: [{ support_email: { nested: 'ops@example.com' } }],
    };
    const { value, report } = maskPii(input, { level: 'standard', allowFields: ['support_email'] });
    expect(value).toEqual({
      support_email: 'help@example.com',
      user: { email: '***@***.com', support_email: 'help@example.com' },
      list: [{ support_email: { nested: 'ops@example.com' } }],
    });
    expect(nonZero(report.masked)).toEqual({ email: 1 });
  });

  it('matches allowlisted keys exactly (not by prefix or case)', () => {
    const { value } = maskPii(
      { Email: 'a@example.com', email2: 'b@example.com' },
      { level: 'strict', allowFields: ['email'] },
    );
    expect(value).toEqual({ Email: '***@***.***', email2: '***@***.***' });
  });

  it('masks a top-level string, and passes scalars through', () => {
    expect(maskPii('ssn 123-45-6789', { level: 'strict' }).value).toBe('ssn ***-**-****');
    for (const v of [42, true, null, undefined, 4111111111111111n])
      expect(maskPii(v, { level: 'strict' }).value).toBe(v);
  });

  it('keeps non-plain objects as they are', () => {
    const date = new Date(0);
    const map = new Map([['k', 'jane@example.com']]);
    const { value } = maskPii({ date, map }, { level: 'strict' });
    expect((value as { date: Date }).date).toBe(date);
    expect((value as { map: Map<string, string> }).map).toBe(map);
  });

  it('returns the input itself and an empty report at level off', () => {
    const { value, report } = maskPii(record, { level: 'off' });
    expect(value).toBe(record);
    expect(report).toEqual(emptyReport());
    expect(maskText('jane@example.com', { level: 'off' }).value).toBe('jane@example.com');
  });

  it('allows shared (non-circular) references and refuses circular ones', () => {
    const shared = { email: 'a@example.com' };
    expect(
      maskPii({ a: shared, b: [shared, shared] }, { level: 'strict' }).report.masked.email,
    ).toBe(3);
    const loop: Record<string, unknown> = { email: 'a@example.com' };
    loop.self = loop;
    expect(() => maskPii(loop, { level: 'strict' })).toThrow(/circular/);
  });
});

describe('the report', () => {
  it('has every type, counts masked and rejected apart, and holds no values', () => {
    const input = {
      a: 'jane@example.com and bob@example.org',
      b: 'bad card 4111 1111 1111 1112, good card 4111 1111 1111 1111',
      c: ['000-12-3456', '123-45-6789', '666-00-0000'],
    };
    const { report } = maskPii(input, { level: 'standard' });
    expect(Object.keys(report.masked).sort()).toEqual([...PII_TYPES].sort());
    expect(Object.keys(report.rejected).sort()).toEqual([...PII_TYPES].sort());
    expect(nonZero(report.masked)).toEqual({ email: 2, credit_card: 1, ssn: 1 });
    expect(nonZero(report.rejected)).toEqual({ credit_card: 1, ssn: 2 });
    const serialized = JSON.stringify(report);
    for (const secret of ['jane', 'example', '4111', '1111', '6789', '3456'])
      expect(serialized).not.toContain(secret);
    expect(totalMasked(report)).toBe(4);
  });

  it('merges', () => {
    const a = maskText('jane@example.com', { level: 'strict' }).report;
    const b = maskText('000-12-3456 and 123-45-6789', { level: 'strict' }).report;
    const sum = mergeReports(emptyReport(), a);
    mergeReports(sum, b);
    expect(nonZero(sum.masked)).toEqual({ email: 1, ssn: 1 });
    expect(nonZero(sum.rejected)).toEqual({ ssn: 1 });
  });
});

describe('overlaps: each span is claimed by one detector', () => {
  const cases: [
    string,
    string,
    string,
    Partial<Record<PiiType, number>>,
    Partial<Record<PiiType, number>>,
  ][] = [
    // a JWT holds digits and an "iat" number: nothing inside it is a card, phone or IP
    ['a JWT is one finding', `token ${JWT}`, 'token [redacted:jwt]', { jwt: 1 }, {}],
    [
      'a bearer JWT is a JWT',
      `Authorization: Bearer ${JWT}`,
      'Authorization: Bearer [redacted:jwt]',
      { jwt: 1 },
      {},
    ],
    // an IBAN's digits (here a 16-digit run that passes Luhn) are not a card
    [
      'an IBAN is not a card',
      'GB82 WEST 1234 5698 7654 32',
      'GB** **** **** **** **54 32',
      { iban: 1 },
      {},
    ],
    [
      'an IBAN with bad check digits is not a card either',
      'GB00 WEST 1234 5698 7654 32',
      'GB00 WEST 1234 5698 7654 32',
      {},
      { iban: 1 },
    ],
    // a card is not a phone number, valid or not
    ['a card is not a phone', '4111 1111 1111 1111', '**** **** **** 1111', { credit_card: 1 }, {}],
    [
      'a bad-Luhn card is not a phone',
      '4111-1111-1111-1112',
      '4111-1111-1111-1112',
      {},
      { credit_card: 1 },
    ],
    [
      'a contiguous card after + is a phone candidate, not a card',
      '+4915112345678',
      '+*********5678',
      { phone: 1 },
      {},
    ],
    // SSN vs phone
    ['an invalid SSN is not a phone', '000-12-3456', '000-12-3456', {}, { ssn: 1 }],
    // an email's local part holding digits is the email's
    [
      'digits in an email are the email',
      '212-555-0100@example.com',
      '***@***.com',
      { email: 1 },
      {},
    ],
    ['an IP is not a phone', '192.168.100.200', '192.*.*.*', { ip: 1 }, {}],
    [
      'an AWS key id holds digits',
      'AKIA2E0A8F3B244C9986',
      '[redacted:aws_key]',
      { aws_key: 1 },
      {},
    ],
    [
      'a private key body with digit runs is one finding',
      '-----BEGIN PRIVATE KEY-----\n4111111111111111 123-45-6789\n-----END PRIVATE KEY-----',
      '[redacted:private_key]',
      { private_key: 1 },
      {},
    ],
    [
      'several in one text, each once',
      'Jane <jane@example.com>, (212) 555-0100, SSN 123-45-6789, card 5555 5555 5555 4444, IBAN DE89370400440532013000, ip 8.8.8.8',
      'Jane <***@***.com>, (***) ***-0100, SSN ***-**-6789, card **** **** **** 4444, IBAN DE****************3000, ip 8.*.*.*',
      { email: 1, phone: 1, ssn: 1, credit_card: 1, iban: 1, ip: 1 },
      {},
    ],
  ];
  it.each(cases)('%s', (_name, input, expected, masked, rejected) => {
    const { value, report } = maskText(input, { level: 'standard' });
    expect(value).toBe(expected);
    expect(nonZero(report.masked)).toEqual(masked);
    expect(nonZero(report.rejected)).toEqual(rejected);
  });
});

it('masks several PEM blocks in one text, one cut off before its END, each where it is', () => {
  const text = [
    'a -----BEGIN PRIVATE KEY-----AAAA',
    ' -----BEGIN PRIVATE KEY-----BBBB-----END PRIVATE KEY----- b',
    ' -----BEGIN RSA PRIVATE KEY-----CCCC-----END RSA PRIVATE KEY----- c',
    ' -----BEGIN EC PRIVATE KEY-----DDDD',
  ].join('');
  const { value } = maskText(text, { level: 'standard' });
  expect(value).toBe('a [redacted:private_key] b [redacted:private_key] c [redacted:private_key]');
});

describe('pathological input', () => {
  // A backtracking detector would take minutes on these 200,000-character runs, and the test
  // would fail at its timeout (30 s); how long each takes is measured by bench/pii.mjs.
  it('masks long runs that almost match without running away', () => {
    for (const input of PATHOLOGICAL_INPUTS) {
      const { value } = maskText(input, { level: 'strict' });
      expect(value.length).toBeGreaterThan(0);
    }
  });
});
