// The MCP front door (/mcp, Streamable HTTP) through the real processes, with the official SDK
// client: what a session lists, allowed, denied and approved calls, list_changed after a
// policy edit, sessions bound to their principal, and the transport's header rules.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { mcpInitialize, waitFor } from '@sg/testing';
import { ADMIN_KEY, AGENT_KEY, auditRows, post, startGateway, type Gateway } from './harness.js';

let gw: Gateway;
const OTHER_KEY = 'other-bot-key-0001';
const KEYS = `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n  other-bot:\n    key: ${OTHER_KEY}\n    tools: ["calendar.*"]\n`;
const policy = (allow: string[]) =>
  `rules:\n  - model: gpt-4o\n    allow_tools: ${JSON.stringify(allow)}\n    requires_approval: ["db.write_*"]\n  - model: other-bot\n    allow_tools: ["*"]\nrate_limits:\n  agent: { limit: 10000, window_s: 60 }\n`;
const clients: Client[] = [];

beforeAll(async () => {
  gw = await startGateway({
    configure: (c) => {
      c.write('model_keys/default.yaml', KEYS);
      c.write('policies/default.yaml', policy(['calendar.*', 'db.*']));
    },
  });
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await gw?.stop();
});

async function connect(
  key = AGENT_KEY,
  capabilities: Record<string, unknown> = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), {
    requestInit: { headers: { 'X-API-Key': key } },
  });
  const client = new Client({ name: 'e2e-client', version: '1.2.3' }, { capabilities });
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

/** A raw JSON-RPC POST to /mcp. */
function rpc(body: unknown, headers: Record<string, string> = {}) {
  return post(gw, '/mcp', body, {
    accept: 'application/json, text/event-stream',
    'X-API-Key': AGENT_KEY,
    ...headers,
  });
}

const initialize = mcpInitialize('raw');

it('lists exactly the tools the caller may call, each with its registry schema', async () => {
  const { client } = await connect();
  expect(client.getServerVersion()?.name).toBe('securegateway');
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toEqual(['calendar.list_events', 'db.write_sensitive']);
  const write = tools.find((t) => t.name === 'db.write_sensitive')!;
  expect(write.inputSchema).toMatchObject({ type: 'object', required: ['table', 'record'] });
  expect(write._meta).toEqual({ 'securegateway/requires_approval': true });

  // other-bot's key is scoped to calendar.*: db.write_sensitive and its schema are never shown.
  const other = await connect(OTHER_KEY);
  const seen = await other.client.listTools();
  expect(seen.tools.map((t) => t.name)).toEqual(['calendar.list_events']);
  expect(JSON.stringify(seen)).not.toContain('db.write_sensitive');
});

it('runs an allowed call on the governed path, audited with its trace id', async () => {
  const { client } = await connect();
  const res = (await client.callTool({
    name: 'calendar.list_events',
    arguments: {},
  })) as CallToolResult;
  expect(res.isError).toBeFalsy();
  const traceId = res._meta?.['securegateway/trace_id'] as string;
  expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  expect(JSON.parse((res.content[0] as { text: string }).text)).toBeTruthy();
  const rows = await auditRows(gw, traceId, 1);
  const completed = rows.find((r) => r.subject === 'gw.evt.toolcall.completed.v1')!;
  expect(completed.data).toMatchObject({
    channel: 'mcp',
    agent_id: 'gpt-4o',
    tool: 'calendar.list_events',
    outcome: 'allowed',
    agent_version: '1.2.3',
  });
});

