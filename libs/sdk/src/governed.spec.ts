import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { MCPSecurityError } from './errors.js';
import { GatewayClient } from './gateway.js';
import { callContext, governed } from './governed.js';

// A stand-in for the two gateway endpoints: this tests the SDK's own logic (what it sends, how
// it reads each answer). tests/e2e/test/sdk.test.ts runs it against the real gateway.
interface Seen {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}
let stub: Server;
let url: string;
let seen: Seen[] = [];
let answers: Record<string, Array<{ status: number; body: unknown }>> = {};

beforeAll(async () => {
  stub = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      seen.push({
        path: req.url!,
        headers: req.headers,
        body: JSON.parse(text) as Record<string, unknown>,
      });
      const next = answers[req.url!]?.shift() ?? { status: 500, body: {} };
      res.writeHead(next.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(next.body));
    });
  });
  await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
});

afterAll(() => new Promise((r) => stub.close(r)));

beforeEach(() => {
  seen = [];
  answers = {};
});

const AUTHORIZED = {
  status: 200,
  body: {
    success: true,
    allowed: true,
    status: 'authorized',
    audit_id: 'a-1',
    trace_id: 't-1',
    risk_score: 0.1,
  },
};
const RECORDED = { status: 202, body: { recorded: true, trace_id: 't-1' } };

/** An McpServer with one governed tool, and a connected client. */
async function serve(
  handler: (args: { customer_id: string; user_id?: string; tenant_id?: string }) => unknown,
  gatewayUrl = url,
) {
  const server = new McpServer({ name: 'test', version: '1' });
  const calls: unknown[] = [];
  governed(
    server,
    'crm.get_profile',
    {
      description: 'A customer profile',
      inputSchema: {
        customer_id: z.string(),
        user_id: z.string().optional(),
        tenant_id: z.string().optional(),
      },
    },
    (args, ctx) => {
      calls.push({ args, user: ctx.user_id, tenant: ctx.tenant_id, trace: ctx.trace_id });
      return handler(args);
    },
    {
      requiresPii: true,
      gateway: { url: gatewayUrl, apiKey: 'server-key-0001', project: 'acme', timeoutMs: 1000 },
    },
  );
  const [a, b] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: 'c', version: '1' });
  await Promise.all([server.connect(a), client.connect(b)]);
  return { client, calls };
}

it('takes user and tenant from the arguments, then from _meta, then the defaults', () => {
  expect(
    callContext({ user_id: 'u1', tenant_id: 't1' }, { 'securegateway/user_id': 'u2' }),
  ).toEqual({
    user_id: 'u1',
    tenant_id: 't1',
  });
  expect(
    callContext({}, { 'securegateway/user_id': 'u2', 'securegateway/tenant_id': 't2' }),
  ).toEqual({
    user_id: 'u2',
    tenant_id: 't2',
  });
  expect(callContext({ user_id: 7 }, undefined)).toEqual({
    user_id: 'default_user',
    tenant_id: null,
  });
});

it('asks the gateway first, runs the handler, masks the result and reports the run', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED];
  answers['/api/sdk/complete'] = [RECORDED];
  const { client, calls } = await serve(() => ({
    email: 'jane.doe@example.com',
    phone: '(415) 692-3070',
  }));
  const res = (await client.callTool({
    name: 'crm.get_profile',
    arguments: { customer_id: 'c-9', tenant_id: 'acme' },
    _meta: { 'securegateway/user_id': 'alice' },
  })) as CallToolResult;
  expect(res.isError).toBeFalsy();
  expect(res.structuredContent).toEqual({
    email: '***@***.com',
    phone: '(***) ***-3070',
  });
  expect(JSON.stringify(res)).not.toContain('jane.doe');
  expect(res._meta).toEqual({ 'securegateway/trace_id': 't-1', 'securegateway/audit_id': 'a-1' });
  expect(calls).toEqual([
    {
      args: { customer_id: 'c-9', tenant_id: 'acme' },
      user: 'alice',
      tenant: 'acme',
      trace: 't-1',
    },
  ]);
  const [authorize, complete] = seen;
  expect(authorize).toMatchObject({
    path: '/api/sdk/authorize',
    body: {
      tool: 'crm.get_profile',
      arguments: { customer_id: 'c-9', tenant_id: 'acme' },
      requires_pii: true,
    },
    headers: { 'x-api-key': 'server-key-0001', 'x-project-id': 'acme', 'x-user-id': 'alice' },
  });
  expect(complete).toMatchObject({
    path: '/api/sdk/complete',
    body: { audit_id: 'a-1', status: 'ok', result: res.structuredContent },
    headers: { 'x-trace-id': 't-1' },
  });
});

