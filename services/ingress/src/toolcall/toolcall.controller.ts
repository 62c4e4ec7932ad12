import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { credentialsOf } from '../auth/agent-auth.service.js';
import { send } from '../http/error-answer.js';
import { ToolCallService } from './toolcall.service.js';

@Controller()
export class ToolCallController {
  constructor(private readonly toolCalls: ToolCallService) {}

  /** Seed 004's envelope. */
  @Post('api/tools/call')
  @HttpCode(200)
  async restCall(@Req() req: FastifyRequest, @Body() body: unknown, @Res() reply: FastifyReply) {
    return send(reply, await this.toolCalls.handle('rest', credentialsOf(req), body));
  }

  /** SecureGateway's own shape (seeds 000/001). */
  @Post('mcp/toolcall')
  @HttpCode(200)
  async mcpCall(@Req() req: FastifyRequest, @Body() body: unknown, @Res() reply: FastifyReply) {
    return send(reply, await this.toolCalls.handle('mcp', credentialsOf(req), body));
  }
}
