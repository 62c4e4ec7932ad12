import { Inject, Injectable } from '@nestjs/common';
import {
  type Channel,
  APPROVAL_CREATE_SUBJECT,
  type Decision,
  EXECUTE_SUBJECT,
  type ErrorBody,
  FEDERATION_FORWARD_SUBJECT,
  FORWARD_TO_HEADERS,
  GATEWAY_ID_PATTERN,
  type OutboundAnswer,
  remoteToolOf,
  type ExecuteRequest,
  type ExecuteResult,
  GatewayError,
  callOutcome,
  HttpHeaders,
  TOOLCALL_COMPLETED,
} from '@sg/contracts';
import {
  BusClient,
  ConfigSync,
  type MessageContext,
  NatsBus,
  UndeliveredError,
} from '@sg/messaging';
import { DecisionService, type RegisteredTool } from '@sg/policy-engine';
import { context, ENV, type HeaderBag, headerOf, parseBody, traceIdFrom } from '@sg/runtime';
import { randomUUID } from 'node:crypto';
import { AgentAuthService, type Credentials, type Principal } from '../auth/agent-auth.service.js';
import type { IngressEnv } from '../config/env.js';
import { RemoteTools } from '../federation/remote-tools.js';
import { PluginHost } from '../plugins/plugin-host.js';
import { ErrorAnswers } from '../http/error-answer.js';
import {
  IdempotencyService,
  type Claim,
  type PreparedClaim,
} from '../idempotency/idempotency.service.js';
import { mcpToolCallSchema, type NormalizedCall, toolCallEnvelopeSchema } from './envelopes.js';
import { resolveProject } from './project.js';

/** A request's trace and project; `project` is `default` when X-Project-ID is refused. */
export type RequestContext = MessageContext & {
  /** Why X-Project-ID cannot be used: every route that takes the header answers with it. */
  projectError: GatewayError | null;
};

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** The fields of a decision an agent sees (the same on allow and deny). */
export function publicDecision(d: Decision) {
  return {
    allowed: d.allowed,
    reason: d.reason,
    rule_trace: d.rule_trace,
    reasoning: d.reasoning,
    suggestions: d.suggestions,
    risk_score: d.risk_score,
    requires_approval: d.requires_approval,
    policy_version: d.policy_version,
    ...(d.violations ? { violations: d.violations } : {}),
  };
}

/**
 * One governed tool call: authenticate, validate, ask policy, execute, answer. Every answer,
 * whatever its status, is published as one toolcall.completed event whose id is the audit_id,
 * carrying the call as asked and the decision (ADR 0010).
 */
@Injectable()
export class ToolCallService {
  constructor(
    private readonly bus: NatsBus,
    private readonly client: BusClient,
    private readonly auth: AgentAuthService,
    @Inject(ENV) private readonly env: IngressEnv,
    private readonly config: ConfigSync,
    private readonly idempotency: IdempotencyService,
    private readonly decisions: DecisionService,
    private readonly errors: ErrorAnswers,
    private readonly remoteTools: RemoteTools,
    private readonly plugins: PluginHost,
  ) {}

  /** Trace id and project of a request, before anything else is trusted; read per request, so a reload applies at once. */
  contextOf(headers: HeaderBag): RequestContext {
    const traceId = traceIdFrom(
      headerOf(headers, HttpHeaders.traceId),
      headerOf(headers, HttpHeaders.traceparent),
    );
    const { project, error } = resolveProject(
      headerOf(headers, HttpHeaders.projectId),
      this.config.files.projects,
    );
    // The request's span is active here (HttpTracingInterceptor): the call's messages continue it.
    return { traceId, otel: context.active(), project, projectError: error };
  }

