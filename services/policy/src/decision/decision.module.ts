import { Module } from '@nestjs/common';
import { redisProvider } from '../redis.provider.js';
import { PolicyStore } from '../registry/policy-store.js';
import { SessionService } from '../session/session.service.js';
import { DecisionHandler } from './decision.handler.js';
import { DecisionService } from './decision.service.js';

@Module({
  providers: [redisProvider, PolicyStore, SessionService, DecisionService, DecisionHandler],
  exports: [DecisionService, PolicyStore],
})
export class DecisionModule {}
