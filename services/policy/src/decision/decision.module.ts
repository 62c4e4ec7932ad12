import { Module } from '@nestjs/common';
import { PolicyEngineModule } from '@sg/policy-engine';
import { ApprovalController } from '../approvals/approval.controller.js';
import { ApprovalService } from '../approvals/approval.service.js';
import { ApprovalStore, pgProvider } from '../approvals/approval-store.js';
import { DecisionController } from './decision.controller.js';
import { secretProviderProvider } from '@sg/runtime';
import { FileVersions } from '../versions/file-versions.js';
import { VersionSigner } from '../versions/version-signer.js';
import { VersionStore } from '../versions/version-store.js';
import { VersionsController } from '../versions/versions.controller.js';
import { VersionPublisher } from '../versions/version-publisher.js';
import { ProposalController } from '../proposals/proposal.controller.js';
import { ProposalService } from '../proposals/proposal.service.js';

@Module({
  imports: [PolicyEngineModule],
  controllers: [DecisionController, ApprovalController, VersionsController, ProposalController],
  providers: [
    pgProvider,
    ApprovalStore,
    ApprovalService,
    secretProviderProvider,
    VersionSigner,
    VersionStore,
    FileVersions,
    VersionPublisher,
    ProposalService,
  ],
})
export class DecisionModule {}
