import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { MCPSecurityError } from './errors.js';
import { GatewayClient } from './gateway.js';
import { governed, governedHandler, type Extra } from './governed.js';

// A stand-in for the gateway's two endpoints: this tests the SDK's own logic (what it sends, how
// it reads each answer). tests/e2e/test/sdk.test.ts runs it against the real gateway.
interface Seen {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}
interface Reply {
  status: number;
  body: unknown;
  /** Answer this late (to outwait the client's timeout). */
  delayMs?: number;
}
const KEY = 'server-key-0001';
let stub: Server;
let url: string;
let seen: Seen[] = [];
let answers: Record<string, Reply[]> = {};

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
      setTimeout(() => {
        res.writeHead(next.status, { 'content-type': 'application/json' });
        res.end(typeof next.body === 'string' ? next.body : JSON.stringify(next.body));
      }, next.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
});

afterAll(() => {
  stub.closeAllConnections();
  return new Promise((r) => stub.close(r));
});

let stderr: string[] = [];
beforeEach(() => {
  seen = [];
  answers = {};
  stderr = [];
  jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => {
    stderr.push(a.join(' '));
  });
});
afterEach(() => jest.restoreAllMocks());

const AUTHORIZED: Reply = {
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
const RECORDED: Reply = { status: 202, body: { recorded: true, trace_id: 't-1' } };

type Args = { customer_id: string; user_id?: string; tenant_id?: string };

/** An McpServer with one governed tool, and a connected client. */
async function serve(
  handler: (args: Args) => unknown,
  {
    gatewayUrl = url,
    sensitivity = 'standard' as 'standard' | 'strict',
    // Generous, so a loaded machine does not turn a normal answer into a timeout.
    timeoutMs = 5000,
  } = {},
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
      sensitivity,
      gateway: { url: gatewayUrl, apiKey: KEY, project: 'acme', timeoutMs },
    },
  );
  const [a, b] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: 'c', version: '1' });
  await Promise.all([server.connect(a), client.connect(b)]);
  const call = async (args: Args, meta?: Record<string, unknown>) =>
    (await client.callTool({
      name: 'crm.get_profile',
      arguments: args,
      ...(meta ? { _meta: meta } : {}),
    })) as CallToolResult;
  return { call, calls };
}

const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;

it('asks the gateway first, runs the handler, masks the result and reports the run', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED];
  answers['/api/sdk/complete'] = [RECORDED];
  const { call, calls } = await serve(() => ({
    email: 'jane.doe@example.com',
    phone: '(415) 692-3070',
  }));
  const res = await call(
    { customer_id: 'c-9', tenant_id: 'acme' },
    {
      'securegateway/user_id': 'alice',
    },
  );
  expect(res.isError).toBeFalsy();
  expect(res.structuredContent).toEqual({ email: '***@***.com', phone: '(***) ***-3070' });
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
    headers: { 'x-api-key': KEY, 'x-project-id': 'acme', 'x-user-id': 'alice' },
  });
  expect(complete).toMatchObject({
    path: '/api/sdk/complete',
    body: { audit_id: 'a-1', status: 'ok', result: res.structuredContent },
    headers: { 'x-api-key': KEY, 'x-trace-id': 't-1', 'x-user-id': 'alice' },
  });
});

it('masks everything at strict sensitivity', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED];
  answers['/api/sdk/complete'] = [RECORDED];
  const { call } = await serve(() => 'call (415) 692-3070', { sensitivity: 'strict' });
  const res = await call({ customer_id: 'c' });
  expect(text(res)).not.toContain('3070');
  expect(seen[1]!.body.result).toBe(text(res));
});

