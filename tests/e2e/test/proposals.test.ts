// Agents' policy proposals with guardrails (issue 13 §4, seed 001), through the real processes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  get,
  post,
  registerTool,
  startGateway,
  type Gateway,
  adminsYaml,
  SIGNING_SEED,
} from './harness.js';

const ALICE = 'alice-approver-key-000000002';
const OTHER_BOT = 'other-bot-key-0001-xyz';
let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({
    // FILE_WRITEBACK: an approved proposal is written to policies/default.yaml too.
    env: { SECRET_POLICY_SIGNING_KEY: SIGNING_SEED, FILE_WRITEBACK: 'true' },
    configure: (c) => {
      c.write('admins.yaml', adminsYaml({ alice: { key: ALICE, roles: ['approver'] } }));
      c.write(
        'policies/default.yaml',
        [
          'rules:',
          '  - model: gpt-4o',
          '    allow_tools: ["calendar.*"]',
          '    deny_tools: ["calendar.delete_*"]',
          'forbidden_fields: [password, api_key, secret, token, private_key]',
          'proposals:',
          '  auto_approve: true',
          '',
        ].join('\n'),
      );
      c.write(
        'model_keys/default.yaml',
        `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n    can_propose: true\n  other-bot:\n    key: ${OTHER_BOT}\n`,
      );
      registerTool(c, 'reports.weekly');
      // The registry says what a proposal may not widen: db.write_sensitive writes.
      const file = join(c.dir, 'tools/db.write_sensitive.json');
      c.write('tools/db.write_sensitive.json', {
        ...(JSON.parse(readFileSync(file, 'utf8')) as object),
        writes: true,
      });
    },
  });
});

afterAll(async () => {
  await gw?.stop();
});

const agent = { 'X-API-Key': AGENT_KEY };
const propose = (yaml: string, headers: Record<string, string> = agent, model_id = 'gpt-4o') =>
  post(gw, '/api/propose_policy', { model_id, yaml, justification: 'e2e' }, headers);
const call = (tool: string) =>
  post(
    gw,
    '/api/tools/call',
    envelope({
      tool,
      arguments: tool === 'db.write_sensitive' ? { table: 't', record: { n: 1 } } : {},
    }),
    agent,
  );
const rule = (allow: string[], model = 'gpt-4o') =>
  `rules:\n  - model: ${model}\n    allow_tools: [${allow.map((a) => `"${a}"`).join(', ')}]\n    deny_tools: ["calendar.delete_*"]\n`;

it.each<[string, string, string]>([
  [
    'widening access to db.write_sensitive',
    rule(['calendar.*', 'db.write_sensitive']),
    'no_sensitive_widening',
  ],
  ['an allow of *', rule(['*']), 'no_wildcards'],
  ['another model’s rule', rule(['calendar.*'], 'claude'), 'own_rules_only'],
  ['removing a forbidden field', 'forbidden_fields: [password]\n', 'no_removals'],
  [
    'removing a deny rule',
    'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\n',
    'no_removals',
  ],
  ['changing the guardrails', 'proposals:\n  auto_approve: true\n', 'no_guardrail_changes'],
])('queues for review, never applies, a proposal %s', async (_what, yaml, failing) => {
  const res = await propose(yaml);
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ status: 'pending', review_required: true });
  const g = (res.body.guardrails as Array<{ name: string; pass: boolean; why: string }>).find(
    (x) => x.name === failing,
  )!;
  expect(g.pass).toBe(false);
  expect(g.why.length).toBeGreaterThan(10);
  // Nothing changed: db.write_sensitive and reports.weekly stay refused.
  expect((await call('db.write_sensitive')).status).toBe(403);
});

