// Two complete gateways on one machine, gw-a and gw-b, each with its own ports, NATS subject
// prefix, Redis prefix, database schema and config dir, trusting each other in
// trusted_peers.yaml. Agents of gw-a call gw-b's tools through gw-a (forward_to, or
// `gw-b/<tool>`); every answer is checked as the agent sees it and in both audits.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { signRequest } from '@sg/runtime';
import { freePort, startUpstream, type TestUpstream, waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  auditRows,
  callRows,
  envelope,
  get,
  post,
  registerTool,
  startGateway,
  toolUpstreamUrl,
  type Answer,
  type Gateway,
} from './harness.js';

const PAIR_KEY = 'shared-key-of-gw-a-and-gw-b-7f3c9e1d';
let a: Gateway;
let b: Gateway;
let fedA: number;
let fedB: number;
let slowTools: TestUpstream;

function peersFile(self: string, peers: string[]): string {
  return [`self: ${self}`, 'max_hops: 2', 'peers:', ...peers, ''].join('\n');
}

beforeAll(async () => {
  fedA = await freePort();
  fedB = await freePort();
  const down = await freePort(); // nothing listens there: a peer that is down
  slowTools = await startUpstream(); // serves /slow/<ms>
  const env = { SECRET_PAIR_AB: PAIR_KEY, FEDERATION_PING_INTERVAL_MS: '500' };
  [a, b] = await Promise.all([
    startGateway({
      env: { ...env, FEDERATION_PORT: String(fedA) },
      configure: (c) => {
        c.write(
          'trusted_peers.yaml',
          peersFile('gw-a', [
            '  gw-b:',
            `    url: http://127.0.0.1:${fedB}/forward`,
            '    key_id: gw-a:gw-b',
            '    key: "{{secret:PAIR_AB}}"',
            '    timeout_ms: 1500',
            '    allow: { tools: ["calendar.*"] }',
            '  gw-down:',
            `    url: http://127.0.0.1:${down}/forward`,
            '    key_id: gw-a:gw-down',
            '    key: "{{secret:PAIR_AB}}"',
            '    timeout_ms: 1500',
            '    circuit_breaker: { failure_threshold: 2, reset_after_ms: 60000 }',
          ]),
        );
        // gw-a's own policy decides first: gw-b's calendar and reports tools, and nothing else of it.
        c.write(
          'policies/default.yaml',
          [
            'rules:',
            '  - model: gpt-4o',
            '    allow_tools: ["calendar.*", "gw-b/calendar.*", "gw-b/reports.*", "gw-b/slow.*", "gw-b/gw-a/*", "gw-down/*"]',
            '  - model: gw-b/gpt-4o',
            '    allow_tools: ["calendar.*"]',
            '',
          ].join('\n'),
        );
        c.write(
          'model_keys/default.yaml',
          [
            'models:',
            '  gpt-4o:',
            `    key: ${AGENT_KEY}`,
            '    tools: ["calendar.*", "gw-b/*", "gw-down/*"]',
            '',
          ].join('\n'),
        );
      },
    }),
    startGateway({
      env: { ...env, FEDERATION_PORT: String(fedB) },
      configure: (c) => {
        c.write(
          'trusted_peers.yaml',
          peersFile('gw-b', [
            '  gw-a:',
            `    url: http://127.0.0.1:${fedA}/forward`,
            '    key_id: gw-a:gw-b',
            '    key: "{{secret:PAIR_AB}}"',
            // gw-a/*: gw-b offers gw-a's own tools back to it, a loop that the via chain stops.
            '    allow: { tools: ["calendar.*", "db.*", "reports.*", "slow.*", "gw-a/*"] }',
          ]),
        );
        // gw-b is authoritative for its tools: gw-a's agents may list events, not read reports.
        c.write(
          'policies/default.yaml',
          'rules:\n  - model: gw-a/gpt-4o\n    allow_tools: ["calendar.*", "slow.*", "gw-a/*"]\n',
        );
        registerTool(c, 'reports.weekly');
        const slow = `${slowTools.url}/slow/4000`;
        c.write('tools/slow.op.json', {
          name: 'slow.op',
          description: 'answers after 4 s',
          input_schema: { type: 'object', properties: {} },
          upstream: { type: 'http', method: 'POST', url: slow, timeout_ms: 10_000 },
        });
        c.write('tools/calendar.create_event.json', {
          name: 'calendar.create_event',
          description: 'creates an event',
          input_schema: {
            type: 'object',
            properties: { title: { type: 'string', maxLength: 20 } },
            required: ['title'],
          },
          upstream: {
            type: 'http',
            method: 'POST',
            url: toolUpstreamUrl(c),
            timeout_ms: 5000,
          },
        });
      },
    }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop(), slowTools?.close()]);
});

function call(
  over: Record<string, unknown> = {},
  headers: Record<string, string> = {},
  traceId = `fed2-${randomUUID().slice(0, 12)}`,
): Promise<Answer & { traceId: string }> {
  return post(a, '/api/tools/call', envelope(over), {
    'X-API-Key': AGENT_KEY,
    'X-Trace-Id': traceId,
    ...headers,
  }).then((r) => ({ ...r, traceId }));
}

/** Rows of gw-b's audit under a trace id, now (none expected to come later). */
async function rowsAt(gw: Gateway, traceId: string) {
  const res = await gw.db.query('SELECT subject, data FROM audit_events WHERE trace_id = $1', [
    traceId,
  ]);
  return res.rows as Array<{ subject: string; data: Record<string, unknown> }>;
}

it("runs a call allowed on both sides at gw-b and answers gw-b's result, audited on both sides under one trace id", async () => {
  const res = await call({}, { forward_to: 'gw-b' });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({
    success: true,
    allowed: true,
    trace_id: res.traceId,
    decision: { allowed: true },
    remote_decision: {
      gateway: 'gw-b',
      http_status: 200,
      allowed: true,
      status: 'executed',
      decision: { allowed: true },
      trace_id: res.traceId,
    },
  });
  // gw-b's upstream ran it: its answer is the result, under both names.
  expect(res.body.result).toMatchObject({ calendar_id: 'primary' });
  expect(res.body.remote_decision.result).toEqual(res.body.result);
  const [mine] = await callRows(a, res.traceId, 1);
  expect(mine!.data).toMatchObject({
    channel: 'rest',
    agent_id: 'gpt-4o',
    tool: 'gw-b/calendar.list_events',
    outcome: 'allowed',
    http_status: 200,
  });
  const theirs = await auditRows(b, res.traceId, 2);
  expect(theirs.find((r) => r.subject === 'gw.evt.toolcall.completed.v1')!.data).toMatchObject({
    channel: 'federation',
    agent_id: 'gw-a/gpt-4o',
    tool: 'calendar.list_events',
    outcome: 'allowed',
  });
  expect(theirs.find((r) => r.subject === 'gw.evt.federation.received.v1')!.data).toMatchObject({
    peer: 'gw-a',
    via: ['gw-a'],
    hops: 1,
    original_decision: { allowed: true, policy_version: res.body.decision.policy_version },
  });
});

it('takes a peer tool named <peer>/<tool> the same way, and the header x-forward-to', async () => {
  const named = await call({ tool: 'gw-b/calendar.list_events' });
  expect(named.status).toBe(200);
  expect(named.body.remote_decision.gateway).toBe('gw-b');
  const aliased = await call({}, { 'x-forward-to': 'gw-b' });
  expect(aliased.status).toBe(200);
  expect(aliased.body.remote_decision.status).toBe('executed');
});

it("checks arguments against gw-b's catalogue schema at gw-a: a bad call never leaves gw-a", async () => {
  const res = await call(
    { tool: 'calendar.create_event', arguments: { title: 'x'.repeat(30) } },
    { forward_to: 'gw-b' },
  );
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe('POLICY.ARGUMENTS_INVALID');
  expect(res.body.remote_decision).toBeUndefined();
  await callRows(a, res.traceId, 1);
  expect(await rowsAt(b, res.traceId)).toEqual([]);
});

it('never sends a call that gw-a denies: gw-b has no trace of it', async () => {
  const res = await call({ tool: 'gw-b/db.write_sensitive', arguments: {} });
  expect(res.status).toBe(403);
  expect(res.body.error.code).toBe('POLICY.TOOL_NOT_ALLOWED');
  expect(res.body.remote_decision).toBeUndefined();
  const [row] = await callRows(a, res.traceId, 1);
  expect(row!.data).toMatchObject({ tool: 'gw-b/db.write_sensitive', outcome: 'denied' });
  // gw-b's audit would hold the call by now if it had been sent (its refusals are audited too).
  await new Promise((r) => setTimeout(r, 1000));
  expect(await rowsAt(b, res.traceId)).toEqual([]);
});

it("gives gw-a's agent gw-b's explanation when gw-b denies the call", async () => {
  const res = await call({ tool: 'reports.weekly' }, { forward_to: 'gw-b' });
  expect(res.status).toBe(403);
  expect(res.body).toMatchObject({
    success: false,
    allowed: false,
    decision: { allowed: true },
    error: { code: 'POLICY.TOOL_NOT_ALLOWED', details: { peer: 'gw-b' } },
    remote_decision: {
      gateway: 'gw-b',
      http_status: 403,
      allowed: false,
      status: 'refused',
      error: { code: 'POLICY.TOOL_NOT_ALLOWED' },
    },
  });
  expect(res.body.error.message).toMatch(/^gw-b: /);
  expect(res.body.remote_decision.decision.reason).toEqual(expect.any(String));
  expect(res.body.remote_decision.decision.rule_trace.length).toBeGreaterThan(0);
  const [mine] = await callRows(a, res.traceId, 1);
  expect(mine!.data).toMatchObject({ http_status: 403, code: 'POLICY.TOOL_NOT_ALLOWED' });
  const [theirs] = await callRows(b, res.traceId, 1);
  expect(theirs!.data).toMatchObject({ agent_id: 'gw-a/gpt-4o', outcome: 'denied' });
});

it('refuses forward_to set to a URL (400) or to an unknown peer (403), each audited at gw-a', async () => {
  for (const [target, status, code] of [
    ['http://127.0.0.1:9/forward', 400, 'FEDERATION.INVALID_TARGET'],
    ['evil.example.com:443', 400, 'FEDERATION.INVALID_TARGET'],
    ['gw-nobody', 403, 'FEDERATION.UNKNOWN_TARGET'],
  ] as const) {
    const res = await call({}, { forward_to: target });
    expect([res.status, res.body.error.code]).toEqual([status, code]);
    const [row] = await callRows(a, res.traceId, 1);
    expect(row!.data).toMatchObject({ http_status: status, code });
  }
});

it('answers 502 naming the peer when the peer is down, at once', async () => {
  const started = Date.now();
  const res = await call({ tool: 'gw-down/calendar.list_events' });
  expect(res.status).toBe(502);
  expect(res.body.error.code).toBe('FEDERATION.PEER_UNREACHABLE');
  expect(res.body.error.message).toContain('gw-down');
  expect(Date.now() - started).toBeLessThan(1500);
  const [row] = await callRows(a, res.traceId, 1);
  expect(row!.data).toMatchObject({ http_status: 502, code: 'FEDERATION.PEER_UNREACHABLE' });
});

it("opens a peer's circuit breaker after its failure_threshold, then answers 503 without calling it", async () => {
  // The call above was gw-down's first failure; this one is its second, which opens the breaker.
  const second = await call({ tool: 'gw-down/calendar.list_events' });
  expect([second.status, second.body.error.code]).toEqual([502, 'FEDERATION.PEER_UNREACHABLE']);
  const paused = await call({ tool: 'gw-down/calendar.list_events' });
  expect(paused.status).toBe(503);
  expect(paused.body.error).toMatchObject({
    code: 'FEDERATION.PEER_UNAVAILABLE',
    details: { peer: 'gw-down', retry_after_ms: expect.any(Number) },
  });
  expect(paused.body.error.message).toContain('gw-down');
  const [row] = await callRows(a, paused.traceId, 1);
  expect(row!.data).toMatchObject({ http_status: 503, code: 'FEDERATION.PEER_UNAVAILABLE' });
});

it("answers 504 naming the peer when gw-b is slower than gw-a's timeout for it", async () => {
  const started = Date.now();
  const res = await call({ tool: 'gw-b/slow.op' });
  expect(res.status).toBe(504);
  expect(res.body.error.code).toBe('FEDERATION.PEER_TIMEOUT');
  expect(res.body.error.message).toContain('gw-b');
  // gw-b's timeout_ms in gw-a's trusted_peers.yaml is 1500 ms; the tool takes 4 s.
  expect(Date.now() - started).toBeLessThan(3500);
  const [row] = await callRows(a, res.traceId, 1);
  expect(row!.data).toMatchObject({ http_status: 504, code: 'FEDERATION.PEER_TIMEOUT' });
});

it('stops a loop A→B→A at gw-b before it goes back, with its own code, audited there', async () => {
  // gw-b's catalogue offers gw-a's tools back to gw-a (one level deep): gw-a sends the call to
  // gw-b, gw-b would send it on to gw-a, whose id is already in the via chain.
  const res = await call({ tool: 'gw-b/gw-a/calendar.list_events' });
  expect(res.status).toBe(508);
  expect(res.body.error.code).toBe('FEDERATION.LOOP_DETECTED');
  expect(res.body.error.message).toMatch(/^gw-b: .*already crossed gw-a/);
  expect(res.body.remote_decision).toMatchObject({ gateway: 'gw-b', http_status: 508 });
  const [theirs] = await callRows(b, res.traceId, 1);
  expect(theirs!.data).toMatchObject({
    channel: 'federation',
    agent_id: 'gw-a/gpt-4o',
    tool: 'gw-a/calendar.list_events',
    code: 'FEDERATION.LOOP_DETECTED',
  });
  // gw-a holds the agent's call only: nothing came back in.
  await new Promise((r) => setTimeout(r, 500));
  const mine = (await rowsAt(a, res.traceId)).filter((r) => r.subject.includes('toolcall'));
  expect(mine.map((r) => r.data.channel)).toEqual(['rest']);
});

it('refuses at gw-a a call whose via chain already holds gw-a, with its own code, audited there', async () => {
  // What gw-b would send if it sent one of gw-a's calls back: gw-a is already in the via chain.
  const traceId = `fed2-loop-${randomUUID().slice(0, 8)}`;
  const url = `http://127.0.0.1:${fedA}/forward`;
  const body = JSON.stringify({
    project: 'default',
    agent_id: 'gw-a/gpt-4o',
    session_id: 's-loop',
    request_id: `r-${randomUUID()}`,
    tool: 'calendar.list_events',
    arguments: {},
    original_decision: { allowed: true },
    via: ['gw-a', 'gw-b'],
    hops: 2,
  });
  const signed = await signRequest(
    { method: 'POST', url, body },
    { keyId: 'gw-a:gw-b', alg: 'hmac-sha256', key: PAIR_KEY },
    { nonce: randomUUID() },
  );
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gateway-id': 'gw-b',
      'x-trace-id': traceId,
      ...signed,
    },
    body,
  });
  expect(res.status).toBe(508);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
    'FEDERATION.LOOP_DETECTED',
  );
  const [row] = await callRows(a, traceId, 1);
  expect(row!.data).toMatchObject({ channel: 'federation', code: 'FEDERATION.LOOP_DETECTED' });
});

