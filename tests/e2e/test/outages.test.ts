// Redis, PostgreSQL and NATS down and back: one test per row of docs/outages.md. For each, what
// a user gets over HTTP while the server is down, what waits and is stored later, and how long
// the gateway takes to serve again once it is back. The server that goes down is a private one
// (private-servers.ts), so killing it disturbs no other test; the other two are the shared ones.
import pg from 'pg';
import { mcpInitialize, waitFor, type ConfigDir } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  get,
  post,
  startGateway,
  type Answer,
  type Gateway,
} from './harness.js';
import {
  startPrivateNats,
  startPrivatePostgres,
  startPrivateRedis,
  type PrivateServer,
} from './private-servers.js';

const agent = { 'X-API-Key': AGENT_KEY };
const admin = { 'X-Admin-Key': ADMIN_KEY };
/** How long the gateway may take to serve again once a dependency is back (measured: a few s). */
const RECOVERY_BOUND_MS = 30_000;
const REQUEST_TIMEOUT_MS = 1500;
/** What this run measured, printed at the end (the numbers in docs/outages.md). */
const measured: Record<string, number> = {};

afterAll(() => {
  console.log(`outages (ms): ${JSON.stringify(measured, null, 2)}`);
});

/** calendar.* runs at once; db.write_* waits for an approval. */
function configure(c: ConfigDir) {
  c.write(
    'policies/default.yaml',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*", "db.*"]\n    requires_approval: ["db.write_*"]\n',
  );
  c.write('model_keys/default.yaml', `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`);
}

/**
 * The gateway on `env`; a second try if the first does not get healthy in time, as happens
 * when the machine is busy (starting is not what these tests are about).
 */
async function gatewayOn(env: Record<string, string>): Promise<Gateway> {
  try {
    return await startGateway({ env, configure });
  } catch {
    return startGateway({ env, configure });
  }
}

const call = (gw: Gateway, over: Record<string, unknown> = {}) =>
  post(gw, '/api/tools/call', envelope(over), agent);
const callNeedingApproval = (gw: Gateway) =>
  call(gw, { tool: 'db.write_sensitive', arguments: { table: 'payroll', record: { n: 1 } } });
const approve = (gw: Gateway, id: string) =>
  post(gw, '/approve', { approval_id: id, approved: true }, admin);
const approvalStatus = async (gw: Gateway, id: string) =>
  (await get(gw, `/api/approvals/${id}`, agent)).body.status as string | undefined;
const records = (gw: Gateway, traceId: string) =>
  get(gw, `/api/audit/records?trace_id=${traceId}`, admin);

/** A pending approval, made while everything is up. */
async function pendingApproval(gw: Gateway): Promise<string> {
  const res = await callNeedingApproval(gw);
  expect(res.status).toBe(202);
  return res.body.approval_id as string;
}

/** One MCP JSON-RPC message to /mcp, in session `sid` if given. */
function mcp(gw: Gateway, body: Record<string, unknown>, sid?: string): Promise<Answer> {
  return post(gw, '/mcp', body, {
    accept: 'application/json, text/event-stream',
    ...agent,
    ...(sid ? { 'mcp-session-id': sid } : {}),
  });
}
const initialize = mcpInitialize('outages');
const listTools = { jsonrpc: '2.0', id: 2, method: 'tools/list' };
const mcpCall = {
  jsonrpc: '2.0',
  id: 3,
  method: 'tools/call',
  params: { name: 'calendar.list_events', arguments: {} },
};

/** A refusal with `status` and one of `codes`, and never an allowed or successful call. */
function expectRefused(a: Answer, status: number, codes: string | string[]) {
  expect({ status: a.status, code: a.body.error?.code }).toEqual({
    status,
    code: expect.any(String),
  });
  expect([codes].flat()).toContain(a.body.error.code);
  expect(a.body.allowed).not.toBe(true);
  expect(a.body.success).not.toBe(true);
}

/** An MCP refusal: `status`, with a JSON-RPC error whose data carries `code`. */
function expectMcpRefused(a: Answer, status: number, code: string) {
  expect({ status: a.status, code: a.body.error?.data?.code }).toEqual({ status, code });
  expect(a.body.result).toBeUndefined();
}

