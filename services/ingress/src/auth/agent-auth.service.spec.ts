import { resolve } from 'node:path';
import { GatewayError } from '@sg/contracts';
import { loadGatewayFiles } from '@sg/config';
import type { ConfigSync } from '@sg/messaging';
import { AgentAuthService } from './agent-auth.service.js';

const CONFIG_DIR = resolve(import.meta.dirname, '../../../../examples/config');
// ConfigSync hands each reloader the files and applies what it returns.
const config = { register: (reload: (f: unknown) => () => void) => reload(loadGatewayFiles(CONFIG_DIR))() } as unknown as ConfigSync;
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
    expect(auth.authenticate('default', { 'x-api-key': 'modelkey-abc123' })).toEqual({ agentId: 'gpt-4o', project: 'default' });
    expect(auth.authenticate('default', { authorization: 'Bearer modelkey-abc123' }).agentId).toBe('gpt-4o');
  });

  it('uses the default keys for a project without its own file', () => {
    expect(auth.authenticate('acme', { 'x-api-key': 'modelkey-abc123' })).toEqual({ agentId: 'gpt-4o', project: 'acme' });
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
