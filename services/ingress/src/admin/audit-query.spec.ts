import fc from 'fast-check';
import { alertsQuerySchema, GatewayError, recordsQuerySchema } from '@sg/contracts';
import {
  parseAlertsQuery,
  parseCheckpointsQuery,
  parseExportQuery,
  parseRecordsQuery,
  parseSessionQuery,
  parseVerifyQuery,
} from './audit-query.js';
import { errorOf } from '../../test/error-of.js';

const q = (s: string) => new URLSearchParams(s);

describe('parseRecordsQuery', () => {
  it('gives the first page of 100 of everything without parameters', () => {
    expect(parseRecordsQuery(q(''))).toEqual({ limit: 100 });
  });

  it.each([
    ['project=acme', { project: 'acme' }],
    ['trace_id=4bf92f3577b34da6a3ce929d0e0e4736', { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' }],
    ['session_id=sess%201', { session_id: 'sess 1' }],
    ['agent_id=gpt-4o', { agent_id: 'gpt-4o' }],
    ['tool=calendar.list_events', { tool: 'calendar.list_events' }],
    ['status=success', { status: 'success' }],
    ['status=pending_approval', { status: 'pending_approval' }],
    ['from=2026-05-01T00:00:00Z', { from: '2026-05-01T00:00:00Z' }],
    ['from=2026-05-01T02:00:00.5%2B02:00', { from: '2026-05-01T02:00:00.5+02:00' }],
    ['to=2026-05-01', { to: '2026-05-01T00:00:00Z' }],
    ['cursor=abc_-9', { cursor: 'abc_-9' }],
    ['limit=1', { limit: 1 }],
    ['limit=1000', { limit: 1000 }],
  ])('reads %s', (query, expected) => {
    expect(parseRecordsQuery(q(query))).toEqual({ limit: 100, ...expected });
  });

  it('reads every filter at once into a valid records request', () => {
    const parsed = parseRecordsQuery(
      q(
        'project=acme&trace_id=trace-0001&session_id=s1&agent_id=gpt-4o&tool=crm.lookup&status=denied&from=2026-05-01&to=2026-05-02T00:00:00Z&cursor=xyz&limit=250',
      ),
    );
    expect(parsed).toEqual({
      project: 'acme',
      trace_id: 'trace-0001',
      session_id: 's1',
      agent_id: 'gpt-4o',
      tool: 'crm.lookup',
      status: 'denied',
      from: '2026-05-01T00:00:00Z',
      to: '2026-05-02T00:00:00Z',
      cursor: 'xyz',
      limit: 250,
    });
    expect(recordsQuerySchema.parse(parsed)).toEqual(parsed);
  });

  it.each([
    ['limit=0', 'limit', /limit must be an integer from 1 to 1000; got "0"/],
    ['limit=1001', 'limit', /from 1 to 1000/],
    ['limit=ten', 'limit', /from 1 to 1000/],
    ['limit=1.5', 'limit', /from 1 to 1000/],
    ['limit=-1', 'limit', /from 1 to 1000/],
    [
      'from=yesterday',
      'from',
      /from must be an ISO 8601 time with a zone, e.g. 2026-05-01T00:00:00Z/,
    ],
    ['from=2026-05-01T00:00:00', 'from', /with a zone/],
    ['to=2026-02-30', 'to', /to must be an ISO 8601 time/],
    ['to=2026-13-01T00:00:00Z', 'to', /ISO 8601/],
    // A + that was not encoded arrives as a space.
    ['from=2026-05-01T02:00:00+02:00', 'from', /send a \+ offset as %2B/],
    [
      'status=allowed',
      'status',
      /status must be one of success, pending_approval, denied, rejected, error; got "allowed"/,
    ],
    ['project=Acme', 'project', /project must be 1-63 lower-case letters/],
    ['project=../etc', 'project', /project must be/],
    ['trace_id=short', 'trace_id', /trace_id must be 8-64 letters/],
    [`tool=${'x'.repeat(257)}`, 'tool', /tool must be 1-256 characters/],
    [
      'agent_id=',
      'agent_id',
      /agent_id is empty; give 1-256 characters, without U\+0000, or leave it out/,
    ],
    ['from=2026-05-02&to=2026-05-01', 'from', /from must be earlier than to/],
    ['from=2026-05-01&to=2026-05-01', 'from', /earlier than to/],
  ])(
    'refuses %s with AUDIT.INVALID_QUERY naming %s and the expected form',
    (query, param, message) => {
      const err = errorOf(() => parseRecordsQuery(q(query)));
      expect(err.code).toBe('AUDIT.INVALID_QUERY');
      expect(err.httpStatus).toBe(400);
      expect(err.message).toMatch(message);
      expect(err.details).toEqual({ issues: [expect.objectContaining({ param })] });
    },
  );

  it('refuses an unknown parameter, so that a typo does not return everything', () => {
    const err = errorOf(() => parseRecordsQuery(q('agent=gpt-4o')));
    expect(err.code).toBe('AUDIT.INVALID_QUERY');
    expect(err.message).toMatch(
      /unknown parameter "agent"; use project, trace_id, session_id, agent_id, tool, status, from, to, cursor, limit/,
    );
  });

  it('refuses a repeated parameter rather than pick one of its values', () => {
    const err = errorOf(() => parseRecordsQuery(q('tool=a.b&tool=c.d')));
    expect(err.code).toBe('AUDIT.INVALID_QUERY');
    expect(err.message).toMatch(/tool is given 2 times; give it once/);
  });

  it('names every bad parameter in one answer', () => {
    const err = errorOf(() => parseRecordsQuery(q('limit=0&status=ok&colour=red')));
    expect(
      (err.details as { issues: Array<{ param: string }> }).issues.map((i) => i.param).sort(),
    ).toEqual(['colour', 'limit', 'status']);
  });

  it('answers AUDIT.INVALID_CURSOR when only the cursor is wrong', () => {
    expect(errorOf(() => parseRecordsQuery(q(`cursor=${'a'.repeat(513)}`))).code).toBe(
      'AUDIT.INVALID_CURSOR',
    );
    expect(errorOf(() => parseRecordsQuery(q('cursor='))).code).toBe('AUDIT.INVALID_CURSOR');
    expect(errorOf(() => parseRecordsQuery(q('cursor=&limit=0'))).code).toBe('AUDIT.INVALID_QUERY');
  });

  it('gives the audit service only requests its contract accepts, or refuses with a 400', () => {
    const keys = [
      'project',
      'trace_id',
      'session_id',
      'agent_id',
      'tool',
      'status',
      'from',
      'to',
      'cursor',
      'limit',
      'x',
    ];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...keys), fc.string({ maxLength: 40 })), {
          maxLength: 6,
        }),
        (pairs) => {
          const params = new URLSearchParams(pairs);
          let parsed;
          try {
            parsed = parseRecordsQuery(params);
          } catch (err) {
            expect(err).toBeInstanceOf(GatewayError);
            expect((err as GatewayError).httpStatus).toBe(400);
            return;
          }
          expect(recordsQuerySchema.safeParse(parsed).success).toBe(true);
        },
      ),
    );
  });
});

