import fc from 'fast-check';
import { approvalListSchema, approvalStatusSchema, GatewayError } from '@sg/contracts';
import { decodeCursor, encodeCursor, listQuery } from './approval-queue.js';

const position = { at: '2026-05-01T12:00:00.123456Z', id: '7c2a3f7e-1d2b-4c3d-8e4f-5a6b7c8d9e0f' };
const executed = { status: 'executed' as const };
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function errorOf(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('approvals queue cursor', () => {
  it('gives back the position it was made from, microseconds included', () => {
    const cursor = encodeCursor(executed, position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(executed, cursor)).toEqual(position);
  });

  it('round-trips any position of any list', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...approvalStatusSchema.options),
        fc.option(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,62}$/), { nil: undefined }),
        fc.date({
          min: new Date('2000-01-01T00:00:00Z'),
          max: new Date('2999-12-31T00:00:00Z'),
          noInvalidDate: true,
        }),
        fc.integer({ min: 0, max: 999 }),
        fc.uuid(),
        (status, project, date, micros, id) => {
          const at = `${date.toISOString().slice(0, 23)}${String(micros).padStart(3, '0')}Z`;
          const q = { status, ...(project !== undefined ? { project } : {}) };
          expect(decodeCursor(q, encodeCursor(q, { at, id }))).toEqual({ at, id });
        },
      ),
    );
  });

  it.each([
    ['another status', { status: 'rejected' as const }],
    ['a project the list was not filtered by', { ...executed, project: 'acme' }],
  ])('belongs to its own list: refused for %s', (_what, other) => {
    const err = errorOf(() => decodeCursor(other, encodeCursor(executed, position)));
    expect(err.code).toBe('AUDIT.INVALID_CURSOR');
    expect(err.message).toMatch(/pass next_cursor of the previous page unchanged/);
  });

  it("refuses one project's cursor for another project", () => {
    const cursor = encodeCursor({ ...executed, project: 'acme' }, position);
    expect(errorOf(() => decodeCursor({ ...executed, project: 'beta' }, cursor)).code).toBe(
      'AUDIT.INVALID_CURSOR',
    );
    expect(errorOf(() => decodeCursor(executed, cursor)).code).toBe('AUDIT.INVALID_CURSOR');
  });

  it.each([
    ['not base64url', 'abc$%^'],
    ['base64url of no JSON', Buffer.from('hello').toString('base64url')],
    ['JSON of another shape', b64({ offset: 100 })],
    ['an audit records cursor', b64({ k: 'records', ...position })],
    [
      'a time without microseconds',
      b64({ k: 'approvals', s: 'executed', p: null, at: '2026-05-01T12:00:00Z', id: position.id }),
    ],
    [
      'an id that is no uuid',
      b64({ k: 'approvals', s: 'executed', p: null, at: position.at, id: "x' OR 1=1" }),
    ],
    ['extra fields', b64({ k: 'approvals', s: 'executed', p: null, ...position, x: 1 })],
  ])('refuses %s with AUDIT.INVALID_CURSOR', (_what, cursor) => {
    expect(errorOf(() => decodeCursor(executed, cursor)).code).toBe('AUDIT.INVALID_CURSOR');
  });
});

describe('approvals queue query', () => {
  const query = (q: Record<string, unknown>) => listQuery(approvalListSchema.parse(q));

  it('lists pending approvals still open, soonest expiry first', () => {
    const { text, values } = query({});
    expect(text).toContain("WHERE status = 'pending' AND expires_at > now()");
    expect(text).toContain('ORDER BY expires_at ASC, id ASC');
    expect(text).toMatch(/LIMIT \$1$/);
    expect(values).toEqual([51]);
  });

  it('lists any other status newest first, its status a parameter', () => {
    const { text, values } = query({ status: 'executed', limit: 10 });
    expect(text).toContain('WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT $2');
    expect(text).not.toContain('expires_at > now()');
    expect(values).toEqual(['executed', 11]);
  });

  it('filters by project as a parameter', () => {
    const { text, values } = query({ status: 'rejected', project: 'acme' });
    expect(text).toContain('WHERE status = $1 AND project = $2');
    expect(values).toEqual(['rejected', 'acme', 51]);
  });

  it('continues after the cursor: past it in the order of the status', () => {
    const pending = { status: 'pending' as const, project: 'acme' };
    const next = query({ ...pending, cursor: encodeCursor(pending, position) });
    expect(next.text).toContain('AND (expires_at, id) > ($2::timestamptz, $3::uuid)');
    expect(next.values).toEqual(['acme', position.at, position.id, 51]);
    const older = query({ ...executed, cursor: encodeCursor(executed, position) });
    expect(older.text).toContain('AND (created_at, id) < ($2::timestamptz, $3::uuid)');
    expect(older.values).toEqual(['executed', position.at, position.id, 51]);
  });

  it('returns the sort time to the microsecond, for the next cursor', () => {
    expect(query(executed).text).toContain(
      `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS position_at`,
    );
  });

  it('refuses a foreign cursor before any SQL is made', () => {
    expect(() => query({ ...executed, cursor: b64({ k: 'approvals' }) })).toThrow(
      expect.objectContaining({ code: 'AUDIT.INVALID_CURSOR' }),
    );
  });
});
