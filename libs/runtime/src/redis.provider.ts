import type { Provider } from '@nestjs/common';
import { HealthService } from './health.js';
import { createRedis, type RedisEnv } from './redis.js';
import { ENV } from './tokens.js';

/**
 * A Redis client under `token`, with a `redis` health check. Redis may be down at start: the
 * service starts anyway and each use fails fast, so every caller decides (and documents) what
 * a missing Redis means for it. The owner quits it on shutdown.
 */
export function redisClientProvider(token: symbol): Provider {
  return {
    provide: token,
    inject: [ENV, HealthService],
    useFactory: async (env: RedisEnv, health: HealthService) => {
      const redis = createRedis(env.REDIS_URL, env.REDIS_PREFIX);
      redis.on('error', () => undefined);
      await redis.connect().catch(() => undefined);
      health.register('redis', async () => ({ ok: (await redis.ping()) === 'PONG' }));
      return redis;
    },
  };
}
