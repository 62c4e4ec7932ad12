import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startUpstream, waitFor, type TestUpstream } from '@sg/testing';
import { ROOT } from '../../../scripts/stack.mjs';
import { ADMIN_KEY, envelope, get, post, startGateway, type Gateway } from './harness.js';

// The executor end to end: a real MCP server (examples/mcp-server, written with the MCP SDK)
// reached with an injected secret, and the protections a caller sees as status codes.
const MCP_TOKEN = 'mcp-token-5f3a9c1e7b2d4f60';
const HTTP_SECRET = 'upstream-key-8e1d2c3b4a5f6079';
const KEY = 'free-agent-key-0001';
let gw: Gateway;
let mcp: ChildProcess;
let mcpPort: number;
let deadPort: number;
let echo: TestUpstream;

const call = (tool: string, args: Record<string, unknown> = {}) =>
  post(gw, '/api/tools/call', envelope({ agent_id: 'free-agent', tool, arguments: args }), {
    'X-API-Key': KEY,
  });

beforeAll(async () => {
  echo = await startUpstream();
  mcpPort = await freePort();
  deadPort = await freePort();
  mcp = spawn(process.execPath, [join(ROOT, 'examples/mcp-server/server.mjs'), '--http'], {
    env: { ...process.env, MCP_PORT: String(mcpPort), MCP_REQUIRED_TOKEN: MCP_TOKEN },
    stdio: 'ignore',
  });
  await waitFor(
    async () => ((await fetch(`http://127.0.0.1:${mcpPort}/health`)).ok ? true : undefined),
    10_000,
    'the MCP server',
  );
  const mcpTool = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    input_schema: {
      type: 'object',
      properties: { query: { type: 'string' }, ms: { type: 'integer' } },
    },
    upstream: {
      type: 'mcp',
      transport: 'streamable_http',
      url: `http://127.0.0.1:${mcpPort}/mcp`,
      headers: { authorization: 'Bearer {{secret:MCP_TOKEN}}' },
      ...extra,
    },
  });
  gw = await startGateway({
    env: { SECRET_MCP_TOKEN: MCP_TOKEN, SECRET_UPSTREAM_KEY: HTTP_SECRET },
    configure: (c) => {
      c.write('policies/default.yaml', 'rules:\n  - model: free-agent\n    allow_tools: ["*"]\n');
      c.write(
        'model_keys/default.yaml',
        `models:\n  free-agent:\n    key: ${KEY}\n  gpt-4o:\n    key: modelkey-abc123\n`,
      );
      c.write('tools/notes.search.json', mcpTool('notes.search'));
      c.write('tools/notes.slow.json', mcpTool('notes.slow', { timeout_ms: 300 }));
      // Pinned to a description and schema the server does not advertise (a changed server).
      c.write(
        'tools/notes.pinned.json',
        mcpTool('notes.pinned', { remote_tool: 'notes.search', pin_sha256: 'c'.repeat(64) }),
      );
      c.write('tools/notes.unauthorized.json', {
        ...mcpTool('notes.unauthorized', { remote_tool: 'notes.search' }),
        upstream: {
          ...mcpTool('x').upstream,
          remote_tool: 'notes.search',
          headers: { authorization: 'Bearer {{secret:NO_SUCH_SECRET}}' },
        },
      });
      const calendarUrl = JSON.parse(
        readFileSync(join(c.dir, 'tools/calendar.list_events.json'), 'utf8'),
      ).upstream.url as string;
      c.write('tools/cal.with_key.json', {
        name: 'cal.with_key',
        upstream: {
          type: 'http',
          url: calendarUrl,
          headers: { 'x-upstream-key': '{{secret:UPSTREAM_KEY}}' },
        },
      });
      c.write('tools/meta.steal.json', {
        name: 'meta.steal',
        upstream: { type: 'http', url: 'http://169.254.169.254/latest/meta-data/' },
      });
      const echoTool = (name: string, pii_masking: Record<string, unknown> = {}) =>
        c.write(`tools/${name}.json`, {
          name,
          input_schema: {
            type: 'object',
            properties: { note: { type: 'string' }, contact: { type: 'string' } },
          },
          pii_masking,
          upstream: { type: 'http', url: `${echo.url}/tools/${name}` },
        });
      echoTool('echo.standard');
      echoTool('echo.strict', { level: 'strict' });
      echoTool('echo.allowed', { allow_fields: ['contact'] });
      c.write('tools/dead.tool.json', {
        name: 'dead.tool',
        upstream: {
          type: 'http',
          url: `http://127.0.0.1:${deadPort}/x`,
          circuit_breaker: { failure_threshold: 2, reset_after_ms: 60_000 },
        },
      });
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  mcp?.kill('SIGKILL');
  await echo?.close();
});

describe('PII masking of results', () => {
  const note =
    'Reach ana@example.com or call (555) 123-4567; SSN 123-45-6789; card 4111 1111 1111 1111; bad card 4111 1111 1111 1112';

  it('masks validated PII at the standard level, keeping last 4 where the seed does, and reports counts only', async () => {
    const res = await call('echo.standard', { note });
    expect(res.status).toBe(200);
    const masked = res.body.result.echo.note as string;
    expect(masked).not.toContain('ana@example.com');
    expect(masked).toContain('***-**-6789');
    expect(masked).toContain('4111 1111 1111 1112'); // fails Luhn: not a card, left alone
    expect(masked).not.toContain('4111 1111 1111 1111');
    const rows = await waitFor(
      async () => {
        const r = await gw.db.query(
          "SELECT data FROM audit_events WHERE subject = 'gw.evt.toolcall.completed.v1' AND trace_id = $1",
          [res.body.trace_id],
        );
        return r.rows.length ? r.rows : undefined;
      },
      10_000,
      'the completed event',
    );
    const masking = rows[0].data.execution.masking;
    expect(masking).toMatchObject({
      level: 'standard',
      masked: { email: 1, ssn: 1, credit_card: 1 },
    });
    expect(masking.rejected.credit_card).toBe(1);
    expect(JSON.stringify(rows[0].data)).not.toContain('123-45-6789');
  });

  it('masks fully at the strict level', async () => {
    const res = await call('echo.strict', { note });
    expect(res.body.result.echo.note).not.toContain('6789');
  });

  it('leaves allowlisted fields as they are', async () => {
    const res = await call('echo.allowed', { contact: 'ana@example.com', note: 'ana@example.com' });
    expect(res.body.result.echo.contact).toBe('ana@example.com');
    expect(res.body.result.echo.note).not.toContain('ana@example.com');
  });
});

it('calls a real MCP server over Streamable HTTP with the injected secret header', async () => {
  const res = await call('notes.search', { query: 'gateway' });
  expect(res.status).toBe(200);
  expect(res.body.result).toHaveProperty('notes');
});

it('calls an HTTP upstream with an injected secret header', async () => {
  const res = await call('cal.with_key');
  expect(res.status).toBe(200);
  expect(res.body.result.events.length).toBeGreaterThan(0);
});

it.each([
  ['a secret the provider does not have', 'notes.unauthorized', {}, 503, 'EXECUTOR.SECRET_MISSING'],
  ['a cloud-metadata address in the registry', 'meta.steal', {}, 403, 'EXECUTOR.SSRF_REFUSED'],
  [
    'an upstream slower than its timeout',
    'notes.slow',
    { ms: 3000 },
    504,
    'EXECUTOR.UPSTREAM_TIMEOUT',
  ],
])('answers %s with its code', async (_label, tool, args, status, code) => {
  const res = await call(tool, args);
  expect(res.status).toBe(status);
  expect(res.body.error.code).toBe(code);
  expect(JSON.stringify(res.body)).not.toContain('169.254.169.254/latest');
});

it('opens the breaker after repeated failures and answers 503 without calling', async () => {
  expect((await call('dead.tool')).body.error.code).toBe('EXECUTOR.UPSTREAM_UNREACHABLE');
  expect((await call('dead.tool')).body.error.code).toBe('EXECUTOR.UPSTREAM_UNREACHABLE');
  const open = await call('dead.tool');
  expect(open.status).toBe(503);
  expect(open.body.error.code).toBe('EXECUTOR.CIRCUIT_OPEN');
});

it('leaves no secret value in PostgreSQL or in any service log', async () => {
  await new Promise((r) => setTimeout(r, 1500));
  for (const secret of [MCP_TOKEN, HTTP_SECRET]) {
    const rows = await gw.db.query(
      'SELECT count(*)::int AS n FROM audit_events WHERE data::text LIKE $1',
      [`%${secret}%`],
    );
    expect(rows.rows[0]).toEqual({ n: 0 });
    expect(readFileSync(gw.logFile, 'utf8')).not.toContain(secret);
  }
  const all = await gw.db.query('SELECT count(*)::int AS n FROM audit_events');
  expect(all.rows[0].n).toBeGreaterThan(10);
});

it('refuses a pinned MCP tool whose server advertises something else, and raises tool_drift', async () => {
  const res = await call('notes.pinned', { query: 'x' });
  expect(res.status).toBe(409);
  expect(res.body.error.code).toBe('EXECUTOR.TOOL_PIN_MISMATCH');
  expect(res.body.error.message).toMatch(/import-mcp-tools/);
  const alert = await waitFor(
    async () => {
      const listed = await get(gw, '/api/alerts?type=tool_drift', { 'X-Admin-Key': ADMIN_KEY });
      return listed.body.alerts?.[0] as Record<string, unknown> | undefined;
    },
    15_000,
    'the tool_drift alert',
  );
  expect(alert).toMatchObject({ type: 'tool_drift', severity: 'high', tool: 'notes.pinned' });
  expect(alert.trace_ids).toContain(res.body.trace_id);
});
