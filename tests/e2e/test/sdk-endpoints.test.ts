// The governed-tool SDK's endpoints (/api/sdk/authorize and /api/sdk/complete) over plain HTTP,
// through the real processes: what libs/sdk relies on.
import { ADMIN_KEY, AGENT_KEY, callRows, post, startGateway, type Gateway } from './harness.js';

let gw: Gateway;
const agent = { 'X-API-Key': AGENT_KEY };

beforeAll(async () => {
  gw = await startGateway({
    configure: (c) => {
      c.write(
        'policies/default.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*", "crm.*", "ops.*"]\n    requires_approval: ["ops.*"]\n',
      );
      c.write(
        'model_keys/default.yaml',
        'models:\n  gpt-4o:\n    key: modelkey-abc123\n    tenants: [acme]\n',
      );
      const sdkTool = (name: string, extra: Record<string, unknown> = {}) =>
        c.write(`tools/${name}.json`, {
          name,
          description: `governed in its own server: ${name}`,
          input_schema: { type: 'object', properties: { tenant_id: { type: 'string' } } },
          upstream: { type: 'sdk' },
          ...extra,
        });
      sdkTool('crm.lookup', { tenant_field: 'tenant_id' });
      sdkTool('crm.profile', { pii: true });
      sdkTool('ops.restart');
    },
  });
});

afterAll(async () => {
  await gw?.stop();
});

it('authorizes an allowed call without running it, and records its run once, however often it is reported', async () => {
  const auth = await post(
    gw,
    '/api/sdk/authorize',
    { tool: 'crm.lookup', arguments: { tenant_id: 'acme' } },
    agent,
  );
  expect(auth.status).toBe(200);
  expect(auth.body).toMatchObject({ success: true, allowed: true, status: 'authorized' });
  const { audit_id, trace_id } = auth.body as { audit_id: string; trace_id: string };
  const done = await post(
    gw,
    '/api/sdk/complete',
    { audit_id, status: 'ok', duration_ms: 3.5, result: { email: 'a***@***.com' } },
    agent,
  );
  expect(done.status).toBe(202);
  expect(done.body).toEqual({ recorded: true, trace_id });
  const again = await post(
    gw,
    '/api/sdk/complete',
    { audit_id, status: 'ok', duration_ms: 1 },
    agent,
  );
  // A report sent again (its answer was lost) is answered alike and stored once: the first wins.
  expect(again.status).toBe(202);
  expect(again.body).toEqual({ recorded: true, trace_id });
  // The first call of the agent and the tool also raises first-seen alerts under this trace.
  await callRows(gw, trace_id, 2);
  await new Promise((r) => setTimeout(r, 1000));
  const rows = await callRows(gw, trace_id, 2);
  expect(rows.map((r) => r.subject).sort()).toEqual([
    'gw.evt.toolcall.completed.v1',
    'gw.evt.toolcall.executed.v1',
  ]);
  expect(rows.find((r) => r.subject.includes('completed'))!.data).toMatchObject({
    channel: 'sdk',
    outcome: 'allowed',
    tool: 'crm.lookup',
  });
  expect(rows.find((r) => r.subject.includes('executed'))!.data).toMatchObject({
    status: 'ok',
    tool: 'crm.lookup',
    duration_ms: 3.5,
  });
});

it('gives a replayed authorization (same request_id) no grant, so the tool cannot run twice', async () => {
  const body = {
    tool: 'crm.lookup',
    arguments: { tenant_id: 'acme' },
    request_id: `sdk-once-${Date.now()}`,
  };
  const first = await post(gw, '/api/sdk/authorize', body, agent);
  const again = await post(gw, '/api/sdk/authorize', body, agent);
  expect(again.status).toBe(200);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.body.replay_of).toBe(first.body.audit_id);
  const report = (audit_id: string) =>
    post(gw, '/api/sdk/complete', { audit_id, status: 'ok', duration_ms: 1 }, agent);
  expect((await report(again.body.audit_id)).body.error.code).toBe('SDK.GRANT_NOT_FOUND');
  expect((await report(first.body.audit_id)).status).toBe(202);
});

it('denies like the REST route: a tenant not granted, with the failing check', async () => {
  const res = await post(
    gw,
    '/api/sdk/authorize',
    { tool: 'crm.lookup', arguments: { tenant_id: 'globex' } },
    agent,
  );
  expect(res.status).toBe(403);
  expect(res.body.error.code).toBe('POLICY.TENANT_NOT_GRANTED');
  expect(res.body.decision.rule_trace).toContainEqual(
    expect.objectContaining({ check: 'tenant_access', outcome: 'fail' }),
  );
  // No grant: nothing can be reported for it.
  const done = await post(
    gw,
    '/api/sdk/complete',
    { audit_id: res.body.audit_id, status: 'ok', duration_ms: 1 },
    agent,
  );
  expect(done.body.error.code).toBe('SDK.GRANT_NOT_FOUND');
});

it('refuses a registry that does not match the governed tool', async () => {
  const pii = await post(
    gw,
    '/api/sdk/authorize',
    { tool: 'crm.lookup', requires_pii: true },
    agent,
  );
  expect(pii.status).toBe(409);
  expect(pii.body.error.code).toBe('SDK.REGISTRY_MISMATCH');
  const proxied = await post(gw, '/api/sdk/authorize', { tool: 'calendar.list_events' }, agent);
  expect(proxied.body.error.code).toBe('SDK.REGISTRY_MISMATCH');
  // A PII tool for an agent without PII_READ is a policy denial.
  const profile = await post(
    gw,
    '/api/sdk/authorize',
    { tool: 'crm.profile', requires_pii: true },
    agent,
  );
  expect(profile.body.error.code).toBe('POLICY.PII_NOT_GRANTED');
});

it('asks for approval, and the gateway never runs an SDK tool itself', async () => {
  const res = await post(gw, '/api/sdk/authorize', { tool: 'ops.restart' }, agent);
  expect(res.status).toBe(202);
  expect(res.body.status).toBe('pending_approval');
  const approved = await post(
    gw,
    '/approve',
    { approval_id: res.body.approval_id, approved: true },
    { 'X-Admin-Key': ADMIN_KEY },
  );
  expect(approved.body.error.code).toBe('EXECUTOR.TOOL_UNAVAILABLE');
  // Through the proxy routes the tool cannot run either.
  const rest = await post(
    gw,
    '/api/tools/call',
    {
      agent_id: 'gpt-4o',
      agent_version: '1',
      request_id: `sdk-rest-${Date.now()}`,
      tool: 'crm.lookup',
      arguments: { tenant_id: 'acme' },
    },
    agent,
  );
  expect(rest.body.error.code).toBe('EXECUTOR.TOOL_UNAVAILABLE');
});
