import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import { forProject } from '@sg/config';
import {
  ANALYTICS_SIMULATE_SUBJECT,
  GatewayError,
  idSchema,
  POLICY_PROPOSAL_GET_SUBJECT,
  POLICY_PROPOSAL_RESOLVE_SUBJECT,
  POLICY_PROPOSALS_SUBJECT,
  POLICY_PROPOSE_SUBJECT,
  PROPOSAL_YAML_MAX_BYTES,
  proposalStatusSchema,
  PROJECT_ID_PATTERN,
  type ResponseOf,
  SIMULATE_MAX_CALLS,
  policyVersionSchema,
  proposalDetailSchema,
  proposalSchema,
  simulationSchema,
} from '@sg/contracts';
import { BusClient, ConfigSync } from '@sg/messaging';
import { parseBody } from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AgentAuthService, credentialsOf } from '../auth/agent-auth.service.js';
import { ErrorAnswers } from '../http/error-answer.js';
import { ToolCallService, type RequestContext } from '../toolcall/toolcall.service.js';
import { AdminAuth, mayDo, noteAdminDetail } from './admin-auth.js';

export const proposeBodySchema = z.strictObject({
  model_id: idSchema,
  yaml: z
    .string()
    .min(1)
    .max(PROPOSAL_YAML_MAX_BYTES, `at most ${PROPOSAL_YAML_MAX_BYTES} bytes of YAML`),
  justification: z.string().min(1, 'say why').max(4000),
});
/** What POST /api/propose_policy answers: approved at once (201) or queued for review (202). */
export const proposeAnswerSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('approved'),
    proposal_id: proposalSchema.shape.proposal_id,
    version: policyVersionSchema,
    guardrails: proposalSchema.shape.guardrails,
  }),
  z.object({
    status: z.literal('pending'),
    review_required: z.literal(true),
    proposal_id: proposalSchema.shape.proposal_id,
    guardrails: proposalSchema.shape.guardrails,
  }),
]);

/**
 * What GET /api/proposals/:id answers: the proposal and the simulated impact of its merged
 * policy on the last days of calls (null when not pending; an error when it could not run, or
 * the principal may not see recorded calls).
 */
export const proposalReviewSchema = proposalDetailSchema.extend({
  simulation: z
    .union([
      z.object({
        window: z.object({ from: z.string(), to: z.string() }),
        summary: simulationSchema.shape.summary,
        truncated: z.boolean(),
        changed: simulationSchema.shape.calls,
      }),
      z.object({ error: z.string() }),
    ])
    .nullable(),
});
type Impact = z.infer<typeof proposalReviewSchema>['simulation'];

export const reviewBodySchema = z.strictObject({ comment: z.string().max(2000).optional() });

/**
 * Policy proposals (seed 001, docs/proposals.md): `POST /api/propose_policy` from an agent whose
 * model_keys entry has `can_propose: true` (its own rules) or an admin with policy.write; the
 * review queue and reviews for admins with proposals.review (four-eyes).
 */
@Controller()
export class ProposalsController {
  constructor(
    private readonly client: BusClient,
    private readonly config: ConfigSync,
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly admins: AdminAuth,
    private readonly agents: AgentAuthService,
  ) {}

