import { Controller, Get, Inject, Param, Req, Res } from '@nestjs/common';
import type { GatewayFiles } from '@sg/config';
import { GatewayError } from '@sg/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AgentAuthService } from '../auth/agent-auth.service.js';
import { GATEWAY_FILES } from '../config/gateway-files.provider.js';
import { errorAnswer } from '../http/error-answer.js';
import { ToolCallService } from './toolcall.service.js';

/** GET /schema/:tool.json (seed 002): the JSON Schema a tool's arguments must match. Agent key required. */
@Controller('schema')
export class SchemaController {
  constructor(
    private readonly auth: AgentAuthService,
    private readonly toolCalls: ToolCallService,
    @Inject(GATEWAY_FILES) private readonly files: GatewayFiles,
  ) {}

  @Get(':file')
  schema(@Param('file') file: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      if (!ctx.projectValid) throw new GatewayError('REQUEST.INVALID_PROJECT', 'X-Project-ID must be 1-63 lower-case letters, digits, _ or -');
      this.auth.authenticate(ctx.project, req.headers);
      const tool = this.files.tools.get(file.replace(/\.json$/, ''));
      if (!file.endsWith('.json') || !tool) {
        throw new GatewayError('REQUEST.NOT_FOUND', `no tool schema ${file}; ask for /schema/<tool>.json with a registered tool name`);
      }
      return reply
        .status(200)
        .header('content-type', 'application/schema+json')
        .header('x-trace-id', ctx.traceId)
        .send({ $schema: 'https://json-schema.org/draft/2020-12/schema', title: tool.name, description: tool.description, ...tool.input_schema });
    } catch (err) {
      const answer = errorAnswer(err, ctx.traceId);
      return reply.status(answer.status).headers(answer.headers).send(answer.body);
    }
  }
}
