import type { KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ConfigFileError, type GatewayFiles, type TrustedPeer } from '@sg/config';
import { GatewayError } from '@sg/contracts';
import { ConfigSync } from '@sg/messaging';
import { compileGlobs, type GlobList } from '@sg/policy-engine';
import {
  ed25519PrivateKey,
  ed25519PublicKey,
  ENV,
  LOGGER,
  type Logger,
  SECRET_PROVIDER,
  type SecretProvider,
  secretReference,
  type VerificationKey,
} from '@sg/runtime';
import type { FederationEnv } from '../config/env.js';

/** A peer as the service uses it, compiled once per config version. */
export interface Peer {
  id: string;
  config: TrustedPeer;
  tools: GlobList;
  projects: ReadonlySet<string>;
  /** An Ed25519 peer's public key, parsed once per config version. */
  publicKey: KeyObject | null;
}

interface Directory {
  self: string | null;
  maxHops: number;
  peers: Map<string, Peer>;
  /** This gateway's Ed25519 key (`signing`), for peers that verify with a public key. */
  signing: { key_id: string; private_key: string } | null;
}

/** The key this gateway signs a request to a peer with. */
export interface SigningKey {
  keyId: string;
  alg: 'hmac-sha256' | 'ed25519';
  key: Buffer | KeyObject;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * trusted_peers.yaml as the service uses it: which peers exist, what each may call here, and the
 * key of each pair. A file that breaks a rule of this deployment (a plain-http peer that is not
 * loopback without FEDERATION_ALLOW_HTTP, an inline key without FEDERATION_ALLOW_INLINE_KEYS) is
 * refused like a malformed one: the last good config stays.
 */
@Injectable()
export class Peers {
  private active: Directory = { self: null, maxHops: 2, peers: new Map(), signing: null };
  /** The last private key parsed, by its secret's text: parsed once, not per request. */
  private privateKey: { text: string; key: KeyObject } | null = null;

  constructor(
    config: ConfigSync,
    @Inject(ENV) private readonly env: FederationEnv,
    @Inject(SECRET_PROVIDER) private readonly secrets: SecretProvider,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    config.register((files) => {
      const next = this.compile(files);
      return () => {
        this.active = next;
      };
    });
  }

  get self(): string | null {
    return this.active.self;
  }

  get maxHops(): number {
    return this.active.maxHops;
  }

  /** Every peer, in file order. */
  list(): Peer[] {
    return [...this.active.peers.values()];
  }

  /**
   * The peer an outbound call names (forward_to, `<peer_id>/<tool>`): FEDERATION.UNKNOWN_TARGET
   * for any other name, or with federation off.
   */
  target(id: string): Peer {
    const peer = this.active.self === null ? undefined : this.active.peers.get(id);
    if (!peer)
      throw new GatewayError(
        'FEDERATION.UNKNOWN_TARGET',
        `no trusted peer ${id.slice(0, 64)} here; forward_to names a peer of trusted_peers.yaml`,
      );
    return peer;
  }

  /**
   * The key this gateway signs with for a peer: the pair's shared key under the pair's key id,
   * or this gateway's own Ed25519 key (`signing`) for a peer that verifies with a public key.
   */
  async signingKey(peer: Peer): Promise<SigningKey> {
    if (!peer.publicKey)
      return {
        keyId: peer.config.key_id,
        alg: 'hmac-sha256',
        key: Buffer.from(await this.sharedKey(peer), 'utf8'),
      };
    const signing = this.active.signing!; // required by the schema when a peer has public_key
    const name = secretReference(signing.private_key)!;
    const text = await this.secrets.get(name);
    if (text === undefined)
      throw new GatewayError(
        'AUTH.SIGNING_KEY_UNAVAILABLE',
        `this gateway's signing key (${name}) is not in the secret store; an operator must provide it`,
      );
    if (this.privateKey?.text !== text) {
      try {
        this.privateKey = { text, key: ed25519PrivateKey(text) };
      } catch {
        throw new GatewayError(
          'AUTH.SIGNING_KEY_UNAVAILABLE',
          `this gateway's signing key (${name}) is not an Ed25519 private key (PKCS#8 PEM, or the base64 of its 32-byte seed)`,
        );
      }
    }
    return { keyId: signing.key_id, alg: 'ed25519', key: this.privateKey.key };
  }

