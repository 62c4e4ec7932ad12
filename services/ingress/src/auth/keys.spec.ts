import fc from 'fast-check';
import { matchKey, secretEquals, sha256 } from './keys.js';

describe('matchKey', () => {
  const entries = [
    { digest: sha256('key-of-alpha-000'), value: 'alpha' },
    { digest: sha256('key-of-beta-0000'), value: 'beta' },
  ];

  it('finds the owner of a key', () => {
    expect(matchKey('key-of-beta-0000', entries)).toBe('beta');
    expect(matchKey('key-of-alpha-000', entries)).toBe('alpha');
  });

  it('matches no other string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (s) => {
        fc.pre(s !== 'key-of-alpha-000' && s !== 'key-of-beta-0000');
        expect(matchKey(s, entries)).toBeNull();
      }),
    );
  });

  it('compares secrets of any length without throwing', () => {
    expect(secretEquals('a', 'a-much-longer-secret')).toBe(false);
    expect(secretEquals('same-secret-value', 'same-secret-value')).toBe(true);
  });
});
