// An example MCP server for SecureGateway's `mcp` upstreams, written with the official SDK.
// Plain Node, no build step:
//   node examples/mcp-server/server.mjs --http    Streamable HTTP on http://127.0.0.1:9001/mcp
//   node examples/mcp-server/server.mjs --stdio   MCP over stdin/stdout (a client spawns it)
// Environment: MCP_PORT (9001), MCP_HOST (127.0.0.1), MCP_REQUIRED_TOKEN (when set, HTTP
// requests must carry `Authorization: Bearer <token>`, else 401). See README.md beside this file.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const mode = process.argv.includes('--stdio')
  ? 'stdio'
  : process.argv.includes('--http')
    ? 'http'
    : null;
if (!mode) {
  process.stderr.write('usage: node examples/mcp-server/server.mjs --http | --stdio\n');
  process.exit(2);
}
const port = Number(process.env.MCP_PORT ?? 9001);
const host = process.env.MCP_HOST ?? '127.0.0.1';
const requiredToken = process.env.MCP_REQUIRED_TOKEN || undefined;

/** The notes live in memory, shared by every connection of this process. */
const notes = [
  {
    id: 1,
    title: 'Gateway rollout',
    body: 'Route every agent through SecureGateway before Friday.',
  },
  { id: 2, title: 'Key rotation', body: 'Rotate the model keys of the staging project.' },
  { id: 3, title: 'Lunch', body: 'Tacos on Thursday.' },
];

const sha = (text) => createHash('sha256').update(text).digest();
/** True when the header is exactly `Bearer <MCP_REQUIRED_TOKEN>` (constant-time compare). */
function bearerMatches(header) {
  if (!requiredToken || typeof header !== 'string') return false;
  return timingSafeEqual(sha(header), sha(`Bearer ${requiredToken}`));
}

const json = (value) => ({ content: [{ type: 'text', text: JSON.stringify(value) }] });

/** A new McpServer with the example tools; `headersOf(extra)` gives the HTTP request headers. */
function buildServer() {
  const server = new McpServer({ name: 'securegateway-example-notes', version: '0.1.0' });

  const note = z.object({ id: z.number().int(), title: z.string(), body: z.string() });
  server.registerTool(
    'notes.search',
    {
      description: 'Search the notes: a case-insensitive match on title and body.',
      inputSchema: {
        query: z.string().max(200),
        limit: z.number().int().min(1).max(50).optional(),
      },
      outputSchema: { notes: z.array(note) },
      annotations: { readOnlyHint: true },
    },
    async ({ query, limit }) => {
      const q = query.toLowerCase();
      const found = notes
        .filter((n) => n.title.toLowerCase().includes(q) || n.body.toLowerCase().includes(q))
        .slice(0, limit ?? 20);
      // structuredContent, plus its text form for clients that only read content.
      return { ...json({ notes: found }), structuredContent: { notes: found } };
    },
  );

  server.registerTool(
    'notes.add',
    {
      description: 'Add a note.',
      inputSchema: { title: z.string().min(1).max(200), body: z.string().max(10_000) },
    },
    async ({ title, body }) => {
      const added = { id: notes.length + 1, title, body };
      notes.push(added);
      return json({ added: true, id: added.id });
    },
  );

  server.registerTool(
    'notes.whoami',
    {
      description:
        'Tells whether the request carried the expected bearer token, as booleans only: the token itself is never echoed.',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    async (_args, extra) => {
      const authorization = extra.requestInfo?.headers?.authorization;
      return json({
        transport: mode,
        authorization_header: typeof authorization === 'string',
        authorized: bearerMatches(authorization),
      });
    },
  );

  server.registerTool(
    'notes.slow',
    {
      description: 'Waits `ms` milliseconds, then answers: for timeout tests.',
      inputSchema: { ms: z.number().int().min(0).max(60_000) },
      annotations: { readOnlyHint: true },
    },
    async ({ ms }, extra) => {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, ms);
        extra.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new Error('cancelled'));
        });
      });
      return json({ slept_ms: ms });
    },
  );

  return server;
}

if (mode === 'stdio') {
  // stdout carries the protocol: nothing else may be written to it.
  await buildServer().connect(new StdioServerTransport());
} else {
  // Stateless Streamable HTTP: a fresh server and transport for every POST, no sessions.
  const http = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"status":"ok"}');
    }
    if (path !== '/mcp') {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end('{"error":"not found"}');
    }
    if (requiredToken && !bearerMatches(req.headers.authorization)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
      return res.end(
        '{"jsonrpc":"2.0","error":{"code":-32001,"message":"missing or wrong bearer token"},"id":null}',
      );
    }
    if (req.method !== 'POST') {
      // Stateless: no standalone event stream (GET) and no session to end (DELETE).
      res.writeHead(405, { 'content-type': 'application/json', allow: 'POST' });
      return res.end(
        '{"jsonrpc":"2.0","error":{"code":-32000,"message":"method not allowed"},"id":null}',
      );
    }
    const server = buildServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      transport.close().catch(() => undefined);
      server.close().catch(() => undefined);
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res);
    } catch (err) {
      process.stderr.write(`mcp-server: ${err?.message ?? err}\n`);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error"},"id":null}');
      }
    }
  });
  http.listen(port, host, () => {
    process.stderr.write(
      `example MCP server on http://${host}:${port}/mcp${requiredToken ? ' (bearer token required)' : ''}\n`,
    );
  });
  const stop = () => {
    http.close(() => process.exit(0));
    http.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
