import { Injectable, type OnModuleInit } from '@nestjs/common';
import { unknownProjectMessage } from '@sg/config';
import {
  APPROVAL_COMPLETE_SUBJECT,
  APPROVAL_CREATE_SUBJECT,
  APPROVAL_GET_SUBJECT,
  APPROVAL_RESOLVE_SUBJECT,
  GatewayError,
} from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { PolicyStore } from '@sg/policy-engine';
import { ApprovalService } from './approval.service.js';

/** The approval subjects: create, get, resolve, complete. */
@Injectable()
export class ApprovalHandler implements OnModuleInit {
  constructor(
    private readonly bus: NatsBus,
    private readonly approvals: ApprovalService,
    private readonly store: PolicyStore,
  ) {}

  onModuleInit() {
    this.bus.handle(APPROVAL_CREATE_SUBJECT, (req, ctx) => {
      // Only a decided call is stored, and only a configured project has decisions.
      if (!this.store.snapshot(req.call.project))
        throw new GatewayError('REQUEST.UNKNOWN_PROJECT', unknownProjectMessage(req.call.project));
      return this.approvals.create(req.call, req.policy_version, ctx);
    });
    this.bus.handle(APPROVAL_GET_SUBJECT, (req) => this.approvals.get(req.approval_id));
    this.bus.handle(APPROVAL_RESOLVE_SUBJECT, (req, ctx) =>
      this.approvals.resolve(req.approval_id, req.approved, req.approver, ctx),
    );
    this.bus.handle(APPROVAL_COMPLETE_SUBJECT, (req, ctx) =>
      this.approvals.complete(req.approval_id, req.status, req.outcome, ctx),
    );
  }
}