  @Post('api/propose_policy')
  async propose(@Body() body: unknown, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      if (ctx.projectError) throw ctx.projectError;
      let proposer: string;
      let via: 'agent' | 'admin';
      let modelId: string;
      if (this.admins.presents(req.headers)) {
        proposer = (await this.admins.require(req, 'policy.write')).name;
        via = 'admin';
        modelId = parseBody(proposeBodySchema, body, PROPOSE_SHAPE).model_id;
      } else {
        const agent = await this.agents.authenticate(ctx.project, credentialsOf(req));
        modelId = parseBody(proposeBodySchema, body, PROPOSE_SHAPE).model_id;
        if (modelId !== agent.agentId)
          throw new GatewayError(
            'AUTH.IDENTITY_MISMATCH',
            `this key belongs to ${agent.agentId}; an agent proposes changes to its own rules only`,
          );
        const entry = forProject(this.config.files.modelKeys, ctx.project).models[agent.agentId];
        if (!entry?.can_propose)
          throw new GatewayError(
            'POLICY.PROPOSALS_NOT_ALLOWED',
            `${agent.agentId} may not propose policy changes: its model_keys entry needs can_propose: true`,
          );
        proposer = agent.agentId;
        via = 'agent';
      }
      const { yaml, justification } = parseBody(proposeBodySchema, body, PROPOSE_SHAPE);
      const out = await this.client.request(
        POLICY_PROPOSE_SUBJECT,
        { project: ctx.project, model_id: modelId, proposer, via, yaml, justification },
        ctx,
      );
      if (out.version) await this.config.refreshVersions('proposal approved automatically');
      const p = out.proposal;
      const answer: z.infer<typeof proposeAnswerSchema> = out.version
        ? {
            status: 'approved',
            proposal_id: p.proposal_id,
            version: out.version,
            guardrails: p.guardrails,
          }
        : {
            status: 'pending',
            review_required: true,
            proposal_id: p.proposal_id,
            guardrails: p.guardrails,
          };
      return reply
        .status(out.version ? 201 : 202)
        .header('x-trace-id', ctx.traceId)
        .send(answer);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  @Get('api/proposals')
  async list(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      await this.admins.require(req, 'policy.read');
      const q = new URLSearchParams(
        req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '',
      );
      const project = q.get('project') ?? undefined;
      const status = q.get('status') ?? undefined;
      if (project !== undefined && !PROJECT_ID_PATTERN.test(project))
        throw new GatewayError('AUDIT.INVALID_QUERY', 'project must be a project id');
      if (status !== undefined && !proposalStatusSchema.safeParse(status).success)
        throw new GatewayError(
          'AUDIT.INVALID_QUERY',
          'status must be pending, approved or rejected',
        );
      const page = await this.client.request(
        POLICY_PROPOSALS_SUBJECT,
        {
          ...(project ? { project } : {}),
          ...(status ? { status: status as 'pending' } : {}),
          limit: 50,
        },
        ctx,
      );
      return reply.status(200).header('x-trace-id', ctx.traceId).send(page);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  @Get('api/proposals/:id')
  async get(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const principal = await this.admins.require(req, 'policy.read');
      const detail = await this.client.request(
        POLICY_PROPOSAL_GET_SUBJECT,
        { id: proposalIdOf(id) },
        ctx,
      );
      // The impact names recorded calls (agents, trace ids): for those who review proposals or
      // may run simulations.
      const simulation: Impact =
        mayDo(principal, 'proposals.review') || mayDo(principal, 'analytics.run')
          ? await this.impact(detail, ctx)
          : {
              error:
                'the simulated impact needs the proposals.review or analytics.run permission (approver, analyst, policy_editor or admin)',
            };
      if (simulation && 'summary' in simulation)
        noteAdminDetail(req, { simulation: simulation.summary, proposal_id: detail.proposal_id });
      return reply
        .status(200)
        .header('x-trace-id', ctx.traceId)
        .send({ ...detail, simulation });
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  @Post('api/proposals/:id/approve')
  approve(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    return this.review(id, true, body, req, reply);
  }

  @Post('api/proposals/:id/reject')
  reject(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    return this.review(id, false, body, req, reply);
  }

  private async review(
    id: string,
    approve: boolean,
    body: unknown,
    req: FastifyRequest,
    reply: FastifyReply,
  ) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const reviewer = await this.admins.require(req, 'proposals.review');
      const { comment } = parseBody(
        reviewBodySchema,
        body ?? {},
        'send {"comment": "..."} or no body',
      );
      const proposal = await this.client.request(
        POLICY_PROPOSAL_RESOLVE_SUBJECT,
        {
          id: proposalIdOf(id),
          approve,
          reviewer: reviewer.name,
          comment: comment ?? '',
          four_eyes: this.admins.fourEyes,
        },
        ctx,
      );
      if (proposal.version_id) await this.config.refreshVersions('proposal approved');
      return reply.status(200).header('x-trace-id', ctx.traceId).send(proposal);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  /**
   * What a pending proposal would have changed: the recorded calls of the last
   * REVIEW_WINDOW_DAYS replayed against the policy with the proposal merged (POST /api/simulate's
   * engine). Its summary and the changed calls; an error in its place if it cannot be simulated.
   */
  private async impact(
    p: ResponseOf<typeof POLICY_PROPOSAL_GET_SUBJECT>,
    ctx: RequestContext,
  ): Promise<Impact> {
    if (p.status !== 'pending' || !p.merged) return null;
    const to = new Date();
    const from = new Date(to.getTime() - REVIEW_WINDOW_DAYS * 86_400_000);
    try {
      const out = await this.client.request(
        ANALYTICS_SIMULATE_SUBJECT,
        {
          project: p.project,
          source: {
            kind: 'window',
            from: from.toISOString(),
            to: to.toISOString(),
            limit: SIMULATE_MAX_CALLS,
          },
          against: { policy_yaml: p.merged },
        },
        ctx,
        60_000,
      );
      return {
        window: { from: from.toISOString(), to: to.toISOString() },
        summary: out.summary,
        truncated: out.truncated,
        changed: out.calls.filter((c) => c.difference !== 'none').slice(0, 50),
      };
    } catch (err) {
      return { error: err instanceof GatewayError ? err.message : 'the simulation failed' };
    }
  }
}

/** The days of recorded calls a proposal's review simulates. */
const REVIEW_WINDOW_DAYS = 7;

const PROPOSE_SHAPE = 'send {"model_id", "yaml", "justification"}';

function proposalIdOf(raw: string): string {
  if (!z.uuid().safeParse(raw).success)
    throw new GatewayError('POLICY.PROPOSAL_NOT_FOUND', `no proposal ${raw.slice(0, 64)}`);
  return raw.toLowerCase();
}
