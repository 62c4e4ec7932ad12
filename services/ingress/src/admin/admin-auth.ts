import { Inject, Injectable } from '@nestjs/common';
import { type AdminRole, type AdminsFile, type GatewayFiles } from '@sg/config';
import { GatewayError, HttpHeaders } from '@sg/contracts';
import { ConfigSync } from '@sg/messaging';
import { ENV, type HeaderBag, headerOf, LOGGER, type Logger } from '@sg/runtime';
import type { FastifyRequest } from 'fastify';
import { decodeJwt, type JWTPayload } from 'jose';
import { secretEquals, sha256 } from '../auth/keys.js';
import { JwtVerifier } from '../auth/oauth.js';
import type { IngressEnv } from '../config/env.js';
import { CSRF_HEADER, cookieOf, DASH_COOKIE, DashSessions } from './dash-sessions.js';

/** What an admin endpoint needs (docs/admins.md). */
export const ADMIN_PERMISSIONS = [
  'audit.read',
  'alerts.ack',
  'approvals.read',
  'approvals.resolve',
  'federation.read',
  'policy.read',
  'policy.write',
  'proposals.review',
  'analytics.read',
  'analytics.run',
] as const;
export type AdminPermission = (typeof ADMIN_PERMISSIONS)[number];

/**
 * Which role may do what. `admin` may do everything; `viewer` reads what is not the audit itself.
 * The ops roles that read the audit (approver, analyst) also acknowledge its alerts.
 */
export const ROLE_PERMISSIONS: Record<AdminRole, ReadonlySet<AdminPermission>> = {
  admin: new Set(ADMIN_PERMISSIONS),
  policy_editor: new Set([
    'policy.read',
    'policy.write',
    'analytics.read',
    'analytics.run',
    'approvals.read',
    'federation.read',
  ]),
  approver: new Set([
    'approvals.read',
    'approvals.resolve',
    'proposals.review',
    'audit.read',
    'alerts.ack',
    'policy.read',
    'federation.read',
  ]),
  analyst: new Set([
    'audit.read',
    'alerts.ack',
    'analytics.read',
    'analytics.run',
    'policy.read',
    'approvals.read',
    'federation.read',
  ]),
  viewer: new Set(['policy.read', 'approvals.read', 'federation.read']),
};

/** An admin who proved who they are. */
export interface AdminPrincipal {
  name: string;
  roles: AdminRole[];
  via: 'key' | 'oidc' | 'bootstrap';
}

/** What an admin request showed of itself, for its audit record (AdminAuditHook). */
export interface AdminSeen {
  /** The permission checked, or the dashboard's login and logout (which need none). */
  permission: AdminPermission | 'dash.login' | 'dash.logout';
  principal: AdminPrincipal | null;
  /** Added to the record by the endpoint (`noteAdminDetail`). */
  detail?: Record<string, unknown>;
}
const SEEN = Symbol('sg.admin');

/** The admin a request proved, and the permission it asked for; undefined for any other request. */
export function adminSeen(req: object): AdminSeen | undefined {
  return (req as { [SEEN]?: AdminSeen })[SEEN];
}

/** Whether one of the principal's roles has the permission. */
export function mayDo(principal: AdminPrincipal, permission: AdminPermission): boolean {
  return principal.roles.some((r) => ROLE_PERMISSIONS[r].has(permission));
}

/** Adds what the request did to its audit record (after AdminAuth.require). */
export function noteAdminDetail(req: object, detail: Record<string, unknown>): void {
  const seen = adminSeen(req);
  if (seen) seen.detail = { ...seen.detail, ...detail };
}

const BOOTSTRAP_WARN_EVERY_MS = 60_000;

interface Compiled {
  byHash: Map<string, { name: string; roles: AdminRole[] }>;
  oidc: NonNullable<AdminsFile['oidc']> | null;
  fourEyes: boolean;
}

/**
 * Admin principals (docs/admins.md): a key of admins.yaml (`X-Admin-Key`, stored as its sha256),
 * an OIDC bearer token (ADMIN_OIDC_*: its name and role claims, mapped by admins.yaml `oidc`),
 * or the bootstrap ADMIN_API_KEY (every role; each use is warned about). `require` checks the
 * role an endpoint needs and marks the request, so its answer is audited with the principal.
 */
@Injectable()
export class AdminAuth {
  private compiled: Compiled = { byHash: new Map(), oidc: null, fourEyes: true };
  private readonly jwt: JwtVerifier | null;
  private lastBootstrapWarning = -Infinity;

