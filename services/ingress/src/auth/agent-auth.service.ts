import { Inject, Injectable } from '@nestjs/common';
import { ConfigFileError, forProject, type GatewayFiles } from '@sg/config';
import { GatewayError, HttpHeaders } from '@sg/contracts';
import { ConfigSync } from '@sg/messaging';
import { POLICY_REDIS } from '@sg/policy-engine';
import {
  ed25519PublicKey,
  type HeaderBag,
  headerOf,
  isSigned,
  rawBodyOf,
  redisNonceStore,
  type NonceStore,
  SECRET_PROVIDER,
  type SecretProvider,
  secretReference,
  type VerificationKey,
  verifySignedRequest,
} from '@sg/runtime';
import type { Redis } from 'ioredis';
import { matchKey, sha256 } from './keys.js';
import { OAuthTokens } from './oauth.js';

export interface Principal {
  /** The model_keys entry the caller is: the agent's identity everywhere downstream. */
  agentId: string;
  project: string;
}

/** What a request offers to prove who sent it. */
export interface Credentials {
  headers: HeaderBag;
  method: string;
  /** Path and query as received. */
  url: string;
  /** The body's bytes, which a signature covers through its Content-Digest. */
  body: Buffer;
}

/** A Fastify request's credentials. */
export function credentialsOf(req: {
  headers: HeaderBag;
  method: string;
  url: string;
}): Credentials {
  return { headers: req.headers, method: req.method, url: req.url, body: rawBodyOf(req) };
}

interface SigningEntry {
  agentId: string;
  key: { alg: 'ed25519'; key: VerificationKey['key'] } | { alg: 'hmac-sha256'; secret: string };
}

/** One project's ways in, compiled once per config version. */
interface ProjectAuth {
  keys: Array<{ digest: Buffer; value: string }>;
  signing: Map<string, SigningEntry>;
  oauthSub: Map<string, string>;
  oauthClient: Map<string, string>;
  requireSignature: Set<string>;
}

/**
 * Agent authentication against model_keys/<project>.yaml (default.yaml when the project has
 * none): a signed request (RFC 9421, HMAC-SHA256 or Ed25519), an OAuth bearer token of the
 * configured issuer, or the agent's key (X-API-Key or Authorization: Bearer). A project that is
 * not configured has no agents at all, not the default project's. An agent with
 * require_signature is refused unless it signs. See docs/authentication.md.
 */
@Injectable()
export class AgentAuthService {
  private projects = new Map<string, ProjectAuth>();
  private readonly nonces: NonceStore;

  constructor(
    config: ConfigSync,
    private readonly oauth: OAuthTokens,
    @Inject(SECRET_PROVIDER) private readonly secrets: SecretProvider,
    @Inject(POLICY_REDIS) redis: Redis,
  ) {
    this.nonces = redisNonceStore(redis, 'sig:nonce');
    config.register((files) => {
      const projects = AgentAuthService.compile(files);
      return () => {
        this.projects = projects;
      };
    });
  }

  /** Each configured project's credentials, compiled once per config version. */
  static compile(files: GatewayFiles): Map<string, ProjectAuth> {
    const out = new Map<string, ProjectAuth>();
    for (const project of files.projects) {
      const file = forProject(files.modelKeys, project);
      const auth: ProjectAuth = {
        keys: [],
        signing: new Map(),
        oauthSub: new Map(),
        oauthClient: new Map(),
        requireSignature: new Set(),
      };
      for (const [agentId, m] of Object.entries(file.models)) {
        if (m.key_sha256 || m.key)
          auth.keys.push({
            digest: m.key_sha256 ? Buffer.from(m.key_sha256, 'hex') : sha256(m.key!),
            value: agentId,
          });
        for (const k of m.signing_keys) {
          let key: SigningEntry['key'];
          if (k.hmac_secret) key = { alg: 'hmac-sha256', secret: secretReference(k.hmac_secret)! };
          else {
            try {
              key = { alg: 'ed25519', key: ed25519PublicKey(k.ed25519_public_key!) };
            } catch (err) {
              throw new ConfigFileError(
                `model_keys/${project}.yaml`,
                null,
                null,
                `models.${agentId}.signing_keys: ${k.key_id}: ${(err as Error).message}`,
              );
            }
          }
          auth.signing.set(k.key_id, { agentId, key });
        }
        if (m.oauth?.sub) auth.oauthSub.set(m.oauth.sub, agentId);
        if (m.oauth?.client_id) auth.oauthClient.set(m.oauth.client_id, agentId);
        if (m.require_signature) auth.requireSignature.add(agentId);
      }
      out.set(project, auth);
    }
    return out;
  }

