import { Inject, Injectable } from '@nestjs/common';
import { type DecideClaim, GatewayError } from '@sg/contracts';
import { POLICY_REDIS } from '@sg/policy-engine';
import { digestOf, ENV } from '@sg/runtime';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { IngressEnv } from '../config/env.js';
import type { HttpAnswer } from '../toolcall/toolcall.service.js';

interface Record {
  digest: string;
  /** A pending claim's own id, so that only its taker can forget it. */
  claim?: string;
  answer?: HttpAnswer;
}

/** Deletes a pending claim only if it is still this one (not a later answer, nor another call's claim). */
const FORGET_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
type WithForget = Redis & { sgForgetClaim(key: string, record: string): Promise<number> };

/** Longer than a call may take (120 s tool ceiling + 60 s margin + the decision) before its claim lapses. */
const PENDING_CLAIM_S = 240;

export type Claim =
  | {
      kind: 'first';
      /**
       * Stores the answer (or forgets the claim). Not awaited: the command is written to Redis
       * before the answer is written to the agent, so a retry sent after the answer finds it; in
       * the narrow race where a retry through another connection is read first, it is answered
       * REQUEST.DUPLICATE_IN_PROGRESS (ask again), never run twice.
       */
      release(answer: HttpAnswer, reachedExecutor: boolean): void;
    }
  | { kind: 'replay'; answer: HttpAnswer };

/** A claim ready to be taken: what the decision's round trip stores (`decide`), and the call's digest. */
export interface PreparedClaim {
  decide: DecideClaim;
  digest: string;
  requestId: string;
}

/**
 * request_id is unique per agent: a repeat within the window gets the first answer and runs
 * nothing. Redis holds the claim. The decision takes it in its own round trip (ADR 0010),
 * before it counts anything. If Redis is away the decision is a denial (503), since running a
 * call twice is the failure this exists to prevent. The client is the decisions' own
 * (POLICY_REDIS, quit by the policy engine), so a call's commands share its pipeline.
 */
@Injectable()
export class IdempotencyService {
  private readonly redis: WithForget;

  constructor(
    @Inject(POLICY_REDIS) redis: Redis,
    @Inject(ENV) private readonly env: IngressEnv,
  ) {
    if (!('sgForgetClaim' in redis))
      redis.defineCommand('sgForgetClaim', { numberOfKeys: 1, lua: FORGET_LUA });
    this.redis = redis as WithForget;
  }

  prepare(
    project: string,
    agentId: string,
    requestId: string,
    call: { tool: string; arguments: unknown },
  ): PreparedClaim {
    // Hashed: ids may contain ':', and agent "a" with request "b:x" must not meet agent "a:b".
    const key = `idem:${digestOf([project, agentId, requestId])}`;
    const digest = digestOf([call.tool, call.arguments]);
    // The claim itself is short-lived: a crash between claim and answer blocks the id briefly.
    const record = JSON.stringify({ digest, claim: randomUUID() } satisfies Record);
    return { decide: { key, record, ttl_s: PENDING_CLAIM_S }, digest, requestId };
  }

  /** Drops the claim if this call holds it and will store no answer. */
  async forget(p: PreparedClaim): Promise<void> {
    await this.redis.sgForgetClaim(p.decide.key, p.decide.record).catch(() => undefined);
  }

  /** The claim as the policy service took it: ours, or what the request_id already holds. */
  settle(p: PreparedClaim, taken: { won: boolean; stored: string | null }): Claim {
    return taken.won ? this.first(p) : this.existing(p, taken.stored);
  }

  private first({ decide: { key }, digest }: PreparedClaim): Claim {
    const window = this.env.IDEMPOTENCY_WINDOW_S;
    return {
      kind: 'first',
      release: (answer, reachedExecutor) => {
        // A failure before the executor had the call (429, Redis away, no executor reached) is
        // forgotten so the agent may retry; once it had the call, even a 502/504 is the answer:
        // it may have run.
        if (!reachedExecutor && (answer.status >= 500 || answer.status === 429))
          void this.redis.del(key).catch(() => undefined);
        else
          void this.redis
            .set(key, JSON.stringify({ digest, answer } satisfies Record), 'EX', window)
            .catch(() => undefined);
      },
    };
  }

  private existing({ digest, requestId }: PreparedClaim, stored: string | null): Claim {
    let record: Record | null = null;
    try {
      record = stored ? (JSON.parse(stored) as Record) : null;
    } catch {
      throw new GatewayError(
        'REQUEST.IDEMPOTENCY_CONFLICT',
        `request_id ${requestId} has an unreadable stored answer; use a new request_id`,
      );
    }
    if (record && record.digest !== digest) {
      throw new GatewayError(
        'REQUEST.IDEMPOTENCY_CONFLICT',
        `request_id ${requestId} was already used for a different call; use a new request_id`,
      );
    }
    if (!record?.answer)
      throw new GatewayError(
        'REQUEST.DUPLICATE_IN_PROGRESS',
        `a call with request_id ${requestId} is still running; ask again for its answer shortly`,
      );
    return { kind: 'replay', answer: record.answer };
  }
}
