import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from '../store/store.module.js';

/**
 * One sliding window per (project, type, key): a sorted set of the events in it, member
 * `<event_id> <trace_id>`, score = the event's time in ms. ZADD NX makes a redelivered event
 * count once; the window ends at the newest event's time (clamped to Redis' clock), so a
 * backlog is judged by when things happened, and several audit instances share one window.
 * KEYS: window, cooldown. ARGV: member, time ms, window ms, events needed, most members kept.
 * Returns { count, fresh (1 if this event newly counts), the alert id cooling down or false,
 * the newest 20 members when the window is full and nothing cools down }.
 */
const OBSERVE = `
local t = tonumber(ARGV[2])
local w = tonumber(ARGV[3])
local need = tonumber(ARGV[4])
local cap = tonumber(ARGV[5])
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if t > nowMs then t = nowMs end
local fresh = redis.call('ZADD', KEYS[1], 'NX', t, ARGV[1])
local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', newest - w)
if t <= newest - w then fresh = 0 end
local count = redis.call('ZCARD', KEYS[1])
if count > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - cap - 1)
  count = cap
end
redis.call('PEXPIRE', KEYS[1], 2 * w)
if count < need then return {count, fresh, false, {}} end
local cooling = redis.call('GET', KEYS[2])
if cooling then return {count, fresh, cooling, {}} end
return {count, fresh, false, redis.call('ZRANGE', KEYS[1], -20, -1)}
`;

/** A flood keeps at most this many events per window (or the threshold, if higher). */
const MAX_MEMBERS = 10_000;

export interface Observation {
  /** Events in the window, this one included. */
  count: number;
  /** False when this event was counted before (a redelivery) or is older than the window. */
  fresh: boolean;
  /** The alert whose cooldown is running, per the Redis short-cut (PostgreSQL has the last word). */
  cooling: string | null;
  /** Trace ids of the newest events, oldest first; only when the window is full and nothing cools down. */
  traceIds: string[];
}

export interface WindowRef {
  project: string;
  type: string;
  key: string;
}

type ObserveReply = [number, number, string | null, string[]];
type WithObserve = Redis & {
  sgAnomalyObserve(
    window: string,
    cooldown: string,
    member: string,
    atMs: number,
    windowMs: number,
    need: number,
    cap: number,
  ): Promise<ObserveReply>;
};

/** The detectors' shared state in Redis: sliding windows and cooldown short-cuts. */
@Injectable()
export class WindowStore {
  private readonly redis: WithObserve;

  constructor(@Inject(REDIS) redis: Redis) {
    redis.defineCommand('sgAnomalyObserve', { numberOfKeys: 2, lua: OBSERVE });
    this.redis = redis as WithObserve;
  }

  /** Counts one event into its window (once, however often it is delivered). */
  async observe(
    ref: WindowRef,
    e: { eventId: string; traceId: string; atMs: number },
    windowS: number,
    need: number,
  ): Promise<Observation> {
    const member = `${e.eventId} ${e.traceId}`;
    const atMs = Number.isFinite(e.atMs) ? Math.floor(e.atMs) : Date.now();
    const [count, fresh, cooling, newest] = await this.redis.sgAnomalyObserve(
      windowKey(ref),
      cooldownKey(ref),
      member,
      atMs,
      windowS * 1000,
      need,
      Math.max(need, MAX_MEMBERS),
    );
    return {
      count,
      fresh: fresh === 1,
      cooling,
      traceIds: newest.map((m) => m.slice(m.indexOf(' ') + 1)),
    };
  }

  /**
   * Remembers the alert in cooldown, written after its transaction committed: until it expires,
   * repeats are tallied without a PostgreSQL transaction each. Losing it only costs a lookup.
   */
  async cool(ref: WindowRef, alertId: string, forMs: number): Promise<void> {
    if (forMs > 0) await this.redis.set(cooldownKey(ref), alertId, 'PX', Math.ceil(forMs));
  }
}

// The project id cannot contain ':', and the key (which may) comes last.
function windowKey(r: WindowRef): string {
  return `anomaly:win:${r.project}:${r.type}:${r.key}`;
}

function cooldownKey(r: WindowRef): string {
  return `anomaly:cool:${r.project}:${r.type}:${r.key}`;
}
