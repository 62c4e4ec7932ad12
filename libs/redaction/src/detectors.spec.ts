import { maskText, type MaskingLevel, type PiiType } from './index.js';

type Row = [input: string, standard: string, strict: string];

function only(report: Record<PiiType, number>): Partial<Record<PiiType, number>> {
  return Object.fromEntries(Object.entries(report).filter(([, n]) => n > 0));
}

/** Each row: the text, its standard and strict masking; every row is one finding of `type`. */
function table(type: PiiType, rows: Row[]): void {
  describe.each(rows)('%s', (input, standard, strict) => {
    it.each<[MaskingLevel, string]>([
      ['standard', standard],
      ['strict', strict],
    ])('at level %s', (level, expected) => {
      const { value, report } = maskText(input, { level });
      expect(value).toBe(expected);
      expect(only(report.masked)).toEqual({ [type]: 1 });
      expect(only(report.rejected)).toEqual({});
    });
  });
}

/** Look-alikes: unchanged at both levels, counted as rejected for `type`. */
function rejected(type: PiiType, inputs: string[]): void {
  it.each(inputs)('leaves %j alone and reports it as a rejected look-alike', (input) => {
    for (const level of ['standard', 'strict'] as const) {
      const { value, report } = maskText(input, { level });
      expect(value).toBe(input);
      expect(only(report.masked)).toEqual({});
      expect(only(report.rejected)).toEqual({ [type]: 1 });
    }
  });
}

describe('email', () => {
  table('email', [
    // seed 003
    ['user@example.com', '***@***.com', '***@***.***'],
    [
      'Contact: jane.doe+billing@mail.example.co.uk.',
      'Contact: ***@***.uk.',
      'Contact: ***@***.***.',
    ],
    ['<A_B%c@Sub-Domain.Example.ORG>', '<***@***.ORG>', '<***@***.***>'],
    ['mailto:123-45-6789@example.com', 'mailto:***@***.com', 'mailto:***@***.***'],
    // A domain label that looks like a JWT's first segment (fast-check found a@eyaaaaaaaa.a.aa).
    ['bob@eyewitness.news.com', '***@***.com', '***@***.***'],
    ['bob@mail.eyeglasses.shop.com', '***@***.com', '***@***.***'],
  ]);
  rejected('email', [
    'john..doe@example.com',
    '.john@example.com',
    'john@-example.com',
    'john.@example.com',
  ]);
});

describe('phone', () => {
  table('phone', [
    // seed 003 format; the seed's own (555) 123-4567 is not a valid NANP number (area code 555 is
    // not assigned), so libphonenumber-js rejects it (see below); 212 is a valid area code.
    ['(212) 555-4567', '(***) ***-4567', '(***) ***-****'],
    ['call 212-555-0100 now', 'call ***-***-0100 now', 'call ***-***-**** now'],
    ['212.555.0100', '***.***.0100', '***.***.****'],
    ['1 (212) 555-0100', '* (***) ***-0100', '* (***) ***-****'],
    ['+1 212 555 0100', '+* *** *** 0100', '+* *** *** ****'],
    ['+44 20 7946 0958', '+** ** **** 0958', '+** ** **** ****'],
    ['+33 1 23 45 67 89', '+** * ** ** 67 89', '+** * ** ** ** **'],
    ['+49 30 901820', '+** ** **1820', '+** ** ******'],
    ['+8613812345678', '+*********5678', '+*************'],
    [
      'tel +44 20 7946 0958 24 hours',
      'tel +** ** **** 0958 24 hours',
      'tel +** ** **** **** 24 hours',
    ],
  ]);
  rejected('phone', ['(555) 123-4567', '+1 555 123 4567', '(012) 345-6789', '+44 12 3456']);
});

describe('ssn', () => {
  table('ssn', [
    // seed 003
    ['123-45-6789', '***-**-6789', '***-**-****'],
    ['SSN: 665 01 0001', 'SSN: *** ** 0001', 'SSN: *** ** ****'],
    ['899-99-9999', '***-**-9999', '***-**-****'],
  ]);
  rejected('ssn', [
    '000-12-3456',
    '666-12-3456',
    '900-12-3456',
    '999-99-9999',
    '123-00-4567',
    '123-45-0000',
  ]);
});

