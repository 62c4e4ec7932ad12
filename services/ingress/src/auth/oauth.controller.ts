import { Controller, Get, Res } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { traceIdFrom } from '@sg/runtime';
import type { FastifyReply } from 'fastify';
import { ErrorAnswers } from '../http/error-answer.js';
import { OAuthTokens } from './oauth.js';

/**
 * RFC 9728 protected-resource metadata: which authorization server issues tokens for this
 * gateway. MCP clients find it through the `resource_metadata` of a 401's WWW-Authenticate.
 * Served at the root and under the resource's path (`/.well-known/oauth-protected-resource/mcp`).
 */
@Controller('.well-known/oauth-protected-resource')
export class OAuthMetadataController {
  constructor(
    private readonly oauth: OAuthTokens,
    private readonly errors: ErrorAnswers,
  ) {}

  @Get()
  root(@Res() reply: FastifyReply) {
    return this.answer(reply);
  }

  @Get('*')
  underPath(@Res() reply: FastifyReply) {
    return this.answer(reply);
  }

  private answer(reply: FastifyReply) {
    const metadata = this.oauth.metadata();
    if (!metadata) {
      return this.errors.send(
        reply,
        new GatewayError(
          'REQUEST.NOT_FOUND',
          'OAuth bearer tokens are not enabled on this gateway',
        ),
        traceIdFrom(undefined, undefined),
      );
    }
    return reply.status(200).header('cache-control', 'max-age=300').send(metadata);
  }
}
