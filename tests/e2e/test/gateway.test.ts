import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { TEST_SERVERS, waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  auditRows,
  envelope,
  get,
  post,
  startGateway,
  type Gateway,
} from './harness.js';

let gw: Gateway;
const auth = { 'X-API-Key': AGENT_KEY };

beforeAll(async () => {
  gw = await startGateway({
    configure: (c) =>
      c.write(
        'policies/limited.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\nrate_limits:\n  agent: { limit: 2, window_s: 60 }\n',
      ),
  });
});

afterAll(async () => {
  await gw?.stop();
});

describe('an allowed call', () => {
  it('returns the upstream result and leaves every step in PostgreSQL under one trace_id', async () => {
    const res = await post(
      gw,
      '/api/tools/call',
      envelope({ arguments: { from: '2026-11-24' } }),
      auth,
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      success: true,
      allowed: true,
      decision: { allowed: true },
      risk_score: 0,
    });
    expect(res.body.result.events.map((e: { id: string }) => e.id)).toEqual(['evt-2', 'evt-3']);
    expect(res.body.decision.reason).toMatch(/allow_tools/);
    expect(res.body.decision.rule_trace.length).toBeGreaterThanOrEqual(5);
    expect(res.headers.get('x-trace-id')).toBe(res.body.trace_id);

    // The gateway's first call also introduces its agent and tool: two first-seen alerts, in its trace.
    const all = await auditRows(gw, res.body.trace_id, 3);
    const alerts = all.filter((r) => r.subject === 'gw.evt.alert.raised.v1');
    expect(alerts.map((r) => `${r.source}:${r.data.type}:${r.data.key}`).sort()).toEqual([
      'audit:new_agent:gpt-4o',
      'audit:new_tool:calendar.list_events',
    ]);
    // One record of the call: the answer with the call, its decision (ADR 0010) and its run,
    // published by the executor before it answered (ADR 0011).
    const rows = all.filter((r) => r.subject !== 'gw.evt.alert.raised.v1');
    expect(rows.map((r) => `${r.source}:${r.subject}`)).toEqual([
      'executor:gw.evt.toolcall.completed.v1',
    ]);
    expect(rows[0]!.event_id).toBe(res.body.audit_id);
    expect(rows[0]!.data).toMatchObject({
      outcome: 'allowed',
      http_status: 200,
      code: null,
      agent_id: 'gpt-4o',
      agent_version: '1.0.0',
      arguments: { from: '2026-11-24' },
      decision: {
        allowed: true,
        reason: res.body.decision.reason,
        rule_trace: res.body.decision.rule_trace,
        policy_version: res.body.decision.policy_version,
      },
      execution: { status: 'ok', upstream_status: 200, error_code: null, result: res.body.result },
    });
  });

  it('works in the /mcp/toolcall shape, keeping the caller trace id', async () => {
    const res = await post(
      gw,
      '/mcp/toolcall',
      {
        model_id: 'gpt-4o',
        session_id: 'sess-1',
        tool: 'calendar.list_events',
        input: { limit: 1 },
      },
      { Authorization: `Bearer ${AGENT_KEY}`, 'X-Trace-Id': 'e2e-trace-mcp-0001' },
    );
    expect(res.status).toBe(200);
    expect(res.body.trace_id).toBe('e2e-trace-mcp-0001');
    expect(res.body.result.events).toHaveLength(1);
  });

  it('is returned by the trace endpoint, in order, to an admin only', async () => {
    const call = await post(gw, '/api/tools/call', envelope(), auth);
    await auditRows(gw, call.body.trace_id, 1);
    const trace = await get(gw, `/api/trace/${call.body.trace_id}`, { 'X-Admin-Key': ADMIN_KEY });
    expect(trace.status).toBe(200);
    expect(trace.body.events.map((e: { subject: string }) => e.subject)).toEqual([
      'gw.evt.toolcall.completed.v1',
    ]);
    // The whole story in one event: what was asked, the decision with its explanation, the result.
    expect(trace.body.events[0].data).toMatchObject({
      arguments: {},
      decision: {
        allowed: true,
        rule_trace: call.body.decision.rule_trace,
        reasoning: call.body.decision.reasoning,
      },
    });
    expect(trace.body.events[0].data.execution.result).toEqual(call.body.result);
    const noKey = await get(gw, `/api/trace/${call.body.trace_id}`);
    expect(noKey).toMatchObject({
      status: 401,
      body: { error: { code: 'AUTH.ADMIN_KEY_REQUIRED' } },
    });
    const agentKey = await get(gw, `/api/trace/${call.body.trace_id}`, {
      'X-Admin-Key': AGENT_KEY,
    });
    expect(agentKey.status).toBe(401);
    const unknown = await get(gw, '/api/trace/ffffffffffffffffffffffffffffffff', {
      'X-Admin-Key': ADMIN_KEY,
    });
    expect(unknown).toMatchObject({
      status: 404,
      body: { error: { code: 'AUDIT.TRACE_NOT_FOUND' } },
    });
    const bad = await get(gw, '/api/trace/bad%20id', { 'X-Admin-Key': ADMIN_KEY });
    expect(bad).toMatchObject({
      status: 400,
      body: { error: { code: 'REQUEST.INVALID_TRACE_ID' } },
    });
  });
});