it.each<[string, string, number, string]>([
  [
    'a YAML bomb',
    [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'rules: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    ].join('\n'),
    400,
    'POLICY.PROPOSAL_INVALID',
  ],
  [
    'a !!js/function tag',
    'rules: !!js/function "function () {}"\n',
    400,
    'POLICY.PROPOSAL_INVALID',
  ],
  ['YAML that is not a policy', 'rulez: []\n', 400, 'POLICY.PROPOSAL_INVALID'],
  // Over BODY_LIMIT_BYTES, yet small enough that the client has sent it all before the 413
  // comes back (a far larger body may still be writing when the server closes: EPIPE).
  ['400 KB of YAML', `# ${'x'.repeat(400 * 1024)}\n`, 413, 'REQUEST.TOO_LARGE'],
])('refuses %s with its status', async (_what, yaml, status, code) => {
  const res = await propose(yaml);
  expect([res.status, res.body.error.code]).toEqual([status, code]);
});

it('refuses an agent without can_propose, and an agent proposing for another model', async () => {
  const other = await propose(
    rule(['calendar.*'], 'other-bot'),
    { 'X-API-Key': OTHER_BOT },
    'other-bot',
  );
  expect([other.status, other.body.error.code]).toEqual([403, 'POLICY.PROPOSALS_NOT_ALLOWED']);
  const mismatch = await propose(rule(['calendar.*'], 'other-bot'), agent, 'other-bot');
  expect([mismatch.status, mismatch.body.error.code]).toEqual([403, 'AUTH.IDENTITY_MISMATCH']);
});

it('approves at once a proposal that passes every guardrail and only adds a read-only tool', async () => {
  expect((await call('reports.weekly')).status).toBe(403);
  const res = await propose(rule(['calendar.*', 'reports.*']));
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({
    status: 'approved',
    version: { source: 'proposal', author: 'gpt-4o', verified: true },
  });
  expect(res.body.guardrails.every((g: { pass: boolean }) => g.pass)).toBe(true);
  expect((await call('reports.weekly')).status).toBe(200);
  // Written back to the file (FILE_WRITEBACK), which then records no version of its own: the
  // newest version stays the proposal's.
  const file = join(gw.config.dir, 'policies/default.yaml');
  expect(readFileSync(file, 'utf8')).toContain('reports.*');
  await new Promise((r) => setTimeout(r, 2500));
  const newest = await get(gw, '/api/policy/history?project=default&kind=policies&limit=1', {
    'X-Admin-Key': ADMIN_KEY,
  });
  expect(newest.body.versions[0]).toMatchObject({ id: res.body.version.id, source: 'proposal' });
  // A signed event of the proposal, in the audit.
  const row = await waitFor(
    async () =>
      (
        await gw.db.query<{ data: Record<string, unknown> }>(
          "SELECT data FROM audit_events WHERE subject = 'gw.evt.policy.proposal.v1' AND data->>'proposal_id' = $1",
          [res.body.proposal_id],
        )
      ).rows[0]?.data,
    10_000,
    'the proposal event',
  );
  expect(row).toMatchObject({ status: 'approved', auto_approved: true, model_id: 'gpt-4o' });
  expect(row.signature).toEqual(expect.any(String));
});

it('lets a reviewer see the diff and approve a queued proposal; four-eyes stops its proposer', async () => {
  // Proposed by an admin (the bootstrap key), for gpt-4o: it widens to a write tool, so it waits.
  const res = await propose(rule(['calendar.*', 'reports.*', 'db.write_sensitive']), {
    'X-Admin-Key': ADMIN_KEY,
  });
  expect(res.status).toBe(202);
  const id = res.body.proposal_id as string;
  const queue = await get(gw, '/api/proposals?status=pending', { 'X-Admin-Key': ALICE });
  expect(queue.body.proposals.map((p: { proposal_id: string }) => p.proposal_id)).toContain(id);
  const detail = await get(gw, `/api/proposals/${id}`, { 'X-Admin-Key': ALICE });
  expect(detail.body.diff).toMatch(/^\+.*db\.write_sensitive/m);
  const self = await post(gw, `/api/proposals/${id}/approve`, {}, { 'X-Admin-Key': ADMIN_KEY });
  expect([self.status, self.body.error.code]).toEqual([403, 'APPROVAL.FOUR_EYES']);
  const approved = await post(
    gw,
    `/api/proposals/${id}/approve`,
    { comment: 'reviewed' },
    { 'X-Admin-Key': ALICE },
  );
  expect(approved.status).toBe(200);
  expect(approved.body).toMatchObject({
    status: 'approved',
    reviewer: 'alice',
    comment: 'reviewed',
  });
  expect(approved.body.version_id).toEqual(expect.any(String));
  // db.write_sensitive is allowed now: the merged version is active.
  expect((await call('db.write_sensitive')).status).toBe(200);
  const again = await post(gw, `/api/proposals/${id}/reject`, {}, { 'X-Admin-Key': ALICE });
  expect([again.status, again.body.error.code]).toEqual([409, 'POLICY.PROPOSAL_NOT_PENDING']);
});

it('rejects a queued proposal: nothing changes', async () => {
  const res = await propose(rule(['*']));
  const id = res.body.proposal_id as string;
  const rejected = await post(
    gw,
    `/api/proposals/${id}/reject`,
    { comment: 'no' },
    { 'X-Admin-Key': ALICE },
  );
  expect(rejected.body).toMatchObject({ status: 'rejected', reviewer: 'alice', version_id: null });
});
