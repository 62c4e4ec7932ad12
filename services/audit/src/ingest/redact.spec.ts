import fc from 'fast-check';
import { maskPii, normalizeFieldName } from '@sg/redaction';
import { CREDENTIAL_FIELD } from './redact.js';

const CREDENTIAL_WORDS = [
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'api_key',
  'apikey',
  'access-key',
  'private_key',
  'credential',
  'credentials',
  'authorization',
  'cookie',
  'token',
  'auth_token',
  'refresh_token',
];

/** A credential word as callers write it: any case, separators, a prefix such as `x-` or `github_`. */
const credentialName = fc
  .tuple(
    fc.constantFrom('', 'x-', 'X_', 'github_', 'client ', 'app-'),
    fc.constantFrom(...CREDENTIAL_WORDS),
    fc.boolean(),
  )
  .map(([prefix, word, upper]) => {
    const name = `${prefix}${word}`;
    return upper ? name.toUpperCase() : name;
  })
  .filter((n) => !/tokens$/i.test(n));

describe('credential fields in the audit trail', () => {
  it('redacts the value of any credential-like key, however it is written, at any depth', () => {
    fc.assert(
      fc.property(credentialName, fc.string({ minLength: 1 }), (name, secret) => {
        const out = maskPii(
          { args: { [name]: secret } },
          { level: 'standard', redactFieldPattern: CREDENTIAL_FIELD },
        ).value as { args: Record<string, unknown> };
        return out.args[name] === '[redacted]';
      }),
    );
  });

  it('keeps ordinary fields that merely resemble one', () => {
    for (const name of [
      'max_tokens',
      'tokens_used',
      'author',
      'passenger',
      'keyword',
      'monkey',
      'key',
    ]) {
      expect(CREDENTIAL_FIELD.test(normalizeFieldName(name))).toBe(false);
    }
  });
});
