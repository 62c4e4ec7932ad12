import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { digestOf, ENV, redisClientProvider } from '@sg/runtime';
import type { Redis } from 'ioredis';
import type { IngressEnv } from '../config/env.js';
import type { HttpAnswer } from '../toolcall/toolcall.service.js';

export const IDEMPOTENCY_REDIS = Symbol('IDEMPOTENCY_REDIS');
export const idempotencyRedisProvider = redisClientProvider(IDEMPOTENCY_REDIS);

interface Record {
  digest: string;
  answer?: HttpAnswer;
}

/** Longer than a call may take (120 s tool ceiling + 60 s margin + the decision) before its claim lapses. */
const PENDING_CLAIM_S = 240;

export type Claim =
  | { kind: 'first'; release(answer: HttpAnswer, reachedExecutor: boolean): Promise<void> }
  | { kind: 'replay'; answer: HttpAnswer };

/**
 * request_id is unique per agent: a repeat within the window gets the first answer and runs
 * nothing. Redis holds the claim; if Redis is away the call is refused (503), since running a
 * call twice is the failure this exists to prevent.
 */
@Injectable()
export class IdempotencyService implements OnApplicationShutdown {
  constructor(
    @Inject(IDEMPOTENCY_REDIS) private readonly redis: Redis,
    @Inject(ENV) private readonly env: IngressEnv,
  ) {}

  async claim(project: string, agentId: string, requestId: string, call: { tool: string; arguments: unknown }): Promise<Claim> {
    // Hashed: ids may contain ':', and agent "a" with request "b:x" must not meet agent "a:b".
    const key = `idem:${digestOf([project, agentId, requestId])}`;
    const digest = digestOf([call.tool, call.arguments]);
    const window = this.env.IDEMPOTENCY_WINDOW_S;
    let existing: string | null;
    try {
      // The claim itself is short-lived: a crash between claim and answer blocks the id briefly.
      const won = await this.redis.set(key, JSON.stringify({ digest } satisfies Record), 'EX', PENDING_CLAIM_S, 'NX');
      if (won) {
        return {
          kind: 'first',
          release: async (answer, reachedExecutor) => {
            // A failure before the executor (429, policy or bus away) is forgotten so the agent may
            // retry; once the executor had the call, even a 502/504 is the answer: it may have run.
            if (!reachedExecutor && (answer.status >= 500 || answer.status === 429)) await this.redis.del(key).catch(() => undefined);
            else await this.redis.set(key, JSON.stringify({ digest, answer } satisfies Record), 'EX', window).catch(() => undefined);
          },
        };
      }
      existing = await this.redis.get(key);
    } catch {
      throw new GatewayError('GATEWAY.SERVICE_UNAVAILABLE', 'the idempotency store (Redis) is unreachable, so the call is refused; retry shortly');
    }
    let record: Record | null = null;
    try {
      record = existing ? (JSON.parse(existing) as Record) : null;
    } catch {
      throw new GatewayError('REQUEST.IDEMPOTENCY_CONFLICT', `request_id ${requestId} has an unreadable stored answer; use a new request_id`);
    }
    if (record && record.digest !== digest) {
      throw new GatewayError('REQUEST.IDEMPOTENCY_CONFLICT', `request_id ${requestId} was already used for a different call; use a new request_id`);
    }
    if (!record?.answer) throw new GatewayError('REQUEST.DUPLICATE_IN_PROGRESS', `a call with request_id ${requestId} is still running; ask again for its answer shortly`);
    return { kind: 'replay', answer: record.answer };
  }

  async onApplicationShutdown() {
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    else this.redis.disconnect(false);
  }
}
