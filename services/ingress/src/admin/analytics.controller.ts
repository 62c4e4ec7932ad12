import { createHash } from 'node:crypto';
import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import {
  ANALYTICS_DISMISS_SUBJECT,
  ANALYTICS_RISK_SESSIONS_SUBJECT,
  ANALYTICS_RISK_TREND_SUBJECT,
  ANALYTICS_SHADOW_REPORT_SUBJECT,
  ANALYTICS_SIMULATE_SUBJECT,
  ANALYTICS_SUGGEST_SUBJECT,
  ANALYTICS_SUMMARY_SUBJECT,
  argumentsSchema,
  GatewayError,
  idSchema,
  POLICY_YAML_MAX_BYTES,
  projectIdSchema,
  SIMULATE_MAX_CALLS,
  SIMULATE_MAX_TRACE_CALLS,
  type SimulateRequest,
} from '@sg/contracts';
import { BusClient } from '@sg/messaging';
import { parseBody } from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RequestContext } from '../toolcall/toolcall.service.js';
import { AdminAnswers } from './admin-answers.js';
import { noteAdminDetail } from './admin-auth.js';
import {
  parseRiskSessionsQuery,
  parseRiskTrendQuery,
  parseShadowReportQuery,
  parseSuggestQuery,
  parseSummaryQuery,
} from './audit-query.js';

/** A simulation or a suggestion reads far more than a query: it may take seconds. */
const ANALYSIS_TIMEOUT_MS = 60_000;
const time = z.iso.datetime({ offset: true });

export const simulateBodySchema = z.strictObject({
  project: projectIdSchema.optional(),
  // seed 002's trace
  model_id: idSchema.optional(),
  session_id: idSchema.optional(),
  user_id: idSchema.optional(),
  tool_calls: z
    .array(z.strictObject({ tool: z.string().min(1).max(256), input: argumentsSchema.default({}) }))
    .min(1)
    .max(SIMULATE_MAX_TRACE_CALLS)
    .optional(),
  // a window of recorded calls
  from: time.optional(),
  to: time.optional(),
  limit: z.number().int().min(1).max(SIMULATE_MAX_CALLS).optional(),
  // against what (the live policy when neither)
  version_id: z.uuid().optional(),
  policy_yaml: z.string().min(1).max(POLICY_YAML_MAX_BYTES).optional(),
});
const SIMULATE_SHAPE =
  'send {"model_id", "session_id", "tool_calls": [{"tool", "input"}]} (a trace), {"project", "session_id"} (a recorded session) or {"project", "from", "to"} (recorded calls), optionally with "version_id" or "policy_yaml"';
export const dismissBodySchema = z.strictObject({
  project: projectIdSchema,
  why: z.string().trim().min(1, 'say why').max(1000),
});

/**
 * The analysts' endpoints (docs/analytics.md), answered by the analytics service: the
 * aggregates, rule suggestions and their dismissal, simulation, the shadow report and risk.
 */
@Controller()
export class AnalyticsController {
  constructor(
    private readonly client: BusClient,
    private readonly answers: AdminAnswers,
  ) {}