it('has the gateway check a tenant that came in _meta, as if it were an argument', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED];
  answers['/api/sdk/complete'] = [RECORDED];
  const { call, calls } = await serve(() => 'ok');
  await call({ customer_id: 'c' }, { 'securegateway/tenant_id': 'globex' });
  expect(seen[0]!.body.arguments).toEqual({ customer_id: 'c', tenant_id: 'globex' });
  expect(calls).toEqual([
    { args: { customer_id: 'c' }, user: 'default_user', tenant: 'globex', trace: 't-1' },
  ]);
  expect(seen[0]!.headers['x-user-id']).toBe('default_user');
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
            { check: 'pii_permission', outcome: 'skip' },
          ],
        },
        trace_id: 't-2',
      },
    },
  ];
  const { call, calls } = await serve(() => 'never');
  const res = await call({ customer_id: 'c', tenant_id: 'globex' });
  expect(res.isError).toBe(true);
  expect(text(res)).toBe(
    'SecureGateway refused the call (POLICY.TENANT_NOT_GRANTED): bot has no access to tenant globex.\nSuggestions:\n- Use one of: acme\ntrace_id: t-2',
  );
  expect(res.structuredContent).toEqual({
    error: { code: 'POLICY.TENANT_NOT_GRANTED', message: text(res) },
    failed_policy: 'tenant_access',
    suggestions: ['Use one of: acme'],
    trace_id: 't-2',
  });
  expect(res._meta).toEqual({ 'securegateway/trace_id': 't-2' });
  expect(calls).toEqual([]);
  expect(seen.map((s) => s.path)).toEqual(['/api/sdk/authorize']);
});

it('refuses a call waiting for approval with its approval id', async () => {
  answers['/api/sdk/authorize'] = [
    {
      status: 202,
      body: {
        success: false,
        allowed: false,
        status: 'pending_approval',
        approval_id: 'ap-1',
        expires_at: '2026-12-05T18:00:00Z',
        trace_id: 't-3',
        audit_id: 'a-3',
      },
    },
  ];
  const run = governedHandler('x', () => 'never', { gateway: { url, apiKey: KEY } });
  const err = await run({}, {} as Extra).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MCPSecurityError);
  expect(err).toMatchObject({
    code: 'APPROVAL_REQUIRED',
    failed_policy: 'requires_approval',
    approval_id: 'ap-1',
    trace_id: 't-3',
  });
  expect((err as Error).message).toContain('ap-1');
});

describe('fails closed: the handler does not run when the gateway cannot decide', () => {
  it.each([
    ['unreachable', 'http://127.0.0.1:9', undefined, /cannot be reached/],
    ['too slow', undefined, { ...AUTHORIZED, delayMs: 1000 }, /did not answer in time/],
    [
      '5xx',
      undefined,
      { status: 503, body: { error: { code: 'POLICY.DEPENDENCY_UNAVAILABLE' } } },
      /503 POLICY.DEPENDENCY_UNAVAILABLE/,
    ],
    [
      'not JSON',
      undefined,
      { status: 502, body: '<html>Bad gateway</html>' },
      /without a readable JSON body/,
    ],
  ])('%s', async (_, gatewayUrl, reply, reason) => {
    if (reply) answers['/api/sdk/authorize'] = [reply];
    // The stub answers the slow case after 1000 ms; only that case waits less than that.
    const { call, calls } = await serve(() => 'never', {
      ...(gatewayUrl ? { gatewayUrl } : {}),
      ...(_ === 'too slow' ? { timeoutMs: 300 } : {}),
    });
    const res = await call({ customer_id: 'c' });
    expect(res.isError).toBe(true);
    expect(res.structuredContent).toMatchObject({
      error: { code: 'GATEWAY.SERVICE_UNAVAILABLE' },
      failed_policy: 'gateway',
    });
    expect(text(res)).toMatch(reason);
    expect(calls).toEqual([]);
    expect(seen.filter((s) => s.path === '/api/sdk/complete')).toEqual([]);
  });
});

