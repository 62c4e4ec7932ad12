import fc from 'fast-check';
import { approvalListSchema, approvalStatusSchema, GatewayError } from '@sg/contracts';
import { parseApprovalsQuery } from './approvals-query.js';
import { errorOf } from '../../test/error-of.js';

const q = (s: string) => new URLSearchParams(s);

describe('parseApprovalsQuery', () => {
  it('asks for the first 50 pending approvals of every project without parameters', () => {
    expect(parseApprovalsQuery(q(''))).toEqual({ status: 'pending', limit: 50 });
  });

  it.each(approvalStatusSchema.options)('reads status=%s', (status) => {
    expect(parseApprovalsQuery(q(`status=${status}`))).toEqual({ status, limit: 50 });
  });

  it('reads every parameter at once into a valid list request', () => {
    const parsed = parseApprovalsQuery(q('status=executed&project=acme&limit=200&cursor=abc_-9'));
    expect(parsed).toEqual({ status: 'executed', project: 'acme', limit: 200, cursor: 'abc_-9' });
    expect(approvalListSchema.parse(parsed)).toEqual(parsed);
  });

  it.each([
    ['status=done', 'status', 'status must be one of pending, approved, rejected'],
    ['status=success', 'status', 'status must be one of'],
    ['status=', 'status', 'status is empty'],
    ['status=pending&status=approved', 'status', 'status is given 2 times; give it once'],
    ['project=Acme', 'project', 'project must be 1-63 lower-case letters'],
    ['project=a%2Fb', 'project', 'project must be'],
    ['limit=0', 'limit', 'limit must be an integer from 1 to 200'],
    ['limit=201', 'limit', 'limit must be an integer from 1 to 200'],
    ['limit=1000', 'limit', 'limit must be an integer from 1 to 200'],
    ['limit=ten', 'limit', 'limit must be an integer from 1 to 200'],
    ['limit=-1', 'limit', 'limit must be an integer from 1 to 200'],
    [
      'agent_id=gpt-4o',
      'agent_id',
      'unknown parameter "agent_id"; use status, project, limit, cursor',
    ],
  ])('refuses %s with AUDIT.INVALID_QUERY naming %s and the expected form', (query, param, msg) => {
    const err = errorOf(() => parseApprovalsQuery(q(query)));
    expect(err.code).toBe('AUDIT.INVALID_QUERY');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toContain(msg);
    expect(err.details).toEqual({ issues: [expect.objectContaining({ param })] });
  });

  it('names every bad parameter at once', () => {
    const err = errorOf(() => parseApprovalsQuery(q('status=nope&limit=0&x=1')));
    expect((err.details as { issues: { param: string }[] }).issues.map((i) => i.param)).toEqual([
      'status',
      'limit',
      'x',
    ]);
  });

  it('answers AUDIT.INVALID_CURSOR when only the cursor is wrong', () => {
    expect(errorOf(() => parseApprovalsQuery(q(`cursor=${'a'.repeat(513)}`))).code).toBe(
      'AUDIT.INVALID_CURSOR',
    );
    expect(errorOf(() => parseApprovalsQuery(q('cursor='))).code).toBe('AUDIT.INVALID_CURSOR');
  });

  it('never lets a limit outside 1-200 through', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 6 }), (raw) => {
        let parsed;
        try {
          parsed = parseApprovalsQuery(q(`limit=${encodeURIComponent(raw)}`));
        } catch (err) {
          return (err as GatewayError).code === 'AUDIT.INVALID_QUERY';
        }
        return Number.isInteger(parsed.limit) && parsed.limit >= 1 && parsed.limit <= 200;
      }),
    );
  });
});
