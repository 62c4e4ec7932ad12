import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { GatewayError } from '@sg/contracts';
import {
  createSigner,
  createVerifier,
  type Algorithm,
  httpbis,
  type Verifier,
} from 'http-message-signatures';

/**
 * Signed HTTP requests: RFC 9421 HTTP Message Signatures (the `http-message-signatures`
 * library) over the method, the path, and the body through its RFC 9530 Content-Digest, with
 * the `created`, `nonce` and `keyid` parameters. Agents sign `POST /api/tools/call` with it;
 * peer gateways sign `/forward` with it. See docs/signatures.md.
 */

/** How far `created` may be from the verifier's clock, either way. */
export const SIGNATURE_WINDOW_S = 300;
/** What every signature must cover. */
export const SIGNED_COMPONENTS = ['@method', '@path', 'content-digest'] as const;
const REQUIRED_PARAMS = ['created', 'nonce', 'keyid'];
const NONCE = /^[A-Za-z0-9_-]{16,128}$/;

export type SigningAlgorithm = 'hmac-sha256' | 'ed25519';

/** One key a verifier knows: its algorithm and its material (the shared key, or the public key). */
export interface VerificationKey {
  alg: SigningAlgorithm;
  key: Buffer | KeyObject;
}

/** Nonces seen within the window; `claim` is true the first time, false for a replay. */
export interface NonceStore {
  claim(keyId: string, nonce: string, ttlSeconds: number): Promise<boolean>;
}

/**
 * Nonces in Redis: `SET <namespace>:<keyId>:<nonce> NX EX ttl`, shared by every instance. Redis
 * away: AUTH.NONCE_STORE_UNAVAILABLE (503), and signed requests are refused.
 */
export function redisNonceStore(
  redis: { set(key: string, value: string, ex: 'EX', ttl: number, nx: 'NX'): Promise<unknown> },
  namespace: string,
): NonceStore {
  return {
    async claim(keyId, nonce, ttlSeconds) {
      try {
        return (
          (await redis.set(`${namespace}:${keyId}:${nonce}`, '1', 'EX', ttlSeconds, 'NX')) === 'OK'
        );
      } catch {
        throw new GatewayError(
          'AUTH.NONCE_STORE_UNAVAILABLE',
          'the nonce store (Redis) cannot be reached, so signed requests are refused; retry shortly',
        );
      }
    },
  };
}

export interface SignedRequest {
  method: string;
  /** The path and query as received (`/api/tools/call`). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** `sha-256=:<base64>:`, the Content-Digest of a body. */
export function contentDigest(body: Buffer | string): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

/** An Ed25519 public key from an SPKI PEM or the base64 of its 32 bytes. */
export function ed25519PublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return createPublicKey(trimmed);
  const raw = Buffer.from(trimmed, 'base64');
  if (raw.length !== 32)
    throw new Error('an Ed25519 public key is 32 bytes (base64) or an SPKI PEM');
  // SPKI DER prefix of an Ed25519 key, then its 32 bytes.
  const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]);
  return createPublicKey({ key: der, format: 'der', type: 'spki' });
}

/** An Ed25519 private key from a PKCS#8 PEM or the base64 of its 32-byte seed. */
export function ed25519PrivateKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return createPrivateKey(trimmed);
  const raw = Buffer.from(trimmed, 'base64');
  if (raw.length !== 32)
    throw new Error('an Ed25519 private key is a 32-byte seed (base64) or a PKCS#8 PEM');
  // PKCS#8 DER prefix of an Ed25519 key, then its 32-byte seed.
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), raw]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

function invalid(message: string): GatewayError {
  return new GatewayError('AUTH.SIGNATURE_INVALID', message);
}

