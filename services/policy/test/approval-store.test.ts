// The approvals table and its queue against the real PostgreSQL: the migration, the risk score
// and comment, and the keyset pages of GET /api/approvals.
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { approvalListSchema, type ApprovalCall, type ApprovalListQuery } from '@sg/contracts';
import { createPgPool, migrate, type Pool } from '@sg/runtime';
import { isolate, TEST_SERVERS } from '@sg/testing';
import { ApprovalStore, MIGRATIONS_DIR } from '../src/approvals/approval-store.js';

const iso = isolate('apq');
let pool: Pool;
let store: ApprovalStore;
let n = 0;

const call = (over: Partial<ApprovalCall> = {}): ApprovalCall => ({
  project: 'default',
  agent_id: 'gpt-4o',
  session_id: 's1',
  request_id: `req-${++n}`,
  channel: 'rest',
  tool: 'db.write_sensitive',
  arguments: { n },
  ...over,
});

const list = (q: Partial<ApprovalListQuery>) => store.list(approvalListSchema.parse(q));

/** Every page of a list, following next_cursor to its end. */
async function allPages(q: Partial<ApprovalListQuery>) {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const page = await list({ ...q, ...(cursor ? { cursor } : {}) });
    pages.push(page.approvals.map((a) => a.approval_id));
    cursor = page.next_cursor ?? undefined;
  } while (cursor && pages.length < 20);
  return pages;
}

beforeAll(async () => {
  pool = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 2);
  // The table as it was before the queue: one approval stored then, to read it after the upgrade.
  const before = mkdtempSync(join(tmpdir(), 'sg-policy-migrations-'));
  for (const f of readdirSync(MIGRATIONS_DIR).filter((f) => f < 'policy_0004'))
    cpSync(join(MIGRATIONS_DIR, f), join(before, f));
  await migrate(pool, iso.schema, before);
  rmSync(before, { recursive: true });
  await pool.query(
    `INSERT INTO approvals (id, status, project, agent_id, tool, request_id, call, arguments_digest, policy_version, trace_id, expires_at)
     VALUES ('00000000-0000-4000-8000-000000000001', 'pending', 'legacy', 'gpt-4o', 'db.write_sensitive', 'req-old', $1, 'd', 'v0', 'trace-old-0001', now() + interval '1 hour')`,
    [JSON.stringify(call({ project: 'legacy', request_id: 'req-old' }))],
  );
  expect(await migrate(pool, iso.schema, MIGRATIONS_DIR)).toEqual([
    'policy_0004_approvals_queue.sql',
  ]);
  store = new ApprovalStore(pool);
});

afterAll(async () => {
  await pool?.end();
  await iso.cleanup();
});

it('reads an approval stored before the upgrade with risk_score and comment null', async () => {
  const old = await store.get('00000000-0000-4000-8000-000000000001');
  expect(old?.view).toMatchObject({ project: 'legacy', risk_score: null, comment: null });
  expect((await list({ project: 'legacy' })).approvals).toEqual([old!.view]);
});

it("keeps the decision's risk score with the approval", async () => {
  const a = await store.create(call({ project: 'risky' }), 'v1', 'trace-risk-0001', 600, 0.42);
  expect(a.view.risk_score).toBe(0.42);
  expect((await store.get(a.view.approval_id))?.view.risk_score).toBe(0.42);
  const unknown = await store.create(call({ project: 'risky' }), 'v1', 'trace-risk-0002', 600);
  expect(unknown.view.risk_score).toBeNull();
});

it('lists pending approvals soonest expiry first, and no longer those past their expiry', async () => {
  const project = 'expiry';
  const late = await store.create(call({ project }), 'v1', 'trace-exp-0001', 3000);
  const soon = await store.create(call({ project }), 'v1', 'trace-exp-0002', 60);
  const middle = await store.create(call({ project }), 'v1', 'trace-exp-0003', 600);
  const lapsed = await store.create(call({ project }), 'v1', 'trace-exp-0004', 0);
  const page = await list({ project });
  expect(page.approvals.map((a) => a.approval_id)).toEqual(
    [soon, middle, late].map((a) => a.view.approval_id),
  );
  expect(page.approvals.map((a) => a.approval_id)).not.toContain(lapsed.view.approval_id);
  expect(page.next_cursor).toBeNull();
});

it('pages pending approvals with the cursor: each once, in order', async () => {
  const project = 'pending-pages';
  const made: string[] = [];
  for (let i = 0; i < 5; i++)
    made.push(
      (await store.create(call({ project }), 'v1', 'trace-pp-0001', 600 + i)).view.approval_id,
    );
  expect(await allPages({ project, limit: 2 })).toEqual([
    made.slice(0, 2),
    made.slice(2, 4),
    [made[4]],
  ]);
});

it('lists another status newest first, each row once across pages, ties at the same microsecond included', async () => {
  const project = 'ties';
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) {
    const a = await store.create(call({ project }), 'v1', 'trace-tie-0001', 600);
    await store.resolvePending(a.view.approval_id, 'rejected', 'alice');
    ids.push(a.view.approval_id);
  }
  // Five share one created_at to the microsecond; two are newer.
  await pool.query(
    `UPDATE approvals SET created_at = '2001-05-01T12:00:00.123456Z' WHERE id = ANY($1::uuid[])`,
    [ids.slice(0, 5)],
  );
  const tied = [...ids.slice(0, 5)].sort().reverse();
  const pages = await allPages({ status: 'rejected', project, limit: 3 });
  expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
  expect(pages.flat()).toEqual([ids[6], ids[5], ...tied]);
  // Another status of the same project holds none of them.
  expect((await list({ status: 'approved', project })).approvals).toEqual([]);
});

it('lists every project without a project filter', async () => {
  const a = await store.create(call({ project: 'one' }), 'v1', 'trace-all-0001', 600);
  const b = await store.create(call({ project: 'two' }), 'v1', 'trace-all-0002', 600);
  await store.resolvePending(a.view.approval_id, 'denied', 'bob');
  await store.resolvePending(b.view.approval_id, 'denied', 'bob');
  const page = await list({ status: 'denied', limit: 200 });
  expect(page.approvals.map((x) => x.approval_id)).toEqual([
    b.view.approval_id,
    a.view.approval_id,
  ]);
  expect(
    (await list({ status: 'denied', project: 'two' })).approvals.map((x) => x.project),
  ).toEqual(['two']);
});

it('stores the comment of the resolution, and refuses one longer than 500 characters', async () => {
  const a = await store.create(call({ project: 'comments' }), 'v1', 'trace-com-0001', 600);
  const resolved = await store.resolvePending(
    a.view.approval_id,
    'approved',
    'alice',
    'ok, ticket 42',
  );
  expect(resolved?.view).toMatchObject({
    status: 'approved',
    approver: 'alice',
    comment: 'ok, ticket 42',
  });
  expect((await list({ status: 'approved', project: 'comments' })).approvals[0]?.comment).toBe(
    'ok, ticket 42',
  );
  const b = await store.create(call({ project: 'comments' }), 'v1', 'trace-com-0002', 600);
  await expect(
    store.resolvePending(b.view.approval_id, 'rejected', 'alice', 'x'.repeat(501)),
  ).rejects.toThrow(/check constraint/);
  expect((await store.get(b.view.approval_id))?.view).toMatchObject({
    status: 'pending',
    comment: null,
  });
});
