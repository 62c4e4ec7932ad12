import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  get,
  post,
  startGateway,
  type Gateway,
} from './harness.js';
import { waitFor } from '@sg/testing';

// Approvals bound to the exact call (seed 004), through the real processes.
let gw: Gateway;
const agent = { 'X-API-Key': AGENT_KEY };
const admin = { 'X-Admin-Key': ADMIN_KEY };
const write = (n: number) =>
  envelope({ tool: 'db.write_sensitive', arguments: { table: 'payroll', record: { n } } });

beforeAll(async () => {
  gw = await startGateway({
    env: { APPROVAL_TTL_S: '10', APPROVAL_SWEEP_MS: '300' },
    configure: (c) => {
      c.write(
        'policies/default.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*", "db.*"]\n    requires_approval: ["db.write_*"]\n',
      );
      c.write(
        'model_keys/default.yaml',
        'models:\n  gpt-4o:\n    key: modelkey-abc123\n  other-bot:\n    key: other-bot-key-0001\n',
      );
    },
  });
});

afterAll(async () => {
  await gw?.stop();
});

async function rows(where: string, params: unknown[]) {
  return (
    await gw.db.query<{ subject: string; data: Record<string, unknown> }>(
      `SELECT subject, data FROM audit_events WHERE ${where} ORDER BY stream_seq`,
      params,
    )
  ).rows;
}

