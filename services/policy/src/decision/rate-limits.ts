import { Inject, Injectable } from '@nestjs/common';
import type { PolicyFile } from '@sg/config';
import type { DecideRequest } from '@sg/contracts';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { REDIS } from '../redis.provider.js';
import type { LimitOutcome } from './engine.js';

/** Per-agent, per-user and per-tool limits in Redis, shared by every policy instance. */
@Injectable()
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterRedis>();

  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async consume(req: DecideRequest, limits: PolicyFile['rate_limits']): Promise<LimitOutcome> {
    const wanted: Array<{ scope: string; key: string; limit: number; window_s: number }> = [
      { scope: 'agent', key: `${req.project}:${req.agent_id}`, ...limits.agent },
    ];
    if (req.user_id) wanted.push({ scope: 'user', key: `${req.project}:${req.user_id}`, ...limits.user });
    if (limits.tool) wanted.push({ scope: 'tool', key: `${req.project}:${req.tool}`, ...limits.tool });
    const results = await Promise.all(
      wanted.map(async (w) => {
        try {
          const res = await this.limiter(w.scope, w.limit, w.window_s).consume(w.key);
          return { ...w, used: res.consumedPoints, retryAfterMs: 0, error: false };
        } catch (res) {
          if (res instanceof RateLimiterRes) return { ...w, used: res.consumedPoints, retryAfterMs: Math.max(1, res.msBeforeNext), error: false };
          return { ...w, used: 0, retryAfterMs: 0, error: true };
        }
      }),
    );
    if (results.some((r) => r.error)) return { kind: 'unavailable' };
    const limited = results.filter((r) => r.retryAfterMs > 0).sort((a, b) => b.retryAfterMs - a.retryAfterMs)[0];
    if (limited) return { kind: 'limited', scope: limited.scope, limit: limited.limit, window_s: limited.window_s, retryAfterMs: limited.retryAfterMs };
    return { kind: 'ok', used: results.map((r) => ({ scope: r.scope, used: r.used, limit: r.limit, window_s: r.window_s })) };
  }

  private limiter(scope: string, points: number, duration: number): RateLimiterRedis {
    const id = `${scope}:${points}/${duration}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterRedis({ storeClient: this.redis, keyPrefix: `rl:${id}`, points, duration, rejectIfRedisNotReady: true });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }
}
