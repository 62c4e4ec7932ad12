import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { SessionSnapshot } from '../decision/engine.js';
import { POLICY_REDIS } from '../redis.provider.js';

export interface SessionKey {
  project: string;
  agentId: string;
  sessionId: string;
}

export const SESSION_TTL_S = 24 * 3600;
export const HISTORY_LENGTH = 50;

/**
 * Session state (seed 000) in Redis, keyed by project, agent and session (never the session id
 * alone, so one agent cannot read or poison another's session). A decision counts its call in
 * the session through FactsStore, in the same round trip as its rate limits.
 */
@Injectable()
export class SessionService implements OnApplicationShutdown {
  constructor(@Inject(POLICY_REDIS) private readonly redis: Redis) {}

  /** The snapshot a decision gets (FactsStore.gather), without counting anything (for re-checks). */
  async peek(key: SessionKey, isWrite: boolean): Promise<SessionSnapshot> {
    const k = sessionKey(key);
    const res = await this.redis
      .multi()
      .lrange(`${k}:history`, 0, HISTORY_LENGTH - 1)
      .hmget(k, 'calls', 'writes', 'denials')
      .exec();
    if (!res) throw new Error('session read was aborted');
    for (const [err] of res) if (err) throw err;
    const [calls, writes, denials] = (res[1]![1] as Array<string | null>).map((v) =>
      Number(v ?? 0),
    );
    return {
      history: res[0]![1] as string[],
      calls: calls! + 1,
      writes: writes! + (isWrite ? 1 : 0),
      denials: denials!,
    };
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

export function sessionKey(k: SessionKey): string {
  return `session:${k.project}:${k.agentId}:${k.sessionId}`;
}
