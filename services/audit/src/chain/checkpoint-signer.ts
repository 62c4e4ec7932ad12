import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Checkpoint } from '@sg/contracts';
import { canonicalJson, type Pool } from '@sg/runtime';

/** A checkpoint as the audit_checkpoints table holds it. */
export interface CheckpointRow {
  chain_seq: string;
  hash: string;
  created_at: Date;
  key_id: string;
  signature: string;
}

export const CHECKPOINT_COLUMNS = 'chain_seq, hash, created_at, key_id, signature';

export function checkpointOf(project: string, c: CheckpointRow): Checkpoint {
  return {
    project,
    chain_seq: Number(c.chain_seq),
    hash: c.hash,
    created_at: c.created_at.toISOString(),
    key_id: c.key_id,
    signature: c.signature,
  };
}

/** What a checkpoint's signature covers. */
function signedText(c: Omit<Checkpoint, 'signature'>): string {
  return canonicalJson({
    project: c.project,
    chain_seq: c.chain_seq,
    hash: c.hash,
    created_at: c.created_at,
    key_id: c.key_id,
  });
}

/** The first 16 hex digits of sha256 over the public key (SPKI DER): names the key in every checkpoint. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

export function publicKeyPem(publicKey: KeyObject): string {
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** Reads an Ed25519 public key from PEM (SPKI), or derives it from a private key PEM (PKCS#8). */
export function loadPublicKey(pem: string): KeyObject {
  const key = pem.includes('PRIVATE KEY')
    ? createPublicKey(createPrivateKey(pem))
    : createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519')
    throw new Error(`the key is ${key.asymmetricKeyType}, not Ed25519`);
  return key;
}

/** Checks a checkpoint's signature with `publicKey` (and that it names that key). */
export function checkpointValid(c: Checkpoint, publicKey: KeyObject): boolean {
  if (c.key_id !== keyIdOf(publicKey)) return false;
  try {
    return verify(null, Buffer.from(signedText(c)), publicKey, Buffer.from(c.signature, 'base64'));
  } catch {
    return false;
  }
}

/** Signs checkpoints with the Ed25519 key of AUDIT_SIGNING_KEY_FILE. */
export class CheckpointSigner {
  readonly publicKey: KeyObject;
  readonly keyId: string;

  private constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    this.keyId = keyIdOf(this.publicKey);
  }

  /** Throws a message naming the file when it is missing or not an Ed25519 private key. */
  static fromFile(file: string): CheckpointSigner {
    let key: KeyObject;
    try {
      key = createPrivateKey(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(
        `AUDIT_SIGNING_KEY_FILE ${file}: cannot read a private key (${(err as Error).message}); create one with: openssl genpkey -algorithm ed25519 -out ${file}`,
      );
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new Error(
        `AUDIT_SIGNING_KEY_FILE ${file}: the key is ${key.asymmetricKeyType}; checkpoints need Ed25519 (openssl genpkey -algorithm ed25519)`,
      );
    }
    return new CheckpointSigner(key);
  }

  sign(c: Omit<Checkpoint, 'signature' | 'key_id'>): Checkpoint {
    const unsigned = { ...c, key_id: this.keyId };
    return {
      ...unsigned,
      signature: sign(null, Buffer.from(signedText(unsigned)), this.privateKey).toString('base64'),
    };
  }

  /**
   * Signs the row `head` of a chain at `now` and stores the checkpoint; one already stored at
   * that position stays. Resolves whether this one was stored.
   */
  async signAndStore(
    db: Pick<Pool, 'query'>,
    head: { project: string; chain_seq: number; hash: string },
    now: Date,
  ): Promise<boolean> {
    const c = this.sign({ ...head, created_at: now.toISOString() });
    const res = await db.query(
      `INSERT INTO audit_checkpoints (project, chain_seq, hash, created_at, key_id, signature)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project, chain_seq) DO NOTHING`,
      [c.project, c.chain_seq, c.hash, c.created_at, c.key_id, c.signature],
    );
    return (res.rowCount ?? 0) > 0;
  }
}
