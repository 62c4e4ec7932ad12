import { type ArgumentsHost, Catch, type ExceptionFilter } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  ENV,
  HttpTracingInterceptor,
  knownError,
  LOGGER,
  type Logger,
  serveOpenApi,
  useLimitedJson,
} from '@sg/runtime';
import { createRequire } from 'node:module';
import { type Channel, type ErrorBody, GatewayError } from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { publishAdminAction } from '../admin/admin-action.js';
import { adminSeen } from '../admin/admin-auth.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { IngressEnv } from '../config/env.js';
import { refuse } from '../mcp/mcp.controller.js';
import { ToolCallService } from '../toolcall/toolcall.service.js';
import { dashboardDir, serveDashboard } from '../dash/serve-dashboard.js';
import { ErrorAnswers, send } from './error-answer.js';
import { ingressOpenApi } from './routes.js';

const TOOL_CALL_ROUTES: Record<string, Channel> = {
  '/api/sdk/authorize': 'sdk',
  '/api/tools/call': 'rest',
  '/mcp/toolcall': 'mcp',
  '/mcp': 'mcp',
};

/**
 * Errors raised before a controller runs (body parsing, size, unknown route), and any a
 * controller let escape, get the gateway's codes too, and are audited when they hit a
 * tool-call endpoint.
 */
@Catch()
class GatewayErrorFilter implements ExceptionFilter {
  constructor(
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
  ) {}

  catch(exception: unknown, host: ArgumentsHost) {
    const http = host.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const known = knownError(exception);
    const error = known ?? exception;
    const path = req.url.split('?')[0] ?? '';
    const channel = TOOL_CALL_ROUTES[path];
    const answer =
      channel && req.method === 'POST'
        ? this.toolCalls.reject(channel, req.headers, error)
        : this.errors.answer(error, this.toolCalls.contextOf(req.headers).traceId);
    if (path === '/mcp') {
      const traceId = answer.headers['x-trace-id'] ?? String(answer.body.trace_id);
      void refuse(
        reply,
        GatewayError.fromBody(answer.body.error as ErrorBody),
        traceId,
        answer.headers,
      );
      return;
    }
    void send(reply, answer);
  }
}

export async function configureHttp(app: NestFastifyApplication) {
  const env = app.get<IngressEnv>(ENV);
  useLimitedJson(app, {
    maxDepth: env.JSON_MAX_DEPTH,
    maxKeys: env.JSON_MAX_KEYS,
    maxString: env.JSON_MAX_STRING,
  });
  app.useGlobalFilters(new GatewayErrorFilter(app.get(ToolCallService), app.get(ErrorAnswers)));
  app.useGlobalInterceptors(new HttpTracingInterceptor());
  auditAdminActions(app);
  const toolCalls = app.get(ToolCallService);
  await serveDashboard(
    app,
    dashboardDir(env.DASH_DIR),
    app.get(ErrorAnswers),
    (req) => toolCalls.contextOf(req.headers).traceId,
    app.get<Logger>(LOGGER),
  );
  const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };
  serveOpenApi(app, ingressOpenApi(version));
}

/**
 * Every answer of an admin endpoint (a request AdminAuth.require saw) is recorded as
 * `gw.evt.admin.action.v1`: who (once proven), what permission, the route, the status and code.
 * onSend does not run for a hijacked reply (the audit stream): such a route records itself.
 */
function auditAdminActions(app: NestFastifyApplication): void {
  const bus = app.get(NatsBus);
  const toolCalls = app.get(ToolCallService);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onSend', (req, reply, payload, done) => {
      if (adminSeen(req)) {
        const ctx = toolCalls.contextOf(req.headers);
        const traceId = reply.getHeader('x-trace-id');
        let code: string | null = null;
        if (reply.statusCode >= 400 && typeof payload === 'string') {
          try {
            const c = (JSON.parse(payload) as { error?: { code?: unknown } }).error?.code;
            code = typeof c === 'string' ? c : null;
          } catch {
            /* not JSON: no code */
          }
        }
        publishAdminAction(
          bus,
          req,
          typeof traceId === 'string' ? { ...ctx, traceId } : ctx,
          reply.statusCode,
          code,
        );
      }
      done(null, payload);
    });
}
