import { Body, Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import {
  argumentsSchema,
  GatewayError,
  idSchema,
  TOOLCALL_EXECUTED,
  toolNameSchema,
} from '@sg/contracts';
import { ConfigSync, NatsBus } from '@sg/messaging';
import { parseBody, uuidFrom } from '@sg/runtime';
import { POLICY_REDIS } from '@sg/policy-engine';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AgentAuthService, credentialsOf } from '../auth/agent-auth.service.js';
import { ErrorAnswers } from '../http/error-answer.js';
import { send } from '../http/error-answer.js';
import { ToolCallService, userFrom } from '../toolcall/toolcall.service.js';

export const authorizeSchema = z.strictObject({
  tool: toolNameSchema,
  arguments: argumentsSchema.default({}),
  session_id: idSchema.optional(),
  request_id: idSchema.optional(),
  /** The tool's author says it returns personal data: the registry must say so too. */
  requires_pii: z.boolean().default(false),
});

/** What POST /api/sdk/complete answers, the first time and on a repeat alike: 202. */
export const completedAnswerSchema = z.object({ recorded: z.literal(true), trace_id: z.string() });

export const completeSchema = z.strictObject({
  audit_id: z.uuid(),
  status: z.enum(['ok', 'error']),
  duration_ms: z.number().nonnegative().max(3_600_000),
  /** Masked by the SDK already; the audit service masks what it stores again. */
  result: z.unknown().optional(),
  error: z.string().max(2000).optional(),
});

/** How long an authorization waits for its report. */
const GRANT_TTL_S = 600;
/** A larger result is recorded by its size only, as the executor does. */
const RESULT_EVENT_MAX_BYTES = 64 * 1024;

interface Grant {
  trace_id: string;
  project: string;
  agent_id: string;
  tool: string;
  request_id: string;
  arguments: Record<string, unknown>;
}

/**
 * The governed-tool SDK's two calls (libs/sdk). `authorize` is the governed path of
 * /api/tools/call up to the decision (channel `sdk`, the same checks, approvals, idempotency
 * and audit record) for a tool whose registry entry says it runs in its own server
 * (`upstream.type: sdk`). `complete` records that server's run of an authorized call
 * (toolcall.executed), once per grant: it may be sent again.
 */
@Controller('api/sdk')
export class SdkController {
  constructor(
    private readonly toolCalls: ToolCallService,
    private readonly auth: AgentAuthService,
    private readonly config: ConfigSync,
    private readonly bus: NatsBus,
    private readonly errors: ErrorAnswers,
    @Inject(POLICY_REDIS) private readonly redis: Redis,
  ) {}

  @Post('authorize')
  @HttpCode(200)
  async authorize(@Req() req: FastifyRequest, @Body() body: unknown, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    let grant: Grant | null = null;
    const answer = await this.toolCalls.govern(
      'sdk',
      ctx,
      async () => {
        if (ctx.projectError) throw ctx.projectError;
        const principal = await this.auth.authenticate(ctx.project, credentialsOf(req));
        const b = parseBody(
          authorizeSchema,
          body,
          'send {"tool", "arguments", "session_id"?, "request_id"?}',
        );
        const tool = this.config.files.tools.get(b.tool);
        if (tool && tool.upstream.type !== 'sdk')
          throw new GatewayError(
            'SDK.REGISTRY_MISMATCH',
            `${b.tool} is run by the gateway; call it through /api/tools/call or /mcp, or register it with "upstream": {"type": "sdk"}`,
          );
        if (tool && b.requires_pii && !tool.pii)
          throw new GatewayError(
            'SDK.REGISTRY_MISMATCH',
            `${b.tool} returns personal data but tools/${b.tool}.json lacks "pii": true, so callers without PII_READ would be let through; an admin must set it`,
          );
        const userId = userFrom(req.headers);
        const requestId = b.request_id ?? randomUUID();
        grant = {
          trace_id: ctx.traceId,
          project: principal.project,
          agent_id: principal.agentId,
          tool: b.tool,
          request_id: requestId,
          arguments: b.arguments,
        };
        return {
          principal,
          call: {
            agentId: principal.agentId,
            agentVersion: null,
            requestId,
            clientRequestId: b.request_id !== undefined,
            sessionId: b.session_id ?? 'default',
            userId,
            tool: b.tool,
            arguments: b.arguments,
          },
        };
      },
      { authorizeOnly: true },
    );
    // A replayed authorization (the same request_id again) gets no grant: its tool ran, or may
    // have, under the first one, and must not run twice.
    const replayed = answer.headers['idempotent-replayed'] === 'true';
    if (answer.status === 200 && answer.body.status === 'authorized' && grant && !replayed) {
      try {
        await this.redis.set(
          `sdk:grant:${String(answer.body.audit_id)}`,
          JSON.stringify(grant),
          'EX',
          GRANT_TTL_S,
        );
      } catch {
        // Without the grant the run could not be reported: the tool must not run.
        const refused = this.errors.answer(
          new GatewayError(
            'POLICY.DEPENDENCY_UNAVAILABLE',
            'the gateway cannot record this authorization (Redis is unreachable), so the tool must not run; retry shortly',
          ),
          ctx.traceId,
        );
        return send(reply, refused);
      }
    }
    return send(reply, answer);
  }

  @Post('complete')
  async complete(@Req() req: FastifyRequest, @Body() body: unknown, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      if (ctx.projectError) throw ctx.projectError;
      const principal = await this.auth.authenticate(ctx.project, credentialsOf(req));
      const b = parseBody(
        completeSchema,
        body,
        'send {"audit_id", "status", "duration_ms", "result"?, "error"?}',
      );
      let raw: string | null;
      try {
        raw = await this.redis.get(`sdk:grant:${b.audit_id}`);
      } catch {
        throw new GatewayError(
          'POLICY.DEPENDENCY_UNAVAILABLE',
          'the gateway cannot read the authorization (Redis is unreachable); retry shortly',
        );
      }
      const grant = raw ? (JSON.parse(raw) as Grant) : null;
      if (!grant || grant.agent_id !== principal.agentId || grant.project !== principal.project)
        throw new GatewayError(
          'SDK.GRANT_NOT_FOUND',
          `no authorization ${b.audit_id} of yours is open (unknown, or older than ${GRANT_TTL_S} s)`,
        );
      const size = Buffer.byteLength(JSON.stringify(b.result ?? null));
      // One record per grant: a report sent again (its answer was lost) has the same event id,
      // which JetStream and the audit store keep once; the first report's content wins.
      this.bus.publish(
        TOOLCALL_EXECUTED,
        {
          agent_id: grant.agent_id,
          request_id: grant.request_id,
          tool: grant.tool,
          arguments: grant.arguments,
          status: b.status,
          duration_ms: b.duration_ms,
          upstream_status: null,
          error_code: b.status === 'error' ? 'EXECUTOR.UPSTREAM_ERROR' : null,
          ...(b.status === 'ok'
            ? size <= RESULT_EVENT_MAX_BYTES
              ? { result: b.result ?? null, result_bytes: size }
              : { result_bytes: size, result_truncated: true }
            : { result: { error: b.error ?? null } }),
        },
        // The run belongs to the authorized call's trace, whatever this request's own is.
        { ...ctx, traceId: grant.trace_id, project: grant.project },
        uuidFrom(`sdk-run:${b.audit_id}`),
      );
      return reply
        .status(202)
        .header('x-trace-id', grant.trace_id)
        .send({ recorded: true, trace_id: grant.trace_id } satisfies z.infer<
          typeof completedAnswerSchema
        >);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }
}
