import { Module } from '@nestjs/common';
import { DecisionService } from './decision/decision.service.js';
import { FactsStore } from './decision/facts.js';
import { policyRedisProvider, POLICY_REDIS } from './redis.provider.js';
import { PolicyStore } from './registry/policy-store.js';
import { SessionService } from './session/session.service.js';

/**
 * Decisions where they are needed (ADR 0011): the compiled policy of the current config
 * version, the one-script facts in Redis, and the 14 checks. The ingress decides its calls
 * in-process with it; the policy service serves it on gw.policy.decide.v1 and re-checks
 * approvals with it. Needs MessagingModule (ConfigSync, NatsBus) and the runtime's ENV, LOGGER
 * and HealthService.
 */
@Module({
  providers: [policyRedisProvider, PolicyStore, SessionService, FactsStore, DecisionService],
  exports: [POLICY_REDIS, PolicyStore, SessionService, DecisionService],
})
export class PolicyEngineModule {}
