import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DECIDE_SUBJECT } from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { DecisionService } from '@sg/policy-engine';

/**
 * gw.policy.decide.v1: decide and answer. The decision is recorded by the caller's
 * toolcall.completed event (ADR 0010), so nothing is published here.
 */
@Injectable()
export class DecisionHandler implements OnModuleInit {
  constructor(
    private readonly bus: NatsBus,
    private readonly decisions: DecisionService,
  ) {}

  onModuleInit() {
    this.bus.handle(DECIDE_SUBJECT, (req, ctx) => this.decisions.decide(req, ctx));
  }
}
