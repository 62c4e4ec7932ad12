import { z } from 'zod';
import { Inject, Injectable } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { ENV } from '@sg/runtime';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type { IngressEnv } from '../config/env.js';

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Asymmetric algorithms only: a shared-secret (HS*) token could be minted by anyone holding the secret. */
const ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'EdDSA',
];

/** The claims that name an agent (docs/oauth.md). */
export interface TokenIdentity {
  sub: string | undefined;
  client_id: string | undefined;
}

/**
 * JWTs of one issuer for one audience, checked against the issuer's JWKS (fetched and cached by
 * jose, refetched for an unknown `kid`): asymmetric algorithms only, `exp` required, 30 s of
 * clock tolerance. A failure is AUTH.TOKEN_INVALID with the reason, or
 * AUTH.TOKEN_ISSUER_UNAVAILABLE when the keys cannot be fetched. Agents' and admins' tokens alike.
 */
export class JwtVerifier {
  private readonly jwks;

  constructor(
    jwksUrl: string,
    private readonly issuer: string,
    private readonly audience: string,
  ) {
    this.jwks = createRemoteJWKSet(new URL(jwksUrl), {
      timeoutDuration: 3000,
      cooldownDuration: 30_000,
    });
  }

  /** Whether a credential has the shape of a JWT (keys never hold dots). */
  static isJwt(credential: string): boolean {
    return JWT.test(credential);
  }

  async verify(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, this.jwks, {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: ALGORITHMS,
        clockTolerance: 30,
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (err) {
      throw tokenFailure(err);
    }
  }
}

/** RFC 9728: where the protected-resource metadata of a resource identifier lives. */
export function resourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/**
 * OAuth 2.1 bearer tokens (the MCP authorization spec): JWTs of OAUTH_ISSUER, checked against
 * its JWKS (fetched and cached by jose, refetched for an unknown `kid`), with the audience
 * OAUTH_AUDIENCE, so a token minted for another resource is refused (no token passthrough).
 * Off unless OAUTH_ISSUER is set.
 */
@Injectable()
export class OAuthTokens {
  private readonly jwt: JwtVerifier | null;

  constructor(@Inject(ENV) private readonly env: IngressEnv) {
    this.jwt =
      env.OAUTH_JWKS_URL && env.OAUTH_ISSUER && env.OAUTH_AUDIENCE
        ? new JwtVerifier(env.OAUTH_JWKS_URL, env.OAUTH_ISSUER, env.OAUTH_AUDIENCE)
        : null;
  }

  get enabled(): boolean {
    return this.jwt !== null;
  }

  /** Whether a bearer credential is a JWT (agent keys never hold dots), when tokens are accepted. */
  isToken(credential: string): boolean {
    return this.enabled && JwtVerifier.isJwt(credential);
  }

  /** `WWW-Authenticate` of a 401 (RFC 6750, with RFC 9728's resource_metadata when tokens are on). */
  challenge(code?: string): string {
    const parts = ['Bearer realm="securegateway"'];
    if (this.enabled && this.env.OAUTH_AUDIENCE)
      parts.push(`resource_metadata="${resourceMetadataUrl(this.env.OAUTH_AUDIENCE)}"`);
    if (code === 'AUTH.TOKEN_INVALID') parts.push('error="invalid_token"');
    return parts.join(', ');
  }

  /** RFC 9728 protected-resource metadata; null when tokens are off. */
  metadata(): ProtectedResource | null {
    const { OAUTH_AUDIENCE: audience, OAUTH_ISSUER: issuer } = this.env;
    // Tokens are on only with both set (see the constructor).
    if (!this.enabled || !audience || !issuer) return null;
    return {
      resource: audience,
      authorization_servers: [issuer],
      bearer_methods_supported: ['header'],
      ...(this.env.OAUTH_REQUIRED_SCOPE
        ? { scopes_supported: [this.env.OAUTH_REQUIRED_SCOPE] }
        : {}),
      resource_name: 'SecureGateway',
    };
  }

  async verify(token: string): Promise<TokenIdentity> {
    if (!this.jwt) throw new Error('OAuth is not configured');
    const payload = await this.jwt.verify(token);
    const scope = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
    if (this.env.OAUTH_REQUIRED_SCOPE && !scope.includes(this.env.OAUTH_REQUIRED_SCOPE))
      throw new GatewayError(
        'AUTH.TOKEN_INVALID',
        `the token lacks the scope ${this.env.OAUTH_REQUIRED_SCOPE}; ask the authorization server for it`,
      );
    const claim = (name: string) =>
      typeof payload[name] === 'string' ? (payload[name] as string) : undefined;
    return { sub: payload.sub, client_id: claim('client_id') ?? claim('azp') };
  }
}

function tokenFailure(err: unknown): GatewayError {
  if (err instanceof errors.JWKSTimeout || err instanceof TypeError || isFetchFailure(err))
    return new GatewayError(
      'AUTH.TOKEN_ISSUER_UNAVAILABLE',
      "the authorization server's keys cannot be fetched; retry shortly",
    );
  const why =
    err instanceof errors.JWTExpired
      ? 'it has expired'
      : err instanceof errors.JWTClaimValidationFailed
        ? `its ${err.claim} claim is not accepted here`
        : err instanceof errors.JOSEAlgNotAllowed
          ? 'its algorithm is not accepted'
          : err instanceof errors.JWKSNoMatchingKey ||
              err instanceof errors.JWSSignatureVerificationFailed
            ? 'its signature does not verify'
            : 'it is malformed';
  return new GatewayError(
    'AUTH.TOKEN_INVALID',
    `the bearer token is refused: ${why}; get a new token for this gateway`,
  );
}

function isFetchFailure(err: unknown): boolean {
  return (
    err instanceof errors.JOSEError &&
    err.code === 'ERR_JOSE_GENERIC' &&
    /fetch|status/i.test(err.message)
  );
}

/** RFC 9728 protected-resource metadata, as GET /.well-known/oauth-protected-resource serves it. */
export const protectedResourceSchema = z.object({
  resource: z.string(),
  authorization_servers: z.array(z.string()),
  bearer_methods_supported: z.array(z.string()),
  scopes_supported: z.array(z.string()).optional(),
  resource_name: z.string(),
});
export type ProtectedResource = z.infer<typeof protectedResourceSchema>;