describe('each refusal answers its status and code, and is audited', () => {
  const cases: Array<
    [string, () => { body: unknown; headers?: Record<string, string> }, number, string]
  > = [
    [
      'a tool not in the registry',
      () => ({ body: envelope({ tool: 'shell.exec' }) }),
      403,
      'POLICY.TOOL_NOT_REGISTERED',
    ],
    [
      'a tool not allowed for the model',
      () => ({
        body: envelope({ tool: 'db.write_sensitive', arguments: { table: 't', record: {} } }),
      }),
      403,
      'POLICY.TOOL_NOT_ALLOWED',
    ],
    [
      'arguments failing the schema',
      () => ({ body: envelope({ arguments: { limit: 'all', extra: true } }) }),
      400,
      'POLICY.ARGUMENTS_INVALID',
    ],
    [
      'a bad key',
      () => ({ body: envelope(), headers: { 'X-API-Key': 'not-the-key-123' } }),
      401,
      'AUTH.INVALID_KEY',
    ],
    ['no key', () => ({ body: envelope(), headers: { 'X-API-Key': '' } }), 401, 'AUTH.MISSING_KEY'],
    [
      'another agent’s id',
      () => ({ body: envelope({ agent_id: 'claude' }) }),
      403,
      'AUTH.IDENTITY_MISMATCH',
    ],
    [
      'a body missing fields',
      () => ({ body: { tool: 'calendar.list_events' } }),
      400,
      'REQUEST.INVALID_BODY',
    ],
    ['a body that is not JSON', () => ({ body: '{"agent_id": ' }), 400, 'REQUEST.INVALID_JSON'],
    [
      'a body over the size limit',
      () => ({ body: envelope({ arguments: { calendar_id: 'x'.repeat(300_000) } }) }),
      413,
      'REQUEST.TOO_LARGE',
    ],
    [
      'a body nested 20,000 levels deep',
      () => ({ body: '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000) }),
      400,
      'REQUEST.JSON_TOO_DEEP',
    ],
    [
      'a body with more keys than JSON_MAX_KEYS',
      () => ({
        body: envelope({
          arguments: Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, 1])),
        }),
      }),
      400,
      'REQUEST.JSON_TOO_MANY_KEYS',
    ],
    [
      'a string longer than JSON_MAX_STRING',
      () => ({ body: envelope({ arguments: { calendar_id: 'x'.repeat(140_000) } }) }),
      400,
      'REQUEST.JSON_STRING_TOO_LONG',
    ],
    ['a JSON string for a body', () => ({ body: '"x"' }), 400, 'REQUEST.INVALID_BODY'],
    [
      'a body with a __proto__ key',
      () => ({ body: '{"agent_id":"gpt-4o","__proto__":{"admin":true}}' }),
      400,
      'REQUEST.INVALID_JSON',
    ],
    ['a JSON array for a body', () => ({ body: '[1]' }), 400, 'REQUEST.INVALID_BODY'],
    ['JSON null for a body', () => ({ body: 'null' }), 400, 'REQUEST.INVALID_BODY'],
    [
      'a body that is not JSON at all',
      () => ({ body: 'hello', headers: { 'content-type': 'text/plain' } }),
      415,
      'REQUEST.UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a traversal project id',
      () => ({ body: envelope(), headers: { 'X-Project-ID': '../../etc/passwd' } }),
      400,
      'REQUEST.INVALID_PROJECT',
    ],
  ];

  it.each(cases)('%s', async (_label, make, status, code) => {
    const { body, headers } = make();
    const res = await post(gw, '/api/tools/call', body, { ...auth, ...headers });
    expect(res.status).toBe(status);
    expect(res.body.success).toBe(false);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message.length).toBeGreaterThan(15);
    expect(JSON.stringify(res.body)).not.toMatch(/at .+\.(js|ts):\d+/); // no stack trace
    if (code.startsWith('POLICY.')) {
      expect(res.body.decision).toMatchObject({ allowed: false });
      expect(res.body.decision.suggestions.length).toBeGreaterThan(0);
    }
    // The answer's own event (its id is the audit_id), whenever it lands among the call's events.
    const completed = await waitFor(
      async () =>
        (await auditRows(gw, res.body.trace_id, 1)).find((r) => r.event_id === res.body.audit_id),
      15_000,
      'the completed event',
    );
    expect(completed.data).toMatchObject({ http_status: status, code });
  });

  it('answers 429 with Retry-After once the agent exceeds its rate limit', async () => {
    const headers = { ...auth, 'X-Project-ID': 'limited' };
    expect((await post(gw, '/api/tools/call', envelope(), headers)).status).toBe(200);
    expect((await post(gw, '/api/tools/call', envelope(), headers)).status).toBe(200);
    const limited = await post(gw, '/api/tools/call', envelope(), headers);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('POLICY.RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // A 429 is not remembered as the answer to its request_id: a retry is decided again.
    const retry = await post(
      gw,
      '/api/tools/call',
      { ...envelope(), request_id: 'retry-after-429' },
      headers,
    );
    expect(retry.status).toBe(429);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    const retryAgain = await post(
      gw,
      '/api/tools/call',
      { ...envelope(), request_id: 'retry-after-429' },
      headers,
    );
    expect(retryAgain.headers.get('idempotent-replayed')).toBeNull();
  });

  it('answers an unknown route with 404 and a code', async () => {
    const res = await get(gw, '/api/nothing-here');
    expect(res).toMatchObject({ status: 404, body: { error: { code: 'REQUEST.NOT_FOUND' } } });
  });
});