it("lists gw-b's tools that gw-a's policy allows in gw-a's MCP tools/list, and calls them", async () => {
  const transport = new StreamableHTTPClientTransport(new URL(`${a.url}/mcp`), {
    requestInit: { headers: { 'X-API-Key': AGENT_KEY } },
  });
  const client = new Client({ name: 'e2e-federation', version: '1.0.0' });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'calendar.list_events',
        'gw-b/calendar.list_events',
        'gw-b/calendar.create_event',
        'gw-b/reports.weekly',
      ]),
    );
    // Offered by gw-b, but gw-a's policy does not allow it: not listed.
    expect(names).not.toContain('gw-b/db.write_sensitive');
    const create = tools.find((t) => t.name === 'gw-b/calendar.create_event')!;
    expect(create.inputSchema).toMatchObject({ required: ['title'] });
    const result = await client.callTool({
      name: 'gw-b/calendar.list_events',
      arguments: {},
    });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ calendar_id: 'primary' });
  } finally {
    await client.close();
  }
});

it("reports each peer's health from its signed pings", async () => {
  const report = await waitFor(
    async () => {
      const res = await get(a, '/api/federation/peers', { 'X-Admin-Key': ADMIN_KEY });
      const peers = (res.body.peers ?? []) as Array<{ peer: string; state: string }>;
      return peers.every((p) => p.state !== 'unknown') && peers.length === 2 ? res : undefined;
    },
    10_000,
    'both peers pinged',
  );
  expect(report.status).toBe(200);
  expect(report.body.self).toBe('gw-a');
  const byId = Object.fromEntries(
    (report.body.peers as Array<Record<string, unknown>>).map((p) => [p.peer, p]),
  );
  expect(byId['gw-b']).toMatchObject({ state: 'up', latency_ms: expect.any(Number) });
  expect(byId['gw-down']).toMatchObject({
    state: 'down',
    breaker: 'open',
    error: expect.any(String),
  });
  const denied = await get(a, '/api/federation/peers');
  expect(denied.status).toBe(401);
  // The same, and every call to a peer by outcome, in the federation service's metrics.
  const metrics = await (await fetch(`http://127.0.0.1:${fedA}/metrics`)).text();
  expect(metrics).toMatch(/^sg_peer_up\{peer="gw-b"\} 1$/m);
  expect(metrics).toMatch(/^sg_peer_up\{peer="gw-down"\} 0$/m);
  expect(metrics).toMatch(
    /^sg_peer_request_duration_seconds_count\{peer="gw-b",outcome="ok"\} [1-9]/m,
  );
  expect(metrics).toMatch(
    /^sg_peer_request_duration_seconds_count\{peer="gw-b",outcome="FEDERATION.PEER_TIMEOUT"\} 1$/m,
  );
  expect(metrics).toMatch(/^sg_peer_breaker_state\{peer="gw-b"\} 0$/m);
});

it("leaves the pair's key in neither gateway's logs nor database", async () => {
  for (const gw of [a, b]) {
    expect(readFileSync(gw.logFile, 'utf8')).not.toContain(PAIR_KEY);
    const res = await gw.db.query(
      'SELECT count(*)::int AS n FROM audit_events WHERE data::text LIKE $1',
      [`%${PAIR_KEY}%`],
    );
    expect(res.rows[0].n).toBe(0);
  }
});
