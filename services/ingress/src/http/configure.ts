import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ToolCallService } from '../toolcall/toolcall.service.js';
import { errorAnswer, fromFastifyError } from './error-answer.js';

const TOOL_CALL_ROUTES: Record<string, 'rest' | 'mcp'> = { '/api/tools/call': 'rest', '/mcp/toolcall': 'mcp' };

/**
 * Body-parsing and routing errors happen inside Fastify, before any controller: answer them
 * with the gateway's codes too, and audit them when they hit a tool-call endpoint.
 */
export function configureHttp(app: NestFastifyApplication) {
  const fastify = app.getHttpAdapter().getInstance();
  const toolCalls = app.get(ToolCallService);
  const answer = async (err: FastifyError | { code?: string; statusCode?: number; message: string }, req: FastifyRequest, reply: FastifyReply) => {
    const error = fromFastifyError(err);
    const channel = TOOL_CALL_ROUTES[req.url.split('?')[0] ?? ''];
    if (channel && req.method === 'POST') {
      const audited = await toolCalls.reject(channel, req.headers, error);
      return reply.status(audited.status).headers(audited.headers).send(audited.body);
    }
    const a = errorAnswer(error, toolCalls.contextOf(req.headers).traceId);
    return reply.status(a.status).headers(a.headers).send(a.body);
  };
  fastify.setErrorHandler(answer);
  fastify.setNotFoundHandler((req, reply) => answer({ statusCode: 404, message: 'not found' }, req, reply));
}
