import { Module } from '@nestjs/common';
import { PolicyEngineModule } from '@sg/policy-engine';
import { ApprovalController } from '../approvals/approval.controller.js';
import { ApprovalService } from '../approvals/approval.service.js';
import { ApprovalStore, pgProvider } from '../approvals/approval-store.js';
import { DecisionController } from './decision.controller.js';

@Module({
  imports: [PolicyEngineModule],
  controllers: [DecisionController, ApprovalController],
  providers: [pgProvider, ApprovalStore, ApprovalService],
})
export class DecisionModule {}
