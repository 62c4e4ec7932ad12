import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_PROJECT, unknownProjectMessage } from '@sg/config';
import { type DecideRequest, type Decision, SHADOW_EVALUATED } from '@sg/contracts';
import { NatsBus, type MessageContext } from '@sg/messaging';
import { inSpan, LOGGER, type Logger, Metrics, SpanKind } from '@sg/runtime';
import type { CompiledPolicy } from '../registry/compile.js';
import type { RegisteredTool } from '../registry/tool-registry.js';
import { PolicyStore } from '../registry/policy-store.js';
import { SessionService } from '../session/session.service.js';
import { CHECKS, evaluate, isWriteTool, type EvaluationInput } from './engine.js';
import { Explanation } from './explanation.js';
import { FactsStore } from './facts.js';

/**
 * Gathers the facts a decision needs (rate limits and session, in one Redis round trip),
 * evaluates the live policy, and afterwards, off the hot path, the shadow
 * policy on the same facts. Any failure is a denial with a reason, never an allow.
 */
@Injectable()
export class DecisionService {
  private readonly decided;

  constructor(
    private readonly store: PolicyStore,
    private readonly sessions: SessionService,
    private readonly facts: FactsStore,
    private readonly bus: NatsBus,
    @Inject(LOGGER) private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.decided = metrics.counter({
      name: 'sg_decisions_total',
      help: 'Policy decisions, by outcome (allowed, approval_required, denied) and code',
      labelNames: ['outcome', 'code'],
    });
  }

  /**
   * `remote`: the peer's tool a `<peer>/<tool>` call names (from the peer's catalogue); the
   * registry has no entry for it, and every check runs on this one.
   */
  async decide(
    req: DecideRequest,
    ctx?: MessageContext,
    remote?: RegisteredTool,
  ): Promise<Decision> {
    const decision = await inSpan(
      'policy.decide',
      SpanKind.INTERNAL,
      { 'sg.tool': req.tool, 'sg.project': req.project },
      () => this.decideOrDeny(req, ctx, remote),
      ctx?.otel,
    );
    this.decided.inc({
      outcome: !decision.allowed
        ? 'denied'
        : decision.requires_approval
          ? 'approval_required'
          : 'allowed',
      code: decision.code ?? 'none',
    });
    return decision;
  }

  private async decideOrDeny(
    req: DecideRequest,
    ctx?: MessageContext,
    remote?: RegisteredTool,
  ): Promise<Decision> {
    try {
      const snap = this.store.snapshot(req.project);
      // Refused before anything is counted: an invented project must not get fresh limits or sessions.
      if (!snap) return unknownProject(req.project, this.store.version);
      const tool = remote ?? snap.registry.get(req.tool);
      const key = { project: req.project, agentId: req.agent_id, sessionId: req.session_id };
      const facts = await this.facts.gather(
        req,
        snap.policy.policy.rate_limits,
        key,
        isWriteTool(req.tool, tool),
      );
      if (!('limits' in facts)) return claimedAlready(facts.claim.stored, snap.version);
      const { limits, session } = facts;
      const input: EvaluationInput = {
        req,
        tool,
        policy: snap.policy,
        keys: snap.keys,
        limits,
        session,
        now: new Date(),
        version: snap.version,
      };
      const decision: Decision = facts.claim
        ? { ...evaluate(input), claim: facts.claim }
        : evaluate(input);
      if (!decision.allowed && session) {
        this.sessions
          .recordDenial(key)
          .catch((err: Error) =>
            this.logger.warn({ err: err.message }, 'could not count a denial in the session'),
          );
      }
      const preview = snap.shadow;
      if (preview && ctx) setImmediate(() => this.shadow(input, decision, preview, ctx));
      return decision;
    } catch (err) {
      this.logger.error(
        { err: (err as Error).message, tool: req.tool },
        'decision failed; denying',
      );
      return new Explanation().deny(
        'evaluation',
        'POLICY.EVALUATION_FAILED',
        'The policy could not be evaluated, so the call is denied.',
        [
          'Retry shortly; if it persists, ask an operator to check the log of the service that decided (the ingress, or the policy service for bus callers).',
        ],
        { version: 'unknown', remaining: [] },
      );
    }
  }

  /**
   * The current policy's decision on a call decided before (an approval): same checks, but
   * nothing is counted again (no rate-limit point, no session call). Fails closed like decide().
   */
  async recheck(req: DecideRequest): Promise<Decision> {
    try {
      const snap = this.store.snapshot(req.project);
      if (!snap) return unknownProject(req.project, this.store.version);
      const tool = snap.registry.get(req.tool);
      const session = await this.sessions
        .peek(
          { project: req.project, agentId: req.agent_id, sessionId: req.session_id },
          isWriteTool(req.tool, tool),
        )
        .catch(() => null);
      return evaluate({
        req,
        tool,
        policy: snap.policy,
        keys: snap.keys,
        limits: { kind: 'ok', used: [] },
        session,
        now: new Date(),
        version: snap.version,
      });
    } catch (err) {
      this.logger.error(
        { err: (err as Error).message, tool: req.tool },
        're-check failed; denying',
      );
      return new Explanation().deny(
        'evaluation',
        'POLICY.EVALUATION_FAILED',
        'The policy could not be evaluated, so the call is denied.',
        ['Retry shortly.'],
        { version: 'unknown', remaining: [] },
      );
    }
  }

  /** The preview policy's decision on the same facts, published for the audit; never enforced. */
  private shadow(
    input: EvaluationInput,
    live: Decision,
    preview: CompiledPolicy,
    ctx: MessageContext,
  ) {
    try {
      const shadow = evaluate({ ...input, policy: preview });
      const differs =
        live.allowed !== shadow.allowed ||
        live.code !== shadow.code ||
        live.requires_approval !== shadow.requires_approval;
      this.bus.publish(
        SHADOW_EVALUATED,
        {
          agent_id: input.req.agent_id,
          session_id: input.req.session_id,
          request_id: input.req.request_id,
          tool: input.req.tool,
          live: {
            allowed: live.allowed,
            code: live.code,
            requires_approval: live.requires_approval,
          },
          shadow: {
            allowed: shadow.allowed,
            code: shadow.code,
            requires_approval: shadow.requires_approval,
            reason: shadow.reason,
            risk_score: shadow.risk_score,
            rule_trace: shadow.rule_trace,
          },
          differs,
        },
        ctx,
      );
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'shadow evaluation failed');
    }
  }
}

/**
 * The answer to a call whose request_id is claimed already: not a decision (nothing was
 * counted or evaluated), and a denial for any caller that ignores `claim`.
 */
function claimedAlready(stored: string | null, version: string): Decision {
  const decision = new Explanation().deny(
    'idempotency',
    'REQUEST.DUPLICATE_IN_PROGRESS',
    'This request_id was already used; the call was not decided again.',
    ['Use a new request_id for a new call.'],
    { version, remaining: [...CHECKS] },
  );
  return { ...decision, claim: { won: false, stored } };
}

/**
 * The denial of a call in a project that has no config file. The ingress refuses these first;
 * this is for a caller on the bus that skips it (and for an approval whose project was removed).
 */
export function unknownProject(project: string, version: string): Decision {
  return new Explanation().deny(
    'project',
    'REQUEST.UNKNOWN_PROJECT',
    unknownProjectMessage(project),
    [
      `Create policies/${project}.yaml (or model_keys/ or contextual_policies/${project}.yaml) to configure the project.`,
      `Send the call without X-Project-ID to use the ${DEFAULT_PROJECT} project.`,
    ],
    { version, remaining: [...CHECKS] },
  );
}
