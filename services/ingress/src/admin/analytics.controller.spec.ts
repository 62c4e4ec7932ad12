import { GatewayError } from '@sg/contracts';
import type { RequestContext } from '../toolcall/toolcall.service.js';
import { simulateRequestOf } from './analytics.controller.js';
import { parseSuggestQuery, parseSummaryQuery, parseRiskSessionsQuery } from './audit-query.js';

const ctx: RequestContext = { traceId: 't-1', project: 'default', projectError: null };
const FROM = '2026-12-01T00:00:00Z';
const TO = '2026-12-02T00:00:00Z';
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return `${(err as GatewayError).code}: ${(err as Error).message}`;
  }
  return 'no error';
};

describe('POST /api/simulate bodies', () => {
  it('reads each of the three sources, against the live policy unless told otherwise', () => {
    expect(
      simulateRequestOf(
        { model_id: 'm', session_id: 's', tool_calls: [{ tool: 'a.b', input: {} }] },
        ctx,
      ),
    ).toEqual({
      project: 'default',
      against: { live: true },
      source: {
        kind: 'trace',
        model_id: 'm',
        session_id: 's',
        tool_calls: [{ tool: 'a.b', input: {} }],
      },
    });
    expect(
      simulateRequestOf({ project: 'p1', session_id: 's', policy_yaml: 'rules: []' }, ctx),
    ).toEqual({
      project: 'p1',
      against: { policy_yaml: 'rules: []' },
      source: { kind: 'session', session_id: 's' },
    });
    const id = '00000000-0000-4000-8000-000000000001';
    expect(simulateRequestOf({ from: FROM, to: TO, version_id: id }, ctx)).toMatchObject({
      against: { version_id: id },
      source: { kind: 'window', from: FROM, to: TO, limit: 10_000 },
    });
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['nothing to simulate', {}, /send \{"model_id"/],
    ['both targets', { session_id: 's', version_id: 'x', policy_yaml: 'y' }, /not both/],
    [
      'a trace without its model',
      { session_id: 's', tool_calls: [{ tool: 'a', input: {} }] },
      /needs model_id/,
    ],
    ['half a window', { from: FROM }, /both from and to/],
    ['an empty window', { from: TO, to: FROM }, /earlier than to/],
    ['a session and a window', { from: FROM, to: TO, session_id: 's' }, /not both/],
    ['a limit on a session', { session_id: 's', limit: 5 }, /limit applies to a window/],
  ])('refuses %s with a message that says what to send', (_what, body, message) => {
    const got = codeOf(() => simulateRequestOf(body, ctx));
    expect(got).toMatch(/^REQUEST\.INVALID_BODY: /);
    expect(got).toMatch(message);
  });

  it('refuses a bad X-Project-ID unless the body names the project', () => {
    const bad = { ...ctx, projectError: new GatewayError('REQUEST.INVALID_PROJECT', 'bad header') };
    expect(codeOf(() => simulateRequestOf({ session_id: 's' }, bad))).toMatch(/INVALID_PROJECT/);
    expect(simulateRequestOf({ project: 'p', session_id: 's' }, bad).project).toBe('p');
  });
});

describe('analytics query strings', () => {
  it('defaults to the last 30 days, by day', () => {
    const q = parseSummaryQuery(new URLSearchParams('project=default'));
    expect(q.bucket).toBe('day');
    expect(Date.parse(q.to) - Date.parse(q.from)).toBe(30 * 86_400_000);
    expect(parseRiskSessionsQuery(new URLSearchParams('project=p')).limit).toBe(20);
  });

  it('reads the suggestion options, and refuses unknown or malformed ones by name', () => {
    expect(
      parseSuggestQuery(
        new URLSearchParams(`project=p&from=${FROM}&to=${TO}&min_denials=3&include_dismissed=true`),
      ),
    ).toEqual({ project: 'p', from: FROM, to: TO, min_denials: 3, include_dismissed: true });
    expect(codeOf(() => parseSuggestQuery(new URLSearchParams('project=p&min_denials=0')))).toMatch(
      /^ANALYTICS\.INVALID_QUERY: .*min_denials must be an integer from 1/,
    );
    expect(codeOf(() => parseSuggestQuery(new URLSearchParams('project=p&kinds=x')))).toMatch(
      /unknown parameter "kinds"/,
    );
    expect(codeOf(() => parseSummaryQuery(new URLSearchParams('from=2026-01-01')))).toMatch(
      /project is required/,
    );
    expect(
      codeOf(() =>
        parseSummaryQuery(new URLSearchParams('project=p&from=2020-01-01&to=2026-01-01')),
      ),
    ).toMatch(/more than 400 days/);
  });
});

describe('hourly questions', () => {
  it('cover at most 7 days, 1 by default', () => {
    const q = parseSummaryQuery(new URLSearchParams('project=p&bucket=hour'));
    expect(Date.parse(q.to) - Date.parse(q.from)).toBe(86_400_000);
    expect(
      codeOf(() =>
        parseSummaryQuery(new URLSearchParams(`project=p&bucket=hour&from=2026-11-01&to=${TO}`)),
      ),
    ).toMatch(/^ANALYTICS\.INVALID_QUERY: bucket=hour covers at most 7 days/);
  });
});
