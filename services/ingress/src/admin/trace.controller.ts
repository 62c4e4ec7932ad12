import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { AUDIT_TRACE_SUBJECT, GatewayError, TRACE_ID_PATTERN } from '@sg/contracts';
import { BusClient } from '@sg/messaging';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ToolCallService } from '../toolcall/toolcall.service.js';
import { ErrorAnswers } from '../http/error-answer.js';
import { AdminAuth } from './admin-auth.js';

/** GET /api/trace/:trace_id: a call's events from every service, in order (admin key). */
@Controller('api/trace')
export class TraceController {
  constructor(
    private readonly client: BusClient,
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly admins: AdminAuth,
  ) {}

  @Get(':trace_id')
  async trace(
    @Param('trace_id') traceId: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      await this.admins.require(req, 'audit.read');
      if (!TRACE_ID_PATTERN.test(traceId)) {
        throw new GatewayError(
          'REQUEST.INVALID_TRACE_ID',
          'a trace id is 8-64 letters, digits, _ or -',
        );
      }
      const result = await this.client.request(AUDIT_TRACE_SUBJECT, { trace_id: traceId }, ctx);
      return reply.status(200).send(result);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }
}
