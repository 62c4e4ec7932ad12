import { EnvError } from '@sg/config';
import { loadFederationEnv } from './env.js';

describe('federation env', () => {
  it('listens on 8094 unless told otherwise', () => {
    expect(loadFederationEnv({}).FEDERATION_PORT).toBe(8094);
    expect(loadFederationEnv({ FEDERATION_PORT: '9999' }).FEDERATION_PORT).toBe(9999);
  });

  it('stops at start on a bad port, naming it', () => {
    expect(() => loadFederationEnv({ FEDERATION_PORT: '70000' })).toThrow(EnvError);
    expect(() => loadFederationEnv({ FEDERATION_PORT: '70000' })).toThrow(/FEDERATION_PORT/);
  });
});