  /** A call to a tool-call endpoint: the caller is authenticated from the request, the call read from the body. */
  handle(channel: Channel, req: Credentials, body: unknown): Promise<HttpAnswer> {
    const headers = req.headers;
    const ctx = this.contextOf(headers);
    return this.govern(channel, ctx, async () => {
      // Before the key is checked and before anything is published under the name.
      if (ctx.projectError) throw ctx.projectError;
      const principal = await this.auth.authenticate(ctx.project, req);
      const call = this.normalize(channel, headers, body);
      if (call.agentId !== principal.agentId) {
        throw new GatewayError(
          'AUTH.IDENTITY_MISMATCH',
          `this key belongs to ${principal.agentId}; send ${channel === 'rest' ? 'agent_id' : 'model_id'} "${principal.agentId}" or use that agent's own key`,
        );
      }
      return { principal, call };
    });
  }

  /**
   * The governed path of one call: decision, approval, idempotency, execution, one audited
   * answer. `admit` names the caller and the call (the MCP endpoint has authenticated its
   * session already); an error it throws is the answer, audited like any other. With
   * `authorizeOnly` an allowed call is not run: the answer says it is authorized (the SDK runs
   * the tool in its own server and reports the run).
   */
  async govern(
    channel: Channel,
    ctx: MessageContext,
    admit: () => Promise<{ principal: Principal; call: NormalizedCall }>,
    opts: { authorizeOnly?: boolean } = {},
  ): Promise<HttpAnswer> {
    const started = performance.now();
    let auditId = randomUUID();
    let principal: Principal | null = null;
    let call: NormalizedCall | null = null;
    let decision: Decision | null = null;
    let answer: HttpAnswer;
    let claim: Claim | null = null;
    let prepared: PreparedClaim | null = null;
    let reachedExecutor = false;
    let recordedByExecutor = false;
    try {
      // Fail closed while starting: a file's policy may have been replaced by a newer version.
      if (!this.config.versionsReady)
        throw new GatewayError(
          'GATEWAY.SERVICE_UNAVAILABLE',
          'the gateway is starting and loading its policy versions; retry in a moment',
        );
      ({ principal, call } = await admit());
      const request = {
        project: ctx.project,
        agent_id: call.agentId,
        ...(call.userId ? { user_id: call.userId } : {}),
        session_id: call.sessionId,
        request_id: call.requestId,
        tool: call.tool,
        arguments: call.arguments,
      };
      // A peer's tool (`<peer>/<tool>`, or forward_to): its catalogue entry is what policy checks.
      const remote = remoteToolOf(call.tool);
      const remoteTool: RegisteredTool | undefined = remote
        ? await this.remoteTools.get(ctx.project, remote.peer, remote.tool, ctx)
        : undefined;
      prepared = call.clientRequestId
        ? this.idempotency.prepare(ctx.project, call.agentId, call.requestId, call)
        : null;
      // Decided here, in-process (ADR 0011); the decision takes the request_id's claim before it
      // counts anything (ADR 0010). Without `taken` the store was unreachable or the decision
      // failed: a denial, and the claim is dropped below.
      const { claim: taken, ...decided } = await this.decisions.decide(
        { ...request, channel, ...(prepared ? { claim: prepared.decide } : {}) },
        ctx,
        remoteTool,
      );
      if (prepared && taken) claim = this.idempotency.settle(prepared, taken);
      if (claim?.kind === 'replay') {
        // The first answer again, audited as its own event: audit_id is this replay's, replay_of the first's.
        const first = claim.answer;
        const body = { ...first.body, audit_id: auditId, replay_of: first.body.audit_id };
        return this.finish(
          channel,
          ctx,
          auditId,
          started,
          { ...first, body, headers: { ...first.headers, 'idempotent-replayed': 'true' } },
          { principal, call, decision: null },
        );
      }
      decision = decided;
      // After policy allowed it: the plugins may deny or annotate the call (docs/plugins.md).
      if (decision.allowed && this.plugins.active)
        decision = await this.plugins.apply(decision, {
          ctx: {
            project: ctx.project,
            agent_id: call.agentId,
            session_id: call.sessionId,
            request_id: call.requestId,
            user_id: call.userId ?? null,
            trace_id: ctx.traceId,
            channel,
            risk_score: decision.risk_score,
            policy_version: decision.policy_version,
          },
          tool: call.tool,
          payload: call.arguments,
        });
      if (!decision.allowed) {
        answer = this.denied(decision, ctx.project, ctx.traceId, auditId);
      } else if (remote) {
        if (decision.requires_approval || opts.authorizeOnly)
          throw new GatewayError(
            'FEDERATION.APPROVAL_UNSUPPORTED',
            `this gateway's policy asks for an approval of ${call.tool}; a peer's tool is approved by the peer that runs it, so the call is not sent`,
          );
        // The peer may run the tool: a retry with the same request_id must not send it twice.
        reachedExecutor = true;
        let out: OutboundAnswer;
        try {
          out = await this.client.request(
            FEDERATION_FORWARD_SUBJECT,
            {
              ...request,
              peer: remote.peer,
              tool: remote.tool,
              original_decision: publicDecision(decision),
              via: call.via ?? [],
              hops: call.hops ?? 0,
            },
            ctx,
            this.remoteTools.timeoutMs(remote.peer) + this.env.EXECUTE_MARGIN_MS,
          );
        } catch (err) {
          // Refused before anything was sent: a retry is decided and sent afresh.
          if (err instanceof GatewayError && NOT_SENT.has(err.code)) reachedExecutor = false;
          if (err instanceof UndeliveredError) {
            reachedExecutor = false;
            throw new GatewayError(
              'FEDERATION.PEER_UNAVAILABLE',
              `the federation service is not running, so the call was not sent to ${remote.peer}`,
              { peer: remote.peer },
            );
          }
          throw err;
        }
        answer = this.forwarded(out, decision, ctx.traceId, auditId);
      } else if (decision.requires_approval) {
        // Nothing runs until a person approves this very call (tool, arguments, agent, project).
        const approval = await this.client.request(
          APPROVAL_CREATE_SUBJECT,
          {
            call: { ...request, channel },
            policy_version: decision.policy_version,
            risk_score: decision.risk_score,
          },
          ctx,
        );
        answer = {
          status: 202,
          headers: { location: `/api/approvals/${approval.approval_id}` },
          body: {
            success: false,
            allowed: false,
            status: 'pending_approval',
            approval_id: approval.approval_id,
            expires_at: approval.expires_at,
            decision: publicDecision(decision),
            risk_score: decision.risk_score,
            trace_id: ctx.traceId,
            audit_id: auditId,
          },
        };
      } else if (opts.authorizeOnly) {
        answer = {
          status: 200,
          headers: {},
          body: {
            success: true,
            allowed: true,
            status: 'authorized',
            decision: publicDecision(decision),
            risk_score: decision.risk_score,
            trace_id: ctx.traceId,
            audit_id: auditId,
          },
        };
      } else {
        reachedExecutor = true;
        // The executor records the call under auditId before it answers (ADR 0011).
        const record = {
          audit_id: auditId,
          channel,
          agent_version: call.agentVersion,
          user_id: call.userId ?? null,
          decision,
          elapsed_ms: performance.now() - started,
        };
        let run: ExecuteResult;
        try {
          run = await this.execute({ ...request, record }, ctx);
        } catch (err) {
          // Never delivered (no executor, NATS down): nothing can have run, so the claim is
          // dropped and a retry is decided again. Any other failure (a timeout) may hide a run.
          if (err instanceof UndeliveredError) reachedExecutor = false;
          // No answer: the executor may still run the call and record it under auditId, so
          // this answer is recorded here, under an id of its own.
          auditId = randomUUID();
          throw err;
        }
        recordedByExecutor = true;
        answer = run.ok
          ? {
              status: 200,
              headers: {},
              body: {
                success: true,
                allowed: true,
                result: run.result,
                decision: publicDecision(decision),
                risk_score: decision.risk_score,
                trace_id: ctx.traceId,
                audit_id: auditId,
              },
            }
          : this.failed(GatewayError.fromBody(run.error), ctx.traceId, auditId, decision);
      }
    } catch (err) {
      answer = this.failed(err, ctx.traceId, auditId, decision);
    }
    if (claim?.kind === 'first') claim.release(answer, reachedExecutor);
    // The decision may have taken the claim and not said so (an error after the script ran):
    // without this, retries would wait out the claim's TTL.
    else if (prepared && !claim) await this.idempotency.forget(prepared);
    return this.finish(
      channel,
      ctx,
      auditId,
      started,
      answer,
      { principal, call, decision },
      recordedByExecutor,
    );
  }

