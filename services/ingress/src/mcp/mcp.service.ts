import { Inject, Injectable } from '@nestjs/common';
// The low-level Server (marked deprecated in favour of McpServer): a gateway's tool list is built per caller, which McpServer's registry cannot express.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import {
  CallToolRequestSchema,
  type CallToolResult,
  InitializeRequestSchema,
  type InitializeResult,
  ListToolsRequestSchema,
  type Tool,
  ErrorCode,
  McpError,
  UrlElicitationRequiredError,
} from '@modelcontextprotocol/sdk/types.js';
import {
  APPROVAL_GET_SUBJECT,
  type ApprovalView,
  GatewayError,
  callableToolNameSchema,
} from '@sg/contracts';
import { BusClient, type MessageContext } from '@sg/messaging';
import { PolicyStore, type RegisteredTool } from '@sg/policy-engine';
import { digestOf, ENV, type HeaderBag } from '@sg/runtime';
import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/agent-auth.service.js';
import type { IngressEnv } from '../config/env.js';
import { RemoteTools } from '../federation/remote-tools.js';
import { ErrorAnswers } from '../http/error-answer.js';
import { type HttpAnswer, ToolCallService, userFrom } from '../toolcall/toolcall.service.js';
import { MCP_PROTOCOL_VERSIONS } from './mcp-http.js';
import {
  approvalElicitation,
  errorResult,
  META,
  type PendingApproval,
  pendingResult,
  successResult,
} from './mcp-results.js';
import { McpSessions, type McpSession } from './mcp-sessions.js';

export const SERVER_INFO = { name: 'securegateway', version: '0.1.0' };
const CAPABILITIES = { tools: { listChanged: true } };
/**
 * One validator for every per-request Server: without it each `new Server` builds its own Ajv
 * (bench/README.md, "MCP front door": about 10 % of the ingress's CPU under load). This server
 * never validates with it (it sends no elicitation), so sharing it is safe.
 */
const VALIDATOR = new AjvJsonSchemaValidator();

/** One HTTP request to `/mcp`, its caller authenticated. */
export interface McpRequest {
  principal: Principal;
  /** null while initialize opens it. */
  session: McpSession | null;
  ctx: MessageContext;
  headers: HeaderBag;
  /** `scheme://host` the request came to: approval links start with it unless APPROVAL_URL_TEMPLATE is set. */
  base: string;
}

function str(v: unknown, max = 128): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined;
}

/**
 * The MCP methods of `/mcp` on top of the governed path. An SDK Server is made for each HTTP
 * request (the SDK's stateless pattern) and bound to that request's session: the session itself
 * lives in Redis (McpSessions), so any instance serves any request.
 */
@Injectable()
export class McpService {
  constructor(
    private readonly policies: PolicyStore,
    private readonly toolCalls: ToolCallService,
    private readonly sessions: McpSessions,
    private readonly client: BusClient,
    private readonly errors: ErrorAnswers,
    private readonly remoteTools: RemoteTools,
    @Inject(ENV) private readonly env: IngressEnv,
  ) {}

  /** `opened` gets the session an initialize request opened, before the answer leaves. */
  server(req: McpRequest, opened?: (session: McpSession) => void): Server {
    const server = new Server(SERVER_INFO, {
      capabilities: CAPABILITIES,
      jsonSchemaValidator: VALIDATOR,
    });
    server.setRequestHandler(InitializeRequestSchema, ({ params }) =>
      this.guarded(req, async () => {
        const asked = params.protocolVersion;
        const version = (MCP_PROTOCOL_VERSIONS as readonly string[]).includes(asked)
          ? asked
          : MCP_PROTOCOL_VERSIONS[0];
        const session = await this.sessions.open(req.principal, {
          protocol_version: version,
          client: { name: params.clientInfo.name, version: params.clientInfo.version },
          elicitation_url: Boolean(
            (params.capabilities.elicitation as { url?: unknown } | undefined)?.url,
          ),
        });
        opened?.(session);
        return {
          protocolVersion: version,
          capabilities: CAPABILITIES,
          serverInfo: SERVER_INFO,
          instructions:
            "Tools are reached through SecureGateway: each call is checked against policy, may wait for a person's approval, and is audited. A refused call comes back as an error result that says why (code, reason, suggestions, trace_id).",
        } satisfies InitializeResult;
      }),
    );
    server.setRequestHandler(ListToolsRequestSchema, () =>
      this.guarded(req, async () => {
        const session = this.need(req.session);
        const remote = await this.remoteTools.list(session.project, req.ctx);
        return { tools: this.toolsFor(session, remote) };
      }),
    );
    server.setRequestHandler(CallToolRequestSchema, ({ params }) =>
      this.guarded(req, () => this.callTool(req, this.need(req.session), params)),
    );
    return server;
  }

