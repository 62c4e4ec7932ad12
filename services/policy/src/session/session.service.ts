import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from '../redis.provider.js';

export interface SessionKey {
  project: string;
  agentId: string;
  sessionId: string;
}

export interface SessionCall extends SessionKey {
  tool: string;
}

export interface SessionState {
  calls: number;
  writes: number;
  denials: number;
}

const SESSION_TTL_S = 24 * 3600;
const WRITE_TOOL = /(^|[._-])(write|delete|update|create|insert|remove|send)([._-]|$)/i;

/** Seed 000's session state, in Redis keyed by project, agent and session (never the session alone). */
@Injectable()
export class SessionService implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  /** Counts the call and returns the session's state including it (denials so far, before this call). */
  async record(call: SessionCall): Promise<SessionState> {
    const key = sessionKey(call);
    const res = await this.redis
      .multi()
      .hincrby(key, 'calls', 1)
      .hincrby(key, 'writes', WRITE_TOOL.test(call.tool) ? 1 : 0)
      .hincrby(key, 'denials', 0)
      .expire(key, SESSION_TTL_S)
      .exec();
    if (!res) throw new Error('session update was aborted');
    const [calls, writes, denials] = res.slice(0, 3).map(([err, value]) => {
      if (err) throw err;
      return Number(value);
    });
    return { calls: calls!, writes: writes!, denials: denials! };
  }

  async recordDenial(key: SessionKey): Promise<void> {
    await this.redis.hincrby(sessionKey(key), 'denials', 1);
  }

  async onApplicationShutdown() {
    // quit() waits for pending replies; a client that is not connected only needs its
    // reconnect loop stopped.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    else this.redis.disconnect(false);
  }
}

function sessionKey(k: SessionKey): string {
  return `session:${k.project}:${k.agentId}:${k.sessionId}`;
}

/** score_session from seed 000: more than 5 calls, any write tool, any prior denial. */
export function scoreSession(s: SessionState): number {
  let score = 0;
  if (s.calls > 5) score += 0.2;
  if (s.writes > 0) score += 0.3;
  if (s.denials > 0) score += 0.2;
  return Math.min(Math.round(score * 100) / 100, 1);
}