it('refuses with the failing check, the suggestions and the trace id, and never runs the handler', async () => {
  answers['/api/sdk/authorize'] = [
    {
      status: 403,
      body: {
        success: false,
        error: {
          code: 'POLICY.TENANT_NOT_GRANTED',
          message: 'bot has no access to tenant globex.',
        },
        decision: {
          suggestions: ['Use one of: acme'],
          rule_trace: [
            { check: 'rate_limit', outcome: 'pass' },
            { check: 'tenant_access', outcome: 'fail' },
          ],
        },
        trace_id: 't-2',
      },
    },
  ];
  const { client, calls } = await serve(() => 'never');
  const res = (await client.callTool({
    name: 'crm.get_profile',
    arguments: { customer_id: 'c', tenant_id: 'globex' },
  })) as CallToolResult;
  expect(res.isError).toBe(true);
  expect((res.content[0] as { text: string }).text).toBe(
    'SecureGateway refused the call (POLICY.TENANT_NOT_GRANTED): bot has no access to tenant globex.\nSuggestions:\n- Use one of: acme\ntrace_id: t-2',
  );
  expect(res.structuredContent).toMatchObject({ failed_policy: 'tenant_access', trace_id: 't-2' });
  expect(calls).toEqual([]);
  expect(seen.map((s) => s.path)).toEqual(['/api/sdk/authorize']);
});

it('refuses a call waiting for approval with its approval id', async () => {
  answers['/api/sdk/authorize'] = [
    {
      status: 202,
      body: {
        status: 'pending_approval',
        approval_id: 'ap-1',
        expires_at: 'soon',
        trace_id: 't-3',
      },
    },
  ];
  const gateway = new GatewayClient({ url, apiKey: 'k-000000000000' });
  const err = await gateway
    .authorize({ tool: 'x', arguments: {}, userId: 'u', requiresPii: false })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MCPSecurityError);
  expect(err).toMatchObject({
    failed_policy: 'requires_approval',
    approval_id: 'ap-1',
    trace_id: 't-3',
  });
});

it('fails closed when the gateway cannot be reached: the handler does not run', async () => {
  const { client, calls } = await serve(() => 'never', 'http://127.0.0.1:9');
  const res = (await client.callTool({
    name: 'crm.get_profile',
    arguments: { customer_id: 'c' },
  })) as CallToolResult;
  expect(res.isError).toBe(true);
  expect(res.structuredContent).toMatchObject({ error: { code: 'GATEWAY.SERVICE_UNAVAILABLE' } });
  expect(calls).toEqual([]);
});

it('reports a handler error, retries a failed report once, and keeps the key out of errors', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED, AUTHORIZED];
  answers['/api/sdk/complete'] = [RECORDED, { status: 503, body: {} }, RECORDED];
  const { client } = await serve((args) => {
    if (args.customer_id === 'boom') throw new Error('database down');
    return 'ok';
  });
  const failed = (await client.callTool({
    name: 'crm.get_profile',
    arguments: { customer_id: 'boom' },
  })) as CallToolResult;
  expect(failed.isError).toBe(true);
  expect((failed.content[0] as { text: string }).text).toContain('database down');
  expect(seen[1]!.body).toMatchObject({ status: 'error', error: 'database down' });
  const ok = (await client.callTool({
    name: 'crm.get_profile',
    arguments: { customer_id: 'c' },
  })) as CallToolResult;
  expect(ok.isError).toBeFalsy();
  expect(seen.map((s) => s.path)).toEqual([
    '/api/sdk/authorize',
    '/api/sdk/complete',
    '/api/sdk/authorize',
    '/api/sdk/complete',
    '/api/sdk/complete',
  ]);
  expect(JSON.stringify([failed, ok])).not.toContain('server-key-0001');
});
