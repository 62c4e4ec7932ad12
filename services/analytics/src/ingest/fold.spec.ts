import { Deltas, label, type CallData, type Counted } from './fold.js';

let n = 0;
const at = (iso: string) => new Date(iso);
function call(over: Partial<CallData> = {}, when = '2026-12-01T10:15:00Z'): Counted {
  n += 1;
  return {
    kind: 'call',
    event_id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    at: at(when),
    trace_id: `trace-${n}`,
    project: 'default',
    data: {
      agent_id: 'gpt-4o',
      session_id: 's1',
      tool: 'calendar.list_events',
      outcome: 'allowed',
      code: null,
      risk_score: 0.1,
      user_id: null,
      duration_ms: 12.5,
      decision: {
        allowed: true,
        reason: 'Allowed by allow_tools match',
        rule_trace: [
          { check: 'rate_limit', outcome: 'pass', rule: 'policies/default.yaml#rate_limits' },
          {
            check: 'allow_tools',
            outcome: 'pass',
            rule: 'policies/default.yaml#rules[0].allow_tools[0]',
          },
          { check: 'session_risk', outcome: 'pass', rule: 'contextual_policies#risk' },
        ],
        reasoning: [
          'Rate limits: agent 4/600 per 60 s, user 2/100 per 3600 s.',
          'Session score: low risk (0.10): a write tool was used in the session.',
        ],
      },
      ...over,
    },
  };
}
const denied = (code: string, check: string, rule: string, reason = 'no'): Partial<CallData> => ({
  outcome: 'denied',
  code: code as CallData['code'],
  decision: {
    allowed: false,
    reason,
    rule_trace: [{ check, outcome: 'fail', rule, detail: reason }],
    reasoning: ['Session score: medium risk (0.40): 2 earlier denial(s) in the session.', reason],
  },
  risk_score: 0.4,
});

