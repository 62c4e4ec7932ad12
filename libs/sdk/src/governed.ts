import type { McpServer, RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import type {
  ShapeOutput,
  ZodRawShapeCompat,
} from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import { maskPii } from '@sg/redaction';
import { MCPSecurityError } from './errors.js';
import { GatewayClient, type GatewayOptions } from './gateway.js';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** `_meta` keys a client may send on tools/call (as on the gateway's own `/mcp`). */
export const META = {
  userId: 'securegateway/user_id',
  tenantId: 'securegateway/tenant_id',
  traceId: 'securegateway/trace_id',
  auditId: 'securegateway/audit_id',
} as const;

/** Who the call is for, and under which trace it is recorded: the handler's second argument. */
export interface GovernedContext {
  user_id: string;
  tenant_id: string | null;
  trace_id: string;
  /** The MCP request's own context (signal, session id, _meta…). */
  extra: Extra;
}

export interface GovernedOptions {
  /** The tool returns personal data: the gateway's registry entry must say `pii: true` too (seed 003's requires_pii). */
  requiresPii?: boolean;
  /** PII masking of the result: `standard` keeps the last digits where the seed does; `strict` masks all. */
  sensitivity?: 'standard' | 'strict';
  /** The gateway; default from SG_GATEWAY_URL, SG_API_KEY, SG_PROJECT_ID. */
  gateway?: GatewayOptions | GatewayClient;
}

export interface ToolConfig<Shape extends ZodRawShapeCompat> {
  title?: string;
  description?: string;
  inputSchema?: Shape;
  annotations?: ToolAnnotations;
  _meta?: Record<string, unknown>;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 && v.length <= 128 ? v : undefined;
}

/**
 * Seed 003's order: the call's arguments (`user_id`, `tenant_id`), then the MCP request's
 * metadata (`securegateway/user_id`, `securegateway/tenant_id`), then `default_user` and no
 * tenant.
 */
export function callContext(
  args: Record<string, unknown>,
  meta: Record<string, unknown> | undefined,
): { user_id: string; tenant_id: string | null } {
  return {
    user_id: str(args.user_id) ?? str(meta?.[META.userId]) ?? 'default_user',
    tenant_id: str(args.tenant_id) ?? str(meta?.[META.tenantId]) ?? null,
  };
}

/**
 * The governed form of a handler: asks the gateway, runs the handler only when allowed, masks
 * its result, reports the run. Throws MCPSecurityError on a refusal (the handler did not run);
 * a handler's own error is reported and thrown on. For use outside McpServer; `governed()`
 * registers it.
 */
export function governedHandler<Args extends Record<string, unknown>>(
  name: string,
  handler: (args: Args, ctx: GovernedContext) => unknown,
  options: GovernedOptions = {},
): (args: Args, extra: Extra) => Promise<{ result: unknown; trace_id: string; audit_id: string }> {
  const gateway =
    options.gateway instanceof GatewayClient ? options.gateway : new GatewayClient(options.gateway);
  const level = options.sensitivity ?? 'standard';
  return async (args, extra) => {
    const who = callContext(args, extra._meta as Record<string, unknown> | undefined);
    const grant = await gateway.authorize({
      tool: name,
      arguments: args,
      userId: who.user_id,
      sessionId: extra.sessionId,
      requiresPii: options.requiresPii === true,
    });
    const started = performance.now();
    let result: unknown;
    try {
      result = await handler(args, { ...who, trace_id: grant.trace_id, extra });
    } catch (err) {
      const report = await gateway.complete(grant, {
        status: 'error',
        duration_ms: performance.now() - started,
        error: err instanceof Error ? err.message : String(err),
      });
      if (report) console.error(`@sg/sdk: ${name}: run not recorded: ${report.message}`);
      throw err;
    }
    const masked = maskPii(result, { level }).value;
    const report = await gateway.complete(grant, {
      status: 'ok',
      duration_ms: performance.now() - started,
      result: masked,
    });
    if (report) console.error(`@sg/sdk: ${name}: run not recorded: ${report.message}`);
    return { result: masked, trace_id: grant.trace_id, audit_id: grant.audit_id };
  };
}

/**
 * Registers `name` on `server` as a governed tool (seed 003's `@governed_mcp_tool`). Each call
 * is decided by the gateway's policy first; the handler's result is masked and recorded. The
 * client gets the result as text (JSON) and, for an object, as structuredContent, with the trace
 * id in `_meta`. A refusal is an `isError` result saying the code, the reason, the suggestions
 * and the trace id, with the same fields as structuredContent: the model reads why, as with the
 * gateway's own `/mcp`.
 */
export function governed<Shape extends ZodRawShapeCompat>(
  server: McpServer,
  name: string,
  config: ToolConfig<Shape>,
  handler: (args: ShapeOutput<Shape>, ctx: GovernedContext) => unknown,
  options: GovernedOptions = {},
): RegisteredTool {
  const run = governedHandler(
    name,
    handler as (args: Record<string, unknown>, ctx: GovernedContext) => unknown,
    options,
  );
  const callback = async (args: Record<string, unknown>, extra: Extra): Promise<CallToolResult> => {
    try {
      const { result, trace_id, audit_id } = await run(args, extra);
      return {
        content: [
          {
            type: 'text',
            text: typeof result === 'string' ? result : (JSON.stringify(result) ?? 'null'),
          },
        ],
        ...(typeof result === 'object' && result !== null && !Array.isArray(result)
          ? { structuredContent: result as Record<string, unknown> }
          : {}),
        _meta: { [META.traceId]: trace_id, [META.auditId]: audit_id },
      };
    } catch (err) {
      if (!(err instanceof MCPSecurityError)) throw err;
      return {
        isError: true,
        content: [{ type: 'text', text: err.message }],
        structuredContent: err.toJSON(),
        ...(err.trace_id ? { _meta: { [META.traceId]: err.trace_id } } : {}),
      };
    }
  };
  // Without an inputSchema the SDK calls the callback with `extra` alone.
  const registered =
    config.inputSchema === undefined ? (extra: Extra) => callback({}, extra) : callback;
  return server.registerTool(
    name,
    config as ToolConfig<ZodRawShapeCompat>,
    registered as unknown as Parameters<McpServer['registerTool']>[2],
  );
}