it('refuses a hidden tool with the reason, the code, suggestions and the trace id', async () => {
  const { client } = await connect(OTHER_KEY);
  const res = (await client.callTool({
    name: 'db.write_sensitive',
    arguments: { table: 't', record: {} },
  })) as CallToolResult;
  expect(res.isError).toBe(true);
  const text = (res.content[0] as { text: string }).text;
  expect(text).toContain('POLICY.TOOL_NOT_ALLOWED');
  expect(text).not.toMatch(/not found/i);
  expect(res.structuredContent).toMatchObject({
    success: false,
    error: { code: 'POLICY.TOOL_NOT_ALLOWED' },
    decision: { allowed: false },
  });
  const sc = res.structuredContent as { trace_id: string; decision: { suggestions: string[] } };
  expect(sc.decision.suggestions.length).toBeGreaterThan(0);
  expect(text).toContain(sc.trace_id);
  // An unregistered tool is a denial too, never "tool not found".
  const unknown = (await client.callTool({ name: 'no.such_tool' })) as CallToolResult;
  expect(unknown.structuredContent).toMatchObject({
    error: { code: 'POLICY.TOOL_NOT_REGISTERED' },
  });
});

it('answers a call that needs approval with its approval, and the result once approved', async () => {
  const { client } = await connect();
  const call = { name: 'db.write_sensitive', arguments: { table: 'payroll', record: { n: 1 } } };
  const first = (await client.callTool(call)) as CallToolResult;
  expect(first.isError).toBe(true);
  const pending = first.structuredContent as Record<string, string>;
  expect(pending).toMatchObject({ status: 'pending_approval' });
  expect(pending.approval_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(pending.approval_url).toBe(`${gw.url}/api/approvals/${pending.approval_id}`);
  // Asking again before anyone approved: the same approval, not a second one.
  const again = (await client.callTool(call)) as CallToolResult;
  expect((again.structuredContent as Record<string, string>).approval_id).toBe(pending.approval_id);
  const approved = await post(
    gw,
    '/approve',
    { approval_id: pending.approval_id, approved: true },
    { 'X-Admin-Key': ADMIN_KEY },
  );
  expect(approved.body.status).toBe('executed');
  const done = (await client.callTool(call)) as CallToolResult;
  expect(done.isError).toBeFalsy();
  expect(done.content[0]).toMatchObject({ type: 'text' });
  // Reported once: a later identical call is a new call, waiting on a new approval.
  const next = (await client.callTool(call)) as CallToolResult;
  expect((next.structuredContent as Record<string, string>).approval_id).not.toBe(
    pending.approval_id,
  );
});

it('offers the approval as a URL elicitation to a client that supports it', async () => {
  const { client } = await connect(AGENT_KEY, { elicitation: { url: {} } });
  const err = await client
    .callTool({ name: 'db.write_sensitive', arguments: { table: 't', record: { n: 2 } } })
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(McpError);
  const e = err as McpError & { elicitations: Array<Record<string, string>> };
  expect(e.code).toBe(ErrorCode.UrlElicitationRequired);
  expect(e.elicitations[0]).toMatchObject({ mode: 'url' });
  expect(e.elicitations[0]!.url).toBe(
    `${gw.url}/api/approvals/${e.elicitations[0]!.elicitationId}`,
  );
});

it('tells open sessions tools/list_changed when a policy edit changes their list', async () => {
  const { client } = await connect();
  let changed = 0;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    changed++;
  });
  // The client opens its GET stream after initialize; wait until the gateway holds it.
  await new Promise((r) => setTimeout(r, 500));
  gw.config.write('policies/default.yaml', policy(['calendar.*']));
  await waitFor(async () => (changed > 0 ? true : undefined), 15_000, 'list_changed');
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toEqual(['calendar.list_events']);
  gw.config.write('policies/default.yaml', policy(['calendar.*', 'db.*']));
  await waitFor(async () => (changed > 1 ? true : undefined), 15_000, 'second list_changed');
});