  constructor(
    config: ConfigSync,
    @Inject(ENV) private readonly env: IngressEnv,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly sessions: DashSessions,
  ) {
    this.jwt =
      env.ADMIN_OIDC_ISSUER && env.ADMIN_OIDC_JWKS_URL && env.ADMIN_OIDC_AUDIENCE
        ? new JwtVerifier(env.ADMIN_OIDC_JWKS_URL, env.ADMIN_OIDC_ISSUER, env.ADMIN_OIDC_AUDIENCE)
        : null;
    config.register((files) => {
      const next = compile(files);
      return () => {
        this.compiled = next;
      };
    });
    if (env.ADMIN_API_KEY)
      logger.warn(
        'ADMIN_API_KEY is set: a bootstrap admin with every role. Name your admins in admins.yaml and remove it (docs/admins.md)',
      );
  }

  /** admins.yaml `four_eyes` (on by default). */
  get fourEyes(): boolean {
    return this.compiled.fourEyes;
  }

  /** Whether a request carries admin credentials (an admin key, or a token of the admin issuer). */
  presents(headers: HeaderBag): boolean {
    if (headerOf(headers, HttpHeaders.adminKey) !== undefined) return true;
    if (cookieOf(headerOf(headers, 'cookie'), DASH_COOKIE) !== undefined) return true;
    const token = this.bearerToken(headers);
    return token !== undefined && issuerOf(token) === this.env.ADMIN_OIDC_ISSUER;
  }

  /**
   * The request's admin, allowed `permission`, or a refusal: 401 AUTH.ADMIN_KEY_REQUIRED (no or
   * a wrong credential), 401 AUTH.TOKEN_INVALID, 403 AUTH.ADMIN_ROLE_REQUIRED, 503
   * AUTH.ADMIN_DISABLED (no admin configured at all). The request is marked for its audit record.
   */
  async require(req: FastifyRequest, permission: AdminPermission): Promise<AdminPrincipal> {
    const seen: AdminSeen = { permission, principal: null };
    (req as unknown as { [SEEN]: AdminSeen })[SEEN] = seen;
    const principal = await this.principalOf(req);
    seen.principal = principal;
    if (!mayDo(principal, permission)) {
      const may = (Object.keys(ROLE_PERMISSIONS) as AdminRole[]).filter((r) =>
        ROLE_PERMISSIONS[r].has(permission),
      );
      throw new GatewayError(
        'AUTH.ADMIN_ROLE_REQUIRED',
        `${principal.name} (${principal.roles.join(', ')}) may not do this; it needs ${permission}, which the roles ${may.join(', ')} have`,
      );
    }
    return principal;
  }