  /** The pair's shared key, for the seed's X-Gateway-Key scheme (legacy_gateway_key peers only). */
  legacyKey(peer: Peer): Promise<string> {
    return this.sharedKey(peer);
  }

  /** The peer a request names; FEDERATION.UNKNOWN_PEER for any other name (or with federation off). */
  peer(id: string | undefined): Peer {
    const peer = id === undefined ? undefined : this.active.peers.get(id);
    if (!peer)
      throw new GatewayError(
        'FEDERATION.UNKNOWN_PEER',
        id === undefined
          ? 'send X-Gateway-Id: the id this gateway knows you by in its trusted_peers.yaml'
          : `no trusted peer ${id.slice(0, 64)} here; an admin adds peers to trusted_peers.yaml`,
      );
    return peer;
  }

  /** The key a peer's signature is checked with: its own pair's key, and no other peer's. */
  async verificationKey(peer: Peer, keyId: string): Promise<VerificationKey | null> {
    if (keyId !== peer.config.key_id) return null;
    if (peer.publicKey) return { alg: 'ed25519', key: peer.publicKey };
    const key = await this.sharedKey(peer);
    return { alg: 'hmac-sha256', key: Buffer.from(key, 'utf8') };
  }

  private async sharedKey(peer: Peer): Promise<string> {
    const value = peer.config.key!;
    const name = secretReference(value);
    if (name === undefined) return value; // inline: allowed in development only (checked at load)
    const secret = await this.secrets.get(name);
    if (secret === undefined)
      throw new GatewayError(
        'AUTH.SIGNING_KEY_UNAVAILABLE',
        `the key of peer ${peer.id} is not in the secret store; an operator must provide it`,
      );
    return secret;
  }

  private compile(files: GatewayFiles): Directory {
    const file = files.peers;
    if (!file) return { self: null, maxHops: 2, peers: new Map(), signing: null };
    const where = `${files.dir}/trusted_peers.yaml`;
    const peers = new Map<string, Peer>();
    for (const [id, config] of Object.entries(file.peers)) {
      const url = new URL(config.url);
      if (
        url.protocol === 'http:' &&
        !LOOPBACK.has(url.hostname) &&
        !this.env.FEDERATION_ALLOW_HTTP
      )
        throw new ConfigFileError(
          where,
          null,
          null,
          `peers.${id}.url: use https (plain http only to a loopback address, unless FEDERATION_ALLOW_HTTP is on)`,
        );
      if (config.key !== undefined && secretReference(config.key) === undefined) {
        if (!this.env.FEDERATION_ALLOW_INLINE_KEYS)
          throw new ConfigFileError(
            where,
            null,
            null,
            `peers.${id}.key: give the key as "{{secret:NAME}}"; an inline key needs FEDERATION_ALLOW_INLINE_KEYS (development only)`,
          );
        this.logger.warn(
          { peer: id },
          `peers.${id}.key is inline in trusted_peers.yaml (development only)`,
        );
      }
      let publicKey: KeyObject | null = null;
      if (config.public_key !== undefined) {
        try {
          publicKey = ed25519PublicKey(config.public_key);
        } catch (err) {
          throw new ConfigFileError(
            where,
            null,
            null,
            `peers.${id}.public_key: ${(err as Error).message}`,
          );
        }
      }
      peers.set(id, {
        id,
        config,
        tools: compileGlobs(config.allow.tools),
        projects: new Set(config.allow.projects),
        publicKey,
      });
    }
    return { self: file.self, maxHops: file.max_hops, peers, signing: file.signing ?? null };
  }
}
