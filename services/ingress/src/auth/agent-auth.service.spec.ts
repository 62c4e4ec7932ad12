import { generateKeyPairSync } from 'node:crypto';
import { GatewayError } from '@sg/contracts';
import { loadGatewayFiles } from '@sg/config';
import type { ConfigSync } from '@sg/messaging';
import { EnvSecretProvider, signRequest } from '@sg/runtime';
import { exampleConfigDir } from '@sg/testing';
import type { Redis } from 'ioredis';
import type { IngressEnv } from '../config/env.js';
import { AgentAuthService, type Credentials } from './agent-auth.service.js';
import { OAuthTokens } from './oauth.js';

const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const PUBLIC = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');

// The example config, a project "acme" with a policy of its own and no model_keys file, and
// signing agents in "signed".
const configDir = exampleConfigDir('http://127.0.0.1:9');
configDir.write('policies/acme.yaml', 'rules: []\n');
configDir.write('policies/signed.yaml', 'rules: []\n');
configDir.write(
  'model_keys/signed.yaml',
  [
    'models:',
    '  hmac-bot:',
    '    key: hmac-bot-key-0001',
    '    signing_keys: [{ key_id: hmac-1, hmac_secret: "{{secret:HMAC_BOT}}" }]',
    '  ed-bot:',
    '    key: ed-bot-key-00001',
    `    signing_keys: [{ key_id: ed-1, ed25519_public_key: "${PUBLIC}" }]`,
    '    require_signature: true',
    '  lost-bot:',
    '    signing_keys: [{ key_id: lost-1, hmac_secret: "{{secret:NOT_THERE}}" }]',
    '  keyed-bot:',
    '    key: keyed-bot-key-0001',
    '',
  ].join('\n'),
);
const files = loadGatewayFiles(configDir.dir);
configDir.remove();
// ConfigSync hands each reloader the files and applies what it returns.
const config = {
  register: (reload: (f: unknown) => () => void) => reload(files)(),
} as unknown as ConfigSync;
// The nonce store's SET NX, in memory (the e2e tests use Redis).
const used = new Set<string>();
const redis = {
  set: async (key: string) => (used.has(key) ? null : (used.add(key), 'OK')),
} as unknown as Redis;
const auth = new AgentAuthService(
  config,
  new OAuthTokens({} as IngressEnv),
  new EnvSecretProvider({ HMAC_BOT: 'shared-secret-of-hmac-bot' }),
  redis,
);

const request = (headers: Credentials['headers']): Credentials => ({
  headers,
  method: 'POST',
  url: '/api/tools/call',
  body: Buffer.from('{}'),
});

async function codeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    return (err as GatewayError).code;
  }
  return undefined;
}

let nonce = 0;
async function signedBy(
  keyId: string,
  key: string | typeof privateKey,
  extra: Record<string, string> = {},
): Promise<Credentials> {
  const body = Buffer.from('{"tool":"t"}');
  const headers = await signRequest(
    { method: 'POST', url: 'http://gw/api/tools/call', body },
    { keyId, alg: typeof key === 'string' ? 'hmac-sha256' : 'ed25519', key },
    { nonce: `unit-nonce-${++nonce}-0123456789` },
  );
  return { headers: { ...headers, ...extra }, method: 'POST', url: '/api/tools/call', body };
}

