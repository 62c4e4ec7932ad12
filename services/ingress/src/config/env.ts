import {
  baseEnvSchema,
  envSchemas,
  jsonBodyEnvSchema,
  parseEnv,
  redisEnvSchema,
  secretsDirRequired,
  secretsEnvSchema,
} from '@sg/config';
import { z } from 'zod';

export const ingressEnvSchema = baseEnvSchema
  .extend(redisEnvSchema.shape)
  .extend(jsonBodyEnvSchema.shape)
  // The shared keys of agents' HMAC signing keys (`hmac_secret: "{{secret:NAME}}"`).
  .extend(secretsEnvSchema.shape)
  .extend({
    /** A repeated request_id of the same agent within this window gets the first answer back. */
    IDEMPOTENCY_WINDOW_S: z.coerce
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(3600),
    PORT: envSchemas.port.default(8080),
    /** Key for the admin API (X-Admin-Key). Unset: the admin API answers 503 AUTH.ADMIN_DISABLED. */
    ADMIN_API_KEY: z.string().min(16, 'use at least 16 characters').optional(),
    /** Largest request body; it must fit in one NATS message (max_payload) with its envelope. */
    BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(50 * 1024 * 1024)
      .default(256 * 1024),
    /** A dashboard session (the `sg_dash` cookie) ends this long after its login. */
    DASH_SESSION_TTL_S: z.coerce
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .default(8 * 3600),
    /** The session cookie's Secure attribute (browsers send it over HTTPS and to localhost only). */
    DASH_COOKIE_SECURE: envSchemas.bool.default(true),
    /** The built dashboard (apps/dash/dist); by default found through the workspace package @sg/dash. */
    DASH_DIR: z.string().min(1).optional(),
    /** An MCP session (`/mcp`) with no request for this long ends. */
    MCP_SESSION_TTL_S: z.coerce
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(3600),
    /**
     * Browser origins allowed to call `/mcp`, comma-separated (`https://app.example.com`).
     * Requests without an Origin (MCP clients that are not browsers) need no entry; on a
     * loopback bind, loopback origins are allowed.
     */
    MCP_ALLOWED_ORIGINS: z
      .string()
      .default('')
      .transform(
        (s) =>
          new Set(
            s
              .split(',')
              .map((o) => o.trim())
              .filter(Boolean),
          ),
      ),
    /**
     * Where a person approves a call: `{approval_id}` is replaced. MCP clients get this link
     * (URL-mode elicitation, or in the pending answer).
     */
    APPROVAL_URL_TEMPLATE: z
      .string()
      .refine((s) => s.includes('{approval_id}'), 'must contain {approval_id}')
      .optional(),
    /** OAuth 2.1 bearer tokens (docs/authentication.md): the issuer (`iss`). Unset: tokens are not accepted. */
    OAUTH_ISSUER: z.url().optional(),
    /** The issuer's JSON Web Key Set. */
    OAUTH_JWKS_URL: z.url().optional(),
    /** This gateway's resource identifier: a token's `aud` must name it (RFC 8707, RFC 9728). */
    OAUTH_AUDIENCE: z.url().optional(),
    /** A scope every token must hold (space-separated `scope` claim); unset: none required. */
    OAUTH_REQUIRED_SCOPE: z.string().min(1).max(128).optional(),
    /** How long a peer's catalogue (its tools and their schemas) is kept before it is fetched again. */
    REMOTE_CATALOGUE_TTL_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
    /** Added to a tool's own timeout (a peer's, for a forwarded call) to bound the wait for the executor. */
    EXECUTE_MARGIN_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
    /** Admins with OIDC bearer tokens (docs/admins.md): the issuer. Unset: admins use keys only. */
    ADMIN_OIDC_ISSUER: z.url().optional(),
    ADMIN_OIDC_JWKS_URL: z.url().optional(),
    /** A token's `aud` must name it: this gateway's admin API. */
    ADMIN_OIDC_AUDIENCE: z.string().min(1).max(512).optional(),
    /** Most GET /api/audit/stream clients one ingress process serves at once; more get 503 AUDIT.STREAM_LIMIT. */
    AUDIT_STREAM_MAX_CLIENTS: z.coerce.number().int().min(0).max(10_000).default(100),
    /** How often an audit stream gets a keep-alive comment, and its credential is checked again. */
    AUDIT_STREAM_KEEPALIVE_MS: z.coerce.number().int().min(1000).max(60_000).default(15_000),
  })
  .refine(...secretsDirRequired)
  .refine(
    (e) =>
      e.OAUTH_ISSUER === undefined ||
      (e.OAUTH_JWKS_URL !== undefined && e.OAUTH_AUDIENCE !== undefined),
    { message: 'OAUTH_ISSUER needs OAUTH_JWKS_URL and OAUTH_AUDIENCE', path: ['OAUTH_ISSUER'] },
  )
  .refine(
    (e) =>
      e.ADMIN_OIDC_ISSUER === undefined ||
      (e.ADMIN_OIDC_JWKS_URL !== undefined && e.ADMIN_OIDC_AUDIENCE !== undefined),
    {
      message: 'ADMIN_OIDC_ISSUER needs ADMIN_OIDC_JWKS_URL and ADMIN_OIDC_AUDIENCE',
      path: ['ADMIN_OIDC_ISSUER'],
    },
  );
export type IngressEnv = z.infer<typeof ingressEnvSchema>;

export function loadIngressEnv(env: NodeJS.ProcessEnv = process.env): IngressEnv {
  return parseEnv(ingressEnvSchema, env);
}