  /**
   * Runs an allowed call, waiting as long as the tool may take plus a margin. Any answer means
   * the executor handled the call (and recorded it, given `record`); an error thrown means it
   * gave no answer.
   */
  execute(request: ExecuteRequest, ctx: MessageContext): Promise<ExecuteResult> {
    const upstream = this.config.files.tools.get(request.tool)?.upstream;
    const timeout =
      (upstream && 'timeout_ms' in upstream ? upstream.timeout_ms : 30_000) +
      this.env.EXECUTE_MARGIN_MS;
    return this.client.request(EXECUTE_SUBJECT, request, ctx, timeout);
  }

  /** Answers a request that failed before the controller ran (bad JSON, too large), audited like any other. */
  reject(
    channel: Channel,
    headers: HeaderBag,
    error: unknown,
    ctx: MessageContext = this.contextOf(headers),
  ): HttpAnswer {
    const auditId = randomUUID();
    return this.finish(
      channel,
      ctx,
      auditId,
      performance.now(),
      this.failed(error, ctx.traceId, auditId, null),
      { principal: null, call: null, decision: null },
    );
  }

  private finish(
    channel: Channel,
    ctx: MessageContext,
    auditId: string,
    started: number,
    answer: HttpAnswer,
    seen: { principal: Principal | null; call: NormalizedCall | null; decision: Decision | null },
    /** The executor published this answer's record itself (ADR 0011). */
    recorded = false,
  ): HttpAnswer {
    const { principal, call, decision } = seen;
    answer.headers['x-trace-id'] = ctx.traceId;
    if (recorded) return answer;
    const code = (answer.body.error as ErrorBody | undefined)?.code ?? null;
    this.bus.publish(
      TOOLCALL_COMPLETED,
      {
        channel,
        agent_id: principal?.agentId ?? null,
        session_id: call?.sessionId ?? null,
        request_id: call?.requestId ?? null,
        tool: call?.tool ?? null,
        outcome: callOutcome(answer.status, decision !== null && !decision.allowed),
        http_status: answer.status,
        code,
        risk_score: decision?.risk_score ?? null,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
        ...(call
          ? {
              agent_version: call.agentVersion,
              user_id: call.userId ?? null,
              arguments: call.arguments,
            }
          : {}),
        decision,
      },
      ctx,
      auditId,
    );
    return answer;
  }

