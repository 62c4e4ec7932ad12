import { Inject, Injectable } from '@nestjs/common';
import type { PolicyFile } from '@sg/config';
import type { DecideRequest } from '@sg/contracts';
import type { Redis } from 'ioredis';
import { POLICY_REDIS } from '../redis.provider.js';
import {
  HISTORY_LENGTH,
  SESSION_TTL_S,
  sessionKey,
  type SessionKey,
} from '../session/session.service.js';
import type { LimitOutcome, SessionSnapshot } from './engine.js';

/**
 * One round trip for every fact a decision counts (ADR 0010): the request_id's idempotency claim
 * first (if it is taken, nothing else is counted), each rate limit's fixed window (INCR; the
 * window starts with the first point, as rate-limiter-flexible's RateLimiterRedis does, whose
 * keys these are) and the session (its history before this call, as the distinct tools most
 * recent first, then this call counted).
 * Atomic, so two instances deciding at once see each other's counts.
 *
 * KEYS: the claim's key (or an unused placeholder), the limits' counters, the session hash and its
 * history list. ARGV: 1 if there is a claim, its record, its TTL in seconds, the number of limits,
 * each limit's window in ms, the tool, 1 if it writes, the history length, the session TTL.
 * Returns {0, stored record} when the claim is taken; else
 * {1, consumed_1, pttl_1, ..., history, calls, writes, denials}.
 */
const GATHER_LUA = `
if ARGV[1] == '1' and not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then
  return {0, redis.call('GET', KEYS[1])}
end
local n = tonumber(ARGV[4])
local out = {1}
for i = 1, n do
  local key = KEYS[1 + i]
  local consumed = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    ttl = tonumber(ARGV[4 + i])
    redis.call('PEXPIRE', key, ttl)
  end
  out[#out + 1] = consumed
  out[#out + 1] = ttl
end
local session, history = KEYS[n + 2], KEYS[n + 3]
local len, ttl = tonumber(ARGV[n + 7]), ARGV[n + 8]
-- The distinct tools, most recent first: all a sequence rule asks is which tool came before.
local seen, distinct = {}, {}
for _, t in ipairs(redis.call('LRANGE', history, 0, len - 1)) do
  if not seen[t] then
    seen[t] = true
    distinct[#distinct + 1] = t
  end
end
out[#out + 1] = distinct
redis.call('LPUSH', history, ARGV[n + 5])
redis.call('LTRIM', history, 0, len - 1)
out[#out + 1] = redis.call('HINCRBY', session, 'calls', 1)
out[#out + 1] = redis.call('HINCRBY', session, 'writes', tonumber(ARGV[n + 6]))
out[#out + 1] = redis.call('HINCRBY', session, 'denials', 0)
redis.call('EXPIRE', session, ttl)
redis.call('EXPIRE', history, ttl)
return out
`;

/** Each limit's count with this call, and the ms left in its window. */
export interface CountedLimit {
  scope: string;
  used: number;
  limit: number;
  window_s: number;
  ttl: number;
}

/**
 * The rate_limit check's input from the counts: limited by the exceeded limit whose window ends
 * last (its retry-after), or ok with every limit's use.
 */
export function limitOutcome(counted: readonly CountedLimit[]): LimitOutcome {
  const over = counted.filter((c) => c.used > c.limit).sort((a, b) => b.ttl - a.ttl)[0];
  return over
    ? {
        kind: 'limited',
        scope: over.scope,
        limit: over.limit,
        window_s: over.window_s,
        retryAfterMs: Math.max(1, over.ttl),
      }
    : {
        kind: 'ok',
        used: counted.map((c) => ({
          scope: c.scope,
          used: c.used,
          limit: c.limit,
          window_s: c.window_s,
        })),
      };
}

type GatherReply = Array<number | string | string[] | null>;
type WithGather = Redis & {
  sgGatherFacts(numKeys: number, ...args: Array<string | number>): Promise<GatherReply>;
};

export type DecisionFacts =
  | {
      /** Absent when the request asked for no claim, or the store could not be reached. */
      claim?: { won: true; stored: null };
      limits: LimitOutcome;
      /** null when the store could not be reached (the limits are then `unavailable`: a denial). */
      session: SessionSnapshot | null;
    }
  /** The request_id is claimed already: nothing was counted. */
  | { claim: { won: false; stored: string | null } };

interface Limit {
  scope: string;
  key: string;
  limit: number;
  window_s: number;
}

/** A call's request_id claim, its rate limits per agent, user and tool, and its session, in Redis: shared by every policy instance. */
@Injectable()
export class FactsStore {
  private readonly redis: WithGather;

  constructor(@Inject(POLICY_REDIS) redis: Redis) {
    // Loaded once and called by its SHA (ioredis sends the text only if the server lost it).
    if (!('sgGatherFacts' in redis)) redis.defineCommand('sgGatherFacts', { lua: GATHER_LUA });
    this.redis = redis as WithGather;
  }

  /** Takes the request's claim, then counts this call against its limits and its session; returns what the decision needs. */
  async gather(
    req: DecideRequest,
    limits: PolicyFile['rate_limits'],
    session: SessionKey,
    isWrite: boolean,
  ): Promise<DecisionFacts> {
    const wanted: Limit[] = [
      { scope: 'agent', key: `${req.project}:${req.agent_id}`, ...limits.agent },
    ];
    if (req.user_id)
      wanted.push({ scope: 'user', key: `${req.project}:${req.user_id}`, ...limits.user });
    if (limits.tool)
      wanted.push({ scope: 'tool', key: `${req.project}:${req.tool}`, ...limits.tool });
    const s = sessionKey(session);
    const claim = req.claim;
    let reply: GatherReply;
    try {
      reply = await this.redis.sgGatherFacts(
        wanted.length + 3,
        // Without a claim, the session key stands in for its key: the script does not touch it.
        claim?.key ?? s,
        // A limit's own key names its size, so a changed limit starts its own counter.
        ...wanted.map((w) => `rl:${w.scope}:${w.limit}/${w.window_s}:${w.key}`),
        s,
        `${s}:history`,
        claim ? 1 : 0,
        claim?.record ?? '',
        claim?.ttl_s ?? 0,
        wanted.length,
        ...wanted.map((w) => w.window_s * 1000),
        req.tool,
        isWrite ? 1 : 0,
        HISTORY_LENGTH,
        SESSION_TTL_S,
      );
    } catch {
      return { limits: { kind: 'unavailable' }, session: null };
    }
    if (reply[0] === 0)
      return { claim: { won: false, stored: (reply[1] as string | null) ?? null } };
    const counted = wanted.map((w, i) => ({
      ...w,
      used: reply[1 + 2 * i] as number,
      ttl: reply[2 + 2 * i] as number,
    }));
    const at = 1 + 2 * wanted.length;
    return {
      ...(claim ? { claim: { won: true, stored: null } } : {}),
      limits: limitOutcome(counted),
      session: {
        history: reply[at] as string[],
        calls: reply[at + 1] as number,
        writes: reply[at + 2] as number,
        denials: reply[at + 3] as number,
      },
    };
  }
}
