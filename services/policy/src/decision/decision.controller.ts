import { DECIDE_SUBJECT, type DecideRequest } from '@sg/contracts';
import { BusController, Ctx, Payload, type BusContext, MessagePattern } from '@sg/messaging';
import { DecisionService } from '@sg/policy-engine';

/**
 * gw.policy.decide.v1: decide and answer. The decision is recorded by the caller's
 * toolcall.completed event (ADR 0010), so nothing is published here.
 */
@BusController()
export class DecisionController {
  constructor(private readonly decisions: DecisionService) {}

  @MessagePattern(DECIDE_SUBJECT)
  decide(@Payload() req: DecideRequest, @Ctx() ctx: BusContext) {
    return this.decisions.decide(req, ctx);
  }
}
