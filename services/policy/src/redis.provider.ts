import type { Provider } from '@nestjs/common';
import { createRedis, ENV, HealthService } from '@sg/runtime';
import type { PolicyEnv } from './config/env.js';

export const REDIS = Symbol('REDIS');

export const redisProvider: Provider = {
  provide: REDIS,
  inject: [ENV, HealthService],
  useFactory: async (env: PolicyEnv, health: HealthService) => {
    const redis = createRedis(env.REDIS_URL, env.REDIS_PREFIX);
    // Redis may be down at start: decisions then fail closed until it is back.
    redis.on('error', () => undefined);
    await redis.connect().catch(() => undefined);
    health.register('redis', async () => ({ ok: (await redis.ping()) === 'PONG' }));
    return redis;
  },
};