  private normalize(channel: Channel, headers: HeaderBag, body: unknown): NormalizedCall {
    const peer = forwardTo(headers);
    if (channel === 'rest') {
      const b = parseBody(toolCallEnvelopeSchema, body);
      return {
        agentId: b.agent_id,
        agentVersion: b.agent_version,
        requestId: b.request_id,
        clientRequestId: true,
        sessionId: sessionFrom(headers) ?? 'default',
        userId: userFrom(headers),
        tool: qualified(b.tool, peer),
        arguments: b.arguments,
      };
    }
    const b = parseBody(mcpToolCallSchema, body);
    const requestId = headerOf(headers, 'x-request-id')?.slice(0, 128);
    return {
      agentId: b.model_id,
      agentVersion: null,
      requestId: requestId || randomUUID(),
      clientRequestId: Boolean(requestId),
      sessionId: b.session_id,
      userId: userFrom(headers),
      tool: qualified(b.tool, peer),
      arguments: b.input,
    };
  }

  /** A forwarded call's answer: the peer's decision and result under `remote_decision`. */
  private forwarded(
    out: OutboundAnswer,
    decision: Decision,
    traceId: string,
    auditId: string,
  ): HttpAnswer {
    const remote = out.remote_decision;
    const common = {
      decision: publicDecision(decision),
      remote_decision: remote,
      risk_score: decision.risk_score,
      trace_id: traceId,
      audit_id: auditId,
    };
    if (remote.status === 'executed')
      return {
        status: 200,
        headers: {},
        body: { success: true, allowed: true, result: remote.result, ...common },
      };
    if (remote.status === 'pending_approval')
      return {
        status: 202,
        headers: {},
        body: { success: false, allowed: false, status: 'pending_approval', ...common },
      };
    return {
      status: out.status,
      headers: out.headers,
      body: { success: false, allowed: false, error: out.error, ...common },
    };
  }

