import { GatewayError } from '@sg/contracts';
import { loadGatewayFiles } from '@sg/config';
import type { ConfigSync } from '@sg/messaging';
import { exampleConfigDir } from '@sg/testing';
import { AgentAuthService } from './agent-auth.service.js';

// The example config plus a project "acme" with a policy of its own and no model_keys file.
const configDir = exampleConfigDir('http://127.0.0.1:9');
configDir.write('policies/acme.yaml', 'rules: []\n');
const files = loadGatewayFiles(configDir.dir);
configDir.remove();
// ConfigSync hands each reloader the files and applies what it returns.
const config = {
  register: (reload: (f: unknown) => () => void) => reload(files)(),
} as unknown as ConfigSync;
const auth = new AgentAuthService(config);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as GatewayError).code;
  }
  return undefined;
}

describe('AgentAuthService', () => {
  it('accepts the key in X-API-Key or as a Bearer token', () => {
    expect(auth.authenticate('default', { 'x-api-key': 'modelkey-abc123' })).toEqual({
      agentId: 'gpt-4o',
      project: 'default',
    });
    expect(auth.authenticate('default', { authorization: 'Bearer modelkey-abc123' }).agentId).toBe(
      'gpt-4o',
    );
  });

  it('uses the default keys for a project without its own file', () => {
    expect(auth.authenticate('acme', { 'x-api-key': 'modelkey-abc123' })).toEqual({
      agentId: 'gpt-4o',
      project: 'acme',
    });
  });

  it('knows no key at all for a project that is not configured', () => {
    expect(codeOf(() => auth.authenticate('invented', { 'x-api-key': 'modelkey-abc123' }))).toBe(
      'AUTH.INVALID_KEY',
    );
  });

  it.each([
    [{}, 'AUTH.MISSING_KEY'],
    [{ 'x-api-key': '' }, 'AUTH.MISSING_KEY'],
    [{ authorization: 'Basic bW9kZWxrZXk=' }, 'AUTH.MISSING_KEY'],
    [{ 'x-api-key': 'modelkey-abc124' }, 'AUTH.INVALID_KEY'],
    [{ 'x-api-key': 'MODELKEY-ABC123' }, 'AUTH.INVALID_KEY'],
    [{ authorization: 'Bearer modelkey-abc123 extra' }, 'AUTH.MISSING_KEY'],
  ])('refuses %o with %s', (headers, code) => {
    expect(codeOf(() => auth.authenticate('default', headers))).toBe(code);
  });

  it('never puts the presented key in its error message', () => {
    try {
      auth.authenticate('default', { 'x-api-key': 'leaky-secret-value-999' });
    } catch (err) {
      expect((err as Error).message).not.toContain('leaky-secret-value-999');
    }
  });
});
