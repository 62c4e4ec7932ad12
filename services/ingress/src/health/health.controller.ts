import { Controller, Get, Req, Res } from '@nestjs/common';
import {
  GatewayError,
  healthReportSchema,
  healthSubject,
  SERVICE_NAMES,
  serviceNameSchema,
} from '@sg/contracts';
import { z } from 'zod';
import { BusClient } from '@sg/messaging';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ToolCallService } from '../toolcall/toolcall.service.js';

/** What GET /health answers: each service's own report, or `down` with why. */
export const gatewayHealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  services: z.array(
    z.union([
      healthReportSchema,
      z.object({ service: serviceNameSchema, status: z.literal('down'), detail: z.string() }),
    ]),
  ),
});

/** GET /health: every service's own report, fetched over NATS. 503 if any is missing or degraded. */
@Controller('health')
export class GatewayHealthController {
  constructor(
    private readonly client: BusClient,
    private readonly toolCalls: ToolCallService,
  ) {}

  @Get()
  async health(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    const reports = await Promise.all(
      SERVICE_NAMES.map(async (service) => {
        try {
          return await this.client.request(healthSubject(service), {}, ctx, 1000);
        } catch (err) {
          const message = err instanceof GatewayError ? err.message : 'no answer';
          return { service, status: 'down', detail: message } as const;
        }
      }),
    );
    const ok = reports.every((r) => r.status === 'ok');
    return reply.status(ok ? 200 : 503).send({
      status: ok ? 'ok' : 'degraded',
      services: reports,
    } satisfies z.infer<typeof gatewayHealthSchema>);
  }
}