describe('parseExportQuery', () => {
  it('takes the filters of the records query', () => {
    expect(parseExportQuery(q('project=acme&status=denied&from=2026-05-01'))).toEqual({
      project: 'acme',
      status: 'denied',
      from: '2026-05-01T00:00:00Z',
    });
  });

  it('refuses cursor and limit: the export pages by itself', () => {
    const err = errorOf(() => parseExportQuery(q('limit=10&cursor=x')));
    expect(err.code).toBe('AUDIT.INVALID_QUERY');
    expect(err.message).toMatch(/unknown parameter "limit"/);
    expect(err.message).toMatch(/unknown parameter "cursor"/);
  });
});

describe('parseAlertsQuery', () => {
  it('reads every filter into a valid alerts request', () => {
    const parsed = parseAlertsQuery(
      q('project=acme&type=denial_spike&from=2026-05-01&to=2026-06-01&cursor=c&limit=20'),
    );
    expect(parsed).toEqual({
      project: 'acme',
      type: 'denial_spike',
      from: '2026-05-01T00:00:00Z',
      to: '2026-06-01T00:00:00Z',
      cursor: 'c',
      limit: 20,
    });
    expect(alertsQuerySchema.parse(parsed)).toEqual(parsed);
    expect(parseAlertsQuery(q(''))).toEqual({ limit: 100 });
  });

  it('refuses an unknown alert type, listing the known ones', () => {
    expect(errorOf(() => parseAlertsQuery(q('type=spike'))).message).toMatch(
      /type must be one of denial_spike, rate_limit_storm, high_risk_session, new_tool, new_agent/,
    );
  });

  it('refuses the records filters', () => {
    expect(errorOf(() => parseAlertsQuery(q('status=denied'))).message).toMatch(
      /unknown parameter "status"/,
    );
  });

  it.each([
    ['true', true],
    ['false', false],
  ])('reads acknowledged=%s', (raw, value) => {
    const parsed = parseAlertsQuery(q(`acknowledged=${raw}&project=acme`));
    expect(parsed).toEqual({ acknowledged: value, project: 'acme', limit: 100 });
    expect(alertsQuerySchema.parse(parsed)).toEqual(parsed);
  });

  it.each(['yes', '1', 'TRUE', 'true '])(
    'refuses acknowledged=%j with AUDIT.INVALID_QUERY, saying what it takes',
    (raw) => {
      const err = errorOf(() => parseAlertsQuery(q(`acknowledged=${encodeURIComponent(raw)}`)));
      expect(err.code).toBe('AUDIT.INVALID_QUERY');
      expect(err.message).toMatch(/acknowledged must be true .* or false/);
    },
  );

  it('refuses acknowledged given twice, or empty', () => {
    expect(
      errorOf(() => parseAlertsQuery(q('acknowledged=true&acknowledged=false'))).message,
    ).toMatch(/acknowledged is given 2 times/);
    expect(errorOf(() => parseAlertsQuery(q('acknowledged='))).message).toMatch(
      /acknowledged is empty/,
    );
  });
});