it('answers 202 pending_approval and runs nothing until approved', async () => {
  const res = await post(gw, '/api/tools/call', write(1), agent);
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({
    status: 'pending_approval',
    allowed: false,
    decision: { requires_approval: true },
  });
  expect(res.body.approval_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(res.headers.get('location')).toBe(`/api/approvals/${res.body.approval_id}`);
  const view = await get(gw, `/api/approvals/${res.body.approval_id}`, agent);
  expect(view.body).toMatchObject({
    status: 'pending',
    tool: 'db.write_sensitive',
    agent_id: 'gpt-4o',
    outcome: null,
  });
  expect(view.body.arguments_digest).toMatch(/^[0-9a-f]{64}$/);
  // Another agent cannot see it.
  expect(
    (await get(gw, `/api/approvals/${res.body.approval_id}`, { 'X-API-Key': 'other-bot-key-0001' }))
      .status,
  ).toBe(404);
  await waitFor(
    async () =>
      (
        await rows("subject = 'gw.evt.approval.requested.v1' AND data->>'approval_id' = $1", [
          res.body.approval_id,
        ])
      ).length
        ? true
        : undefined,
    10_000,
    'the requested event',
  );
  expect(
    await rows(
      "subject = 'gw.evt.toolcall.completed.v1' AND data->'execution' IS NOT NULL AND trace_id = $1",
      [res.body.trace_id],
    ),
  ).toEqual([]);
});

it('executes the approved call exactly once however many approvals race', async () => {
  const call = write(2);
  const res = await post(gw, '/api/tools/call', call, agent);
  const id = res.body.approval_id as string;
  const answers = await Promise.all(
    Array.from({ length: 10 }, () =>
      post(gw, '/approve', { approval_id: id, approved: true }, admin),
    ),
  );
  const statuses = answers.map((a) => a.status).sort();
  expect(statuses.filter((s) => s === 200)).toHaveLength(1);
  expect(
    answers
      .filter((a) => a.status === 409)
      .every((a) => a.body.error.code === 'APPROVAL.NOT_PENDING'),
  ).toBe(true);
  expect(statuses.filter((s) => s !== 200 && s !== 409)).toEqual([]);
  const winner = answers.find((a) => a.status === 200)!;
  expect(winner.body).toMatchObject({ status: 'executed', result: { written: true } });

  const view = await get(gw, `/api/approvals/${id}`, agent);
  expect(view.body).toMatchObject({
    status: 'executed',
    approver: 'bootstrap',
    outcome: { http_status: 200, result: { written: true } },
  });
  // One execution in the audit trail, under the original call's trace.
  const executed = await waitFor(
    async () => {
      const r = await rows(
        "subject = 'gw.evt.toolcall.completed.v1' AND data->'execution' IS NOT NULL AND data->>'request_id' = $1",
        [call.request_id],
      );
      return r.length ? r : undefined;
    },
    10_000,
    'the executed event',
  );
  await new Promise((r) => setTimeout(r, 500));
  expect(
    await rows(
      "subject = 'gw.evt.toolcall.completed.v1' AND data->'execution' IS NOT NULL AND data->>'request_id' = $1",
      [call.request_id],
    ),
  ).toHaveLength(executed.length);
  expect(executed).toHaveLength(1);
  // Recorded under the original call's trace, with the exact arguments the approver saw.
  expect(
    (
      await rows(
        "subject = 'gw.evt.toolcall.completed.v1' AND data->'execution' IS NOT NULL AND trace_id = $1",
        [res.body.trace_id],
      )
    ).length,
  ).toBe(1);
  expect(view.body).toMatchObject({
    trace_id: res.body.trace_id,
    arguments: { table: 'payroll', record: { n: 2 } },
  });
  const resolved = await waitFor(
    async () => {
      const r = await rows(
        "subject = 'gw.evt.approval.resolved.v1' AND data->>'approval_id' = $1",
        [id],
      );
      return r.length >= 2 ? r : undefined;
    },
    10_000,
    'approved and executed events',
  );
  expect(resolved.map((r) => r.data.status)).toEqual(['approved', 'executed']);
  // Two answers, two audit records under the call's trace: the 202, then the approved run.
  const completed = await waitFor(
    async () => {
      const r = await rows("subject = 'gw.evt.toolcall.completed.v1' AND trace_id = $1", [
        res.body.trace_id,
      ]);
      return r.length >= 2 ? r : undefined;
    },
    10_000,
    'the completed event of the approved run',
  );
  expect(completed.map((r) => [r.data.outcome, r.data.http_status])).toEqual([
    ['pending_approval', 202],
    ['allowed', 200],
  ]);
  const records = await get(gw, `/api/audit/records?trace_id=${res.body.trace_id}`, admin);
  expect(records.body.records.map((r: { status: string }) => r.status)).toEqual([
    'pending_approval',
    'success',
  ]);
});

it('records a rejection, after which the call can never run', async () => {
  const res = await post(gw, '/api/tools/call', write(3), agent);
  const id = res.body.approval_id as string;
  expect(
    (await post(gw, '/approve', { approval_id: id, approved: false }, admin)).body,
  ).toMatchObject({ status: 'rejected' });
  const again = await post(gw, '/approve', { approval_id: id, approved: true }, admin);
  expect(again).toMatchObject({ status: 409, body: { error: { code: 'APPROVAL.NOT_PENDING' } } });
  expect((await get(gw, `/api/approvals/${id}`, agent)).body.status).toBe('rejected');
  await waitFor(
    async () =>
      (
        await rows(
          "subject = 'gw.evt.approval.resolved.v1' AND data->>'approval_id' = $1 AND data->>'status' = 'rejected'",
          [id],
        )
      ).length
        ? true
        : undefined,
    10_000,
    'the rejected event',
  );
});

it('refuses approvals without an approver key or with a bad body', async () => {
  expect(
    (
      await post(
        gw,
        '/approve',
        { approval_id: '00000000-0000-4000-8000-000000000000', approved: true },
        agent,
      )
    ).status,
  ).toBe(401);
  expect(
    (await post(gw, '/approve', { approval_id: 'nope', approved: true }, admin)).body.error.code,
  ).toBe('REQUEST.INVALID_BODY');
  expect(
    (
      await post(
        gw,
        '/approve',
        { approval_id: '00000000-0000-4000-8000-000000000000', approved: true },
        admin,
      )
    ).body.error.code,
  ).toBe('APPROVAL.NOT_FOUND');
});

it('re-checks the policy at approval time: a policy changed since the request still applies', async () => {
  const res = await post(gw, '/api/tools/call', write(4), agent);
  gw.config.write(
    'policies/default.yaml',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\n',
  );
  await new Promise((r) => setTimeout(r, 2500)); // hot reload polls every second
  const answer = await post(
    gw,
    '/approve',
    { approval_id: res.body.approval_id, approved: true },
    admin,
  );
  expect(answer.status).toBe(403);
  expect(answer.body).toMatchObject({
    status: 'denied',
    error: { code: 'POLICY.TOOL_NOT_ALLOWED' },
  });
  expect((await get(gw, `/api/approvals/${res.body.approval_id}`, agent)).body.status).toBe(
    'denied',
  );
  gw.config.write(
    'policies/default.yaml',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*", "db.*"]\n    requires_approval: ["db.write_*"]\n',
  );
  await new Promise((r) => setTimeout(r, 2500));
});

it('expires an approval nobody resolved, audits it, and refuses to approve it', async () => {
  const res = await post(gw, '/api/tools/call', write(5), agent);
  const id = res.body.approval_id as string;
  await waitFor(
    async () =>
      (await get(gw, `/api/approvals/${id}`, agent)).body.status === 'expired' ? true : undefined,
    20_000,
    'the expiry',
  );
  expect(await post(gw, '/approve', { approval_id: id, approved: true }, admin)).toMatchObject({
    status: 410,
    body: { error: { code: 'APPROVAL.EXPIRED' } },
  });
  await waitFor(
    async () =>
      (
        await rows(
          "subject = 'gw.evt.approval.resolved.v1' AND data->>'approval_id' = $1 AND data->>'status' = 'expired'",
          [id],
        )
      ).length
        ? true
        : undefined,
    10_000,
    'the expired event',
  );
}, 60_000);