  /**
   * A handler's failure as a JSON-RPC error (-32603) whose data holds the gateway's code and the
   * trace id; a 5xx is logged with the trace id (ErrorAnswers). MCP errors pass as they are.
   */
  private async guarded<T>(req: McpRequest, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof McpError) throw err;
      const error = this.errors.gatewayError(err, req.ctx.traceId);
      throw new McpError(ErrorCode.InternalError, error.message, {
        code: error.code,
        trace_id: req.ctx.traceId,
      });
    }
  }

  private need(session: McpSession | null): McpSession {
    if (!session) throw new GatewayError('MCP.SESSION_REQUIRED', 'send initialize first');
    return session;
  }

  /**
   * Exactly the tools the session's agent may call (`listing`: the registry, its key's scope,
   * the model's and its role's rules, PII_READ), each with its registry schema; and, given
   * `remote`, the peers' tools it may call (`<peer>/<tool>`, by the same rules).
   */
  toolsFor(session: McpSession, remote: Array<[string, RegisteredTool]> = []): Tool[] {
    const listed = this.policies.listable(session.project, session.agent_id, remote);
    // A tool governed in its own server (the SDK) is not run by the gateway: not listed here.
    const runnable = (listed?.tools ?? []).filter((t) => t.tool.definition.upstream.type !== 'sdk');
    const tools = runnable.map(({ name, tool, requires_approval }): Tool => {
      const d = tool.definition;
      return {
        name,
        description: d.description,
        inputSchema: { type: 'object', ...d.input_schema } as Tool['inputSchema'],
        ...(requires_approval ? { _meta: { [META.requiresApproval]: true } } : {}),
      };
    });
    return tools;
  }

  /**
   * tools/call on the governed path (ToolCallService.govern, channel `mcp`). A call this session
   * is waiting on an approval for (same tool, same arguments) is not decided again: the retry
   * reports the approval, and once it ran, its result.
   */
  private async callTool(
    req: McpRequest,
    session: McpSession,
    params: { name: string; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> },
  ): Promise<CallToolResult> {
    const args = params.arguments ?? {};
    const digest = digestOf({ tool: params.name, arguments: args });
    const waiting = await this.sessions.approvalFor(session.id, digest);
    if (waiting) {
      const view = await this.client
        .request(APPROVAL_GET_SUBJECT, { approval_id: waiting }, req.ctx)
        .catch(() => null);
      if (view) return this.approvalResult(req, session, digest, view);
    }
    const meta = params._meta ?? {};
    const requestId = str(meta[META.requestId]);
    const userId = str(meta[META.userId]) ?? userFrom(req.headers);
    const answer = await this.toolCalls.govern('mcp', req.ctx, async () => {
      const tool = callableToolNameSchema.safeParse(params.name);
      if (!tool.success)
        throw new GatewayError(
          'REQUEST.INVALID_BODY',
          `"${params.name.slice(0, 80)}" is not a tool name; use a name from tools/list`,
        );
      return {
        principal: req.principal,
        call: {
          agentId: req.principal.agentId,
          agentVersion: session.client.version.slice(0, 64) || null,
          requestId: requestId ?? randomUUID(),
          clientRequestId: requestId !== undefined,
          sessionId: session.id,
          userId,
          tool: tool.data,
          arguments: args,
        },
      };
    });
    if (answer.status === 202 && typeof answer.body.approval_id === 'string') {
      const expires = String(answer.body.expires_at);
      await this.sessions.rememberApproval(session.id, digest, answer.body.approval_id, expires);
      return this.pending(
        req,
        session,
        {
          approval_id: answer.body.approval_id,
          expires_at: expires,
          url: this.approvalUrl(req, answer.body.approval_id),
          trace_id: req.ctx.traceId,
        },
        answer.body,
      );
    }
    return this.resultOf(answer);
  }

  private resultOf(answer: HttpAnswer): CallToolResult {
    return answer.status === 200 && answer.body.success === true
      ? successResult(answer.body.result, answer.body)
      : errorResult(answer.body);
  }

  private pending(
    req: McpRequest,
    session: McpSession,
    p: PendingApproval,
    body: Record<string, unknown>,
  ): CallToolResult {
    if (session.elicitation_url)
      throw new UrlElicitationRequiredError(
        [approvalElicitation(p)],
        `approval required: ${p.url}`,
      );
    return pendingResult(p, body);
  }

  /** A retried call that waits on an approval: still pending, or how it ended (reported once). */
  private async approvalResult(
    req: McpRequest,
    session: McpSession,
    digest: string,
    view: ApprovalView,
  ): Promise<CallToolResult> {
    const body = { trace_id: view.trace_id };
    if (view.status === 'pending' || view.status === 'approved')
      return this.pending(
        req,
        session,
        {
          approval_id: view.approval_id,
          expires_at: view.expires_at,
          url: this.approvalUrl(req, view.approval_id),
          trace_id: view.trace_id,
        },
        body,
      );
    await this.sessions.forgetApproval(session.id, digest);
    const outcome = view.outcome;
    if (view.status === 'executed' && outcome && outcome.error === undefined)
      return successResult(outcome.result, body);
    const error =
      view.status === 'executed' || view.status === 'failed'
        ? (outcome?.error ?? { code: 'GATEWAY.INTERNAL', message: 'the approved run failed' })
        : view.status === 'expired'
          ? {
              code: 'APPROVAL.EXPIRED',
              message: `approval ${view.approval_id} expired before anyone approved it; call again to ask anew`,
            }
          : view.status === 'denied'
            ? {
                code: 'POLICY.TOOL_NOT_ALLOWED',
                message: `the policy denied this call when approval ${view.approval_id} was given; call again to be decided anew`,
              }
            : {
                code: 'APPROVAL.REJECTED',
                message: `approval ${view.approval_id} was rejected${view.approver ? ` by ${view.approver}` : ''}`,
              };
    return errorResult({ error, trace_id: view.trace_id });
  }

  private approvalUrl(req: McpRequest, approvalId: string): string {
    const template = this.env.APPROVAL_URL_TEMPLATE ?? `${req.base}/api/approvals/{approval_id}`;
    return template.replaceAll('{approval_id}', approvalId);
  }
}