describe('parseVerifyQuery and parseCheckpointsQuery', () => {
  it('need a project', () => {
    for (const parse of [parseVerifyQuery, parseCheckpointsQuery]) {
      const err = errorOf(() => parse(q('')));
      expect(err.code).toBe('AUDIT.INVALID_QUERY');
      expect(err.message).toMatch(/project is required: 1-63 lower-case letters/);
    }
    expect(parseVerifyQuery(q('project=acme'))).toEqual({ project: 'acme' });
  });

  it('refuses a text filter holding U+0000, naming it (PostgreSQL text cannot hold it)', () => {
    const err = errorOf(() => parseRecordsQuery(q('session_id=a%00b')));
    expect(err.code).toBe('AUDIT.INVALID_QUERY');
    expect(err.message).toMatch(/session_id must be 1-256 characters, without U\+0000/);
  });

  it('pass a verification cursor on to the audit service', () => {
    expect(parseVerifyQuery(q('project=acme&cursor=abc_-1'))).toEqual({
      project: 'acme',
      cursor: 'abc_-1',
    });
    const err = errorOf(() => parseVerifyQuery(q('project=acme&cursor=')));
    expect(err.code).toBe('AUDIT.INVALID_CURSOR');
  });

  it('read after_seq as a whole number, 0 when absent', () => {
    expect(parseCheckpointsQuery(q('project=acme'))).toEqual({ project: 'acme', after_seq: 0 });
    expect(parseCheckpointsQuery(q('project=acme&after_seq=42'))).toEqual({
      project: 'acme',
      after_seq: 42,
    });
    expect(errorOf(() => parseCheckpointsQuery(q('project=acme&after_seq=-1'))).message).toMatch(
      /after_seq must be a whole number, 0 or more/,
    );
  });
});

describe('parseSessionQuery', () => {
  it('takes no parameters, and says where the project comes from', () => {
    expect(() => parseSessionQuery(q(''))).not.toThrow();
    expect(errorOf(() => parseSessionQuery(q('project=acme'))).message).toMatch(
      /the project is the X-Project-ID header/,
    );
  });
});
