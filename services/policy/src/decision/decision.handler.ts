import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DECIDE_SUBJECT, DECISION_MADE } from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { DecisionService, eventContext } from './decision.service.js';

/** gw.policy.decide.v1: decide, publish the decision event, answer. */
@Injectable()
export class DecisionHandler implements OnModuleInit {
  constructor(
    private readonly bus: NatsBus,
    private readonly decisions: DecisionService,
  ) {}

  onModuleInit() {
    this.bus.handle(DECIDE_SUBJECT, async (req, ctx) => {
      const decision = await this.decisions.decide(req, ctx);
      this.bus.publish(
        DECISION_MADE,
        { agent_id: req.agent_id, session_id: req.session_id, request_id: req.request_id, tool: req.tool, decision },
        eventContext(decision, ctx),
      );
      return decision;
    });
  }
}
