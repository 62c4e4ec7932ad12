import { EnvSecretProvider } from '@sg/runtime';
import { SECRET_REDACTION, SecretScope } from './secret-scope.js';

describe('SecretScope', () => {
  it('resolves and scrubs under a __proto__ key (as JSON.parse gives it) like under any other', async () => {
    const scope = new SecretScope(new EnvSecretProvider({ TOKEN: 's3cr3t-value' }));
    const args = (await scope.resolveDeep(
      JSON.parse('{"__proto__": {"auth": "{{secret:TOKEN}}"}}'),
    )) as Record<string, unknown>;
    expect(Object.getPrototypeOf(args)).toBe(Object.prototype);
    expect(JSON.stringify(args)).toBe('{"__proto__":{"auth":"s3cr3t-value"}}');

    const result = scope.scrub(
      JSON.parse('{"__proto__": {"echo": "s3cr3t-value", "admin": true}, "ok": 1}') as Record<
        string,
        unknown
      >,
    );
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect((result as { admin?: unknown }).admin).toBeUndefined();
    expect(JSON.stringify(result)).toBe(
      `{"__proto__":{"echo":"${SECRET_REDACTION}","admin":true},"ok":1}`,
    );
  });
});
