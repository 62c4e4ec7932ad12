import { Inject, Injectable } from '@nestjs/common';
import type { DecideRequest, Decision } from '@sg/contracts';
import { LOGGER, type Logger } from '@sg/runtime';
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { REDIS } from '../redis.provider.js';
import { PolicyStore } from '../registry/policy-store.js';
import { violationsOf } from '../registry/tool-registry.js';
import { scoreSession, SessionService, type SessionState } from '../session/session.service.js';
import { Explanation } from './explanation.js';

/** The checks, in the order they run. Every decision's rule_trace lists each of them. */
export const CHECKS = ['rate_limit', 'tool_registry', 'key_scope', 'allow_tools', 'argument_schema', 'session_risk'] as const;

type RateLimitOutcome = { kind: 'ok'; used: number } | { kind: 'limited'; retryAfterMs: number } | { kind: 'unavailable' };

function after(check: (typeof CHECKS)[number]): string[] {
  return CHECKS.slice(CHECKS.indexOf(check) + 1);
}

/**
 * Deny by default: a call is allowed only when every check passes. Any failure to evaluate
 * (Redis away, a bug) is a denial with a reason, never an allow.
 */
@Injectable()
export class DecisionService {
  private readonly limiters = new Map<string, RateLimiterRedis>();

