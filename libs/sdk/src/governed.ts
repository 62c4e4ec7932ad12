import type { McpServer, RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import type {
  ShapeOutput,
  ZodRawShapeCompat,
} from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  ErrorCode,
  McpError,
  type CallToolResult,
  type ServerNotification,
  type ServerRequest,
  type ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import { maskPii } from '@sg/redaction';
import { callContext, decidedArguments, META, type CallContext } from './context.js';
import { MCPSecurityError } from './errors.js';
import { GatewayClient, type GatewayOptions, type Grant, type Run } from './gateway.js';

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface GovernedContext {
  user_id: string;
  /** The tenant the gateway checked (when the registry entry names `tenant_field: tenant_id`). */
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

export type Handler<Args> = (args: Args, ctx: GovernedContext) => unknown;

/** A governed call's end: refused (no grant, the handler did not run), ran, or failed. */
type Outcome =
  | { kind: 'refused'; refusal: MCPSecurityError }
  | { kind: 'ran'; grant: Grant; result: unknown }
  | { kind: 'failed'; grant: Grant; error: unknown; message: string };

function runner<Args extends Record<string, unknown>>(
  name: string,
  handler: Handler<Args>,
  options: GovernedOptions,
): (args: Args, extra: Extra) => Promise<Outcome> {
  const gateway =
    options.gateway instanceof GatewayClient ? options.gateway : new GatewayClient(options.gateway);
  const level = options.sensitivity ?? 'standard';
  const report = async (grant: Grant, run: Run) => {
    const failed = await gateway.complete(grant, run);
    if (failed)
      console.error(
        `@sg/sdk: ${name}: the run of trace ${grant.trace_id} is not recorded (its decision is): ${failed.message}`,
      );
  };
  return async (args, extra) => {
    let grant: Grant;
    let who: CallContext;
    try {
      who = callContext(args, extra._meta as Record<string, unknown> | undefined);
      grant = await gateway.authorize({
        tool: name,
        arguments: decidedArguments(args, who),
        userId: who.user_id,
        sessionId: extra.sessionId,
        requiresPii: options.requiresPii === true,
      });
    } catch (err) {
      if (err instanceof MCPSecurityError) return { kind: 'refused', refusal: err };
      throw err;
    }
    const started = performance.now();
    try {
      const raw = await handler(args, { ...who, trace_id: grant.trace_id, extra });
      const result = maskPii(raw, { level }).value;
      await report(grant, { status: 'ok', duration_ms: performance.now() - started, result });
      return { kind: 'ran', grant, result };
    } catch (error) {
      // The handler's message may quote the data it worked on: masked like its result.
      const text = error instanceof Error ? error.message : String(error);
      const message = maskPii(text, { level }).value as string;
      await report(grant, {
        status: 'error',
        duration_ms: performance.now() - started,
        error: message,
      });
      return { kind: 'failed', grant, error, message };
    }
  };
}

/**
 * The governed form of a handler, for use outside McpServer (`governed()` registers it): asks
 * the gateway, runs the handler only when allowed, masks its result, reports the run. Throws
 * MCPSecurityError on a refusal (the handler did not run); a handler's own error is reported
 * and thrown on as it was.
 */
export function governedHandler<Args extends Record<string, unknown>>(
  name: string,
  handler: Handler<Args>,
  options: GovernedOptions = {},
): (args: Args, extra: Extra) => Promise<{ result: unknown; trace_id: string; audit_id: string }> {
  const run = runner(name, handler, options);
  return async (args, extra) => {
    const outcome = await run(args, extra);
    if (outcome.kind === 'refused') throw outcome.refusal;
    if (outcome.kind === 'failed') throw outcome.error;
    return {
      result: outcome.result,
      trace_id: outcome.grant.trace_id,
      audit_id: outcome.grant.audit_id,
    };
  };
}

const idsOf = (grant: Grant) => ({
  [META.traceId]: grant.trace_id,
  [META.auditId]: grant.audit_id,
});

/**
 * What the MCP client gets. A refusal is an `isError` result, not a JSON-RPC error: the model
 * reads the reason, the suggestions and the trace id and can choose another way (as with the
 * gateway's own `/mcp`). A handler's error is an `isError` result too, as McpServer makes one,
 * but with its message masked and the trace id.
 */
function toCallToolResult(outcome: Outcome): CallToolResult {
  switch (outcome.kind) {
    case 'refused': {
      const err = outcome.refusal;
      return {
        isError: true,
        content: [{ type: 'text', text: err.message }],
        structuredContent: err.toJSON(),
        ...(err.trace_id ? { _meta: { [META.traceId]: err.trace_id } } : {}),
      };
    }
    case 'failed':
      // McpServer passes this one on as a JSON-RPC error, as the client expects it.
      if (
        outcome.error instanceof McpError &&
        outcome.error.code === ErrorCode.UrlElicitationRequired
      )
        throw outcome.error;
      return {
        isError: true,
        content: [{ type: 'text', text: outcome.message }],
        _meta: idsOf(outcome.grant),
      };
    case 'ran': {
      const { result } = outcome;
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
        _meta: idsOf(outcome.grant),
      };
    }
  }
}

/**
 * Registers `name` on `server` as a governed tool (seed 003's `@governed_mcp_tool`). Each call
 * is decided by the gateway's policy first; the handler's result is masked and its run
 * recorded. The client gets the result as text (JSON) and, for an object, as structuredContent,
 * with the trace and audit ids in `_meta`.
 */
export function governed<Shape extends ZodRawShapeCompat>(
  server: McpServer,
  name: string,
  config: ToolConfig<Shape>,
  handler: Handler<ShapeOutput<Shape>>,
  options: GovernedOptions = {},
): RegisteredTool {
  const run = runner(name, handler as Handler<Record<string, unknown>>, options);
  const callback = async (args: Record<string, unknown>, extra: Extra) =>
    toCallToolResult(await run(args, extra));
  // Without an inputSchema McpServer calls the callback with `extra` alone.
  const registered =
    config.inputSchema === undefined ? (extra: Extra) => callback({}, extra) : callback;
  return server.registerTool(
    name,
    config as ToolConfig<ZodRawShapeCompat>,
    registered as unknown as Parameters<McpServer['registerTool']>[2],
  );
}