  @Get('api/analytics/summary')
  summary(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'analytics.read', (params, ctx) =>
      this.client.request(ANALYTICS_SUMMARY_SUBJECT, parseSummaryQuery(params), ctx),
    );
  }

  @Get('api/policy/suggest')
  suggest(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'analytics.read', (params, ctx) =>
      this.client.request(
        ANALYTICS_SUGGEST_SUBJECT,
        parseSuggestQuery(params),
        ctx,
        ANALYSIS_TIMEOUT_MS,
      ),
    );
  }

  @Post('api/policy/suggest/:id/dismiss')
  dismiss(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    return this.answers.forward(req, reply, 'analytics.run', async (_params, ctx, by) => {
      if (!/^[a-f0-9]{24}$/.test(id))
        throw new GatewayError(
          'REQUEST.NOT_FOUND',
          `"${id.slice(0, 64)}" is not a suggestion id; use the id of a suggestion from GET /api/policy/suggest`,
        );
      const { project, why } = parseBody(dismissBodySchema, body, 'send {"project", "why"}');
      noteAdminDetail(req, { suggestion_id: id, project, why });
      return this.client.request(ANALYTICS_DISMISS_SUBJECT, { project, id, by, why }, ctx);
    });
  }

  @Post('api/simulate')
  simulate(@Body() body: unknown, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'analytics.run', async (_params, ctx) => {
      const request = simulateRequestOf(parseBody(simulateBodySchema, body, SIMULATE_SHAPE), ctx);
      const out = await this.client.request(
        ANALYTICS_SIMULATE_SUBJECT,
        request,
        ctx,
        ANALYSIS_TIMEOUT_MS,
      );
      // The one audit record of the simulation: its admin.action event, with what it did.
      const src = request.source;
      noteAdminDetail(req, {
        project: request.project,
        source:
          src.kind === 'trace'
            ? {
                kind: 'trace',
                model_id: src.model_id,
                session_id: src.session_id,
                calls: src.tool_calls.length,
              }
            : src.kind === 'session'
              ? { kind: 'session', session_id: src.session_id }
              : { kind: 'window', from: src.from, to: src.to, limit: src.limit },
        against: out.against,
        // A candidate by its digest: the YAML itself may be long.
        ...('policy_yaml' in request.against
          ? {
              candidate_sha256: createHash('sha256')
                .update(request.against.policy_yaml)
                .digest('hex'),
            }
          : {}),
        summary: out.summary,
        truncated: out.truncated,
      });
      return out;
    });
  }

  @Get('api/shadow/report')
  shadowReport(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'analytics.read', (params, ctx) =>
      this.client.request(ANALYTICS_SHADOW_REPORT_SUBJECT, parseShadowReportQuery(params), ctx),
    );
  }

  @Get('api/risk/sessions')
  riskSessions(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'analytics.read', (params, ctx) =>
      this.client.request(ANALYTICS_RISK_SESSIONS_SUBJECT, parseRiskSessionsQuery(params), ctx),
    );
  }

  @Get('api/risk/agents')
  riskTrend(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'analytics.read', (params, ctx) =>
      this.client.request(ANALYTICS_RISK_TREND_SUBJECT, parseRiskTrendQuery(params), ctx),
    );
  }
}

/** The body's shape decides the source: a trace (tool_calls), a window (from/to), a session. */
export function simulateRequestOf(
  b: z.infer<typeof simulateBodySchema>,
  ctx: RequestContext,
): SimulateRequest {
  if (ctx.projectError && !b.project) throw ctx.projectError;
  const project = b.project ?? ctx.project;
  if (b.version_id && b.policy_yaml)
    throw new GatewayError(
      'REQUEST.INVALID_BODY',
      'give version_id or policy_yaml, not both (neither simulates against the live policy)',
    );
  const against = b.version_id
    ? { version_id: b.version_id }
    : b.policy_yaml
      ? { policy_yaml: b.policy_yaml }
      : { live: true as const };
  const bad = (message: string) => new GatewayError('REQUEST.INVALID_BODY', message);
  if (b.tool_calls) {
    if (!b.model_id || !b.session_id)
      throw bad('a trace needs model_id and session_id beside tool_calls');
    if (b.from || b.to || b.limit) throw bad('a trace takes no from, to or limit');
    return {
      project,
      against,
      source: {
        kind: 'trace',
        model_id: b.model_id,
        session_id: b.session_id,
        ...(b.user_id ? { user_id: b.user_id } : {}),
        tool_calls: b.tool_calls,
      },
    };
  }
  if (b.model_id || b.user_id)
    throw bad(`model_id and user_id belong to a trace; ${SIMULATE_SHAPE}`);
  if (b.from || b.to) {
    if (!b.from || !b.to) throw bad('a window needs both from and to');
    if (Date.parse(b.from) >= Date.parse(b.to)) throw bad('from must be earlier than to');
    if (b.session_id) throw bad('give a session_id or a window (from, to), not both');
    return {
      project,
      against,
      source: { kind: 'window', from: b.from, to: b.to, limit: b.limit ?? SIMULATE_MAX_CALLS },
    };
  }
  if (b.session_id) {
    if (b.limit) throw bad('limit applies to a window (from, to)');
    return { project, against, source: { kind: 'session', session_id: b.session_id } };
  }
  throw bad(SIMULATE_SHAPE);
}
