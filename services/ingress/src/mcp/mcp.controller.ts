import { Body, Controller, Delete, Get, Inject, Post, Req, Res } from '@nestjs/common';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { type ErrorBody, GatewayError, HttpHeaders } from '@sg/contracts';
import { ENV } from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { AgentAuthService, credentialsOf, type Principal } from '../auth/agent-auth.service.js';
import type { IngressEnv } from '../config/env.js';
import { commentFrame } from '../admin/audit-stream.js';
import { ErrorAnswers } from '../http/error-answer.js';
import { type RequestContext, ToolCallService } from '../toolcall/toolcall.service.js';
import {
  checkAccept,
  checkOrigin,
  checkProtocolVersion,
  invalidParams,
  jsonRpcError,
  sessionIdOf,
} from './mcp-http.js';
import { McpService, type McpRequest } from './mcp.service.js';
import type { McpSession } from './mcp-sessions.js';
import { McpSessions } from './mcp-sessions.js';
import { McpStreams } from './mcp-streams.js';

/** The request headers the SDK's transport reads. */
const PASSED_HEADERS = ['accept', 'content-type', HttpHeaders.mcpProtocolVersion] as const;

function webRequest(req: FastifyRequest): Request {
  const headers = new Headers();
  for (const name of PASSED_HEADERS) {
    const v = req.headers[name];
    if (typeof v === 'string') headers.set(name, v);
  }
  return new Request(`http://gateway${req.url}`, { method: req.method, headers });
}

/**
 * `/mcp`: MCP Streamable HTTP (2025-11-25 and 2025-06-18) in front of the governed path. Before
 * the SDK sees a message, the gateway checks, in order: Origin and Host (DNS rebinding),
 * MCP-Protocol-Version, the project and the agent's key, Accept, and the session, which must
 * belong to that agent. POST carries messages (JSON answers), GET opens the session's stream
 * (list_changed), DELETE ends the session. See docs/mcp.md.
 */
@Controller('mcp')
export class McpController {
  constructor(
    private readonly toolCalls: ToolCallService,
    private readonly auth: AgentAuthService,
    private readonly mcp: McpService,
    private readonly sessions: McpSessions,
    private readonly streams: McpStreams,
    private readonly errors: ErrorAnswers,
    @Inject(ENV) private readonly env: IngressEnv,
  ) {}

  @Post()
  async post(@Req() req: FastifyRequest, @Body() body: unknown, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    let opened: McpSession | null = null;
    try {
      const principal = await this.admit(req, ctx);
      checkAccept(req.headers, 'POST');
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new GatewayError(
          'REQUEST.INVALID_BODY',
          Array.isArray(body)
            ? 'send one JSON-RPC message per request: batches were removed in MCP 2025-06-18'
            : 'send a JSON-RPC message (a JSON object) with Content-Type: application/json',
        );
      const initialize = (body as { method?: unknown }).method === 'initialize';
      const session = initialize
        ? null
        : await this.sessions.resume(sessionIdOf(req.headers), principal);
      const invalid = invalidParams(body);
      if (invalid)
        return reply
          .status(200)
          .header('x-trace-id', ctx.traceId)
          .header('content-type', 'application/json')
          .send(invalid);
      const server = this.mcp.server(this.request(req, ctx, principal, session), (s) => {
        opened = s;
      });
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      try {
        await server.connect(transport);
        const res = await transport.handleRequest(webRequest(req), { parsedBody: body });
        const text = await res.text();
        const open = opened as McpSession | null;
        reply.status(res.status).header('x-trace-id', ctx.traceId);
        const type = res.headers.get('content-type');
        if (type) reply.header('content-type', type);
        if (open) reply.header(HttpHeaders.mcpSessionId, open.id);
        return reply.send(text || undefined);
      } finally {
        await server.close().catch(() => undefined);
      }
    } catch (err) {
      // Every refused message is audited, as every answer of the tool-call endpoints is.
      const answer = this.toolCalls.reject('mcp', req.headers, err, ctx);
      return refuse(
        reply,
        GatewayError.fromBody(answer.body.error as ErrorBody),
        ctx.traceId,
        answer.headers,
      );
    }
  }

  @Get()
  async stream(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const principal = await this.admit(req, ctx);
      checkAccept(req.headers, 'GET');
      const session = await this.sessions.resume(sessionIdOf(req.headers), principal);
      const server = this.mcp.server(this.request(req, ctx, principal, session));
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
      });
      await server.connect(transport);
      const res = await transport.handleRequest(webRequest(req));
      if (res.status !== 200 || !res.body) {
        await server.close();
        return reply
          .status(res.status)
          .header('x-trace-id', ctx.traceId)
          .header('content-type', 'application/json')
          .send(await res.text());
      }
      const remove = this.streams.add(session, server);
      req.raw.once('close', () => {
        remove();
        void server.close().catch(() => undefined);
      });
      res.headers.forEach((value, name) => void reply.header(name, value));
      return reply
        .status(200)
        .header('x-trace-id', ctx.traceId)
        .send(Readable.from(opened(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>))));
    } catch (err) {
      const error = this.errors.gatewayError(err, ctx.traceId);
      return refuse(reply, error, ctx.traceId, this.errors.headersFor(error));
    }
  }

  @Delete()
  async end(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const principal = await this.admit(req, ctx);
      const session = await this.sessions.resume(sessionIdOf(req.headers), principal);
      await this.sessions.end(session.id);
      await this.streams.end(session.id);
      return reply.status(204).header('x-trace-id', ctx.traceId).send();
    } catch (err) {
      const error = this.errors.gatewayError(err, ctx.traceId);
      return refuse(reply, error, ctx.traceId, this.errors.headersFor(error));
    }
  }

  /** Origin, protocol version, project and key: what every method checks first. */
  private admit(req: FastifyRequest, ctx: RequestContext): Promise<Principal> {
    checkOrigin(req.headers, { host: this.env.HOST, allowedOrigins: this.env.MCP_ALLOWED_ORIGINS });
    checkProtocolVersion(req.headers);
    if (ctx.projectError) throw ctx.projectError;
    return this.auth.authenticate(ctx.project, credentialsOf(req));
  }

  private request(
    req: FastifyRequest,
    ctx: RequestContext,
    principal: Principal,
    session: McpSession | null,
  ): McpRequest {
    return {
      principal,
      session,
      ctx,
      headers: req.headers,
      base: `${req.protocol}://${req.headers.host ?? `${this.env.HOST}:${this.env.PORT}`}`,
    };
  }
}

/** A refusal before the SDK handled the message: the JSON-RPC error form, with the gateway's code. */
export function refuse(
  reply: FastifyReply,
  error: GatewayError,
  traceId: string,
  headers: Record<string, string>,
) {
  return reply
    .headers(headers)
    .status(error.httpStatus)
    .header('x-trace-id', traceId)
    .send(jsonRpcError(error, traceId));
}

/**
 * The session stream, opened with an SSE comment: Fastify sends the status and headers with the
 * first bytes, and the SDK writes none until it has a message, so the client would not know the
 * stream is open until then.
 */
async function* opened(stream: Readable): AsyncGenerator<Buffer | string> {
  yield commentFrame('mcp stream open');
  yield* stream;
}
