import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import {
  APPROVAL_COMMENT_MAX,
  APPROVAL_COMPLETE_SUBJECT,
  APPROVAL_GET_SUBJECT,
  APPROVAL_LIST_SUBJECT,
  APPROVAL_RESOLVE_SUBJECT,
  approvalCommentSchema,
  callOutcome,
  GatewayError,
  httpStatusOf,
  TOOLCALL_COMPLETED,
  type ErrorCode,
  approvalOutcomeSchema,
  approvalStatusSchema,
  decisionSchema,
} from '@sg/contracts';
import { BusClient, NatsBus } from '@sg/messaging';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AdminAnswers } from '../admin/admin-answers.js';
import { AdminAuth, noteAdminDetail } from '../admin/admin-auth.js';
import { AgentAuthService, credentialsOf } from '../auth/agent-auth.service.js';
import { ErrorAnswers } from '../http/error-answer.js';
import { publicDecision, ToolCallService } from '../toolcall/toolcall.service.js';
import { parseApprovalsQuery } from './approvals-query.js';

/**
 * What POST /approve answers: the approval's status and, when it ran, its outcome (the
 * result or the error of the run); 403 with the error when the policy now denies the call.
 */
export const approveAnswerSchema = z.object({
  approval_id: z.uuid(),
  status: approvalStatusSchema,
  http_status: approvalOutcomeSchema.shape.http_status.optional(),
  result: z.unknown().optional(),
  error: approvalOutcomeSchema.shape.error,
  decision: decisionSchema.partial().optional(),
  trace_id: z.string(),
});
type ApproveAnswer = z.infer<typeof approveAnswerSchema>;

export const approveBodySchema = z.strictObject({
  approval_id: z.uuid(),
  approved: z.boolean(),
  comment: approvalCommentSchema.optional(),
});
const APPROVE_SHAPE = `send {"approval_id": "<uuid>", "approved": true|false, "comment": "<optional, 1-${APPROVAL_COMMENT_MAX} characters>"}`;
const uuid = z.uuid();

/**
 * POST /approve (seed 004, approver = admin key), GET /api/approvals (the queue, admins only) and
 * GET /api/approvals/:id (the requesting agent, or an admin). The approver only names the
 * approval (and may say why): the call that runs is the one stored with it, once, after the
 * policy is checked again.
 */
@Controller()
export class ApprovalsController {
  constructor(
    private readonly bus: NatsBus,
    private readonly client: BusClient,
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly auth: AgentAuthService,
    private readonly admins: AdminAuth,
    private readonly answers: AdminAnswers,
  ) {}

