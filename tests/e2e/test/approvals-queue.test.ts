// The approvals queue (GET /api/approvals) and the approver's comment, through the real processes.
import { waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  adminsYaml,
  envelope,
  get,
  post,
  startGateway,
  type Answer,
  type Gateway,
} from './harness.js';

const ALICE = 'alice-approver-key-0000000001';
const VERA = 'vera-viewer-key-000000000001';
const RULES =
  'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*", "db.*"]\n    requires_approval: ["db.write_*"]\n';

let gw: Gateway;
const agent = { 'X-API-Key': AGENT_KEY };
const alice = { 'X-Admin-Key': ALICE };
const vera = { 'X-Admin-Key': VERA };

beforeAll(async () => {
  gw = await startGateway({
    env: { APPROVAL_TTL_S: '600' },
    configure: (c) => {
      c.write('policies/default.yaml', RULES);
      // No key scope: the policy alone decides which calls wait for approval.
      c.write('model_keys/default.yaml', `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`);
      // A second project, with the default project's keys.
      c.write('policies/ops.yaml', RULES);
      c.write(
        'admins.yaml',
        adminsYaml({
          alice: { key: ALICE, roles: ['approver'] },
          vera: { key: VERA, roles: ['viewer'] },
        }),
      );
    },
  });
});

afterAll(async () => {
  await gw?.stop();
});

let n = 0;
/** A call that waits for approval: its 202 answer. */
async function pendingCall(project = 'default'): Promise<Answer> {
  const res = await post(
    gw,
    '/api/tools/call',
    envelope({ tool: 'db.write_sensitive', arguments: { table: 'payroll', record: { n: ++n } } }),
    { ...agent, 'X-Project-ID': project },
  );
  if (res.status !== 202)
    throw new Error(
      `the call did not wait for approval: ${res.status} ${JSON.stringify(res.body)}`,
    );
  return res;
}

const ids = (a: Answer) =>
  (a.body.approvals as { approval_id: string }[]).map((x) => x.approval_id);

// Made by the first test, in this order: three in `default`, then two in `ops`.
const made: Answer[] = [];

it('lists the pending approvals soonest expiry first, each with its risk score and exact call', async () => {
  for (const project of ['default', 'default', 'default', 'ops', 'ops'])
    made.push(await pendingCall(project));
  const list = await get(gw, '/api/approvals', vera);
  expect(list.status).toBe(200);
  expect(list.headers.get('cache-control')).toBe('no-store');
  expect(ids(list)).toEqual(made.map((m) => m.body.approval_id));
  expect(list.body.next_cursor).toBeNull();
  const first = list.body.approvals[0];
  expect(first).toMatchObject({
    approval_id: made[0]!.body.approval_id,
    status: 'pending',
    project: 'default',
    agent_id: 'gpt-4o',
    tool: 'db.write_sensitive',
    arguments: { table: 'payroll', record: { n: 1 } },
    trace_id: made[0]!.body.trace_id,
    expires_at: made[0]!.body.expires_at,
    approver: null,
    comment: null,
    outcome: null,
  });
  // The risk the 202 answer showed is the one the approver sees.
  expect(typeof made[0]!.body.risk_score).toBe('number');
  expect(list.body.approvals.map((a: { risk_score: unknown }) => a.risk_score)).toEqual(
    made.map((m) => m.body.risk_score),
  );
  // `status=pending` is the default.
  expect(ids(await get(gw, '/api/approvals?status=pending', vera))).toEqual(ids(list));
});

it('filters by project', async () => {
  const ops = await get(gw, '/api/approvals?project=ops', vera);
  expect(ops.status).toBe(200);
  expect(ids(ops)).toEqual(made.slice(3).map((m) => m.body.approval_id));
  expect(ops.body.approvals.every((a: { project: string }) => a.project === 'ops')).toBe(true);
  expect(ids(await get(gw, '/api/approvals?project=default', vera))).toEqual(
    made.slice(0, 3).map((m) => m.body.approval_id),
  );
  expect((await get(gw, '/api/approvals?project=nobody', vera)).body).toEqual({
    approvals: [],
    next_cursor: null,
  });
});