function header(headers: SignedRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Whether the request carries a signature at all (Signature-Input or Signature). */
export function isSigned(headers: SignedRequest['headers']): boolean {
  return headers['signature-input'] !== undefined || headers['signature'] !== undefined;
}

/** The Content-Digest header must name sha-256 or sha-512 of exactly these bytes. */
function checkDigest(headers: SignedRequest['headers'], body: Buffer): void {
  const value = header(headers, 'content-digest');
  if (!value) throw invalid('send a Content-Digest header (sha-256 of the body) and sign it');
  for (const member of value.split(',')) {
    const m = /^\s*(sha-256|sha-512)=:([A-Za-z0-9+/=]+):\s*$/.exec(member);
    if (!m) continue;
    const expected = createHash(m[1] === 'sha-256' ? 'sha256' : 'sha512')
      .update(body)
      .digest();
    const given = Buffer.from(m[2]!, 'base64');
    if (given.length === expected.length && given.equals(expected)) return;
    throw invalid(
      'the Content-Digest does not match the body; compute it over the exact bytes sent',
    );
  }
  throw invalid('Content-Digest must hold a sha-256 or sha-512 digest (RFC 9530)');
}

/**
 * Verifies a signed request and returns the key id it was signed with. Refuses, each with its
 * own code: a malformed or incomplete signature, one that does not cover the method, the path
 * and the Content-Digest, a digest that does not match the body, a `created` more than
 * SIGNATURE_WINDOW_S from now (AUTH.SIGNATURE_EXPIRED), an unknown key id
 * (AUTH.SIGNATURE_UNKNOWN_KEY), a signature that does not verify, and a nonce seen before
 * (AUTH.NONCE_REPLAYED). The nonce is recorded only once the signature verified, so nobody can
 * spend another's nonces. Exactly one signature is accepted.
 */
export async function verifySignedRequest(
  req: SignedRequest,
  lookup: (keyId: string) => Promise<VerificationKey | null>,
  nonces: NonceStore,
  now: () => number = Date.now,
): Promise<{ keyId: string }> {
  const nowS = Math.floor(now() / 1000);
  let labels = 0;
  let seen: { keyId: string; nonce: string } | null = null;
  let refusal: GatewayError | null = null;
  let verified: boolean | null;
  try {
    verified = await httpbis.verifyMessage(
      {
        requiredFields: [...SIGNED_COMPONENTS],
        requiredParams: REQUIRED_PARAMS,
        // The window is checked below, both ways; the library only refuses a future `created`.
        notAfter: nowS + SIGNATURE_WINDOW_S,
        keyLookup: async (params) => {
          if (++labels > 1) {
            refusal = invalid('send exactly one signature');
            return null;
          }
          const keyId = typeof params.keyid === 'string' ? params.keyid : '';
          const nonce = typeof params.nonce === 'string' ? params.nonce : '';
          const created = params.created instanceof Date ? params.created.getTime() / 1000 : NaN;
          if (!keyId || !nonce || !Number.isFinite(created)) {
            refusal = invalid('the signature must carry keyid, nonce and created parameters');
            return null;
          }
          if (!NONCE.test(nonce)) {
            refusal = invalid('the nonce must be 16-128 characters of [A-Za-z0-9_-]');
            return null;
          }
          if (Math.abs(nowS - created) > SIGNATURE_WINDOW_S) {
            refusal = new GatewayError(
              'AUTH.SIGNATURE_EXPIRED',
              `the signature was created ${Math.round(nowS - created)} s from the gateway's clock; sign within ${SIGNATURE_WINDOW_S} s and check your clock`,
            );
            return null;
          }
          const key = await lookup(keyId);
          if (!key) {
            refusal = new GatewayError(
              'AUTH.SIGNATURE_UNKNOWN_KEY',
              `no signing key has the id ${keyId.slice(0, 128)} here; check keyid`,
            );
            return null;
          }
          seen = { keyId, nonce };
          const verify: Verifier = createVerifier(key.key, key.alg as Algorithm);
          return { id: keyId, algs: [key.alg as Algorithm], verify };
        },
      },
      {
        method: req.method,
        url: `http://gateway${req.url}`,
        headers: req.headers as Record<string, string | string[]>,
      },
    );
  } catch (err) {
    if (refusal) throw refusal;
    if (err instanceof GatewayError) throw err;
    const name = (err as Error).name;
    if (name === 'ExpiredError')
      throw new GatewayError('AUTH.SIGNATURE_EXPIRED', 'the signature has expired');
    throw invalid(
      name === 'UnacceptableSignatureError'
        ? `sign ${SIGNED_COMPONENTS.join(', ')} with the parameters ${REQUIRED_PARAMS.join(', ')}`
        : name === 'UnsupportedAlgorithmError'
          ? 'the signature names another algorithm than its key has'
          : 'the Signature and Signature-Input headers are malformed (RFC 9421)',
    );
  }
  if (refusal) throw refusal;
  const used = seen as { keyId: string; nonce: string } | null;
  if (verified !== true || !used) throw invalid('the signature does not verify');
  checkDigest(req.headers, req.body);
  if (!(await nonces.claim(used.keyId, used.nonce, 2 * SIGNATURE_WINDOW_S)))
    throw new GatewayError(
      'AUTH.NONCE_REPLAYED',
      'this nonce was used before; sign every request with a new random nonce',
    );
  return { keyId: used.keyId };
}

/**
 * The headers that sign a request (Content-Digest, Signature-Input, Signature): for agents and
 * the SDK calling the gateway, and peer gateways calling each other.
 */
export async function signRequest(
  req: { method: string; url: string; body: Buffer | string },
  key: { keyId: string; alg: SigningAlgorithm; key: Buffer | KeyObject | string },
  opts: { nonce: string; created?: number },
): Promise<Record<string, string>> {
  const digest = contentDigest(req.body);
  const signed = await httpbis.signMessage(
    {
      key: createSigner(key.key, key.alg as Algorithm, key.keyId),
      fields: [...SIGNED_COMPONENTS],
      params: ['created', 'nonce', 'keyid', 'alg'],
      paramValues: {
        created: new Date((opts.created ?? Math.floor(Date.now() / 1000)) * 1000),
        nonce: opts.nonce,
      },
    },
    { method: req.method, url: req.url, headers: { 'content-digest': digest } },
  );
  const h = signed.headers as Record<string, string>;
  return {
    'content-digest': digest,
    'signature-input': h['Signature-Input'] ?? h['signature-input']!,
    signature: h['Signature'] ?? h['signature']!,
  };
}
