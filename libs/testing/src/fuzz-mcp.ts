import fc from 'fast-check';
import { MCP_PROTOCOL_VERSION, mcpInitialize } from './mcp.js';
import { bodyArbitrary, type FuzzInput, type FuzzRoute, type JsonSchema } from './fuzz-inputs.js';
import {
  fuzzInputAt,
  judge,
  sendFuzzInput,
  type FuzzFinding,
  type FuzzReport,
} from './fuzz-http.js';

const ROUTE: FuzzRoute = {
  target: 'ingress',
  method: 'post',
  path: '/mcp',
  pathParams: [],
  queryParams: [],
  json: true,
};
const KEY = 'ingress POST /mcp (in a session)';

/**
 * The JSON-RPC messages an MCP client sends inside a session, as a JSON schema that
 * bodyArbitrary draws valid-ish and hostile bodies from: every method of the protocol (and
 * unknown ones), with and without an id (a notification), odd ids and versions, and the
 * client's own responses.
 */
export function mcpMessageSchema(tools: string[]): JsonSchema {
  const id = {
    anyOf: [{ type: 'integer' }, { type: 'string' }, { type: 'null' }, { type: 'object' }],
  };
  const message = (method: string, params?: JsonSchema): JsonSchema => ({
    type: 'object',
    properties: {
      jsonrpc: { enum: ['2.0', '2.0', '2.0', '2.0', '2.0', '1.0'] },
      id,
      method: { const: method },
      ...(params ? { params } : {}),
    },
    required: ['jsonrpc', 'method'],
  });
  const object = { type: 'object' };
  return {
    oneOf: [
      message('tools/call', {
        type: 'object',
        properties: {
          name: { enum: [...tools, 'no.such_tool', '', '../calendar.list_events'] },
          arguments: object,
          _meta: object,
        },
        required: ['name'],
      }),
      message('tools/call', {
        type: 'object',
        properties: { name: { enum: tools }, arguments: object },
        required: ['name', 'arguments'],
      }),
      message('tools/list', { type: 'object', properties: { cursor: { type: 'string' } } }),
      message('ping'),
      message('initialize', {
        type: 'object',
        properties: {
          protocolVersion: { enum: [MCP_PROTOCOL_VERSION, '2024-11-05', '1999-01-01', ''] },
          capabilities: object,
          clientInfo: object,
        },
      }),
      message('resources/list'),
      message('resources/read', { type: 'object', properties: { uri: { type: 'string' } } }),
      message('resources/templates/list'),
      message('prompts/list'),
      message('prompts/get', { type: 'object', properties: { name: { type: 'string' } } }),
      message('completion/complete', object),
      message('logging/setLevel', {
        type: 'object',
        properties: { level: { enum: ['debug', 'info', 'emergency', 'nope'] } },
      }),
      message('notifications/initialized'),
      message('notifications/cancelled', {
        type: 'object',
        properties: { requestId: { type: 'integer' }, reason: { type: 'string' } },
      }),
      message('notifications/roots/list_changed'),
      // A response of the client's (to a request the server never sent).
      {
        type: 'object',
        properties: { jsonrpc: { const: '2.0' }, id: { type: 'integer' }, result: object },
      },
      {
        type: 'object',
        properties: {
          jsonrpc: { const: '2.0' },
          id: { type: 'integer' },
          error: {
            type: 'object',
            properties: { code: { type: 'integer' }, message: { type: 'string' } },
          },
        },
      },
      {
        type: 'object',
        properties: { jsonrpc: { type: 'string' }, method: { type: 'string' }, params: {} },
      },
    ],
  };
}

export interface McpFuzzOptions {
  /** The ingress's base URL; the session is opened at `${url}/mcp`. */
  url: string;
  /** An agent's credentials ({'x-api-key': ...}). */
  credentials: Record<string, string>;
  /** Tool names to call (the registered ones). */
  tools: string[];
  seed: number;
  runs: number;
  deadlineMs?: number;
  concurrency?: number;
  /** Findings kept with their input per kind (the rest are only counted); 20. */
  maxFindingsEach?: number;
}

