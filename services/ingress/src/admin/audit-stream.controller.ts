import { Controller, Get, Req, Res } from '@nestjs/common';
import { type AuditStreamFilter, GatewayError } from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorAnswers } from '../http/error-answer.js';
import { ToolCallService } from '../toolcall/toolcall.service.js';
import { publishAdminAction } from './admin-action.js';
import { AdminAuth, type AdminPrincipal, mayDo, noteAdminDetail } from './admin-auth.js';
import { AuditFeed, type Ticket } from './audit-feed.js';
import { parseStreamQuery, searchParams } from './audit-query.js';
import { commentFrame } from './audit-stream.js';

/**
 * GET /api/audit/stream (`audit.read`): the calls the audit stores, as Server-Sent Events, as
 * they are stored (docs/audit-queries.md#get-apiauditstream). Everything that can be refused is
 * refused before the stream starts, as a JSON error with its status; then the reply is taken
 * over (reply.hijack()) and AuditFeed writes the events.
 */
@Controller()
export class AuditStreamController {
  constructor(
    private readonly feed: AuditFeed,
    private readonly admins: AdminAuth,
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly bus: NatsBus,
  ) {}

  @Get('api/audit/stream')
  async stream(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    const headers = {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-trace-id': ctx.traceId,
    };
    let ticket: Ticket | undefined;
    let principal: AdminPrincipal;
    let filter: AuditStreamFilter;
    try {
      principal = await this.admins.require(req, 'audit.read');
      filter = parseStreamQuery(searchParams(req.url));
      noteAdminDetail(req, { filter });
      if (req.method === 'HEAD') return reply.status(200).headers(headers).send();
      ticket = this.feed.reserve();
      await ticket.ready;
    } catch (err) {
      ticket?.release();
      return this.errors.send(reply, err, ctx.traceId);
    }
    // Fastify sends nothing more for this request, and runs no onSend hook: the opening of the
    // stream is recorded here, once.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, headers);
    res.write(commentFrame('audit stream open'));
    this.feed.attach(ticket, res, {
      filter,
      principal: principal.name,
      recheck: async () => {
        try {
          const now = await this.admins.principalOf(req);
          if (!mayDo(now, 'audit.read'))
            throw new GatewayError(
              'AUTH.ADMIN_ROLE_REQUIRED',
              `${now.name} no longer has a role with audit.read`,
            );
        } catch (err) {
          throw this.errors.gatewayError(err, ctx.traceId);
        }
      },
    });
    publishAdminAction(this.bus, req, ctx, 200, null);
  }
}
