import { Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorAnswers } from '../http/error-answer.js';
import { ToolCallService, type RequestContext } from '../toolcall/toolcall.service.js';
import { AdminAuth, type AdminPermission } from './admin-auth.js';
import { searchParams } from './audit-query.js';

/**
 * The answer of an admin endpoint that forwards to a service: the permission checked, the
 * query string and context handed to `forward`, its result sent 200 and never cached, any error
 * as its error answer.
 */
@Injectable()
export class AdminAnswers {
  constructor(
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly admins: AdminAuth,
  ) {}

  async forward(
    req: FastifyRequest,
    reply: FastifyReply,
    permission: AdminPermission,
    forward: (params: URLSearchParams, ctx: RequestContext, principal: string) => Promise<unknown>,
  ) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const principal = await this.admins.require(req, permission);
      const body = await forward(searchParams(req.url), ctx, principal.name);
      return reply
        .status(200)
        .headers({ 'cache-control': 'no-store', 'x-trace-id': ctx.traceId })
        .send(body);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }
}
