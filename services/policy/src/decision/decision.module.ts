import { Module } from '@nestjs/common';
import { PolicyEngineModule } from '@sg/policy-engine';
import { ApprovalHandler } from '../approvals/approval.handler.js';
import { ApprovalService } from '../approvals/approval.service.js';
import { ApprovalStore, pgProvider } from '../approvals/approval-store.js';
import { DecisionHandler } from './decision.handler.js';

@Module({
  imports: [PolicyEngineModule],
  providers: [DecisionHandler, pgProvider, ApprovalStore, ApprovalService, ApprovalHandler],
})
export class DecisionModule {}
