import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  canonicalJson,
  ed25519PrivateKey,
  ENV,
  LOGGER,
  type Logger,
  SECRET_PROVIDER,
  type SecretProvider,
} from '@sg/runtime';
import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import type { SigningKey } from '@sg/contracts';
import type { PolicyEnv } from '../config/env.js';

/** The fields a version's signature covers (its content through `sha256`). */
export interface SignedFields {
  id: string;
  project: string;
  kind: string;
  sha256: string;
  parent_id: string | null;
  author: string;
  source: string;
  reason: string;
  created_at: string;
  key_id: string;
}

/** The signed fields as a version row holds them. */
export type StoredSignedFields = Omit<SignedFields, 'created_at' | 'key_id'> & {
  created_at: Date;
  key_id: string | null;
};

/** A stored version's signed fields (`key_id` '' for one stored unsigned). */
export function signedFieldsOf(r: StoredSignedFields): SignedFields {
  return {
    id: r.id,
    project: r.project,
    kind: r.kind,
    sha256: r.sha256,
    parent_id: r.parent_id,
    author: r.author,
    source: r.source,
    reason: r.reason,
    created_at: r.created_at.toISOString(),
    key_id: r.key_id ?? '',
  };
}

/** What is signed: the canonical JSON of the fields, so any language can check it (docs/policy-versions.md). */
export function signingInput(fields: SignedFields): Buffer {
  return Buffer.from(canonicalJson(fields), 'utf8');
}

/** Whether `signature` (base64) is `publicKey`'s Ed25519 signature of the version's fields. */
export function signatureVerifies(
  fields: SignedFields,
  signature: string | null,
  publicKey: KeyObject,
): boolean {
  if (!signature) return false;
  try {
    return verify(null, signingInput(fields), publicKey, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/**
 * Signs and verifies policy versions with Ed25519 (seed 001's "policy contracts", without its
 * hard-coded key): the private key is the secret POLICY_SIGNING_SECRET (a PKCS#8 PEM or the
 * base64 of its 32-byte seed) from the secret provider, its id POLICY_SIGNING_KEY_ID. Without
 * the secret, versions are stored unsigned, and said so at start.
 */
@Injectable()
export class VersionSigner implements OnModuleInit {
  private key: { keyId: string; privateKey: KeyObject; publicKey: KeyObject } | null = null;

  constructor(
    @Inject(ENV) private readonly env: PolicyEnv,
    @Inject(SECRET_PROVIDER) private readonly secrets: SecretProvider,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onModuleInit(): Promise<void> {
    const text = await this.secrets.get(this.env.POLICY_SIGNING_SECRET);
    if (text === undefined) {
      this.logger.warn(
        `the secret ${this.env.POLICY_SIGNING_SECRET} is not set: policy versions are stored unsigned (docs/policy-versions.md)`,
      );
      return;
    }
    let privateKey: KeyObject;
    try {
      privateKey = ed25519PrivateKey(text);
    } catch {
      throw new Error(
        `the secret ${this.env.POLICY_SIGNING_SECRET} is not an Ed25519 private key (PKCS#8 PEM, or the base64 of its 32-byte seed)`,
      );
    }
    this.key = {
      keyId: this.env.POLICY_SIGNING_KEY_ID,
      privateKey,
      publicKey: createPublicKey(privateKey),
    };
  }

  /** The public key new versions are signed with, to check them offline; nulls when unsigned. */
  get publicKey(): SigningKey {
    return {
      key_id: this.key?.keyId ?? null,
      algorithm: 'Ed25519',
      public_key_pem:
        (this.key?.publicKey.export({ type: 'spki', format: 'pem' }) as string) ?? null,
    };
  }

  /** The key id new versions are signed under; null when versions are stored unsigned. */
  get keyId(): string | null {
    return this.key?.keyId ?? null;
  }

  sign(fields: SignedFields): string | null {
    if (!this.key) return null;
    return sign(null, signingInput(fields), this.key.privateKey).toString('base64');
  }

  /** Signs any record (its canonical JSON): a proposal's event. */
  signRecord(value: unknown): string | null {
    if (!this.key) return null;
    return sign(null, Buffer.from(canonicalJson(value), 'utf8'), this.key.privateKey).toString(
      'base64',
    );
  }

  /** Whether a stored version's signature verifies with this instance's key (same key id). */
  verify(fields: SignedFields, signature: string | null): boolean {
    if (!this.key || fields.key_id !== this.key.keyId) return false;
    return signatureVerifies(fields, signature, this.key.publicKey);
  }
}
