import { ConfigFileError, loadGatewayFiles } from '@sg/config';
import type { ConfigSync } from '@sg/messaging';
import { EnvSecretProvider, type Logger, signRequest, verifySignedRequest } from '@sg/runtime';
import { exampleConfigDir } from '@sg/testing';
import type { FederationEnv } from '../config/env.js';
import { Peers } from './peers.js';

const warnings: string[] = [];
const logger = { warn: (_o: unknown, m: string) => warnings.push(m) } as unknown as Logger;

/** Peers over a config dir holding `peersYaml`, under these settings. */
function peersOf(
  peersYaml: string,
  env: Partial<FederationEnv> = {},
  secrets: Record<string, string> = {},
) {
  const dir = exampleConfigDir('http://127.0.0.1:9');
  dir.write('trusted_peers.yaml', peersYaml);
  const files = loadGatewayFiles(dir.dir);
  dir.remove();
  const config = {
    register: (r: (f: unknown) => () => void) => r(files)(),
  } as unknown as ConfigSync;
  return new Peers(
    config,
    { FEDERATION_ALLOW_HTTP: false, FEDERATION_ALLOW_INLINE_KEYS: false, ...env } as FederationEnv,
    new EnvSecretProvider({ PEER_A: 'the-shared-key-of-a-and-b', ...secrets }),
    logger,
  );
}

const peer = (url: string, key = '"{{secret:PEER_A}}"') =>
  `self: gw-b\npeers:\n  gw-a:\n    url: ${url}\n    key_id: a-b\n    key: ${key}\n`;

it('refuses plain http to a host other than loopback, unless FEDERATION_ALLOW_HTTP', () => {
  expect(() => peersOf(peer('http://gw-a.example.com/forward'))).toThrow(ConfigFileError);
  expect(() => peersOf(peer('http://gw-a.example.com/forward'))).toThrow(/use https/);
  expect(peersOf(peer('https://gw-a.example.com/forward')).peer('gw-a').id).toBe('gw-a');
  expect(peersOf(peer('http://127.0.0.1:8094/forward')).peer('gw-a').id).toBe('gw-a');
  expect(
    peersOf(peer('http://gw-a.example.com/forward'), { FEDERATION_ALLOW_HTTP: true }).peer('gw-a')
      .id,
  ).toBe('gw-a');
});

it('refuses an inline key unless FEDERATION_ALLOW_INLINE_KEYS, and warns when it is allowed', async () => {
  const inline = peer('https://gw-a.example.com/forward', 'an-inline-shared-key-0001');
  expect(() => peersOf(inline)).toThrow(/FEDERATION_ALLOW_INLINE_KEYS/);
  const peers = peersOf(inline, { FEDERATION_ALLOW_INLINE_KEYS: true });
  expect(warnings.some((w) => w.includes('inline'))).toBe(true);
  expect(await peers.verificationKey(peers.peer('gw-a'), 'a-b')).toMatchObject({
    alg: 'hmac-sha256',
  });
});

it("checks a peer's signature with its own key only, resolved from the secret store", async () => {
  const peers = peersOf(peer('https://gw-a.example.com/forward'));
  const a = peers.peer('gw-a');
  expect(await peers.verificationKey(a, 'a-b')).toEqual({
    alg: 'hmac-sha256',
    key: Buffer.from('the-shared-key-of-a-and-b'),
  });
  expect(await peers.verificationKey(a, 'c-b')).toBeNull();
  expect(() => peers.peer('gw-x')).toThrow(/no trusted peer gw-x/);
  expect(peers.self).toBe('gw-b');
});

it('checks an Ed25519 peer with its public key, parsed once at load, and refuses a malformed one', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const pub = generateKeyPairSync('ed25519')
    .publicKey.export({ format: 'der', type: 'spki' })
    .subarray(12)
    .toString('base64');
  const yaml = (key: string) =>
    `self: gw-b\nsigning: { key_id: b-own, private_key: "{{secret:B_OWN}}" }\npeers:\n  gw-a:\n    url: https://gw-a.example.com/forward\n    key_id: a-b\n    public_key: "${key}"\n`;
  const peers = peersOf(yaml(pub));
  const a = peers.peer('gw-a');
  const first = await peers.verificationKey(a, 'a-b');
  expect(first).toMatchObject({ alg: 'ed25519' });
  expect((await peers.verificationKey(a, 'a-b'))!.key).toBe(first!.key);
  expect(() => peersOf(yaml('A'.repeat(44)))).toThrow(/public_key/);
});

it('signs for an Ed25519 peer with its own private key, which the peer verifies with the public key it holds', async () => {
  const { generateKeyPairSync } = await import('node:crypto');
  const pair = () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    return {
      pub: publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64'),
      seed: privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(16).toString('base64'),
    };
  };
  const [ka, kb] = [pair(), pair()];
  const file = (self: string, own: string, other: string, otherKeyId: string, pub: string) =>
    `self: ${self}\nsigning: { key_id: ${own}, private_key: "{{secret:OWN}}" }\npeers:\n  ${other}:\n    url: https://${other}.example.com/forward\n    key_id: ${otherKeyId}\n    public_key: "${pub}"\n`;
  const a = peersOf(file('gw-a', 'a-own', 'gw-b', 'b-own', kb.pub), {}, { OWN: ka.seed });
  const b = peersOf(file('gw-b', 'b-own', 'gw-a', 'a-own', ka.pub), {}, { OWN: kb.seed });
  const key = await a.signingKey(a.target('gw-b'));
  expect(key).toMatchObject({ keyId: 'a-own', alg: 'ed25519' });
  // Parsed once: the same key object for the next request.
  expect((await a.signingKey(a.target('gw-b'))).key).toBe(key.key);
  const body = '{"x":1}';
  const url = 'https://gw-b.example.com/forward';
  const headers = await signRequest({ method: 'POST', url, body }, key, { nonce: 'n'.repeat(20) });
  const seen = new Set<string>();
  const nonces = { claim: async (k: string, n: string) => !seen.has(k + n) && !!seen.add(k + n) };
  const verify = (peers: Peers, sender: string) =>
    verifySignedRequest(
      { method: 'POST', url: '/forward', headers, body: Buffer.from(body) },
      (keyId) => peers.verificationKey(peers.peer(sender), keyId),
      nonces,
    );
  await expect(verify(b, 'gw-a')).resolves.toEqual({ keyId: 'a-own' });
  // gw-a's own file does not hold its public key as a peer's: its own signature names no peer there.
  await expect(verify(a, 'gw-b')).rejects.toThrow(/no signing key has the id a-own/);
  // A private key that is not one: refused with a reason, the key's text never in it.
  const broken = peersOf(
    file('gw-a', 'a-own', 'gw-b', 'b-own', kb.pub),
    {},
    { OWN: 'bm90LWEta2V5' },
  );
  const err = await broken.signingKey(broken.target('gw-b')).catch((e: Error) => e);
  expect(err).toMatchObject({ code: 'AUTH.SIGNING_KEY_UNAVAILABLE' });
  expect((err as Error).message).not.toContain('bm90LWEta2V5');
});

it('names an unknown outbound target with its own code, and every target with federation off', () => {
  const peers = peersOf(peer('https://gw-a.example.com/forward'));
  expect(() => peers.target('gw-z')).toThrow(
    expect.objectContaining({ code: 'FEDERATION.UNKNOWN_TARGET' }),
  );
  expect(peers.target('gw-a').id).toBe('gw-a');
});
