import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { ConfigSync } from '@sg/messaging';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AgentAuthService, credentialsOf } from '../auth/agent-auth.service.js';
import { ErrorAnswers } from '../http/error-answer.js';
import { ToolCallService } from './toolcall.service.js';

/** GET /schema/:tool.json (seed 002): the JSON Schema a tool's arguments must match. Agent key required. */
@Controller('schema')
export class SchemaController {
  constructor(
    private readonly auth: AgentAuthService,
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly config: ConfigSync,
  ) {}

  @Get(':file')
  async schema(
    @Param('file') file: string,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      if (ctx.projectError) throw ctx.projectError;
      await this.auth.authenticate(ctx.project, credentialsOf(req));
      const tool = this.config.files.tools.get(file.replace(/\.json$/, ''));
      if (!file.endsWith('.json') || !tool) {
        throw new GatewayError(
          'REQUEST.NOT_FOUND',
          `no tool schema ${file}; ask for /schema/<tool>.json with a registered tool name`,
        );
      }
      return reply
        .status(200)
        .header('content-type', 'application/schema+json')
        .header('x-trace-id', ctx.traceId)
        .send({
          $schema: 'https://json-schema.org/draft/2020-12/schema',
          title: tool.name,
          description: tool.description,
          ...tool.input_schema,
        });
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }
}
