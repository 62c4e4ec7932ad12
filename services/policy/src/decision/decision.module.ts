import { Module } from '@nestjs/common';
import { ApprovalHandler } from '../approvals/approval.handler.js';
import { ApprovalService } from '../approvals/approval.service.js';
import { ApprovalStore, pgProvider } from '../approvals/approval-store.js';
import { redisProvider } from '../redis.provider.js';
import { PolicyStore } from '../registry/policy-store.js';
import { SessionService } from '../session/session.service.js';
import { DecisionHandler } from './decision.handler.js';
import { DecisionService } from './decision.service.js';
import { FactsStore } from './facts.js';

@Module({
  providers: [redisProvider, PolicyStore, SessionService, FactsStore, DecisionService, DecisionHandler, pgProvider, ApprovalStore, ApprovalService, ApprovalHandler],
  exports: [DecisionService, PolicyStore],
})
export class DecisionModule {}
