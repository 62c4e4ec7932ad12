import {
  approvalCommentSchema,
  approvalListSchema,
  approvalResolvedSchema,
  approvalViewSchema,
} from '../index.js';

const view = {
  approval_id: '7c2a3f7e-1d2b-4c3d-8e4f-5a6b7c8d9e0f',
  status: 'pending',
  project: 'default',
  agent_id: 'gpt-4o',
  tool: 'db.write_sensitive',
  request_id: 'req-1',
  trace_id: 'trace-0001',
  arguments: {},
  arguments_digest: 'd',
  policy_version: 'v1',
  created_at: '2026-05-01T12:00:00.000Z',
  expires_at: '2026-05-01T12:15:00.000Z',
  resolved_at: null,
  approver: null,
  outcome: null,
};

describe('approval comment', () => {
  it('is kept trimmed', () => {
    expect(approvalCommentSchema.parse('  ticket 42 checked \n')).toBe('ticket 42 checked');
  });

  it('holds up to 500 characters after trimming', () => {
    expect(approvalCommentSchema.parse(` ${'x'.repeat(500)} `)).toHaveLength(500);
  });

  it.each([
    ['empty', '', 'leave it out rather than send it empty'],
    ['only blanks', ' \t\n ', 'leave it out rather than send it empty'],
    ['501 characters', 'x'.repeat(501), 'at most 500 characters'],
    ['U+0000', 'a\u0000b', 'cannot contain U+0000'],
  ])('refuses one that is %s, saying why', (_what, comment, why) => {
    const parsed = approvalCommentSchema.safeParse(comment);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.message).join('; ')).toContain(why);
  });

  it('is optional in the resolved event, for events stored before it existed', () => {
    const event = {
      approval_id: 'a',
      agent_id: 'g',
      tool: 't',
      request_id: 'r',
      status: 'expired',
    };
    expect(approvalResolvedSchema.parse({ ...event, approver: null })).not.toHaveProperty(
      'comment',
    );
    expect(approvalResolvedSchema.parse({ ...event, approver: 'x', comment: 'ok' }).comment).toBe(
      'ok',
    );
  });
});

describe('approval view', () => {
  it('reads risk_score and comment as null from a policy service that does not send them', () => {
    expect(approvalViewSchema.parse(view)).toMatchObject({ risk_score: null, comment: null });
  });

  it('refuses a risk score outside 0..1', () => {
    expect(approvalViewSchema.safeParse({ ...view, risk_score: 1.5 }).success).toBe(false);
  });
});

describe('approval list request', () => {
  it('defaults to the first 50 pending approvals', () => {
    expect(approvalListSchema.parse({})).toEqual({ status: 'pending', limit: 50 });
  });

  it.each([{ limit: 0 }, { limit: 201 }, { status: 'done' }, { project: 'Acme' }, { cursor: '' }])(
    'refuses %j',
    (q) => {
      expect(approvalListSchema.safeParse(q).success).toBe(false);
    },
  );
});