/** One service's part of GET /health. */
interface ServiceHealth {
  service: string;
  status: string;
  dependencies?: Record<string, { ok: boolean }>;
}

/** GET /health answers 503, with `service`'s `dependency` failing (or the service `down`). */
async function expectDegraded(gw: Gateway, service: string, dependency?: string) {
  const health = await get(gw, '/health');
  expect(health.status).toBe(503);
  const report = (health.body.services as ServiceHealth[]).find((s) => s.service === service);
  if (dependency) expect(report?.dependencies?.[dependency]?.ok).toBe(false);
  else expect(report?.status).toBe('down');
}

/** Waits (at most RECOVERY_BOUND_MS) for `probe`; records the ms since `since` under `name`. */
async function recovered<T>(
  name: string,
  since: number,
  what: string,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const value = await waitFor(probe, RECOVERY_BOUND_MS, what);
  measured[name] = Date.now() - since;
  return value;
}

const ok = (gw: Gateway) => async () => {
  const res = await call(gw);
  return res.status === 200 ? res : undefined;
};
const healthy = (gw: Gateway) => async () =>
  (await get(gw, '/health')).status === 200 ? true : undefined;

describe('Redis down and back', () => {
  let redis: PrivateServer | undefined;
  let gw: Gateway | undefined;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    gw = await gatewayOn({ REDIS_URL: redis.url });
  });

  afterAll(async () => {
    try {
      await gw?.stop();
    } finally {
      await redis?.remove();
    }
  });

  it('refuses every decision with 503 POLICY.DEPENDENCY_UNAVAILABLE and serves again within seconds of its return', async () => {
    const g = gw!;
    expect((await call(g)).status).toBe(200);
    const approvalId = await pendingApproval(g);
    const opened = await mcp(g, initialize);
    const sid = opened.headers.get('mcp-session-id')!;
    expect(sid).toBeTruthy();

    await redis!.stop();

    // Fail closed, and fast: no offline queue, a 1 s command timeout.
    const refusedCall = envelope();
    const started = Date.now();
    const refused = await post(g, '/api/tools/call', refusedCall, agent);
    measured.redis_refusal = Date.now() - started;
    expectRefused(refused, 503, 'POLICY.DEPENDENCY_UNAVAILABLE');
    expect(measured.redis_refusal).toBeLessThan(10_000);
    expectRefused(await callNeedingApproval(g), 503, 'POLICY.DEPENDENCY_UNAVAILABLE');
    // Stored approvals are in PostgreSQL; approving needs the re-check's session read.
    expect(await approvalStatus(g, approvalId)).toBe('pending');
    expectRefused(await approve(g, approvalId), 503, 'POLICY.DEPENDENCY_UNAVAILABLE');
    expect(await approvalStatus(g, approvalId)).toBe('pending');
    // MCP sessions are in Redis: initialize gets a JSON-RPC error and no session, and a message
    // in a session opened before is refused.
    const init = await mcp(g, initialize);
    expectMcpRefused(init, 200, 'MCP.SESSION_STORE_UNAVAILABLE');
    expect(init.headers.get('mcp-session-id')).toBeNull();
    expectMcpRefused(await mcp(g, listTools, sid), 503, 'MCP.SESSION_STORE_UNAVAILABLE');
    // The refusal is audited (PostgreSQL and NATS are up), and the audit answers.
    const trail = await waitFor(
      async () => {
        const r = await records(g, refused.body.trace_id as string);
        return r.status === 200 && r.body.records.length > 0 ? r : undefined;
      },
      15_000,
      'the refusal in the audit trail',
    );
    expect(trail.body.records).toHaveLength(1);
    expect(trail.body.records[0]).toMatchObject({
      error: { code: 'POLICY.DEPENDENCY_UNAVAILABLE' },
    });
    await expectDegraded(g, 'ingress', 'redis');

    await redis!.start();
    const back = Date.now();
    await recovered('redis_first_call', back, 'an allowed call once Redis is back', ok(g));
    await recovered('redis_health', back, 'GET /health to answer 200', healthy(g));

    // Nothing was stored under the refused request_id: its retry runs.
    const retried = await post(g, '/api/tools/call', refusedCall, agent);
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    // The approval waited, and now runs.
    expect(await approve(g, approvalId)).toMatchObject({
      status: 200,
      body: { status: 'executed' },
    });
    // This Redis keeps nothing across a restart: the MCP session is gone, a new one opens.
    expectMcpRefused(await mcp(g, listTools, sid), 404, 'MCP.SESSION_NOT_FOUND');
    expect((await mcp(g, initialize)).headers.get('mcp-session-id')).toBeTruthy();
    expect(g.stack.exits).toEqual([]);
  });
});