describe('Deltas', () => {
  it('counts a call by hour and by day, with its risk', () => {
    const d = new Deltas();
    d.add(call({}, '2026-12-01T10:15:00Z'));
    d.add(call({ risk_score: 0.5 }, '2026-12-01T10:45:00Z'));
    d.add(call({}, '2026-12-01T11:05:00Z'));
    expect([...d.hourly.values()].map((r) => [r.bucket.toISOString(), r.calls])).toEqual([
      ['2026-12-01T10:00:00.000Z', 2],
      ['2026-12-01T11:00:00.000Z', 1],
    ]);
    const day = [...d.daily.values()];
    expect(day).toHaveLength(1);
    expect(day[0]).toMatchObject({ calls: 3, risk_n: 3, risk_max: 0.5 });
    expect(day[0]!.risk_sum).toBeCloseTo(0.7);
    expect(day[0]!.first_seen.toISOString()).toBe('2026-12-01T10:15:00.000Z');
    expect(day[0]!.last_seen.toISOString()).toBe('2026-12-01T11:05:00.000Z');
    expect([...d.grants.values()][0]).toMatchObject({ agent_id: 'gpt-4o', calls: 3 });
    expect([...d.risk.values()].map((r) => [r.tenth, r.calls])).toEqual([
      [1, 2],
      [5, 1],
    ]);
  });

  it('counts each call’s duration in its bucket, by hour and by day and by outcome', () => {
    const d = new Deltas();
    d.add(call({ duration_ms: 12.5 }, '2026-12-01T10:15:00Z'));
    d.add(call({ duration_ms: 12.1 }, '2026-12-01T10:45:00Z'));
    d.add(call({ duration_ms: 0 }, '2026-12-01T11:05:00Z'));
    d.add(call({ duration_ms: 12.5, outcome: 'error' }, '2026-12-01T11:06:00Z'));
    const rows = (m: typeof d.latencyDaily) =>
      [...m.values()].map((r) => [
        r.bucket.toISOString().slice(11, 13),
        r.outcome,
        r.le_ms,
        r.calls,
      ]);
    expect(rows(d.latencyHourly)).toEqual([
      ['10', 'allowed', 12.5, 2],
      ['11', 'allowed', 0.1, 1],
      ['11', 'error', 12.5, 1],
    ]);
    expect(rows(d.latencyDaily)).toEqual([
      ['00', 'allowed', 12.5, 2],
      ['00', 'allowed', 0.1, 1],
      ['00', 'error', 12.5, 1],
    ]);
  });

  it('keeps a denial by its failed check and rule, with at most five example traces', () => {
    const d = new Deltas();
    for (let i = 0; i < 7; i++)
      d.add(call(denied('POLICY.TOOL_NOT_ALLOWED', 'allow_tools', 'policies/default.yaml#rules')));
    const rows = [...d.denials.values()];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      check_name: 'allow_tools',
      rule: 'policies/default.yaml#rules',
      code: 'POLICY.TOOL_NOT_ALLOWED',
      calls: 7,
    });
    expect(rows[0]!.trace_ids).toHaveLength(5);
    expect(d.grants.size).toBe(0);
  });

  it('reads the limits a call used, and the one that refused it', () => {
    const d = new Deltas();
    d.add(call());
    d.add(
      call(
        denied(
          'POLICY.RATE_LIMITED',
          'rate_limit',
          'policies/default.yaml#rate_limits.user',
          'User mallory exceeded 100 calls in 3600 s.',
        ),
      ),
    );
    d.add(call());
    const rows = [...d.limits.values()].map((r) => [r.scope, r.lim, r.calls, r.peak_used, r.hits]);
    expect(rows).toEqual([
      ['agent', 600, 2, 4, 0],
      ['user', 100, 3, 101, 1],
    ]);
  });

  it('keeps each session’s highest risk with its factors', () => {
    const d = new Deltas();
    d.add(call({}, '2026-12-01T10:00:00Z'));
    d.add(call(denied('POLICY.TOOL_NOT_ALLOWED', 'allow_tools', 'r'), '2026-12-01T10:01:00Z'));
    d.add(call({ risk_score: 0.2 }, '2026-12-01T10:02:00Z'));
    const s = [...d.sessions.values()][0]!;
    expect(s).toMatchObject({ calls: 3, denials: 1, max_risk: 0.4, last_risk: 0.2 });
    expect(s.factors).toBe('2 earlier denial(s) in the session');
  });

  it('labels shadow decisions and the preview rule that decided', () => {
    const d = new Deltas();
    d.add({
      kind: 'shadow',
      event_id: '00000000-0000-4000-8000-999999999999',
      at: at('2026-12-01T10:00:00Z'),
      trace_id: 't-shadow',
      project: 'default',
      data: {
        agent_id: 'gpt-4o',
        tool: 'calendar.list_events',
        live: { allowed: true, code: null, requires_approval: false },
        shadow: {
          allowed: false,
          code: 'POLICY.TOOL_NOT_ALLOWED',
          requires_approval: false,
          rule_trace: [{ check: 'allow_tools', outcome: 'fail', rule: 'preview#rules' }],
        },
        differs: true,
      },
    });
    expect([...d.shadow.values()][0]).toMatchObject({
      live: 'allow',
      shadow: 'deny:POLICY.TOOL_NOT_ALLOWED',
      shadow_rule: 'preview#rules',
      differs: true,
      calls: 1,
    });
    expect(label({ allowed: true, code: null, requires_approval: true })).toBe('approval');
  });

  it('counts a call refused before authentication under empty names', () => {
    const d = new Deltas();
    d.add(
      call({
        agent_id: null,
        session_id: null,
        tool: null,
        outcome: 'rejected',
        code: 'AUTH.INVALID_KEY',
        risk_score: null,
        decision: null,
      }),
    );
    expect([...d.daily.values()][0]).toMatchObject({ agent_id: '', tool: '', calls: 1, risk_n: 0 });
    expect(d.sessions.size).toBe(0);
    expect(d.risk.size).toBe(0);
  });
});
