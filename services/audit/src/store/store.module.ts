import { Global, Module, type OnApplicationShutdown, Inject } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { redisClientProvider } from '@sg/runtime';
import { EventStore } from './event-store.js';
import { pgProvider } from './pg.provider.js';

/** Redis of the audit service: anomaly windows, shared by every instance. */
export const REDIS = Symbol('AUDIT_REDIS');

/** PostgreSQL (PG), Redis (REDIS) and the event store, for every part of the audit service. */
@Global()
@Module({
  providers: [pgProvider, redisClientProvider(REDIS), EventStore],
  exports: [pgProvider, REDIS, EventStore],
})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown() {
    this.redis.disconnect();
  }
}
