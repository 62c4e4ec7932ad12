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

@Module({
  imports: [PolicyEngineModule],
  controllers: [DecisionController, ApprovalController, VersionsController],
  providers: [
    pgProvider,
    ApprovalStore,
    ApprovalService,
    secretProviderProvider,
    VersionSigner,
    VersionStore,
    FileVersions,
  ],
})
export class DecisionModule {}