/** POSTs one JSON-RPC message to the session; the parsed answer, or why there is none. */
async function post(opts: McpFuzzOptions, session: string | undefined, body: unknown) {
  const res = await fetch(`${opts.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MCP_PROTOCOL_VERSION,
      ...(session ? { 'mcp-session-id': session } : {}),
      ...opts.credentials,
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(opts.deadlineMs ?? 10_000),
  });
  return { res, body: (await res.json()) as { result?: unknown; error?: unknown } };
}

/** Opens a session as a client does: initialize, then notifications/initialized. */
export async function openMcpSession(opts: McpFuzzOptions): Promise<string> {
  const init = await post(opts, undefined, { ...mcpInitialize('sg-fuzz'), id: 0 });
  const session = init.res.headers.get('mcp-session-id');
  if (init.res.status !== 200 || !session)
    throw new Error(`initialize answered ${init.res.status}: ${JSON.stringify(init.body)}`);
  const ack = await fetch(`${opts.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': MCP_PROTOCOL_VERSION,
      'mcp-session-id': session,
      ...opts.credentials,
    },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  await ack.arrayBuffer();
  return session;
}

/** What is wrong with a 200 answer inside the session: not JSON-RPC, or an internal error. */
function judgeJsonRpc(status: number, text: string): string | undefined {
  if (status !== 200 || !text) return undefined;
  let body: { jsonrpc?: unknown; result?: unknown; error?: { code?: unknown } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return `200 that is not JSON: ${text.slice(0, 200)}`;
  }
  if (body.jsonrpc !== '2.0' || (body.result === undefined && typeof body.error?.code !== 'number'))
    return `200 that is not a JSON-RPC response: ${text.slice(0, 200)}`;
  // -32603 is the SDK's answer to a handler that threw: the gateway's 500.
  if (body.error?.code === -32603) return `JSON-RPC internal error: ${text.slice(0, 200)}`;
  return undefined;
}

/**
 * Opens an MCP session and sends `runs` JSON-RPC messages generated from `seed` inside it
 * (mcpMessageSchema through bodyArbitrary: valid-ish, hostile values, deep nesting, duplicate
 * keys, invalid UTF-8). A finding is what fuzzHttp finds (a 5xx, a hang, a 4xx without a code),
 * a 200 that is not a JSON-RPC response or is an internal error (-32603), and a session that no
 * longer answers ping afterwards.
 */
export async function fuzzMcp(opts: McpFuzzOptions): Promise<FuzzReport> {
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const session = await openMcpSession(opts);
  const arbitrary: fc.Arbitrary<[string, Buffer]> = bodyArbitrary(mcpMessageSchema(opts.tools));
  const report: FuzzReport = { inputs: 0, findings: [], findingCounts: {}, perRoute: {}, ms: 0 };
  const stats = (report.perRoute[KEY] = { inputs: 0, statuses: {} as Record<string, number> });
  const record = (finding: FuzzFinding) => {
    const counted = `${finding.kind} ${finding.status ?? ''} ${KEY}`;
    report.findingCounts[counted] = (report.findingCounts[counted] ?? 0) + 1;
    if (report.findingCounts[counted]! <= (opts.maxFindingsEach ?? 20))
      report.findings.push(finding);
  };
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < opts.runs) {
      const index = next++;
      const [kind, body] = fuzzInputAt(arbitrary, opts.seed, index);
      const input: FuzzInput = {
        target: 'ingress',
        method: 'POST',
        route: '/mcp',
        path: '/mcp',
        headers: [
          ['content-type', 'application/json'],
          ['accept', 'application/json, text/event-stream'],
          ['mcp-protocol-version', MCP_PROTOCOL_VERSION],
          ['mcp-session-id', session],
          ...Object.entries(opts.credentials),
        ],
        bodyBase64: body.toString('base64'),
        kind,
      };
      const answer = await sendFuzzInput(opts.url, input, deadlineMs);
      stats.inputs++;
      report.inputs++;
      const status = String(answer.status ?? 'closed');
      stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
      const bad =
        judge(ROUTE, answer) ??
        (answer.status !== undefined && judgeJsonRpc(answer.status, answer.body)
          ? { kind: 'error-shape' as const, detail: judgeJsonRpc(answer.status, answer.body)! }
          : undefined);
      if (bad)
        record({
          ...bad,
          route: KEY,
          seed: opts.seed,
          index,
          input,
          ...(answer.status !== undefined ? { status: answer.status } : {}),
        });
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  report.ms = performance.now() - started;
  // The session outlived every message.
  const ping = await post(opts, session, { jsonrpc: '2.0', id: 'after', method: 'ping' }).catch(
    (err: Error) => ({ res: { status: 0 }, body: { error: err.message } as { result?: unknown } }),
  );
  if (ping.res.status !== 200 || ping.body.result === undefined)
    record({
      kind: 'connection',
      route: KEY,
      seed: opts.seed,
      index: -1,
      input: {
        target: 'ingress',
        method: 'POST',
        route: '/mcp',
        path: '/mcp',
        headers: [],
        kind: 'ping',
      },
      detail: `the session no longer answers ping: ${ping.res.status} ${JSON.stringify(ping.body)}`,
    });
  return report;
}