it('reports a handler error with its message masked, and answers it as an isError result', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED];
  answers['/api/sdk/complete'] = [RECORDED];
  const { call } = await serve(() => {
    throw new Error('no account for jane.doe@example.com');
  });
  const res = await call({ customer_id: 'c' });
  expect(res).toEqual({
    isError: true,
    content: [{ type: 'text', text: 'no account for ***@***.com' }],
    _meta: { 'securegateway/trace_id': 't-1', 'securegateway/audit_id': 'a-1' },
  });
  expect(seen[1]!.body).toMatchObject({ status: 'error', error: 'no account for ***@***.com' });
});

it('throws the handler error on as it was, outside McpServer', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED];
  answers['/api/sdk/complete'] = [RECORDED];
  const boom = new Error('database down');
  const run = governedHandler('x', () => Promise.reject(boom), { gateway: { url, apiKey: KEY } });
  await expect(run({}, {} as Extra)).rejects.toBe(boom);
});

it('retries a failed report once, and returns the result even when both fail', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED, AUTHORIZED];
  answers['/api/sdk/complete'] = [{ status: 503, body: {} }, RECORDED, { status: 503, body: {} }];
  const { call } = await serve(() => 'ok');
  expect(text(await call({ customer_id: 'c' }))).toBe('ok');
  expect(stderr).toEqual([]);
  const second = await call({ customer_id: 'c' });
  expect(second.isError).toBeFalsy();
  expect(text(second)).toBe('ok');
  expect(seen.map((s) => s.path)).toEqual([
    '/api/sdk/authorize',
    '/api/sdk/complete',
    '/api/sdk/complete',
    '/api/sdk/authorize',
    '/api/sdk/complete',
    '/api/sdk/complete',
  ]);
  expect(stderr).toHaveLength(1);
  expect(stderr[0]).toMatch(/the run of trace t-1 is not recorded \(its decision is\)/);
  expect(stderr.join('')).not.toContain(KEY);
});

it('does not retry a report the gateway refused for good', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED];
  answers['/api/sdk/complete'] = [
    { status: 404, body: { error: { code: 'SDK.GRANT_NOT_FOUND', message: 'no authorization' } } },
  ];
  const { call } = await serve(() => 'ok');
  expect(text(await call({ customer_id: 'c' }))).toBe('ok');
  expect(seen.filter((s) => s.path === '/api/sdk/complete')).toHaveLength(1);
  expect(stderr[0]).toContain('404 SDK.GRANT_NOT_FOUND');
});

it('reports a result larger than the gateway keeps by its size, so the report is not refused', async () => {
  answers['/api/sdk/authorize'] = [AUTHORIZED];
  answers['/api/sdk/complete'] = [RECORDED];
  const big = { rows: Array.from({ length: 5000 }, (_, i) => ({ id: i, note: 'x'.repeat(20) })) };
  const { call } = await serve(() => big);
  const res = await call({ customer_id: 'c' });
  expect((res.structuredContent as typeof big).rows).toHaveLength(5000);
  expect(seen[1]!.body.result).toEqual({ result_not_sent: true, result_bytes: expect.any(Number) });
});

it('keeps the API key out of every refusal', async () => {
  answers['/api/sdk/authorize'] = [
    {
      status: 401,
      body: { error: { code: 'AUTH.INVALID_KEY', message: 'unknown key' }, trace_id: 't-4' },
    },
  ];
  const { call } = await serve(() => 'never');
  const refused = await call({ customer_id: 'c' });
  expect(refused.structuredContent).toMatchObject({ failed_policy: 'authentication' });
  const unreachable = await (
    await serve(() => 'never', { gatewayUrl: 'http://127.0.0.1:9' })
  ).call({
    customer_id: 'c',
  });
  expect(JSON.stringify([refused, unreachable])).not.toContain(KEY);
});

it('refuses to start without a gateway URL or key, naming the setting', () => {
  expect(() => new GatewayClient({ url: 'http://gw', apiKey: '' })).toThrow(/SG_API_KEY/);
});