  async authenticate(project: string, req: Credentials): Promise<Principal> {
    const auth = this.projects.get(project);
    const credential = presentedKey(req.headers);
    let agentId: string;
    if (isSigned(req.headers)) {
      const { keyId } = await verifySignedRequest(
        req,
        (id) => this.verificationKey(auth, id),
        this.nonces,
      );
      agentId = auth!.signing.get(keyId)!.agentId;
      // A key sent beside the signature must be the same agent's.
      if (credential !== undefined && this.byCredential(project, auth, credential) !== agentId)
        throw new GatewayError(
          'AUTH.IDENTITY_MISMATCH',
          "the key sent with this signed request is not the signing agent's; send the signature alone",
        );
      return { agentId, project };
    }
    if (credential === undefined)
      throw new GatewayError(
        'AUTH.MISSING_KEY',
        'send your agent key in the X-API-Key header or as Authorization: Bearer <key>, a bearer token, or sign the request',
      );
    agentId = this.oauth.isToken(credential)
      ? await this.byToken(project, auth, credential)
      : this.byCredential(project, auth, credential);
    if (auth?.requireSignature.has(agentId))
      throw new GatewayError(
        'AUTH.SIGNATURE_REQUIRED',
        `${agentId} must sign its requests (require_signature); see docs/signatures.md`,
      );
    return { agentId, project };
  }

  private byCredential(project: string, auth: ProjectAuth | undefined, key: string): string {
    const agentId = matchKey(key, auth?.keys ?? []);
    if (agentId === null)
      throw new GatewayError(
        'AUTH.INVALID_KEY',
        `the key is not valid for project ${project}; check the key and the X-Project-ID header`,
      );
    return agentId;
  }

  private async byToken(
    project: string,
    auth: ProjectAuth | undefined,
    token: string,
  ): Promise<string> {
    const who = await this.oauth.verify(token);
    const agentId =
      (who.sub !== undefined ? auth?.oauthSub.get(who.sub) : undefined) ??
      (who.client_id !== undefined ? auth?.oauthClient.get(who.client_id) : undefined);
    if (agentId === undefined)
      throw new GatewayError(
        'AUTH.TOKEN_INVALID',
        `the token's subject and client are no agent of project ${project}; an admin maps them with oauth.sub or oauth.client_id in model_keys`,
      );
    return agentId;
  }

  private async verificationKey(
    auth: ProjectAuth | undefined,
    keyId: string,
  ): Promise<VerificationKey | null> {
    const entry = auth?.signing.get(keyId);
    if (!entry) return null;
    if (entry.key.alg === 'ed25519') return entry.key;
    const secret = await this.secrets.get(entry.key.secret);
    if (secret === undefined)
      throw new GatewayError(
        'AUTH.SIGNING_KEY_UNAVAILABLE',
        `the shared key of signing key ${keyId} is not in the secret store; an operator must provide it`,
      );
    return { alg: 'hmac-sha256', key: Buffer.from(secret, 'utf8') };
  }
}

function presentedKey(headers: HeaderBag): string | undefined {
  const apiKey = headerOf(headers, HttpHeaders.apiKey)?.trim();
  if (apiKey) return apiKey;
  const auth = headerOf(headers, HttpHeaders.authorization);
  const match = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  return match?.[1];
}
