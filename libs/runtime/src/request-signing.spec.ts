import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { GatewayError } from '@sg/contracts';
import {
  contentDigest,
  ed25519PublicKey,
  type NonceStore,
  signRequest,
  verifySignedRequest,
  type VerificationKey,
} from './request-signing.js';

const SHARED = randomBytes(32);
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const rawPublic = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');

const KEYS: Record<string, VerificationKey> = {
  'agent-hmac': { alg: 'hmac-sha256', key: SHARED },
  'agent-ed': { alg: 'ed25519', key: ed25519PublicKey(rawPublic) },
};
const lookup = async (id: string) => KEYS[id] ?? null;

function memoryNonces(): NonceStore {
  const used = new Set<string>();
  return {
    async claim(keyId, nonce) {
      const k = `${keyId}:${nonce}`;
      if (used.has(k)) return false;
      used.add(k);
      return true;
    },
  };
}

const BODY = Buffer.from('{"agent_id":"a","tool":"t","arguments":{}}');
let n = 0;
async function signed(
  over: { keyId?: string; created?: number; body?: Buffer; url?: string; nonce?: string } = {},
) {
  const keyId = over.keyId ?? 'agent-hmac';
  const key =
    keyId === 'agent-ed'
      ? { keyId, alg: 'ed25519' as const, key: privateKey }
      : { keyId, alg: 'hmac-sha256' as const, key: SHARED };
  const headers = await signRequest(
    { method: 'POST', url: 'http://gw.example/api/tools/call', body: BODY },
    key,
    {
      nonce: over.nonce ?? `nonce-${Date.now()}-${++n}-abcdef`,
      ...(over.created ? { created: over.created } : {}),
    },
  );
  return {
    method: 'POST',
    url: over.url ?? '/api/tools/call',
    headers: { 'content-type': 'application/json', ...headers } as Record<string, string>,
    body: over.body ?? BODY,
  };
}

async function refusal(run: Promise<unknown>): Promise<string> {
  try {
    await run;
    return 'accepted';
  } catch (err) {
    return (err as GatewayError).code;
  }
}

it.each(['agent-hmac', 'agent-ed'])('accepts a request signed with %s', async (keyId) => {
  const req = await signed({ keyId });
  expect(req.headers['signature-input']).toMatch(
    /^sig=\("@method" "@path" "content-digest"\);created=\d+;nonce="[^"]+";keyid="agent-/,
  );
  expect(await verifySignedRequest(req, lookup, memoryNonces())).toEqual({ keyId });
});

it('refuses each kind of bad signature with its own code', async () => {
  const nonces = memoryNonces();
  // Well past the 300 s window: at 301 s, a second ticking by before the check accepted it.
  const now = Math.floor(Date.now() / 1000);
  const cases: Array<[string, Promise<unknown>]> = [
    [
      'body changed',
      signed({ body: Buffer.from('{}') }).then((r) => verifySignedRequest(r, lookup, nonces)),
    ],
    ['other path', signed({ url: '/approve' }).then((r) => verifySignedRequest(r, lookup, nonces))],
    ['too old', signed({ created: now - 400 }).then((r) => verifySignedRequest(r, lookup, nonces))],
    ['future', signed({ created: now + 400 }).then((r) => verifySignedRequest(r, lookup, nonces))],
    [
      'unknown key',
      signed({ keyId: 'agent-x' }).then((r) => verifySignedRequest(r, lookup, nonces)),
    ],
    ['short nonce', signed({ nonce: 'abc' }).then((r) => verifySignedRequest(r, lookup, nonces))],
  ];
  const codes = Object.fromEntries(
    await Promise.all(cases.map(async ([name, p]) => [name, await refusal(p)])),
  );
  expect(codes).toEqual({
    'body changed': 'AUTH.SIGNATURE_INVALID',
    'other path': 'AUTH.SIGNATURE_INVALID',
    'too old': 'AUTH.SIGNATURE_EXPIRED',
    future: 'AUTH.SIGNATURE_EXPIRED',
    'unknown key': 'AUTH.SIGNATURE_UNKNOWN_KEY',
    'short nonce': 'AUTH.SIGNATURE_INVALID',
  });
});

it('refuses a replayed nonce, and spends no nonce on a signature that fails', async () => {
  const nonces = memoryNonces();
  const req = await signed({ nonce: 'replay-nonce-0000000001' });
  const forged = { ...req, headers: { ...req.headers, 'content-digest': contentDigest('{}') } };
  expect(await refusal(verifySignedRequest(forged, lookup, nonces))).toBe('AUTH.SIGNATURE_INVALID');
  expect(await refusal(verifySignedRequest(req, lookup, nonces))).toBe('accepted');
  expect(await refusal(verifySignedRequest(req, lookup, nonces))).toBe('AUTH.NONCE_REPLAYED');
});

it('refuses a signature that leaves out the body or the path, and a second signature', async () => {
  const req = await signed();
  const partial = {
    ...req,
    headers: {
      ...req.headers,
      'signature-input': req.headers['signature-input']!.replace(' "content-digest"', ''),
    },
  };
  expect(await refusal(verifySignedRequest(partial, lookup, memoryNonces()))).toBe(
    'AUTH.SIGNATURE_INVALID',
  );
  const other = await signed({ keyId: 'agent-ed' });
  const two = {
    ...req,
    headers: {
      ...req.headers,
      'signature-input': `${req.headers['signature-input']}, sig2=${other.headers['signature-input']!.slice(4)}`,
      signature: `${req.headers.signature}, sig2=${other.headers.signature!.slice(4)}`,
    },
  };
  expect(await refusal(verifySignedRequest(two, lookup, memoryNonces()))).toBe(
    'AUTH.SIGNATURE_INVALID',
  );
  const garbage = { ...req, headers: { ...req.headers, signature: 'nonsense' } };
  expect(await refusal(verifySignedRequest(garbage, lookup, memoryNonces()))).toBe(
    'AUTH.SIGNATURE_INVALID',
  );
});

it('reads an Ed25519 public key as base64 or PEM, and refuses other lengths', () => {
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  expect(ed25519PublicKey(pem).asymmetricKeyType).toBe('ed25519');
  expect(ed25519PublicKey(rawPublic).asymmetricKeyType).toBe('ed25519');
  expect(() => ed25519PublicKey(Buffer.alloc(16).toString('base64'))).toThrow(/32 bytes/);
});
