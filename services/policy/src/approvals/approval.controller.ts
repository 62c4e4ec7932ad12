import { unknownProjectMessage } from '@sg/config';
import {
  APPROVAL_COMPLETE_SUBJECT,
  APPROVAL_CREATE_SUBJECT,
  APPROVAL_GET_SUBJECT,
  APPROVAL_LIST_SUBJECT,
  APPROVAL_RESOLVE_SUBJECT,
  GatewayError,
  type RequestOf,
} from '@sg/contracts';
import { BusController, Ctx, Payload, type BusContext, MessagePattern } from '@sg/messaging';
import { PolicyStore } from '@sg/policy-engine';
import { ApprovalService } from './approval.service.js';

/** The approval subjects: create, get, list, resolve, complete. */
@BusController()
export class ApprovalController {
  constructor(
    private readonly approvals: ApprovalService,
    private readonly store: PolicyStore,
  ) {}

  @MessagePattern(APPROVAL_CREATE_SUBJECT)
  create(@Payload() req: RequestOf<typeof APPROVAL_CREATE_SUBJECT>, @Ctx() ctx: BusContext) {
    // Only a decided call is stored, and only a configured project has decisions.
    if (!this.store.snapshot(req.call.project))
      throw new GatewayError('REQUEST.UNKNOWN_PROJECT', unknownProjectMessage(req.call.project));
    return this.approvals.create(req.call, req.policy_version, ctx, req.risk_score ?? null);
  }

  @MessagePattern(APPROVAL_GET_SUBJECT)
  get(req: RequestOf<typeof APPROVAL_GET_SUBJECT>) {
    return this.approvals.get(req.approval_id);
  }

  @MessagePattern(APPROVAL_LIST_SUBJECT)
  list(@Payload() req: RequestOf<typeof APPROVAL_LIST_SUBJECT>) {
    return this.approvals.list(req);
  }

  @MessagePattern(APPROVAL_RESOLVE_SUBJECT)
  resolve(@Payload() req: RequestOf<typeof APPROVAL_RESOLVE_SUBJECT>, @Ctx() ctx: BusContext) {
    return this.approvals.resolve(
      req.approval_id,
      req.approved,
      req.approver,
      ctx,
      req.four_eyes,
      req.comment ?? null,
    );
  }

  @MessagePattern(APPROVAL_COMPLETE_SUBJECT)
  complete(@Payload() req: RequestOf<typeof APPROVAL_COMPLETE_SUBJECT>, @Ctx() ctx: BusContext) {
    return this.approvals.complete(req.approval_id, req.status, req.outcome, ctx);
  }
}