it('pages with the cursor: each approval once, in order, then next_cursor null', async () => {
  const seen: string[][] = [];
  let cursor: string | null = null;
  do {
    const page: Answer = await get(
      gw,
      `/api/approvals?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      vera,
    );
    expect(page.status).toBe(200);
    seen.push(ids(page));
    cursor = page.body.next_cursor as string | null;
  } while (cursor && seen.length < 10);
  expect(seen).toEqual([
    made.slice(0, 2).map((m) => m.body.approval_id),
    made.slice(2, 4).map((m) => m.body.approval_id),
    [made[4]!.body.approval_id],
  ]);
  // A cursor continues only its own list: the same status and project.
  const first = await get(gw, '/api/approvals?limit=1', vera);
  const next = encodeURIComponent(first.body.next_cursor as string);
  for (const other of [`status=rejected&cursor=${next}`, `project=ops&cursor=${next}`]) {
    const refused = await get(gw, `/api/approvals?${other}`, vera);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('AUDIT.INVALID_CURSOR');
    expect(refused.body.error.message).toMatch(/pass next_cursor of the previous page unchanged/);
  }
});

it('approves with a comment: the list and the approval show status, comment, approver and outcome', async () => {
  const id = made[0]!.body.approval_id as string;
  const answer = await post(
    gw,
    '/approve',
    { approval_id: id, approved: true, comment: '  checked with payroll, ticket 42 ' },
    alice,
  );
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ status: 'executed', result: { written: true } });

  const executed = await get(gw, '/api/approvals?status=executed', vera);
  expect(executed.body.approvals).toEqual([
    expect.objectContaining({
      approval_id: id,
      status: 'executed',
      approver: 'alice',
      comment: 'checked with payroll, ticket 42',
      risk_score: made[0]!.body.risk_score,
      outcome: { http_status: 200, result: answer.body.result },
    }),
  ]);
  expect(ids(await get(gw, '/api/approvals', vera))).not.toContain(id);
  expect((await get(gw, `/api/approvals/${id}`, agent)).body).toMatchObject({
    status: 'executed',
    approver: 'alice',
    comment: 'checked with payroll, ticket 42',
    outcome: { http_status: 200 },
  });

  // The comment is in the approval.resolved events and in the admin action's audit record.
  const resolved = await waitFor(
    async () => {
      const r = await gw.db.query<{ data: Record<string, unknown> }>(
        "SELECT data FROM audit_events WHERE subject = 'gw.evt.approval.resolved.v1' AND data->>'approval_id' = $1 ORDER BY stream_seq",
        [id],
      );
      return r.rows.length >= 2 ? r.rows : undefined;
    },
    15_000,
    'the approved and executed events',
  );
  expect(resolved.map((r) => [r.data.status, r.data.approver, r.data.comment])).toEqual([
    ['approved', 'alice', 'checked with payroll, ticket 42'],
    ['executed', 'alice', 'checked with payroll, ticket 42'],
  ]);
  const action = await waitFor(
    async () =>
      (
        await gw.db.query<{ data: Record<string, unknown> }>(
          "SELECT data FROM audit_events WHERE subject = 'gw.evt.admin.action.v1' AND data->>'path' = '/approve' AND data->'detail'->>'approval_id' = $1",
          [id],
        )
      ).rows[0],
    15_000,
    'the admin action of the approval',
  );
  expect(action.data).toMatchObject({
    principal: 'alice',
    permission: 'approvals.resolve',
    http_status: 200,
    detail: { approval_id: id, approved: true, comment: 'checked with payroll, ticket 42' },
  });
});

it('lists resolved approvals newest first, and without a comment as null', async () => {
  const [older, newer] = [made[1]!, made[2]!].map((m) => m.body.approval_id as string);
  expect(
    (await post(gw, '/approve', { approval_id: older, approved: false, comment: 'no' }, alice))
      .body,
  ).toMatchObject({ status: 'rejected' });
  expect(
    (await post(gw, '/approve', { approval_id: newer, approved: false }, alice)).body,
  ).toMatchObject({ status: 'rejected' });
  const rejected = await get(gw, '/api/approvals?status=rejected&project=default', vera);
  expect(
    rejected.body.approvals.map((a: Record<string, unknown>) => [
      a.approval_id,
      a.approver,
      a.comment,
    ]),
  ).toEqual([
    [newer, 'alice', null],
    [older, 'alice', 'no'],
  ]);
  expect(
    (await get(gw, '/api/approvals?status=rejected&project=ops', vera)).body.approvals,
  ).toEqual([]);
});

it('lets a viewer list but not approve; agents and anonymous callers cannot list', async () => {
  const id = made[3]!.body.approval_id as string;
  expect((await get(gw, '/api/approvals?project=ops', vera)).status).toBe(200);
  const refused = await post(gw, '/approve', { approval_id: id, approved: true }, vera);
  expect(refused.status).toBe(403);
  expect(refused.body.error.code).toBe('AUTH.ADMIN_ROLE_REQUIRED');
  expect(refused.body.error.message).toContain('approvals.resolve');
  expect((await get(gw, `/api/approvals/${id}`, vera)).body.status).toBe('pending');

  const asAgent = await get(gw, '/api/approvals', agent);
  expect(asAgent.status).toBe(401);
  expect(asAgent.body.error.code).toBe('AUTH.ADMIN_KEY_REQUIRED');
  expect((await get(gw, '/api/approvals')).status).toBe(401);
  // The bootstrap admin lists too.
  expect((await get(gw, '/api/approvals?project=ops', { 'X-Admin-Key': ADMIN_KEY })).status).toBe(
    200,
  );
});

it.each([
  ['status=done', 'AUDIT.INVALID_QUERY', 'status must be one of pending, approved, rejected'],
  ['status=pending&status=executed', 'AUDIT.INVALID_QUERY', 'status is given 2 times'],
  ['project=Not_A_Project', 'AUDIT.INVALID_QUERY', 'project must be 1-63 lower-case letters'],
  ['limit=0', 'AUDIT.INVALID_QUERY', 'limit must be an integer from 1 to 200'],
  ['limit=201', 'AUDIT.INVALID_QUERY', 'limit must be an integer from 1 to 200'],
  ['limit=', 'AUDIT.INVALID_QUERY', 'limit is empty'],
  ['agent=gpt-4o', 'AUDIT.INVALID_QUERY', 'unknown parameter "agent"; use status, project, limit'],
  ['cursor=not-a-cursor', 'AUDIT.INVALID_CURSOR', 'pass next_cursor of the previous page'],
])('refuses ?%s with 400 %s', async (query, code, message) => {
  const res = await get(gw, `/api/approvals?${query}`, vera);
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toContain(message);
});

it.each([
  ['an empty comment', '   ', 'comment: a comment says something: leave it out'],
  ['a comment of 501 characters', 'x'.repeat(501), 'comment: a comment is at most 500 characters'],
  ['a comment that is not text', 42, 'comment: Invalid input: expected string'],
])(
  'refuses %s with 400 REQUEST.INVALID_BODY; the approval stays pending',
  async (_what, comment, why) => {
    const id = made[4]!.body.approval_id as string;
    const res = await post(gw, '/approve', { approval_id: id, approved: true, comment }, alice);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('REQUEST.INVALID_BODY');
    // The shape to send, then what was wrong with this comment.
    expect(res.body.error.message).toMatch(
      /^send \{"approval_id": "<uuid>", "approved": true\|false, "comment"/,
    );
    expect(res.body.error.message).toContain(why);
    expect((await get(gw, `/api/approvals/${id}`, alice)).body).toMatchObject({
      status: 'pending',
      comment: null,
    });
  },
);
