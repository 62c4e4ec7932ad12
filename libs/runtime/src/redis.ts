import { Redis } from 'ioredis';

/**
 * A Redis client that fails fast when the server is away (no offline queue), so callers can
 * decide, per check, what a missing Redis means instead of hanging.
 */
export function createRedis(url: string, keyPrefix: string): Redis {
  return new Redis(url, {
    keyPrefix,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    lazyConnect: true,
    // Commands issued in one tick leave in one socket write (the decisions of one NATS read).
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
}

export interface RedisEnv {
  REDIS_URL: string;
  REDIS_PREFIX: string;
}