describe('sessions', () => {
  it('binds a session to the agent that opened it, and DELETE ends it', async () => {
    const { transport } = await connect();
    const sid = transport.sessionId!;
    expect(sid).toMatch(/^[\x21-\x7e]+$/);
    const list = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
    const stolen = await rpc(list, { 'mcp-session-id': sid, 'X-API-Key': OTHER_KEY });
    expect(stolen.status).toBe(403);
    expect(stolen.body.error.data.code).toBe('MCP.SESSION_FORBIDDEN');
    expect((await rpc(list, { 'mcp-session-id': sid })).status).toBe(200);

    await transport.terminateSession();
    const ended = await rpc(list, { 'mcp-session-id': sid });
    expect(ended.status).toBe(404);
    expect(ended.body.error.data.code).toBe('MCP.SESSION_NOT_FOUND');
    expect((await rpc(list, { 'mcp-session-id': 'made-up' })).status).toBe(404);
    expect((await rpc(list)).body.error.data.code).toBe('MCP.SESSION_REQUIRED');
  });

  it('answers initialize with a session id and notifications with 202', async () => {
    const init = await rpc(initialize);
    expect(init.status).toBe(200);
    expect(init.body.result.protocolVersion).toBe('2025-11-25');
    const sid = init.headers.get('mcp-session-id')!;
    const note = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'X-API-Key': AGENT_KEY,
        'mcp-session-id': sid,
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    expect(note.status).toBe(202);
    // An older client gets 2025-06-18; one the gateway does not speak gets the newest.
    const old = await rpc({
      ...initialize,
      params: { ...initialize.params, protocolVersion: '2025-06-18' },
    });
    expect(old.body.result.protocolVersion).toBe('2025-06-18');
    const ancient = await rpc({
      ...initialize,
      params: { ...initialize.params, protocolVersion: '2024-11-05' },
    });
    expect(ancient.body.result.protocolVersion).toBe('2025-11-25');
  });
});

describe('headers and limits', () => {
  it('refuses an unsupported MCP-Protocol-Version with 400', async () => {
    const res = await rpc(initialize, { 'mcp-protocol-version': '2024-11-05' });
    expect(res.status).toBe(400);
    expect(res.body.error.data.code).toBe('MCP.UNSUPPORTED_PROTOCOL_VERSION');
  });

  it('refuses a foreign Origin or Host with 403 (DNS rebinding)', async () => {
    const origin = await rpc(initialize, { origin: 'https://evil.example' });
    expect(origin.status).toBe(403);
    expect(origin.body.error.data.code).toBe('MCP.ORIGIN_FORBIDDEN');
    expect((await rpc(initialize, { origin: 'http://localhost:5173' })).status).toBe(200);
    // fetch cannot forge Host; the raw request can.
    const { request } = await import('node:http');
    const url = new URL(`${gw.url}/mcp`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: '/mcp',
          method: 'POST',
          headers: {
            host: 'evil.example',
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'x-api-key': AGENT_KEY,
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(initialize));
    });
    expect(status).toBe(403);
  });

  it('refuses a missing key with 401 and WWW-Authenticate, and audits it', async () => {
    const res = await rpc(initialize, { 'X-API-Key': '', 'X-Trace-Id': 'mcp-no-key-0001' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(res.body).toMatchObject({
      jsonrpc: '2.0',
      error: { data: { code: 'AUTH.MISSING_KEY' } },
    });
    const rows = await auditRows(gw, 'mcp-no-key-0001', 1);
    expect(rows[0]!.data).toMatchObject({ channel: 'mcp', http_status: 401 });
  });

  it('refuses batches, bodies that are not JSON-RPC, and a wrong Accept', async () => {
    const batch = await rpc([initialize]);
    expect(batch.status).toBe(400);
    expect(batch.body.error.data.code).toBe('REQUEST.INVALID_BODY');
    const bad = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-API-Key': AGENT_KEY, accept: '*/*' },
      body: '{"jsonrpc":',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { data: { code: string } } }).error.data.code).toBe(
      'REQUEST.INVALID_JSON',
    );
    const accept = await rpc(initialize, { accept: 'application/json' });
    expect(accept.status).toBe(406);
  });
});