describe('credit card', () => {
  table('credit_card', [
    // seed 003 format; the seed's own 1234-5678-9012-3456 fails Luhn (see below), …3452 passes.
    ['1234-5678-9012-3452', '****-****-****-3452', '****-****-****-****'],
    ['4111 1111 1111 1111', '**** **** **** 1111', '**** **** **** ****'],
    ['card=4111111111111111;', 'card=************1111;', 'card=****************;'],
    ['Amex 3782 822463 10005', 'Amex **** ****** *0005', 'Amex **** ****** *****'],
    ['378282246310005', '***********0005', '***************'],
    ['6011-1111-1111-1117', '****-****-****-1117', '****-****-****-****'],
    ['5555555555554444', '************4444', '****************'],
  ]);
  rejected('credit_card', [
    '1234-5678-9012-3456',
    '4111 1111 1111 1112',
    '4111111111111121',
    '3782 822463 10006',
  ]);

  it('ignores digit runs that are not card-shaped (ids, timestamps, too long)', () => {
    for (const input of [
      '1732387200000',
      '12345678901234567890',
      '4111111111111111111111',
      'id 0123456789012',
    ]) {
      const { value, report } = maskText(input, { level: 'strict' });
      expect(value).toBe(input);
      expect(only(report.masked)).toEqual({});
      expect(only(report.rejected)).toEqual({});
    }
  });
});

describe('iban', () => {
  table('iban', [
    ['DE89 3704 0044 0532 0130 00', 'DE** **** **** **** **30 00', '**** **** **** **** **** **'],
    ['DE89370400440532013000', 'DE****************3000', '**********************'],
    ['GB29 NWBK 6016 1331 9268 19', 'GB** **** **** **** **68 19', '**** **** **** **** **** **'],
    [
      'IBAN: FR1420041010050500013M02606.',
      'IBAN: FR*********************2606.',
      'IBAN: ***************************.',
    ],
    ['NO9386011117947', 'NO*********7947', '***************'],
    [
      'pay DE89 3704 0044 0532 0130 00 EUR',
      'pay DE** **** **** **** **30 00 EUR',
      'pay **** **** **** **** **** ** EUR',
    ],
  ]);
  rejected('iban', [
    'DE88 3704 0044 0532 0130 00',
    'GB00NWBK60161331926819',
    'DE8937040044053201300',
    'DE893704004405320130001',
  ]);
});

describe('ip', () => {
  table('ip', [
    ['192.168.1.23', '192.*.*.*', '*.*.*.*'],
    ['from 10.0.0.1.', 'from 10.*.*.*.', 'from *.*.*.*.'],
    ['2001:db8:85a3::8a2e:370:7334', '2001:*:*::*:*:*', '*:*:*::*:*:*'],
    ['[::1]:8080', '[::*]:8080', '[::*]:8080'],
    ['fe80:0:0:0:204:61ff:fe9d:f156', 'fe80:*:*:*:*:*:*:*', '*:*:*:*:*:*:*:*'],
    ['::ffff:192.0.2.128', '::*:*.*.*.*', '::*:*.*.*.*'],
  ]);
  rejected('ip', ['999.1.1.1', '256.256.256.256', '01.2.3.4', '1::2::3']);

  it('does not take times, MAC addresses or version-like pairs for addresses', () => {
    for (const input of ['at 10:30:00', '00:1a:2b:3c:4d:5e', 'v1.2.3.4', 'Foo::bar', '1.2.3']) {
      const { value, report } = maskText(input, { level: 'strict' });
      expect(value).toBe(input);
      expect(only(report.masked)).toEqual({});
      expect(only(report.rejected)).toEqual({});
    }
  });

  it('masks the shortest IPv6 addresses, alone in a string', () => {
    expect(maskText('::1', { level: 'standard' }).value).toBe('::*');
    expect(maskText(' ::0 ', { level: 'strict' }).value).toBe(' ::* ');
  });
});

