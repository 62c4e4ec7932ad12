import fc from 'fast-check';
import { type AuditRecord, auditStreamFilterSchema, RECORD_STATUSES } from '@sg/contracts';
import { errorOf } from '../../test/error-of.js';
import { parseStreamQuery } from './audit-query.js';
import { callFrame, commentFrame, endFrame, matchesFilter } from './audit-stream.js';

const record = (over: Partial<AuditRecord> = {}): AuditRecord => ({
  audit_id: '7c2a3f7e-1d2b-4c3d-8e4f-5a6b7c8d9e0f',
  trace_id: 'trace-0001',
  project: 'acme',
  timestamp: '2026-05-01T12:00:00.123Z',
  channel: 'rest',
  agent_id: 'gpt-4o',
  session_id: 's1',
  request_id: 'r1',
  user_id: 'u-7',
  tenant_id: 'acme',
  tool_name: 'crm.lookup',
  arguments: { email: '[email]' },
  result: null,
  validation: null,
  execution_time_ms: 4,
  error: null,
  status: 'success',
  http_status: 200,
  ...over,
});

/** What a browser's EventSource makes of a stream (the WHATWG parsing rules, for the fields we send). */
function parseSse(text: string): { events: { id?: string; event: string; data: string }[] } {
  const events: { id?: string; event: string; data: string }[] = [];
  let id: string | undefined;
  let event = 'message';
  let data: string[] = [];
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      if (data.length > 0)
        events.push({ ...(id !== undefined ? { id } : {}), event, data: data.join('\n') });
      id = undefined;
      event = 'message';
      data = [];
      continue;
    }
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return { events };
}

describe('matchesFilter', () => {
  it('lets everything through without filters, and matches each filter on its field', () => {
    const r = record();
    expect(matchesFilter({}, r)).toBe(true);
    expect(
      matchesFilter(
        { project: 'acme', agent_id: 'gpt-4o', tool: 'crm.lookup', status: 'success' },
        r,
      ),
    ).toBe(true);
    expect(matchesFilter({ project: 'other' }, r)).toBe(false);
    expect(matchesFilter({ agent_id: 'claude' }, r)).toBe(false);
    expect(matchesFilter({ tool: 'crm' }, r)).toBe(false);
    expect(matchesFilter({ status: 'denied' }, r)).toBe(false);
    // A record without a tool or agent (a 401) matches no tool or agent filter.
    expect(matchesFilter({ tool: 'crm.lookup' }, record({ tool_name: null }))).toBe(false);
    expect(matchesFilter({ agent_id: 'gpt-4o' }, record({ agent_id: null }))).toBe(false);
  });

  it('matches exactly when every given filter equals its field (property)', () => {
    const value = fc.constantFrom('a', 'b');
    fc.assert(
      fc.property(
        fc.record(
          {
            project: value,
            agent_id: value,
            tool: value,
            status: fc.constantFrom(...RECORD_STATUSES),
          },
          { requiredKeys: [] },
        ),
        value,
        fc.option(value, { nil: null }),
        fc.option(value, { nil: null }),
        fc.constantFrom(...RECORD_STATUSES),
        (filter, project, agent, tool, status) => {
          const r = record({ project, agent_id: agent, tool_name: tool, status });
          const expected =
            (filter.project ?? project) === project &&
            (filter.agent_id === undefined || filter.agent_id === agent) &&
            (filter.tool === undefined || filter.tool === tool) &&
            (filter.status ?? status) === status;
          expect(matchesFilter(filter, r)).toBe(expected);
        },
      ),
    );
  });
});

describe('parseStreamQuery', () => {
  const q = (s: string) => parseStreamQuery(new URLSearchParams(s));

  it('takes project, agent_id, tool and status, as the records query does', () => {
    expect(q('')).toEqual({});
    const filter = q('project=acme&agent_id=gpt-4o&tool=crm.lookup&status=pending_approval');
    expect(filter).toEqual({
      project: 'acme',
      agent_id: 'gpt-4o',
      tool: 'crm.lookup',
      status: 'pending_approval',
    });
    expect(auditStreamFilterSchema.parse(filter)).toEqual(filter);
  });

  it.each([
    ['status=ok', /status must be one of success, pending_approval/],
    ['project=../etc', /project must be 1-63 lower-case letters/],
    ['tool=', /tool is empty/],
    ['tool=a&tool=b', /tool is given 2 times/],
    ['from=2026-05-01', /unknown parameter "from"; use project, agent_id, tool, status/],
    ['limit=5', /unknown parameter "limit"/],
    ['agent_id=a%00b', /agent_id must be 1-256 characters, without U\+0000/],
  ])('refuses %s with AUDIT.INVALID_QUERY', (s, message) => {
    const err = errorOf(() => q(s));
    expect(err.code).toBe('AUDIT.INVALID_QUERY');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toMatch(message);
  });
});

describe('SSE framing', () => {
  it('frames a record as one `call` event with its audit_id as id', () => {
    const r = record();
    const frame = callFrame(r);
    expect(frame).toBe(`id: ${r.audit_id}\nevent: call\ndata: ${JSON.stringify(r)}\n\n`);
    expect(parseSse(frame).events).toEqual([
      { id: r.audit_id, event: 'call', data: JSON.stringify(r) },
    ]);
  });

  it('keeps any record one event that parses back to itself, whatever its strings hold (property)', () => {
    const nasty = fc.string({
      unit: fc.constantFrom('a', '\n', '\r', '\r\n', ':', ' ', '\u2028', 'data: x', '\0', 'é'),
    });
    fc.assert(
      fc.property(nasty, nasty, nasty, (id, arg, reason) => {
        const r = record({ audit_id: id, arguments: { text: arg }, user_id: reason });
        const stream = commentFrame('keep-alive') + callFrame(r) + callFrame(r);
        const { events } = parseSse(stream);
        expect(events).toHaveLength(2);
        for (const e of events) {
          expect(e.event).toBe('call');
          expect(JSON.parse(e.data)).toEqual(r);
          // An id that could break the frame is left out, never sent mangled.
          if (/^[^\r\n\0]*$/.test(id)) expect(e.id).toBe(id);
          else expect(e.id).toBeUndefined();
        }
      }),
    );
  });

  it('ends with an `end` event naming the code, and sends comments clients ignore', () => {
    const frame = endFrame('AUTH.SESSION_INVALID', 'the session ended\nlog in again');
    expect(parseSse(frame).events).toEqual([
      {
        event: 'end',
        data: JSON.stringify({
          code: 'AUTH.SESSION_INVALID',
          message: 'the session ended\nlog in again',
        }),
      },
    ]);
    expect(parseSse(commentFrame('keep\nalive')).events).toEqual([]);
    expect(commentFrame('keep\nalive')).toBe(': keep alive\n\n');
  });
});