describe('AgentAuthService', () => {
  it('accepts the key in X-API-Key or as a Bearer token', async () => {
    expect(await auth.authenticate('default', request({ 'x-api-key': 'modelkey-abc123' }))).toEqual(
      {
        agentId: 'gpt-4o',
        project: 'default',
      },
    );
    expect(
      (await auth.authenticate('default', request({ authorization: 'Bearer modelkey-abc123' })))
        .agentId,
    ).toBe('gpt-4o');
  });

  it('uses the default keys for a project without its own file', async () => {
    expect(await auth.authenticate('acme', request({ 'x-api-key': 'modelkey-abc123' }))).toEqual({
      agentId: 'gpt-4o',
      project: 'acme',
    });
  });

  it('knows no key at all for a project that is not configured', async () => {
    expect(
      await codeOf(() =>
        auth.authenticate('invented', request({ 'x-api-key': 'modelkey-abc123' })),
      ),
    ).toBe('AUTH.INVALID_KEY');
  });

  it.each([
    [{}, 'AUTH.MISSING_KEY'],
    [{ 'x-api-key': '' }, 'AUTH.MISSING_KEY'],
    [{ authorization: 'Basic bW9kZWxrZXk=' }, 'AUTH.MISSING_KEY'],
    [{ 'x-api-key': 'modelkey-abc124' }, 'AUTH.INVALID_KEY'],
    [{ 'x-api-key': 'MODELKEY-ABC123' }, 'AUTH.INVALID_KEY'],
    [{ authorization: 'Bearer modelkey-abc123 extra' }, 'AUTH.MISSING_KEY'],
  ])('refuses %o with %s', async (headers, code) => {
    expect(await codeOf(() => auth.authenticate('default', request(headers)))).toBe(code);
  });

  it('never puts the presented key in its error message', async () => {
    const err = await auth
      .authenticate('default', request({ 'x-api-key': 'leaky-secret-value-999' }))
      .catch((e: unknown) => e as Error);
    expect((err as Error).message).not.toContain('leaky-secret-value-999');
  });
});

describe('AgentAuthService: signed requests', () => {
  it('knows the agent by its signing key, HMAC or Ed25519', async () => {
    expect(
      await auth.authenticate('signed', await signedBy('hmac-1', 'shared-secret-of-hmac-bot')),
    ).toEqual({ agentId: 'hmac-bot', project: 'signed' });
    expect((await auth.authenticate('signed', await signedBy('ed-1', privateKey))).agentId).toBe(
      'ed-bot',
    );
  });

  it('refuses a wrong shared key, a replay, and a key of another project', async () => {
    expect(
      await codeOf(async () => auth.authenticate('signed', await signedBy('hmac-1', 'guess'))),
    ).toBe('AUTH.SIGNATURE_INVALID');
    const once = await signedBy('hmac-1', 'shared-secret-of-hmac-bot');
    await auth.authenticate('signed', once);
    expect(await codeOf(() => auth.authenticate('signed', once))).toBe('AUTH.NONCE_REPLAYED');
    expect(
      await codeOf(async () => auth.authenticate('default', await signedBy('ed-1', privateKey))),
    ).toBe('AUTH.SIGNATURE_UNKNOWN_KEY');
  });

  it('refuses an agent that must sign and did not, whatever else it sends', async () => {
    expect(await codeOf(() => auth.authenticate('signed', request({})))).toBe('AUTH.MISSING_KEY');
    expect(
      await codeOf(() => auth.authenticate('signed', request({ 'x-api-key': 'ed-bot-key-00001' }))),
    ).toBe('AUTH.SIGNATURE_REQUIRED');
    // keyed-bot's key with ed-bot's signature is a mismatch.
    expect(
      await codeOf(async () =>
        auth.authenticate(
          'signed',
          await signedBy('ed-1', privateKey, { 'x-api-key': 'keyed-bot-key-0001' }),
        ),
      ),
    ).toBe('AUTH.IDENTITY_MISMATCH');
    // The signing agent's own key beside its signature is fine.
    expect(
      (
        await auth.authenticate(
          'signed',
          await signedBy('hmac-1', 'shared-secret-of-hmac-bot', {
            'x-api-key': 'hmac-bot-key-0001',
          }),
        )
      ).agentId,
    ).toBe('hmac-bot');
  });

  it('fails closed, with 503, when an HMAC key is missing from the secret store', async () => {
    expect(
      await codeOf(async () => auth.authenticate('signed', await signedBy('lost-1', 'x'))),
    ).toBe('AUTH.SIGNING_KEY_UNAVAILABLE');
  });
});