const HS256 =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('secrets (the same at both levels)', () => {
  table('jwt', [
    [HS256, '[redacted:jwt]', '[redacted:jwt]'],
    [`token=${HS256}&x=1`, 'token=[redacted:jwt]&x=1', 'token=[redacted:jwt]&x=1'],
    // alg none: empty signature
    ['eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', '[redacted:jwt]', '[redacted:jwt]'],
  ]);
  rejected('jwt', ['eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.c2ln', 'eyeballing.the.results']);

  table('aws_key', [
    ['AKIAIOSFODNN7EXAMPLE', '[redacted:aws_key]', '[redacted:aws_key]'],
    ['key=ASIAY34FZKBOKMUTVV7A,', 'key=[redacted:aws_key],', 'key=[redacted:aws_key],'],
    [
      'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'aws_secret_access_key = [redacted:aws_key]',
      'aws_secret_access_key = [redacted:aws_key]',
    ],
    [
      '"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
      '"AWS_SECRET_ACCESS_KEY": "[redacted:aws_key]"',
      '"AWS_SECRET_ACCESS_KEY": "[redacted:aws_key]"',
    ],
  ]);

  // Provider tokens by their documented prefixes (made-up values of the documented shapes).
  const GH = 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
  table('api_key', [
    [
      `git clone https://x:${GH}@github.com/o/r`,
      'git clone https://x:[redacted:api_key]@github.com/o/r',
      'git clone https://x:[redacted:api_key]@github.com/o/r',
    ],
    [
      'token github_pat_11ABCDEFG0123456789abc_defghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV.',
      'token [redacted:api_key].',
      'token [redacted:api_key].',
    ],
    ['glpat-AbCdEf0123456789_-xy', '[redacted:api_key]', '[redacted:api_key]'],
    [
      'stripe key sk_live_4eC39HqLyjWDarjtT1zdp7dc, ok',
      'stripe key [redacted:api_key], ok',
      'stripe key [redacted:api_key], ok',
    ],
    ['rk_test_51H8abcDEF0123456789xyz', '[redacted:api_key]', '[redacted:api_key]'],
    ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '[redacted:api_key]', '[redacted:api_key]'],
    [
      'SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
      'SLACK=[redacted:api_key]',
      'SLACK=[redacted:api_key]',
    ],
    [
      '?key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q&x',
      '?key=[redacted:api_key]&x',
      '?key=[redacted:api_key]&x',
    ],
    [
      '//registry.npmjs.org/:_authToken=npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8',
      '//registry.npmjs.org/:_authToken=[redacted:api_key]',
      '//registry.npmjs.org/:_authToken=[redacted:api_key]',
    ],
    [
      'HF_TOKEN="hf_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7"',
      'HF_TOKEN="[redacted:api_key]"',
      'HF_TOKEN="[redacted:api_key]"',
    ],
    [
      'OPENAI_API_KEY=sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78',
      'OPENAI_API_KEY=[redacted:api_key]',
      'OPENAI_API_KEY=[redacted:api_key]',
    ],
    [
      'x-api-key: sk-ant-api03-AbCdEf0123456789-_AbCdEf0123456789AbCdEf',
      'x-api-key: [redacted:api_key]',
      'x-api-key: [redacted:api_key]',
    ],
  ]);
  it('does not take a prefix inside a longer word, a GitHub token of the wrong length, or words that start like a token', () => {
    for (const text of [
      `my${GH}`,
      `${GH}9`,
      'mask-ghp_short',
      'AIzaTooShort',
      'desk-0123456789012345678901234567890123456789',
      'uses sk-learn-compatible-estimators-everywhere-here',
      'see sk-Ab12Cd34Ef56 for details',
      'xoxo-hugs-and-kisses',
    ]) {
      const { value, report } = maskText(text, { level: 'strict' });
      expect(value).toBe(text);
      expect(report.masked.api_key + report.rejected.api_key).toBe(0);
    }
  });
  it('leaves an email address that starts like a token to the email detector', () => {
    for (const address of ['sk-marketing@example.com', 'sk-john_doe_1999@example.com']) {
      const { value, report } = maskText(`write to ${address} today`, { level: 'standard' });
      expect(value).toBe('write to ***@***.com today');
      expect(only(report.masked)).toEqual({ email: 1 });
    }
  });

  it('counts a provider token after Bearer as a bearer token', () => {
    const { value, report } = maskText(`Authorization: Bearer ${GH}`, { level: 'standard' });
    expect(value).toBe('Authorization: Bearer [redacted:bearer_token]');
    expect(only(report.masked)).toEqual({ bearer_token: 1 });
  });

  table('bearer_token', [
    [
      'Authorization: Bearer 0123456789abcdefABCDEF',
      'Authorization: Bearer [redacted:bearer_token]',
      'Authorization: Bearer [redacted:bearer_token]',
    ],
    [
      'bearer ghp_abcdefghijklmnopqrstuvwxyz012345',
      'bearer [redacted:bearer_token]',
      'bearer [redacted:bearer_token]',
    ],
    [
      'BEARER abcdefghijklmnopqrstuvwxyzABCDEFGH',
      'BEARER [redacted:bearer_token]',
      'BEARER [redacted:bearer_token]',
    ],
  ]);
  rejected('bearer_token', ['Bearer authentication', 'The Bearer tokenization']);

  const pem = (label: string, body = 'MIIEowIBAAKCAQEAx4q3vZ1f\nq7Vd0Ymq1nYwQ2V5bGxv+/0=\n') =>
    `-----BEGIN ${label}PRIVATE KEY-----\n${body}-----END ${label}PRIVATE KEY-----`;
  table('private_key', [
    [pem('RSA '), '[redacted:private_key]', '[redacted:private_key]'],
    [
      `key:\n${pem('')}\nend`,
      'key:\n[redacted:private_key]\nend',
      'key:\n[redacted:private_key]\nend',
    ],
    [pem('EC '), '[redacted:private_key]', '[redacted:private_key]'],
    [pem('OPENSSH '), '[redacted:private_key]', '[redacted:private_key]'],
    // cut off before its END line: the body is masked all the same
    [
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4q3\n',
      '[redacted:private_key]',
      '[redacted:private_key]',
    ],
  ]);
});
