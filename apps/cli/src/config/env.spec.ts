import { EnvError, loadEnv } from './env.js';

describe('loadEnv', () => {
  it('sends an admin key as X-Admin-Key and a token as a bearer token', () => {
    expect(loadEnv({ SG_ADMIN_KEY: 'key-0123456789abcdef' }).credential).toEqual({
      kind: 'admin-key',
      header: 'x-admin-key',
      value: 'key-0123456789abcdef',
    });
    expect(loadEnv({ SG_TOKEN: 'eyJ.abc.def\n' }).credential).toEqual({
      kind: 'token',
      header: 'authorization',
      value: 'Bearer eyJ.abc.def',
    });
    expect(loadEnv({})).toEqual({ url: undefined, credential: null });
    expect(loadEnv({ SG_URL: ' https://gw.example.com ' }).url).toBe('https://gw.example.com');
  });

  it.each([
    [{ SG_ADMIN_KEY: 'a-key-0001', SG_TOKEN: 'a-token' }, 'both SG_ADMIN_KEY and SG_TOKEN'],
    [{ SG_ADMIN_KEY: '  ' }, 'SG_ADMIN_KEY is set but empty'],
    [{ SG_TOKEN: 'Bearer secret-token-value' }, 'SG_TOKEN holds characters a header cannot carry'],
    [{ SG_ADMIN_KEY: 'secret\u0000value' }, 'SG_ADMIN_KEY holds characters'],
  ])('refuses %j, naming the variable and never the secret', (env, message) => {
    let error: unknown;
    try {
      loadEnv(env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EnvError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toMatch(/secret|a-token|a-key-0001/);
  });
});
