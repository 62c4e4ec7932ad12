// The governed-tool SDK (@sg/sdk) against the real gateway: examples/governed-mcp-server runs its
// tools in this process, and every call is decided, masked and audited through the gateway.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ROOT } from '../../../scripts/stack.mjs';
import { auditRows, callRows, startGateway, type Gateway } from './harness.js';

const EXAMPLE = join(ROOT, 'examples/governed-mcp-server');
const SERVER_KEY = 'governed-server-key-01';
const NO_PII_KEY = 'governed-nopii-key-001';

let gw: Gateway;
const servers: Server[] = [];
const clients: Client[] = [];

type Listen = (o: { port: number; gateway: Record<string, unknown> }) => Promise<Server>;

beforeAll(async () => {
  gw = await startGateway({
    configure: (c) => {
      for (const t of ['customers.get_profile', 'customers.count'])
        c.write(`tools/${t}.json`, readFileSync(join(EXAMPLE, 'tools', `${t}.json`), 'utf8'));
      c.write(
        'model_keys/default.yaml',
        [
          'models:',
          '  crm-server:',
          `    key: ${SERVER_KEY}`,
          '    tenants: [acme]',
          '    permissions: [PII_READ]',
          '  crm-server-nopii:',
          `    key: ${NO_PII_KEY}`,
          '    tenants: [acme]',
          '',
        ].join('\n'),
      );
      c.write(
        'policies/default.yaml',
        'rules:\n  - model: "*"\n    allow_tools: ["customers.*"]\n',
      );
    },
  });
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const s of servers) await new Promise((r) => s.close(r));
  await gw?.stop();
});

/** The example server, governed through this gateway with `key`, and a client connected to it. */
async function connect(key: string): Promise<Client> {
  const { listen } = (await import(pathToFileURL(join(EXAMPLE, 'server.mjs')).href)) as {
    listen: Listen;
  };
  const server = await listen({ port: 0, gateway: { url: gw.url, apiKey: key } });
  servers.push(server);
  const port = (server.address() as AddressInfo).port;
  const client = new Client({ name: 'sdk-e2e', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)));
  clients.push(client);
  return client;
}

const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;

it('runs an allowed call in its own server, masked, and audits the decision and the run', async () => {
  const client = await connect(SERVER_KEY);
  const res = (await client.callTool({
    name: 'customers.get_profile',
    arguments: { customer_id: 'c-100', tenant_id: 'acme' },
  })) as CallToolResult;
  expect(res.isError).toBeFalsy();
  expect(res.structuredContent).toMatchObject({
    found: true,
    email: '***@***.com',
    phone: '(***) ***-3070',
  });
  expect(text(res)).not.toContain('jane.doe');
  const traceId = res._meta?.['securegateway/trace_id'] as string;
  const rows = await callRows(gw, traceId, 2);
  const completed = rows.find((r) => r.subject === 'gw.evt.toolcall.completed.v1')!;
  const executed = rows.find((r) => r.subject === 'gw.evt.toolcall.executed.v1')!;
  expect(completed.data).toMatchObject({
    channel: 'sdk',
    agent_id: 'crm-server',
    tool: 'customers.get_profile',
    outcome: 'allowed',
    user_id: 'default_user',
  });
  expect(executed.data).toMatchObject({ status: 'ok', tool: 'customers.get_profile' });
  expect(JSON.stringify(executed.data)).not.toContain('jane.doe');
});

it('refuses a tenant the server is not granted, with the reason and the trace id, without running', async () => {
  const client = await connect(SERVER_KEY);
  const res = (await client.callTool({
    name: 'customers.get_profile',
    arguments: { customer_id: 'c-200', tenant_id: 'globex' },
  })) as CallToolResult;
  expect(res.isError).toBe(true);
  expect(text(res)).toMatch(/^SecureGateway refused the call \(POLICY\.TENANT_NOT_GRANTED\)/);
  expect(res.structuredContent).toMatchObject({ failed_policy: 'tenant_access' });
  const traceId = (res.structuredContent as { trace_id: string }).trace_id;
  expect(text(res)).toContain(traceId);
  const rows = await auditRows(gw, traceId, 1);
  expect(rows.map((r) => r.subject)).not.toContain('gw.evt.toolcall.executed.v1');
});

it('refuses personal data to a server without PII_READ, and lets it call the other tool', async () => {
  const client = await connect(NO_PII_KEY);
  const profile = (await client.callTool({
    name: 'customers.get_profile',
    arguments: { customer_id: 'c-100', tenant_id: 'acme' },
  })) as CallToolResult;
  expect(profile.structuredContent).toMatchObject({
    error: { code: 'POLICY.PII_NOT_GRANTED' },
    failed_policy: 'pii_permission',
  });
  const count = (await client.callTool({
    name: 'customers.count',
    arguments: { tenant_id: 'acme' },
  })) as CallToolResult;
  expect(count.structuredContent).toEqual({ tenant_id: 'acme', customers: 1 });
});

it('has the gateway check a tenant sent in _meta, and gives the handler that tenant', async () => {
  const client = await connect(SERVER_KEY);
  const count = (tenant?: string) =>
    client.callTool({
      name: 'customers.count',
      arguments: {},
      ...(tenant ? { _meta: { 'securegateway/tenant_id': tenant } } : {}),
    }) as Promise<CallToolResult>;
  expect((await count('acme')).structuredContent).toEqual({ tenant_id: 'acme', customers: 1 });
  expect((await count('globex')).structuredContent).toMatchObject({
    error: { code: 'POLICY.TENANT_NOT_GRANTED' },
    failed_policy: 'tenant_access',
  });
  expect((await count()).structuredContent).toMatchObject({ failed_policy: 'tenant_access' });
});