describe('idempotency', () => {
  it('answers a repeated request_id with the first answer, running the tool once', async () => {
    const call = envelope({ arguments: { limit: 1 } });
    const first = await post(gw, '/api/tools/call', call, auth);
    const again = await post(gw, '/api/tools/call', call, auth);
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    const { audit_id: firstAudit, ...firstRest } = first.body;
    const { audit_id: againAudit, replay_of, ...againRest } = again.body;
    expect(againRest).toEqual(firstRest);
    expect(replay_of).toBe(firstAudit);
    expect(againAudit).not.toBe(firstAudit);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    await auditRows(gw, first.body.trace_id, 1);
    await auditRows(gw, again.body.trace_id, 1);
    await new Promise((r) => setTimeout(r, 300));
    // The tool ran once: one record with a run; the replay's record has none.
    const ran = await gw.db.query(
      "SELECT event_id FROM audit_events WHERE subject = 'gw.evt.toolcall.completed.v1' AND data->'execution' IS NOT NULL AND data->>'request_id' = $1",
      [call.request_id],
    );
    expect(ran.rows.map((r) => r.event_id)).toEqual([firstAudit]);
    const executed = await gw.db.query(
      "SELECT 1 FROM audit_events WHERE subject = 'gw.evt.toolcall.executed.v1' AND data->>'request_id' = $1",
      [call.request_id],
    );
    expect(executed.rowCount).toBe(0);
  });

  it('treats the same arguments in another key order as the same call', async () => {
    const call = envelope({ arguments: { from: '2026-11-01', limit: 3 } });
    expect((await post(gw, '/api/tools/call', call, auth)).status).toBe(200);
    const reordered = await post(
      gw,
      '/api/tools/call',
      { ...call, arguments: { limit: 3, from: '2026-11-01' } },
      auth,
    );
    expect(reordered.headers.get('idempotent-replayed')).toBe('true');
  });

  it('refuses the same request_id for a different call', async () => {
    const call = envelope();
    expect((await post(gw, '/api/tools/call', call, auth)).status).toBe(200);
    const other = await post(gw, '/api/tools/call', { ...call, arguments: { limit: 2 } }, auth);
    expect(other).toMatchObject({
      status: 409,
      body: { error: { code: 'REQUEST.IDEMPOTENCY_CONFLICT' } },
    });
  });

  it('keeps request_ids apart per agent project', async () => {
    const call = envelope();
    expect((await post(gw, '/api/tools/call', call, auth)).status).toBe(200);
    const inLimited = await post(gw, '/api/tools/call', call, {
      ...auth,
      'X-Project-ID': 'limited',
    });
    expect(inLimited.headers.get('idempotent-replayed')).toBeNull();
  });
});

describe('tool schemas', () => {
  it('publishes a registered tool schema to an agent at /schema/<tool>.json', async () => {
    const res = await get(gw, '/schema/calendar.list_events.json', auth);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      title: 'calendar.list_events',
      type: 'object',
      properties: { limit: { type: 'integer' } },
    });
    expect((await get(gw, '/schema/calendar.list_events.json')).body.error.code).toBe(
      'AUTH.MISSING_KEY',
    );
    expect(await get(gw, '/schema/shell.exec.json', auth)).toMatchObject({
      status: 404,
      body: { error: { code: 'REQUEST.NOT_FOUND' } },
    });
  });
});