  @Post('approve')
  async approve(@Body() body: unknown, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const principal = await this.admins.require(req, 'approvals.resolve');
      const parsed = approveBodySchema.safeParse(body);
      if (!parsed.success) {
        throw new GatewayError(
          'REQUEST.INVALID_BODY',
          `${APPROVE_SHAPE}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
        );
      }
      const { approval_id, approved, comment } = parsed.data;
      noteAdminDetail(req, { approval_id, approved, comment: comment ?? null });
      const resolution = await this.client.request(
        APPROVAL_RESOLVE_SUBJECT,
        {
          approval_id,
          approved,
          approver: principal.name,
          four_eyes: this.admins.fourEyes,
          ...(comment !== undefined ? { comment } : {}),
        },
        ctx,
      );
      // The approved run belongs to the original call's trace.
      const callCtx = {
        ...ctx,
        traceId: resolution.approval.trace_id,
        project: resolution.approval.project,
      };
      if (!resolution.call) {
        const status = resolution.approval.status === 'denied' ? 403 : 200;
        return reply
          .status(status)
          .header('x-trace-id', ctx.traceId)
          .send({
            approval_id,
            status: resolution.approval.status,
            ...(resolution.decision ? { decision: publicDecision(resolution.decision) } : {}),
            ...(status === 403
              ? {
                  error: {
                    code: resolution.decision?.code ?? 'POLICY.TOOL_NOT_ALLOWED',
                    message: `the policy now denies this call: ${resolution.decision?.reason ?? ''}`,
                  },
                }
              : {}),
            trace_id: ctx.traceId,
          } satisfies ApproveAnswer);
      }
      const { channel, ...call } = resolution.call;
      const decision = resolution.decision;
      if (!decision)
        throw new GatewayError(
          'GATEWAY.INTERNAL',
          'the approval was resolved without its re-check; quote the trace_id to an operator',
        );
      let outcome: {
        http_status: number;
        result?: unknown;
        error?: { code: ErrorCode; message: string };
      };
      const started = performance.now();
      // The approved run is the call's second answer: its own audit record, under the call's
      // trace, with the re-check's decision it was let through on. The executor records it
      // (ADR 0011); only a run without an answer is recorded here.
      const record = {
        audit_id: randomUUID(),
        channel,
        agent_version: null,
        user_id: call.user_id ?? null,
        decision,
        elapsed_ms: 0,
      };
      try {
        const run = await this.toolCalls.execute({ ...call, record }, callCtx);
        outcome = run.ok
          ? { http_status: 200, result: run.result }
          : {
              http_status: httpStatusOf(run.error.code),
              error: { code: run.error.code, message: run.error.message },
            };
      } catch (err) {
        const a = this.errors.answer(err, ctx.traceId);
        outcome = {
          http_status: a.status,
          error: a.body.error as { code: ErrorCode; message: string },
        };
        this.bus.publish(
          TOOLCALL_COMPLETED,
          {
            channel,
            agent_id: call.agent_id,
            session_id: call.session_id,
            request_id: call.request_id,
            tool: call.tool,
            outcome: callOutcome(outcome.http_status, false),
            http_status: outcome.http_status,
            code: outcome.error?.code ?? null,
            risk_score: decision.risk_score,
            duration_ms: Math.round((performance.now() - started) * 100) / 100,
            user_id: call.user_id ?? null,
            arguments: call.arguments,
            decision,
          },
          callCtx,
        );
      }
      const view = await this.client.request(
        APPROVAL_COMPLETE_SUBJECT,
        { approval_id, status: outcome.error ? 'failed' : 'executed', outcome },
        callCtx,
      );
      return reply
        .status(outcome.error ? outcome.http_status : 200)
        .header('x-trace-id', ctx.traceId)
        .send({
          approval_id,
          status: view.status,
          ...outcome,
          ...(resolution.decision ? { decision: publicDecision(resolution.decision) } : {}),
          trace_id: ctx.traceId,
        } satisfies ApproveAnswer);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  /** The queue for the dashboard (approvals.read): one status, one page; see approvals-query.ts. */
  @Get('api/approvals')
  list(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'approvals.read', (params, ctx) =>
      this.client.request(APPROVAL_LIST_SUBJECT, parseApprovalsQuery(params), ctx),
    );
  }

  @Get('api/approvals/:id')
  async get(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      // An admin sees every approval; an agent only its own (others' look like missing ones).
      let agent: { agentId: string; project: string } | null = null;
      if (!this.admins.presents(req.headers)) {
        if (ctx.projectError) throw ctx.projectError;
        agent = await this.auth.authenticate(ctx.project, credentialsOf(req));
      } else {
        await this.admins.require(req, 'approvals.read');
      }
      if (!uuid.safeParse(id).success)
        throw new GatewayError('APPROVAL.NOT_FOUND', `no approval ${id.slice(0, 64)}`);
      const view = await this.client.request(APPROVAL_GET_SUBJECT, { approval_id: id }, ctx);
      if (agent && (view.agent_id !== agent.agentId || view.project !== agent.project))
        throw new GatewayError('APPROVAL.NOT_FOUND', `no approval ${id}`);
      return reply.status(200).header('x-trace-id', ctx.traceId).send(view);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }
}
