import { createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ErrorCode,
  McpError,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { McpUpstream } from '@sg/config';
import { GatewayError } from '@sg/contracts';
import { mcpToolPin } from '@sg/runtime';
import { Agent, fetch as undiciFetch } from 'undici';
import type { UpstreamAnswer } from './http-upstream.js';
import {
  assertUpstreamAllowed,
  findSsrfRefusal,
  guardedLookup,
  ssrfRefused,
} from './ssrf-guard.js';

export type { McpUpstream };

/**
 * MCP tool upstreams, reached with @modelcontextprotocol/sdk's Client over Streamable HTTP or
 * stdio.
 *
 * Connections: one connected Client per distinct upstream (transport, url, headers, command,
 * args, env; the key is a hash, so resolved secrets are not kept in it). Concurrent first calls
 * share one connect. A client whose connection fails or closes is dropped and the next call
 * connects anew; a Streamable HTTP session the server no longer knows (HTTP 404) is retried
 * once on a fresh connection, since the server refused the call before running it. A client
 * unused for IDLE_CLOSE_MS is closed (its stdio process ends). closeMcpClients() closes all.
 *
 * Results (status 200):
 * - `structuredContent` when the server sent it;
 * - else one text item: its text, JSON-parsed when it is a JSON object or array;
 * - else the `content` array as the server sent it (MCP content items); `null` when empty.
 * The mapped result must fit in maxBytes (as JSON), or the call fails with UPSTREAM_ERROR.
 *
 * Secrets: `{{secret:NAME}}` must be resolved by the caller (the upstream passed in holds the
 * values). The server's error text is passed through `scrubText` when given, since a server
 * may echo what it was sent.
 *
 * SSRF: a Streamable HTTP upstream goes through the same guard as HTTP upstreams (host check,
 * then checked DNS answers on every connection) unless it sets `allow_link_local`; redirects
 * are not followed.
 *
 * Failures: `isError: true` and JSON-RPC errors → EXECUTOR.UPSTREAM_ERROR with the server's
 * text (at most ERROR_TEXT_MAX characters); no answer within `timeout_ms` (connect included),
 * or `signal` aborted → EXECUTOR.UPSTREAM_TIMEOUT; a connection that cannot be made or is lost →
 * EXECUTOR.UPSTREAM_UNREACHABLE; an HTTP error status from the MCP endpoint →
 * EXECUTOR.UPSTREAM_ERROR with `upstream_status`. Messages never hold the URL, the command,
 * headers or environment. A stdio server's stderr is discarded (it would break the JSON logs);
 * its environment is the SDK's minimal default (PATH, HOME, ...) plus `env`, never the
 * executor's own.
 */

/** A client unused this long is closed. */
export const IDLE_CLOSE_MS = 5 * 60_000;
/** The most characters of a server's error text kept in a GatewayError message. */
export const ERROR_TEXT_MAX = 500;
const CLIENT_INFO = { name: 'securegateway-executor', version: '0.1.0' };

interface Entry {
  client: Client;
  /** Set when the server sent a message larger than the transport accepts. */
  oversized: boolean;
  idle?: NodeJS.Timeout;
  /** The pins of the tools the server advertises (mcpToolPin), as last listed. */
  advertised?: { at: number; pins: Promise<Map<string, string>> };
}

/** How long a listing of the server's tools is trusted for the pin check (a list_changed notification ends it at once). */
export const PIN_LISTING_MS = 30_000;

interface Slot {
  pending: Promise<Entry>;
  /** Set once connected, so an entry can be dropped synchronously. */
  entry?: Entry;
}

const clients = new Map<string, Slot>();
/** Sockets whose every DNS answer is checked by the SSRF guard before connecting. */
const guardedAgent = new Agent({
  keepAliveTimeout: 10_000,
  connections: 128,
  connect: { lookup: guardedLookup },
});
const openAgent = new Agent({ keepAliveTimeout: 10_000, connections: 128 });

export interface McpCallOptions {
  /** Aborts the call (the resilience wrapper's deadline): the call fails with UPSTREAM_TIMEOUT. */
  signal?: AbortSignal;
  /** Applied to the server's text before it goes into an error message (secret scrubbing). */
  scrubText?: (text: string) => string;
}

/** Calls `remote_tool ?? tool` on an MCP server. */
export async function callMcpUpstream(
  tool: string,
  upstream: McpUpstream,
  args: Record<string, unknown>,
  maxBytes: number,
  options: McpCallOptions = {},
): Promise<UpstreamAnswer> {
  const { signal, scrubText = (t: string) => t } = options;
  guard(tool, upstream);
  const deadline = Date.now() + upstream.timeout_ms;
  const name = upstream.remote_tool ?? tool;
  let result: Awaited<ReturnType<Client['callTool']>>;
  for (let attempt = 0; ; attempt++) {
    const { entry, fresh } = await connected(tool, upstream, deadline, maxBytes, signal);
    try {
      if (upstream.pin_sha256) await checkPin(tool, name, upstream, entry, deadline);
      result = await entry.client.callTool({ name, arguments: args }, undefined, {
        timeout: remaining(tool, upstream, deadline),
        signal,
      });
      touch(upstream, entry);
      break;
    } catch (err) {
      const failure = mcpFailure(tool, upstream, err, entry, scrubText);
      // A timed-out call leaves the connection usable; a lost or broken one is replaced.
      if (
        failure.code === 'EXECUTOR.UPSTREAM_UNREACHABLE' ||
        err instanceof StreamableHTTPError ||
        entry.oversized
      )
        drop(upstream, entry);
      // A session the server forgot (it restarted): the call never ran, so one retry is safe.
      if (!fresh && attempt === 0 && err instanceof StreamableHTTPError && err.code === 404)
        continue;
      throw failure;
    }
  }
  if (result.isError) {
    const text = truncate(scrubText(errorText(result.content)));
    throw new GatewayError(
      'EXECUTOR.UPSTREAM_ERROR',
      `${tool}'s MCP server reported an error: ${text || 'no details'}`,
    );
  }
  const body = mcpResultBody(result);
  const size = Buffer.byteLength(JSON.stringify(body) ?? 'null');
  if (size > maxBytes) {
    throw new GatewayError(
      'EXECUTOR.UPSTREAM_ERROR',
      `${tool}'s MCP server answered ${size} bytes, more than the ${maxBytes} allowed`,
    );
  }
  return { status: 200, body };
}

export interface McpToolInfo {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** Every tool the server offers (all pages), for scripts/import-mcp-tools.mjs. */
export async function listMcpTools(upstream: McpUpstream): Promise<McpToolInfo[]> {
  guard('tools/list', upstream);
  const deadline = Date.now() + upstream.timeout_ms;
  const { entry } = await connected('tools/list', upstream, deadline, 8 * 1024 * 1024);
  try {
    const tools = await allTools(entry, 'tools/list', upstream, deadline);
    touch(upstream, entry);
    return tools;
  } catch (err) {
    const failure = mcpFailure('tools/list', upstream, err, entry);
    if (failure.code === 'EXECUTOR.UPSTREAM_UNREACHABLE' || err instanceof StreamableHTTPError)
      drop(upstream, entry);
    throw failure;
  }
}

async function allTools(
  entry: Entry,
  tool: string,
  upstream: McpUpstream,
  deadline: number,
): Promise<McpToolInfo[]> {
  const tools: McpToolInfo[] = [];
  let cursor: string | undefined;
  do {
    const page = await entry.client.listTools(cursor ? { cursor } : undefined, {
      timeout: remaining(tool, upstream, deadline),
    });
    for (const t of page.tools)
      tools.push({ name: t.name, description: t.description ?? '', inputSchema: t.inputSchema });
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

/**
 * Refuses a call to a pinned tool whose server now advertises another description or schema
 * for it, or no longer advertises it (a "rug pull": what the model reads changed after review).
 * The listing is shared by the calls of one connection for PIN_LISTING_MS, and dropped when the
 * server sends notifications/tools/list_changed.
 */
async function checkPin(
  tool: string,
  name: string,
  upstream: McpUpstream,
  entry: Entry,
  deadline: number,
): Promise<void> {
  if (!entry.advertised || Date.now() - entry.advertised.at > PIN_LISTING_MS) {
    const pins = allTools(entry, tool, upstream, deadline).then(
      (tools) => new Map(tools.map((t) => [t.name, mcpToolPin(t)])),
    );
    entry.advertised = { at: Date.now(), pins };
    // A failed listing is not kept: the next call lists again.
    pins.catch(() => {
      if (entry.advertised?.pins === pins) entry.advertised = undefined;
    });
  }
  const advertised = (await entry.advertised.pins).get(name);
  if (advertised === upstream.pin_sha256) return;
  throw new GatewayError(
    'EXECUTOR.TOOL_PIN_MISMATCH',
    advertised === undefined
      ? `${tool}'s MCP server no longer advertises the tool; calls are refused until an admin reviews the server and runs import-mcp-tools again`
      : `${tool}'s MCP server now advertises a different description or input schema than the one reviewed (pin_sha256); calls are refused until an admin reviews the change and runs import-mcp-tools again`,
    { advertised_sha256: advertised ?? null },
  );
}

/** Closes every MCP client (and so ends every stdio server). Call on shutdown. */
export async function closeMcpClients(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  await Promise.all(
    all.map(async (slot) => {
      const entry = await slot.pending.catch(() => undefined);
      if (!entry) return;
      clearTimeout(entry.idle);
      await entry.client.close().catch(() => undefined);
    }),
  );
}

/** How many MCP clients are open or connecting (for tests and health). */
export function openMcpClients(): number {
  return clients.size;
}

/** The SSRF guard's host check, before anything connects. */
function guard(tool: string, upstream: McpUpstream): void {
  if (upstream.transport !== 'streamable_http') return;
  let url: URL;
  try {
    url = new URL(upstream.url!);
  } catch {
    throw new GatewayError('EXECUTOR.UPSTREAM_UNREACHABLE', `${tool}'s MCP server URL is invalid`);
  }
  assertUpstreamAllowed(tool, url, upstream.allow_link_local);
}

function keyOf(upstream: McpUpstream): string {
  const sorted = (o: Record<string, string>) =>
    Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const identity =
    upstream.transport === 'stdio'
      ? ['stdio', upstream.command, upstream.args, sorted(upstream.env)]
      : ['streamable_http', upstream.url, sorted(upstream.headers), upstream.allow_link_local];
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex');
}

async function connected(
  tool: string,
  upstream: McpUpstream,
  deadline: number,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<{ entry: Entry; fresh: boolean }> {
  const key = keyOf(upstream);
  let slot = clients.get(key);
  const fresh = !slot;
  if (!slot) {
    const mine: Slot = { pending: connect(upstream, maxBytes) };
    clients.set(key, mine);
    mine.pending.then(
      (entry) => (mine.entry = entry),
      () => clients.get(key) === mine && clients.delete(key),
    );
    slot = mine;
  }
  const pending = slot.pending;
  // A caller that joins a connect in progress still gives up at its own deadline or signal.
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut(tool, upstream)), Math.max(0, deadline - Date.now()));
    onAbort = () => reject(timedOut(tool, upstream));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const entry = await Promise.race([pending, timeout]);
    touch(upstream, entry);
    return { entry, fresh };
  } catch (err) {
    throw err instanceof GatewayError ? err : mcpFailure(tool, upstream, err);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

async function connect(upstream: McpUpstream, maxBytes: number): Promise<Entry> {
  const key = keyOf(upstream);
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  const entry: Entry = { client, oversized: false };
  // A JSON-RPC message carries the result once as structuredContent and often again as text,
  // escaped: the transport refuses messages well past the result cap, so memory stays bounded.
  const messageCap = maxBytes * 4 + 64 * 1024;
  const transport =
    upstream.transport === 'stdio'
      ? new StdioClientTransport({
          command: upstream.command!,
          args: upstream.args,
          env: upstream.env,
          stderr: 'ignore',
          maxBufferSize: messageCap,
        })
      : new StreamableHTTPClientTransport(new URL(upstream.url!), {
          requestInit: { headers: upstream.headers, redirect: 'manual' },
          fetch: cappedFetch(
            upstream.allow_link_local ? openAgent : guardedAgent,
            messageCap,
            entry,
            () => void client.close().catch(() => undefined),
          ),
          reconnectionOptions: {
            maxRetries: 0,
            initialReconnectionDelay: 1000,
            maxReconnectionDelay: 1000,
            reconnectionDelayGrowFactor: 1,
          },
        });
  // The server changed its tools: the pin check lists them again.
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    entry.advertised = undefined;
  });
  client.onerror = (err) => {
    if (/ReadBuffer exceeded/.test(err.message)) entry.oversized = true;
  };
  client.onclose = () => {
    clearTimeout(entry.idle);
    if (clients.get(key)?.entry === entry) clients.delete(key);
  };
  try {
    await client.connect(transport, { timeout: upstream.timeout_ms });
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
  return entry;
}

/** fetch through `dispatcher`, whose POST answers (the replies to calls) fail past `cap` bytes. */
function cappedFetch(dispatcher: Agent, cap: number, entry: Entry, abort: () => void) {
  return async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const res = (await undiciFetch(url, {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher,
    })) as unknown as Response;
    if (init?.method !== 'POST' || !res.body) return res;
    let seen = 0;
    const body = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.byteLength;
          if (seen <= cap) return controller.enqueue(chunk);
          entry.oversized = true;
          controller.error(new Error(`MCP message over ${cap} bytes`));
          // An over-long event stream would leave its call waiting: closing fails it now.
          abort();
        },
      }),
    );
    return new Response(body, {
      status: res.status,
      statusText: res.statusText,
      headers: res.headers,
    });
  };
}