  private denied(
    decision: Decision,
    project: string,
    traceId: string,
    auditId: string,
  ): HttpAnswer {
    const code = decision.code ?? 'POLICY.TOOL_NOT_ALLOWED';
    // A decision refuses a project it has no policy for (a caller on the bus, or a reload in between): same answer as the ingress's own refusal.
    const details = code === 'REQUEST.UNKNOWN_PROJECT' ? { details: { project } } : {};
    const status = new GatewayError(code, decision.reason).httpStatus;
    const headers: Record<string, string> = {};
    if (decision.retry_after_ms !== undefined)
      headers['retry-after'] = String(Math.max(1, Math.ceil(decision.retry_after_ms / 1000)));
    return {
      status,
      headers,
      body: {
        success: false,
        allowed: false,
        error: { code, message: decision.reason, ...details },
        decision: publicDecision(decision),
        risk_score: decision.risk_score,
        trace_id: traceId,
        audit_id: auditId,
      },
    };
  }

  private failed(
    err: unknown,
    traceId: string,
    auditId: string,
    decision: Decision | null,
  ): HttpAnswer {
    const error = this.errors.gatewayError(err, traceId);
    return {
      status: error.httpStatus,
      headers: this.errors.headersFor(error),
      body: {
        success: false,
        error: error.toBody(),
        ...(decision
          ? { decision: publicDecision(decision), risk_score: decision.risk_score }
          : {}),
        trace_id: traceId,
        audit_id: auditId,
      },
    };
  }
}

/** Refusals of the federation service that sent nothing to the peer. */
const NOT_SENT: ReadonlySet<string> = new Set([
  'FEDERATION.PEER_UNAVAILABLE',
  'FEDERATION.LOOP_DETECTED',
  'FEDERATION.UNKNOWN_TARGET',
  'AUTH.SIGNING_KEY_UNAVAILABLE',
]);

/** The end user the agent acts for (X-User-Id): per-user rate limits apply to it. */
export function userFrom(headers: HeaderBag): string | undefined {
  const u = headerOf(headers, HttpHeaders.userId);
  return u && u.length <= 128 ? u : undefined;
}

/**
 * The peer a `forward_to` header names (seed 000), checked as a peer id: a URL, a host or
 * anything else is refused here (FEDERATION.INVALID_TARGET), before anything is sent anywhere.
 */
function forwardTo(headers: HeaderBag): string | undefined {
  let value: string | undefined;
  for (const name of FORWARD_TO_HEADERS) value ??= headerOf(headers, name);
  if (value === undefined) return undefined;
  const v = value.trim();
  if (GATEWAY_ID_PATTERN.test(v)) return v;
  throw new GatewayError(
    'FEDERATION.INVALID_TARGET',
    /[:/]/.test(v)
      ? 'forward_to takes the id of a peer in trusted_peers.yaml, never a URL or an address'
      : 'forward_to must be a peer id of trusted_peers.yaml: 1-63 lower-case letters, digits, _ and -',
  );
}

/** The tool a call names, with forward_to: `<peer>/<tool>`. */
function qualified(tool: string, peer: string | undefined): string {
  if (peer === undefined) return tool;
  if (remoteToolOf(tool))
    throw new GatewayError(
      'REQUEST.INVALID_BODY',
      `with forward_to, name the tool as ${peer} knows it, without a peer: ${tool.slice(tool.indexOf('/') + 1)}`,
    );
  return `${peer}/${tool}`;
}

function sessionFrom(headers: HeaderBag): string | undefined {
  const s = headerOf(headers, HttpHeaders.sessionId);
  return s && s.length <= 128 ? s : undefined;
}
