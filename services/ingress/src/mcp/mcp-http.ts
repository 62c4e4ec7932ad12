import { ClientRequestSchema, ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError, HttpHeaders } from '@sg/contracts';
import { type HeaderBag, headerOf } from '@sg/runtime';

/**
 * The MCP revisions `/mcp` speaks; initialize settles on the client's if it is one of them, else
 * the first. 2025-03-26 is kept for clients that still speak it (without its JSON-RPC batches).
 */
export const MCP_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;

/** An Mcp-Session-Id as the spec allows it: visible ASCII (0x21–0x7E). Ours are UUIDs. */
const SESSION_ID = /^[\x21-\x7e]{1,128}$/;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host.toLowerCase());
}

/** The hostname of a Host header (`name:port`, `[v6]:port`), lower-cased; null when it has none. */
function hostnameOf(host: string): string | null {
  try {
    return new URL(`http://${host}`).hostname.toLowerCase();
  } catch {
    return null;
  }
}

/**
 * DNS-rebinding protection (MCP transport spec, "Security Warning"). A request that carries an
 * Origin is let in only from an origin in `allowedOrigins`, or, on a loopback bind, from a
 * loopback origin. On a loopback bind the Host must be a loopback name too: a page on
 * evil.example whose name was rebound to 127.0.0.1 still sends `Host: evil.example`.
 * Clients that are not browsers send no Origin.
 */
export function checkOrigin(
  headers: HeaderBag,
  bind: { host: string; allowedOrigins: ReadonlySet<string> },
): void {
  const loopbackBind = isLoopback(bind.host);
  if (loopbackBind) {
    const host = hostnameOf(headerOf(headers, 'host') ?? '');
    if (!host || !isLoopback(host))
      throw new GatewayError(
        'MCP.ORIGIN_FORBIDDEN',
        'the gateway listens on a loopback address and this request names another Host; connect to it as localhost or 127.0.0.1',
      );
  }
  const origin = headerOf(headers, 'origin');
  if (origin === undefined || bind.allowedOrigins.has(origin)) return;
  let originHost: string | null = null;
  try {
    originHost = new URL(origin).hostname.toLowerCase();
  } catch {
    // An Origin that is not a URL ("null" from a sandboxed page) is foreign.
  }
  if (loopbackBind && originHost && isLoopback(originHost)) return;
  throw new GatewayError(
    'MCP.ORIGIN_FORBIDDEN',
    `requests from origin ${origin.slice(0, 200)} are not allowed; an operator can add it to MCP_ALLOWED_ORIGINS`,
  );
}

/** MCP-Protocol-Version, when sent, must be one `/mcp` speaks; absent, the session's own applies. */
export function checkProtocolVersion(headers: HeaderBag): string | undefined {
  const v = headerOf(headers, HttpHeaders.mcpProtocolVersion);
  if (v === undefined) return undefined;
  if (!(MCP_PROTOCOL_VERSIONS as readonly string[]).includes(v))
    throw new GatewayError(
      'MCP.UNSUPPORTED_PROTOCOL_VERSION',
      `MCP-Protocol-Version ${v.slice(0, 40)} is not supported; use one of ${MCP_PROTOCOL_VERSIONS.join(', ')}`,
    );
  return v;
}

/** POST must accept JSON and an event stream; GET, the event stream (Streamable HTTP). */
export function checkAccept(headers: HeaderBag, method: 'POST' | 'GET'): void {
  const accept = headerOf(headers, 'accept') ?? '';
  const json = accept.includes('application/json') || accept.includes('*/*');
  const sse = accept.includes('text/event-stream') || accept.includes('*/*');
  if (method === 'GET' ? sse : json && sse) return;
  throw new GatewayError(
    'MCP.NOT_ACCEPTABLE',
    method === 'GET'
      ? 'send Accept: text/event-stream to open the session stream'
      : 'send Accept: application/json, text/event-stream',
  );
}

/** The session a request names; a malformed id is no session of ours. */
export function sessionIdOf(headers: HeaderBag): string {
  const id = headerOf(headers, HttpHeaders.mcpSessionId);
  if (id === undefined)
    throw new GatewayError(
      'MCP.SESSION_REQUIRED',
      'send the Mcp-Session-Id that initialize answered with, or send initialize to open a session',
    );
  if (!SESSION_ID.test(id))
    throw new GatewayError(
      'MCP.SESSION_NOT_FOUND',
      'no such MCP session; send initialize to open a new one',
    );
  return id;
}

/**
 * A refusal before any MCP message is handled, as JSON-RPC: the gateway's code and the trace id
 * are in `error.data`. -32001 is the SDK's "session not found"; every other refusal is -32000.
 */
export function jsonRpcError(error: GatewayError, traceId: string) {
  return {
    jsonrpc: '2.0' as const,
    id: null,
    error: {
      code: error.code === 'MCP.SESSION_NOT_FOUND' ? -32001 : -32000,
      message: error.message,
      data: { code: error.code, trace_id: traceId },
    },
  };
}

/** The SDK's schema of each request an MCP client may send, by method. */
const CLIENT_REQUESTS = new Map<string, { safeParse(v: unknown): ParseResult }>(
  ClientRequestSchema.options.map((s) => [s.shape.method.value, s]),
);
type ParseResult =
  | { success: true }
  | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };

/** A JSON-RPC error answer to one request. */
export interface JsonRpcError {
  jsonrpc: '2.0';
  id: string | number;
  error: { code: number; message: string };
}

/**
 * The answer to a request whose params do not fit its method: -32602 Invalid params, naming
 * the first field that is wrong. Null for anything else, which the SDK answers itself (it would
 * answer these with -32603, an internal error, and the schema's whole report as the message).
 */
export function invalidParams(message: object): JsonRpcError | null {
  const { id, method } = message as { id?: unknown; method?: unknown };
  if (typeof method !== 'string' || (typeof id !== 'string' && typeof id !== 'number')) return null;
  const parsed = CLIENT_REQUESTS.get(method)?.safeParse(message);
  if (!parsed || parsed.success) return null;
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? issue.path.map(String).join('.') : 'the request';
  return {
    jsonrpc: '2.0',
    id,
    error: {
      code: ErrorCode.InvalidParams,
      // Capped: the path may hold the client's own keys.
      message: `invalid params for ${method}: ${where}: ${issue?.message ?? 'does not fit'}`.slice(
        0,
        300,
      ),
    },
  };
}