describe('PostgreSQL down and back', () => {
  let postgres: PrivateServer | undefined;
  let gw: Gateway | undefined;
  let db: pg.Client | undefined;

  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    gw = await gatewayOn({ DATABASE_URL: postgres.url });
  });

  afterAll(async () => {
    await db?.end().catch(() => undefined);
    try {
      await gw?.stop();
    } finally {
      await postgres?.remove();
    }
  });

  it('keeps serving calls, queues their audit events in JetStream and stores each once on its return', async () => {
    const g = gw!;
    expect((await call(g)).status).toBe(200);
    const approvalId = await pendingApproval(g);

    // PostgreSQL dies under traffic: calls are in flight, the audit service writing their events.
    const inFlight = Promise.all(Array.from({ length: 5 }, () => call(g)));
    await new Promise((r) => setTimeout(r, 50));
    await postgres!.stop();
    const during = await inFlight;
    // A call that needs no approval is decided (Redis) and run (executor) without PostgreSQL.
    for (let i = 0; i < 5; i++) during.push(await call(g));
    expect(during.map((a) => [a.status, a.body.success])).toEqual(Array(10).fill([200, true]));
    // Approvals are stored in PostgreSQL: a call that needs one is refused, not run.
    expectRefused(await callNeedingApproval(g), 503, 'APPROVAL.STORE_UNAVAILABLE');
    expectRefused(
      await get(g, `/api/approvals/${approvalId}`, agent),
      503,
      'APPROVAL.STORE_UNAVAILABLE',
    );
    expectRefused(await approve(g, approvalId), 503, 'APPROVAL.STORE_UNAVAILABLE');
    // The audit and analytics queries say why they cannot answer.
    expectRefused(
      await records(g, during[0]!.body.trace_id as string),
      503,
      'AUDIT.STORE_UNAVAILABLE',
    );
    expectRefused(
      await get(g, '/api/analytics/summary?project=default', admin),
      503,
      'ANALYTICS.STORE_UNAVAILABLE',
    );
    // MCP sessions are in Redis: they still open.
    expect((await mcp(g, initialize)).headers.get('mcp-session-id')).toBeTruthy();
    await expectDegraded(g, 'audit', 'postgres');

    await postgres!.start();
    const back = Date.now();
    await recovered('postgres_approvals', back, 'the approval to be readable again', async () =>
      (await approvalStatus(g, approvalId)) === 'pending' ? true : undefined,
    );
    // The calls answered during the outage reach the trail.
    const traces = during.map((a) => a.body.trace_id as string);
    await recovered('postgres_queued_stored', back, 'the queued audit events', async () => {
      const pages = await Promise.all(traces.map((t) => records(g, t)));
      return pages.every((p) => p.status === 200 && p.body.records.length > 0) ? true : undefined;
    });
    await recovered('postgres_health', back, 'GET /health to answer 200', healthy(g));
    // Each of them once: no event lost, none stored twice.
    for (const [i, t] of traces.entries()) {
      const page = await records(g, t);
      expect(page.body.records).toHaveLength(1);
      expect(page.body.records[0]).toMatchObject({
        audit_id: during[i]!.body.audit_id,
        status: 'success',
      });
    }
    db = new pg.Client({
      connectionString: postgres!.url,
      options: `-c search_path=${g.iso.schema}`,
    });
    await db.connect();
    const stored = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events
        WHERE trace_id = ANY($1) AND subject = 'gw.evt.toolcall.completed.v1' GROUP BY trace_id`,
      [traces],
    );
    expect(stored.rows.map((r) => r.n)).toEqual(Array(10).fill(1));
    // The hash chain went on in order across the outage.
    expect((await get(g, '/api/audit/verify?project=default', admin)).body).toMatchObject({
      ok: true,
    });
    expect((await callNeedingApproval(g)).status).toBe(202);
    // No service died of the lost connections.
    expect(g.stack.exits).toEqual([]);
  });
});

describe('NATS down and back', () => {
  let nats: PrivateServer | undefined;
  let gw: Gateway | undefined;

  beforeAll(async () => {
    nats = await startPrivateNats();
    gw = await gatewayOn({ NATS_URL: nats.url, REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) });
  });

  afterAll(async () => {
    try {
      await gw?.stop();
    } finally {
      await nats?.remove();
    }
  });

  it('answers 503 GATEWAY.SERVICE_UNAVAILABLE while NATS is down, keeps the stream, and recovers on its return', async () => {
    const g = gw!;
    const before = await call(g);
    expect(before.status).toBe(200);
    await waitFor(
      async () =>
        (await records(g, before.body.trace_id as string)).body.records?.length ? true : undefined,
      15_000,
      'the call before the outage in the audit trail',
    );
    const approvalId = await pendingApproval(g);

    await nats!.stop();

    const started = Date.now();
    const refused = await call(g);
    measured.nats_refusal = Date.now() - started;
    // SERVICE_TIMEOUT if the ingress has not seen the disconnect yet.
    expectRefused(refused, 503, ['GATEWAY.SERVICE_UNAVAILABLE', 'GATEWAY.SERVICE_TIMEOUT']);
    expect(measured.nats_refusal).toBeLessThan(REQUEST_TIMEOUT_MS + 5000);
    // Once it has, every request over the bus fails at once.
    expectRefused(await call(g), 503, 'GATEWAY.SERVICE_UNAVAILABLE');
    expectRefused(
      await records(g, before.body.trace_id as string),
      503,
      'GATEWAY.SERVICE_UNAVAILABLE',
    );
    expectRefused(
      await get(g, `/api/approvals/${approvalId}`, agent),
      503,
      'GATEWAY.SERVICE_UNAVAILABLE',
    );
    // MCP sessions are in Redis: one opens, and its tool call is refused in its result.
    const sid = (await mcp(g, initialize)).headers.get('mcp-session-id')!;
    expect(sid).toBeTruthy();
    const inSession = await mcp(g, mcpCall, sid);
    expect(inSession.status).toBe(200);
    expect(inSession.body.result).toMatchObject({
      isError: true,
      structuredContent: { success: false, error: { code: 'GATEWAY.SERVICE_UNAVAILABLE' } },
    });
    await expectDegraded(g, 'executor');

    await nats!.start();
    const back = Date.now();
    const after = await recovered(
      'nats_first_call',
      back,
      'an allowed call once NATS is back',
      ok(g),
    );
    expect(after.body.success).toBe(true);
    await recovered('nats_health', back, 'GET /health to answer 200', healthy(g));
    // The stream survived the restart, and the audit consumer resumed.
    await recovered('nats_audit_resumed', back, 'the call after the outage stored', async () =>
      (await records(g, after.body.trace_id as string)).body.records?.length ? true : undefined,
    );
    expect((await records(g, before.body.trace_id as string)).body.records).toHaveLength(1);
    // The refusals' events waited in the ingress, which retries each publish for about 28 s.
    const trail = await recovered(
      'nats_refusals_stored',
      back,
      'the refusal answered while NATS was down in the audit trail',
      async () => {
        const r = await records(g, refused.body.trace_id as string);
        return r.body.records?.length ? r : undefined;
      },
    );
    expect(trail.body.records).toHaveLength(1);
    expect(trail.body.records[0].error.code).toBe(refused.body.error.code);
    expect(await approvalStatus(g, approvalId)).toBe('pending');
    expect(g.stack.exits).toEqual([]);
  });
});
