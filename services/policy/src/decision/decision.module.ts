import { Module } from '@nestjs/common';
import { redisProvider } from '../redis.provider.js';
import { PolicyStore } from '../registry/policy-store.js';
import { SessionService } from '../session/session.service.js';
import { DecisionHandler } from './decision.handler.js';
import { DecisionService } from './decision.service.js';
import { RateLimits } from './rate-limits.js';

@Module({
  providers: [redisProvider, PolicyStore, SessionService, RateLimits, DecisionService, DecisionHandler],
  exports: [DecisionService, PolicyStore],
})
export class DecisionModule {}
