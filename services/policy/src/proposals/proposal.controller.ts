import {
  POLICY_PROPOSAL_GET_SUBJECT,
  POLICY_PROPOSAL_RESOLVE_SUBJECT,
  POLICY_PROPOSALS_SUBJECT,
  POLICY_PROPOSE_SUBJECT,
  type RequestOf,
} from '@sg/contracts';
import { BusController, Ctx, MessagePattern, Payload, type BusContext } from '@sg/messaging';
import { ProposalService } from './proposal.service.js';

/** Policy proposals on the bus: propose, the review queue, one proposal with its diff, review. */
@BusController()
export class ProposalController {
  constructor(private readonly proposals: ProposalService) {}

  @MessagePattern(POLICY_PROPOSE_SUBJECT)
  propose(@Payload() req: RequestOf<typeof POLICY_PROPOSE_SUBJECT>, @Ctx() ctx: BusContext) {
    return this.proposals.propose(req, ctx);
  }

  @MessagePattern(POLICY_PROPOSALS_SUBJECT)
  list(@Payload() req: RequestOf<typeof POLICY_PROPOSALS_SUBJECT>) {
    return this.proposals.list(req);
  }

  @MessagePattern(POLICY_PROPOSAL_GET_SUBJECT)
  get(@Payload() req: RequestOf<typeof POLICY_PROPOSAL_GET_SUBJECT>) {
    return this.proposals.detail(req.id);
  }

  @MessagePattern(POLICY_PROPOSAL_RESOLVE_SUBJECT)
  resolve(
    @Payload() req: RequestOf<typeof POLICY_PROPOSAL_RESOLVE_SUBJECT>,
    @Ctx() ctx: BusContext,
  ) {
    return this.proposals.resolve(req, ctx);
  }
}
