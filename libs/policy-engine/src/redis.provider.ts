import { redisClientProvider } from '@sg/runtime';

/**
 * The Redis client of decisions: request_id claims, rate limits and sessions. Decisions fail
 * closed while it is unreachable. SessionService quits it on shutdown.
 */
export const POLICY_REDIS = Symbol('POLICY_REDIS');
export const policyRedisProvider = redisClientProvider(POLICY_REDIS);
