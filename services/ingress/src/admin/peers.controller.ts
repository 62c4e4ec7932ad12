import { Controller, Get, Req, Res } from '@nestjs/common';
import { FEDERATION_PEERS_SUBJECT, GatewayError } from '@sg/contracts';
import { BusClient, UndeliveredError } from '@sg/messaging';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorAnswers } from '../http/error-answer.js';
import { ToolCallService } from '../toolcall/toolcall.service.js';
import { AdminAuth } from './admin-auth.js';

/** GET /api/federation/peers: the trusted peers and their health (the signed pings), admin key. */
@Controller('api/federation')
export class PeersController {
  constructor(
    private readonly client: BusClient,
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly admins: AdminAuth,
  ) {}

  @Get('peers')
  async peers(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      await this.admins.require(req, 'federation.read');
      const report = await this.client
        .request(FEDERATION_PEERS_SUBJECT, {}, ctx)
        .catch((err: unknown) => {
          throw err instanceof UndeliveredError
            ? new GatewayError(
                'GATEWAY.SERVICE_UNAVAILABLE',
                'the federation service is not running; start it to see the peers',
              )
            : err;
        });
      return reply.status(200).send(report);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }
}
