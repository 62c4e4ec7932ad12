// A governed MCP server (seed 003): its tools run here, in this process, and every call is
// first decided by SecureGateway's policy, its result masked and its run audited there.
//
//   npx nx run sdk:build
//   SG_GATEWAY_URL=http://127.0.0.1:8080 SG_API_KEY=<this server's agent key> \
//     node examples/governed-mcp-server/server.mjs        # Streamable HTTP on 127.0.0.1:9002/mcp
//
// Variables: GOVERNED_PORT (9002), GOVERNED_HOST (127.0.0.1), SG_GATEWAY_URL, SG_API_KEY,
// SG_PROJECT_ID. See README.md.
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { GatewayClient, governed } from '@sg/sdk';
import { z } from 'zod';

const CUSTOMERS = {
  'c-100': {
    customer_id: 'c-100',
    tenant_id: 'acme',
    name: 'Jane Doe',
    email: 'jane.doe@example.com',
    phone: '(415) 692-3070',
    plan: 'enterprise',
  },
  'c-200': {
    customer_id: 'c-200',
    tenant_id: 'globex',
    name: 'John Roe',
    email: 'john.roe@example.org',
    phone: '(212) 555-0199',
    plan: 'starter',
  },
};

/** One McpServer with the governed tools (a new one per stateless HTTP request). */
export function governedServer(gateway) {
  const server = new McpServer({ name: 'governed-example', version: '1.0.0' });
  governed(
    server,
    'customers.get_profile',
    {
      description: "A customer's profile, contact details included (personal data).",
      inputSchema: {
        customer_id: z.string(),
        tenant_id: z.string(),
        user_id: z.string().optional(),
      },
    },
    async ({ customer_id, tenant_id }) => {
      const c = CUSTOMERS[customer_id];
      if (!c || c.tenant_id !== tenant_id) return { found: false };
      return { found: true, ...c };
    },
    { requiresPii: true, sensitivity: 'standard', gateway },
  );
  // The tenant may also come in the request's _meta (securegateway/tenant_id): the SDK has the
  // gateway check it as the tenant_id argument, and hands it to the handler in ctx.
  governed(
    server,
    'customers.count',
    {
      description: 'How many customers a tenant has.',
      inputSchema: { tenant_id: z.string().optional() },
    },
    async (_args, ctx) => ({
      tenant_id: ctx.tenant_id,
      customers: Object.values(CUSTOMERS).filter((c) => c.tenant_id === ctx.tenant_id).length,
    }),
    { gateway },
  );
  return server;
}

/** Serves the governed tools over Streamable HTTP (stateless: one server per POST). */
export function listen({ port, host = '127.0.0.1', gateway } = {}) {
  // One client for every request; made now, so that a missing SG_GATEWAY_URL or SG_API_KEY
  // stops the server at start rather than failing its first call.
  const client = new GatewayClient(gateway);
  const http = createServer(async (req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"status":"ok"}');
    }
    if (req.url !== '/mcp' || req.method !== 'POST') {
      res.writeHead(405, { 'content-type': 'application/json' });
      return res.end('{"error":"POST /mcp"}');
    }
    const server = governedServer(client);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  return new Promise((resolve) => http.listen(port, host, () => resolve(http)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.GOVERNED_PORT ?? 9002);
  const host = process.env.GOVERNED_HOST ?? '127.0.0.1';
  await listen({ port, host });
  console.log(`governed MCP server on http://${host}:${port}/mcp`);
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
}
