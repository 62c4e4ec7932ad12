import { createHash, createPublicKey, type KeyObject, verify } from 'node:crypto';
import type { PolicyVersion } from '@sg/contracts';
import { UsageError } from '../exit-codes.js';
import { printable } from '../format.js';

/** An Ed25519 public key from PEM text (SPKI, as GET /api/policy/signing-key gives it). */
export function publicKeyOf(pem: string, path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new UsageError(
      `${JSON.stringify(printable(path))} is not a PEM public key: ${printable((err as Error).message)}`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519')
    throw new UsageError(
      `${JSON.stringify(printable(path))} is a ${key.asymmetricKeyType} key; policy versions are signed with Ed25519`,
    );
  return key;
}

/**
 * What a version's signature covers (docs/policy-versions.md): these fields, its content through
 * `sha256`, as JSON with the keys sorted. All are strings or null, so sorting the keys and
 * JSON.stringify of each value is the whole canonical form.
 */
export function signedText(v: PolicyVersion): string {
  const fields: Record<string, string | null> = {
    id: v.id,
    project: v.project,
    kind: v.kind,
    sha256: v.sha256,
    parent_id: v.parent_id,
    author: v.author,
    source: v.source,
    reason: v.reason,
    created_at: v.created_at,
    key_id: v.key_id ?? '',
  };
  return `{${Object.keys(fields)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(fields[k])}`)
    .join(',')}}`;
}

/**
 * What is wrong with a version checked here, with `key`, rather than by the gateway: content
 * whose digest is not the signed one, a signature that is missing or does not verify.
 */
export function signatureProblem(v: PolicyVersion, content: string, key: KeyObject): string | null {
  if (createHash('sha256').update(content, 'utf8').digest('hex') !== v.sha256)
    return 'its content does not match its signed digest (sha256)';
  if (!v.signature) return 'it is unsigned (stored while no signing key was configured)';
  const ok = (() => {
    try {
      return verify(
        null,
        Buffer.from(signedText(v), 'utf8'),
        key,
        Buffer.from(v.signature, 'base64'),
      );
    } catch {
      return false;
    }
  })();
  return ok ? null : `its signature does not verify with the given public key (key ${v.key_id})`;
}