function touch(upstream: McpUpstream, entry: Entry): void {
  clearTimeout(entry.idle);
  entry.idle = setTimeout(() => drop(upstream, entry), IDLE_CLOSE_MS);
  entry.idle.unref();
}

function drop(upstream: McpUpstream, entry: Entry): void {
  const key = keyOf(upstream);
  clearTimeout(entry.idle);
  if (clients.get(key)?.entry === entry) clients.delete(key);
  void entry.client.close().catch(() => undefined);
}

function remaining(tool: string, upstream: McpUpstream, deadline: number): number {
  const left = deadline - Date.now();
  if (left <= 0) throw timedOut(tool, upstream);
  return left;
}

function timedOut(tool: string, upstream: McpUpstream): GatewayError {
  return new GatewayError(
    'EXECUTOR.UPSTREAM_TIMEOUT',
    `${tool}'s MCP server did not answer within ${upstream.timeout_ms} ms`,
  );
}

function mcpFailure(
  tool: string,
  upstream: McpUpstream,
  err: unknown,
  entry?: Entry,
  scrubText = (t: string) => t,
): GatewayError {
  if (err instanceof GatewayError) return err;
  const refusal = findSsrfRefusal(err);
  if (refusal) return ssrfRefused(tool, refusal.host);
  if (entry?.oversized) {
    return new GatewayError(
      'EXECUTOR.UPSTREAM_ERROR',
      `${tool}'s MCP server sent a message larger than allowed`,
    );
  }
  if (err instanceof McpError) {
    if (err.code === ErrorCode.RequestTimeout) return timedOut(tool, upstream);
    if (err.code === ErrorCode.ConnectionClosed) {
      return new GatewayError(
        'EXECUTOR.UPSTREAM_UNREACHABLE',
        `${tool}'s MCP server closed the connection`,
      );
    }
    const text = scrubText(err.message.replace(/^MCP error -?\d+: /, ''));
    return new GatewayError(
      'EXECUTOR.UPSTREAM_ERROR',
      `${tool}'s MCP server answered error ${err.code}: ${truncate(text)}`,
      { mcp_error: err.code },
    );
  }
  if (err instanceof StreamableHTTPError && err.code !== undefined && err.code > 0) {
    return new GatewayError(
      'EXECUTOR.UPSTREAM_ERROR',
      `${tool}'s MCP server answered HTTP ${err.code}`,
      { upstream_status: err.code },
    );
  }
  const e = err as Error & { code?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return timedOut(tool, upstream);
  if (e?.name === 'ZodError')
    return new GatewayError(
      'EXECUTOR.UPSTREAM_ERROR',
      `${tool}'s MCP server sent an invalid result`,
    );
  return new GatewayError(
    'EXECUTOR.UPSTREAM_UNREACHABLE',
    `${tool}'s MCP server is unreachable (${e?.code ?? e?.cause?.code ?? 'connection failed'})`,
  );
}

interface ContentItem {
  type: string;
  text?: string;
  [k: string]: unknown;
}

/** The body of a successful tool result (the rules are in this file's header comment). */
export function mcpResultBody(result: {
  structuredContent?: unknown;
  content?: unknown;
  toolResult?: unknown;
}): unknown {
  if (result.structuredContent !== undefined) return result.structuredContent;
  // Servers of protocol 2024-10-07 answered { toolResult } instead of content.
  if (!Array.isArray(result.content)) return result.toolResult ?? null;
  const content = result.content as ContentItem[];
  if (content.length === 0) return null;
  const first = content[0]!;
  if (content.length === 1 && first.type === 'text' && typeof first.text === 'string') {
    const text = first.text;
    const trimmed = text.trim();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      try {
        return JSON.parse(trimmed) as unknown;
      } catch {
        /* not JSON after all: keep the text */
      }
    }
    return text;
  }
  return content;
}

function errorText(content: unknown): string {
  if (!Array.isArray(content)) return '';
  return (content as ContentItem[])
    .filter((c) => c.type === 'text' && typeof c.text === 'string')
    .map((c) => c.text)
    .join(' ');
}

function truncate(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > ERROR_TEXT_MAX ? `${flat.slice(0, ERROR_TEXT_MAX)}…` : flat;
}
