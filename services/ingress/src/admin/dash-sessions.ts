import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { POLICY_REDIS } from '@sg/policy-engine';
import { ENV, type HeaderBag, headerOf } from '@sg/runtime';
import type { Redis } from 'ioredis';
import type { IngressEnv } from '../config/env.js';

/** The dashboard's session cookie (HttpOnly, SameSite=Strict). */
export const DASH_COOKIE = 'sg_dash';
/** The header a write with a session cookie carries its CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';

/** An admin's login, as stored: who, how they proved it, their roles then, the CSRF token. */
export interface DashSession {
  name: string;
  via: 'key' | 'oidc' | 'bootstrap';
  roles: string[];
  csrf: string;
  expires_at: string;
}

/** Redis keys hold the token's hash only: a read of Redis gives no usable cookie. */
const key = (token: string) => `dash:session:${createHash('sha256').update(token).digest('hex')}`;

/**
 * Dashboard sessions (issue 15): a login with an admin credential becomes a random token in an
 * HttpOnly, SameSite=Strict cookie, stored in Redis for DASH_SESSION_TTL_S with a CSRF token
 * that writes must echo. Any ingress instance serves any session.
 */
@Injectable()
export class DashSessions {
  constructor(
    @Inject(POLICY_REDIS) private readonly redis: Redis,
    @Inject(ENV) private readonly env: IngressEnv,
  ) {}

  async create(
    who: Omit<DashSession, 'csrf' | 'expires_at'>,
  ): Promise<{ token: string; session: DashSession }> {
    const token = randomBytes(32).toString('base64url');
    const ttl = this.env.DASH_SESSION_TTL_S;
    const session: DashSession = {
      ...who,
      csrf: randomBytes(32).toString('base64url'),
      expires_at: new Date(Date.now() + ttl * 1000).toISOString(),
    };
    await this.redis.set(key(token), JSON.stringify(session), 'EX', ttl);
    return { token, session };
  }

  /** The session of a request's cookie; null without one; refused when it is not (or no longer) valid. */
  async of(headers: HeaderBag): Promise<{ token: string; session: DashSession } | null> {
    const token = cookieOf(headerOf(headers, 'cookie'), DASH_COOKIE);
    if (token === undefined) return null;
    const raw = /^[A-Za-z0-9_-]{43}$/.test(token) ? await this.redis.get(key(token)) : null;
    if (!raw)
      throw new GatewayError(
        'AUTH.SESSION_INVALID',
        'the dashboard session expired or was ended; log in again (POST /dash/api/session)',
      );
    return { token, session: JSON.parse(raw) as DashSession };
  }

  async end(token: string): Promise<void> {
    await this.redis.del(key(token));
  }

  /** Set-Cookie for a new session, or (no token) the one that removes it. */
  cookie(token: string | null): string {
    const attrs = [
      `${DASH_COOKIE}=${token ?? ''}`,
      'Path=/',
      'HttpOnly',
      'SameSite=Strict',
      `Max-Age=${token ? this.env.DASH_SESSION_TTL_S : 0}`,
    ];
    if (this.env.DASH_COOKIE_SECURE) attrs.push('Secure');
    return attrs.join('; ');
  }
}

/** One cookie's value from a Cookie header (the first of that name). */
export function cookieOf(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}