describe('health', () => {
  it('reports all six services over NATS, federation and analytics included', async () => {
    const res = await get(gw, '/health');
    expect(res.status).toBe(200);
    expect(
      res.body.services
        .map((s: { service: string; status: string }) => `${s.service}:${s.status}`)
        .sort(),
    ).toEqual([
      'analytics:ok',
      'audit:ok',
      'executor:ok',
      'federation:ok',
      'ingress:ok',
      'policy:ok',
    ]);
  });
});

describe('when a part is down (run last: they stop processes)', () => {
  it('answers 502 with a code when the upstream is unreachable', async () => {
    gw.stack.children.get('upstream')!.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const res = await post(gw, '/api/tools/call', envelope(), auth);
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('EXECUTOR.UPSTREAM_UNREACHABLE');
  });

  it('answers 503 at once, never an allow, when the executor is gone', async () => {
    const executor = gw.stack.children.get('executor')!;
    await new Promise((resolve) => {
      executor.once('exit', resolve);
      executor.kill('SIGKILL');
    });
    const started = Date.now();
    const call = envelope();
    const res = await post(gw, '/api/tools/call', call, auth);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('GATEWAY.SERVICE_UNAVAILABLE');
    expect(res.body.error.message).toMatch(/executor/);
    expect(Date.now() - started).toBeLessThan(5000);
    // Every 5xx is in the ingress log under its trace id, with the error's class and stack.
    const logged = await waitFor(
      async () =>
        readFileSync(gw.logFile, 'utf8')
          .split('\n')
          .find((l) => l.includes(res.body.trace_id) && l.includes('answered 503')),
      5000,
      'the 503 in the ingress log',
    );
    expect(logged).toMatch(/"code":"GATEWAY.SERVICE_UNAVAILABLE"/);
    expect(logged).toMatch(/"err_class":"UndeliveredError"/);
    expect(logged).toMatch(/"stack":"\w*Error: the executor service/);
    // The call reached no executor, so nothing ran: a retry with its request_id is decided
    // again, not answered with the 503 for the next hour.
    const retry = await post(gw, '/api/tools/call', call, auth);
    expect(retry.status).toBe(503);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(retry.body.decision).toMatchObject({ allowed: true });
  });

  it('still decides calls when the policy service is gone (the ingress decides them), and reports it in /health', async () => {
    const policy = gw.stack.children.get('policy')!;
    await new Promise((resolve) => {
      policy.once('exit', resolve);
      policy.kill('SIGKILL');
    });
    // Decided by the ingress's own engine (ADR 0011): a denial with its full explanation.
    const denied = await post(
      gw,
      '/api/tools/call',
      envelope({ tool: 'db.write_sensitive', arguments: { table: 't', record: {} } }),
      auth,
    );
    expect(denied).toMatchObject({
      status: 403,
      body: {
        allowed: false,
        error: { code: 'POLICY.TOOL_NOT_ALLOWED' },
        decision: { allowed: false },
      },
    });
    expect(denied.body.decision.rule_trace.length).toBe(14);
    const health = await get(gw, '/health');
    expect(health.status).toBe(503);
  });

  it('drops a claim the decision took when the decision then failed, so a retry is decided again', async () => {
    // A session history that is not a list makes the decision's script fail after it took the
    // request_id's claim and counted the limits (Redis does not roll a script back).
    const redis = new Redis(TEST_SERVERS.redisUrl, { keyPrefix: gw.iso.redisPrefix });
    const headers = { ...auth, 'X-Session-Id': 'poisoned-session' };
    try {
      await redis.set('session:default:gpt-4o:poisoned-session:history', 'not a list');
      const call = envelope({ tool: 'db.write_sensitive', arguments: { table: 't', record: {} } });
      const first = await post(gw, '/api/tools/call', call, headers);
      expect(first).toMatchObject({
        status: 503,
        body: { allowed: false, error: { code: 'POLICY.DEPENDENCY_UNAVAILABLE' } },
      });
      await redis.del('session:default:gpt-4o:poisoned-session:history');
      // Not REQUEST.DUPLICATE_IN_PROGRESS for the claim's 240 s: decided again, and denied by policy.
      const retry = await post(gw, '/api/tools/call', call, headers);
      expect(retry).toMatchObject({
        status: 403,
        body: { error: { code: 'POLICY.TOOL_NOT_ALLOWED' } },
      });
      expect(retry.headers.get('idempotent-replayed')).toBeNull();
    } finally {
      redis.disconnect();
    }
  });
});