  constructor(
    private readonly store: PolicyStore,
    private readonly sessions: SessionService,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async decide(req: DecideRequest): Promise<Decision> {
    try {
      const project = this.store.project(req.project);
      // Both Redis round trips at once: the decision needs the limit, the risk needs the session.
      const [limit, session] = await Promise.all([
        this.consumeRateLimit(req, project.policy.rate_limit),
        this.sessions.record({ project: req.project, agentId: req.agent_id, sessionId: req.session_id, tool: req.tool }).catch((err: Error) => {
          this.logger.warn({ err: err.message }, 'session store unavailable');
          return null;
        }),
      ]);
      return this.withSessionRisk(req, this.evaluate(req, limit), session);
    } catch (err) {
      this.logger.error({ err: (err as Error).message, tool: req.tool }, 'decision failed; denying');
      return new Explanation().deny('evaluation', 'POLICY.EVALUATION_FAILED', 'The policy could not be evaluated, so the call is denied.', ['Retry shortly; if it persists, ask an operator to check the policy service log.'], { version: this.store.version, remaining: [] });
    }
  }

  private evaluate(req: DecideRequest, limit: RateLimitOutcome): Decision {
    const version = this.store.version;
    const project = this.store.project(req.project);
    const ex = new Explanation();

    if (limit.kind === 'unavailable') {
      return ex.deny('rate_limit', 'POLICY.DEPENDENCY_UNAVAILABLE', 'The rate-limit store (Redis) is unreachable, so the call is denied.', ['Retry shortly; an operator should check Redis.'], { version, remaining: after('rate_limit') });
    }
    if (limit.kind === 'limited') {
      const seconds = Math.ceil(limit.retryAfterMs / 1000);
      return ex.deny('rate_limit', 'POLICY.RATE_LIMITED', `Agent ${req.agent_id} made more than ${project.policy.rate_limit.per_agent} calls in ${project.policy.rate_limit.window_s} s.`, [`Retry after ${seconds} s.`, 'Ask an admin to raise rate_limit.per_agent if this load is expected.'], { version, retryAfterMs: limit.retryAfterMs, rule: `${project.file}#rate_limit`, remaining: after('rate_limit') });
    }
    ex.pass('rate_limit', `Rate limit: ${limit.used} of ${project.policy.rate_limit.per_agent} calls used in the ${project.policy.rate_limit.window_s} s window.`, `${project.file}#rate_limit`);

    const tool = this.store.tool(req.tool);
    if (!tool) {
      return ex.deny('tool_registry', 'POLICY.TOOL_NOT_REGISTERED', `Tool ${req.tool} is not in the tool registry; unregistered tools are denied.`, ['Check the tool name for typos.', `An admin can register it with tools/${req.tool}.json.`], { version, remaining: after('tool_registry') });
    }
    ex.pass('tool_registry', `Tool ${req.tool} is registered.`, `tools/${req.tool}.json`);

    const scope = project.keyScopes.get(req.agent_id);
    if (scope) {
      const i = scope.firstMatch(req.tool);
      if (i < 0) {
        return ex.deny('key_scope', 'POLICY.TOOL_NOT_ALLOWED', `The key of ${req.agent_id} is scoped to ${scope.patterns.join(', ')}, which does not include ${req.tool}.`, [`Ask an admin to add ${req.tool} to the tools of ${req.agent_id} in ${project.keysFile}.`], { version, rule: `${project.keysFile}#models.${req.agent_id}.tools`, remaining: after('key_scope') });
      }
      ex.pass('key_scope', `The key of ${req.agent_id} may use ${scope.patterns[i]}.`, `${project.keysFile}#models.${req.agent_id}.tools[${i}]`);
    } else {
      ex.skip('key_scope', 'the key has no tool scope');
    }

    let allowedBy: { ref: string; pattern: string } | null = null;
    for (const rule of project.rules) {
      if (rule.model !== req.agent_id && rule.model !== '*') continue;
      const d = rule.deny.firstMatch(req.tool);
      if (d >= 0) {
        const ref = `${project.file}#rules[${rule.index}].deny_tools[${d}]`;
        return ex.deny('allow_tools', 'POLICY.TOOL_NOT_ALLOWED', `Model ${req.agent_id} is denied ${rule.deny.patterns[d]}, which matches ${req.tool}.`, ['Use a tool this model is allowed to call.', `Deny rules win; an admin can change ${ref}.`], { version, rule: ref, remaining: after('allow_tools') });
      }
      const a = rule.allow.firstMatch(req.tool);
      if (a >= 0 && allowedBy === null) allowedBy = { ref: `${project.file}#rules[${rule.index}].allow_tools[${a}]`, pattern: rule.allow.patterns[a]! };
    }
    if (allowedBy === null) {
      return ex.deny('allow_tools', 'POLICY.TOOL_NOT_ALLOWED', `Model ${req.agent_id} is not allowed to use ${req.tool}: no allow_tools rule matches.`, ['Use a tool this model is allowed to call.', `Ask an admin to add ${req.tool} to allow_tools for ${req.agent_id} in ${project.file}.`], { version, remaining: after('allow_tools') });
    }
    const { ref, pattern } = allowedBy;
    ex.pass('allow_tools', `Model ${req.agent_id} is allowed to use ${pattern}.`, ref);

    if (!tool.validate(req.arguments)) {
      const violations = violationsOf(tool.validate.errors);
      return ex.deny('argument_schema', 'POLICY.ARGUMENTS_INVALID', `The arguments do not match the schema of ${req.tool}: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}.`, ['Fix the arguments listed in violations.', `The schema is published at /schema/${req.tool}.json.`], { version, violations, rule: `tools/${req.tool}.json#input_schema`, remaining: after('argument_schema') });
    }
    ex.pass('argument_schema', 'No schema violation.', `tools/${req.tool}.json#input_schema`);

    const decision = ex.allow(version, 0, `Allowed by allow_tools match: ${pattern} (${ref}).`);
    decision.requires_approval = tool.definition.requires_approval;
    if (decision.requires_approval) decision.reasoning.push(`Tool ${req.tool} requires human approval.`);
    return decision;
  }

  /** Puts the session's risk (seed 000) on the decision; a denial also counts against the session. */
  private withSessionRisk(req: DecideRequest, decision: Decision, session: SessionState | null): Decision {
    if (decision.code === 'POLICY.DEPENDENCY_UNAVAILABLE') return decision;
    if (session === null) {
      if (!decision.allowed) return decision;
      return new Explanation().deny('session_risk', 'POLICY.DEPENDENCY_UNAVAILABLE', 'The session store (Redis) is unreachable, so the session risk is unknown and the call is denied.', ['Retry shortly; an operator should check Redis.'], { version: decision.policy_version, remaining: [] });
    }
    let state = session;
    if (!decision.allowed) {
      state = { ...session, denials: session.denials + 1 };
      this.sessions.recordDenial({ project: req.project, agentId: req.agent_id, sessionId: req.session_id }).catch((err: Error) => {
        this.logger.warn({ err: err.message }, 'could not record a denial in the session');
      });
    }
    const risk = scoreSession(state);
    decision.risk_score = risk;
    if (decision.allowed) {
      decision.rule_trace.push({ check: 'session_risk', outcome: 'pass', detail: `calls=${state.calls} writes=${state.writes} denials=${state.denials}` });
      decision.reasoning.push(`Session score: ${risk < 0.3 ? 'low' : risk < 0.6 ? 'medium' : 'high'} risk (${risk.toFixed(2)}).`);
    }
    return decision;
  }

  private async consumeRateLimit(
    req: DecideRequest,
    limit: { per_agent: number; window_s: number },
  ): Promise<RateLimitOutcome> {
    const id = `${limit.per_agent}/${limit.window_s}`;
    let limiter = this.limiters.get(id);
    if (!limiter) {
      limiter = new RateLimiterRedis({ storeClient: this.redis, keyPrefix: `rl:agent:${id}`, points: limit.per_agent, duration: limit.window_s, rejectIfRedisNotReady: true });
      this.limiters.set(id, limiter);
    }
    try {
      const res = await limiter.consume(`${req.project}:${req.agent_id}`);
      return { kind: 'ok', used: res.consumedPoints };
    } catch (res) {
      if (res instanceof RateLimiterRes) return { kind: 'limited', retryAfterMs: res.msBeforeNext };
      return { kind: 'unavailable' };
    }
  }
}