  /**
   * An admin credential (key or token) as it is presented, or else a dashboard session cookie:
   * then a write (any method but GET and HEAD) must carry the session's CSRF token.
   */
  async principalOf(req: FastifyRequest): Promise<AdminPrincipal> {
    const headers = req.headers;
    if (
      headerOf(headers, HttpHeaders.adminKey) !== undefined ||
      this.bearerToken(headers) !== undefined
    )
      return this.authenticate(headers);
    const found = await this.sessions.of(headers);
    if (!found) return this.authenticate(headers);
    const s = found.session;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const csrf = headerOf(headers, CSRF_HEADER);
      if (csrf === undefined || !secretEquals(csrf, s.csrf))
        throw new GatewayError(
          'AUTH.CSRF_TOKEN_INVALID',
          'a write with the dashboard session needs the X-CSRF-Token header of its login answer',
        );
    }
    // A key's admin has the roles admins.yaml gives it now (none: removed, so logged out).
    if (s.via === 'key') {
      const now = [...this.compiled.byHash.values()].find((a) => a.name === s.name);
      if (!now) {
        await this.sessions.end(found.token);
        throw new GatewayError(
          'AUTH.SESSION_INVALID',
          `${s.name} is no longer an admin of admins.yaml; the session was ended`,
        );
      }
      return { name: now.name, roles: now.roles, via: 'key' };
    }
    return { name: s.name, roles: s.roles as AdminRole[], via: s.via };
  }

  /**
   * A dashboard login (POST /dash/api/session): an admin's key or token as any admin endpoint
   * takes it, never a session cookie. Audited like every admin request.
   */
  async login(req: FastifyRequest): Promise<AdminPrincipal> {
    const seen: AdminSeen = { permission: 'dash.login', principal: null };
    (req as unknown as { [SEEN]: AdminSeen })[SEEN] = seen;
    seen.principal = await this.authenticate(req.headers);
    return seen.principal;
  }

  /** The session a logout ends (DELETE /dash/api/session), CSRF-checked, and audited. */
  async logout(req: FastifyRequest): Promise<{ token: string; principal: AdminPrincipal } | null> {
    const seen: AdminSeen = { permission: 'dash.logout', principal: null };
    (req as unknown as { [SEEN]: AdminSeen })[SEEN] = seen;
    const found = await this.sessions.of(req.headers);
    if (!found) return null;
    seen.principal = await this.principalOf(req);
    return { token: found.token, principal: seen.principal };
  }

  private async authenticate(headers: HeaderBag): Promise<AdminPrincipal> {
    const { byHash } = this.compiled;
    const key = headerOf(headers, HttpHeaders.adminKey);
    if (key !== undefined) {
      const named = byHash.get(sha256(key).toString('hex'));
      if (named) return { ...named, via: 'key' };
      if (this.env.ADMIN_API_KEY && secretEquals(key, this.env.ADMIN_API_KEY)) {
        this.warnBootstrap();
        return { name: 'bootstrap', roles: ['admin'], via: 'bootstrap' };
      }
      throw new GatewayError(
        'AUTH.ADMIN_KEY_REQUIRED',
        'the X-Admin-Key is not an admin key here; send the key of an admin of admins.yaml',
      );
    }
    const token = this.bearerToken(headers);
    if (token !== undefined && this.jwt) return this.fromToken(await this.jwt.verify(token));
    if (byHash.size === 0 && !this.env.ADMIN_API_KEY && !this.jwt)
      throw new GatewayError(
        'AUTH.ADMIN_DISABLED',
        'the admin API is disabled; name admins in admins.yaml (or set ADMIN_API_KEY to bootstrap one)',
      );
    throw new GatewayError(
      'AUTH.ADMIN_KEY_REQUIRED',
      `send an admin key in the X-Admin-Key header${this.jwt ? ', or an admin token in Authorization: Bearer' : ''}`,
    );
  }

  private fromToken(payload: JWTPayload): AdminPrincipal {
    const oidc = this.compiled.oidc ?? { name_claim: 'sub', role_claim: 'groups', roles: {} };
    const name = payload[oidc.name_claim];
    const claimed = payload[oidc.role_claim];
    const values =
      typeof claimed === 'string'
        ? claimed.split(' ')
        : Array.isArray(claimed)
          ? claimed.filter((v): v is string => typeof v === 'string')
          : [];
    const roles = [
      ...new Set(values.map((v) => oidc.roles[v]).filter((r): r is AdminRole => r !== undefined)),
    ];
    if (typeof name !== 'string' || name.length === 0 || name.length > 128)
      throw new GatewayError(
        'AUTH.TOKEN_INVALID',
        `the admin token has no ${oidc.name_claim} claim to name its holder`,
      );
    if (roles.length === 0)
      throw new GatewayError(
        'AUTH.ADMIN_ROLE_REQUIRED',
        `${name} holds no role here: none of its ${oidc.role_claim} is mapped in admins.yaml oidc.roles`,
      );
    return { name, roles, via: 'oidc' };
  }

  private bearerToken(headers: HeaderBag): string | undefined {
    const auth = headerOf(headers, HttpHeaders.authorization);
    const m = auth ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
    return m && JwtVerifier.isJwt(m[1]!) ? m[1] : undefined;
  }

  private warnBootstrap(): void {
    const now = performance.now();
    if (now - this.lastBootstrapWarning < BOOTSTRAP_WARN_EVERY_MS) return;
    this.lastBootstrapWarning = now;
    this.logger.warn(
      'the bootstrap ADMIN_API_KEY was used (every role, no name in the audit but "bootstrap"); give each admin a key of their own in admins.yaml',
    );
  }
}

function compile(files: GatewayFiles): Compiled {
  const file = files.admins;
  const byHash = new Map<string, { name: string; roles: AdminRole[] }>();
  for (const [name, a] of Object.entries(file?.admins ?? {}))
    byHash.set(a.key_sha256, { name, roles: a.roles });
  return { byHash, oidc: file?.oidc ?? null, fourEyes: file?.four_eyes ?? true };
}

function issuerOf(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}
