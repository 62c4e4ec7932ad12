import { policyFileSchema } from '@sg/config';
import { alertSchema, type ToolCallCompleted } from '@sg/contracts';
import {
  alertIdOf,
  boundedKey,
  firstSeenAlert,
  firstSeenSignals,
  windowAlert,
  windowSignals,
  type AnomalyConfig,
  type CompletedCall,
} from './signals.js';

const defaults: AnomalyConfig = policyFileSchema.parse({}).anomalies;

function call(data: Partial<ToolCallCompleted>, project = 'acme'): CompletedCall {
  return {
    event_id: '0b0f2a9e-5b1e-4c3a-9d6e-1f2a3b4c5d6e',
    occurred_at: '2030-01-01T00:00:00.000Z',
    trace_id: 'trace-1',
    project,
    data: {
      channel: 'rest',
      agent_id: 'gpt-4o',
      session_id: 's1',
      request_id: 'r1',
      tool: 'calendar.list_events',
      outcome: 'allowed',
      http_status: 200,
      code: null,
      risk_score: 0.1,
      duration_ms: 1,
      ...data,
    },
  };
}

const types = (c: CompletedCall, cfg = defaults) => windowSignals(c, cfg).map((s) => s.type);

describe('windowSignals', () => {
  it('counts a policy denial toward the project denial spike, with the configured threshold', () => {
    const [s] = windowSignals(
      call({ outcome: 'denied', http_status: 403, code: 'POLICY.TOOL_NOT_ALLOWED' }),
      defaults,
    );
    expect(s).toEqual({
      type: 'denial_spike',
      key: 'acme',
      need: 10,
      window_s: 120,
      threshold: 10,
    });
  });

  it('counts a rate-limited call toward the storm only, not also as a denial', () => {
    expect(
      types(call({ outcome: 'denied', http_status: 429, code: 'POLICY.RATE_LIMITED' })),
    ).toEqual(['rate_limit_storm']);
  });

  it('does not count allowed calls, approvals or requests rejected before policy', () => {
    expect(types(call({}))).toEqual([]);
    expect(types(call({ outcome: 'pending_approval', http_status: 202 }))).toEqual([]);
    expect(
      types(
        call({
          outcome: 'rejected',
          http_status: 401,
          code: 'AUTH.INVALID_KEY',
          agent_id: null,
          risk_score: null,
        }),
      ),
    ).toEqual([]);
  });

  it('flags a call at or above risk_at, keyed by agent whatever its session', () => {
    const [s] = windowSignals(call({ risk_score: 0.8 }), defaults);
    expect(windowSignals(call({ risk_score: 0.9, session_id: 's2' }), defaults)[0]?.key).toBe(
      s?.key,
    );
    expect(s).toMatchObject({
      type: 'high_risk_session',
      key: 'gpt-4o',
      need: 1,
      threshold: 0.8,
      window_s: 600,
    });
    expect(types(call({ risk_score: 0.79 }))).toEqual([]);
  });

  it('obeys enabled: false and per-project numbers', () => {
    const cfg = policyFileSchema.parse({
      anomalies: { denial_spike: { enabled: false }, rate_limit_storm: { count: 5, window_s: 10 } },
    }).anomalies;
    expect(types(call({ outcome: 'denied', code: 'POLICY.TOOL_NOT_ALLOWED' }), cfg)).toEqual([]);
    expect(
      windowSignals(call({ outcome: 'denied', code: 'POLICY.RATE_LIMITED' }), cfg)[0],
    ).toMatchObject({ need: 5, window_s: 10 });
  });
});

describe('firstSeenSignals', () => {
  it('names the agent and the tool of a call the policy service decided on', () => {
    expect(firstSeenSignals(call({}), defaults).map((s) => [s.kind, s.name, s.alert])).toEqual([
      ['agent', 'gpt-4o', true],
      ['tool', 'calendar.list_events', true],
    ]);
  });

  it('ignores unauthenticated callers and unregistered or undecided tools', () => {
    expect(
      firstSeenSignals(
        call({ agent_id: null, outcome: 'rejected', code: 'AUTH.INVALID_KEY', risk_score: null }),
        defaults,
      ),
    ).toEqual([]);
    expect(
      firstSeenSignals(
        call({ outcome: 'denied', code: 'POLICY.TOOL_NOT_REGISTERED', tool: 'made.up' }),
        defaults,
      ).map((s) => s.kind),
    ).toEqual(['agent']);
    expect(
      firstSeenSignals(
        call({ outcome: 'rejected', code: 'AUTH.IDENTITY_MISMATCH', risk_score: null }),
        defaults,
      ).map((s) => s.kind),
    ).toEqual(['agent']);
  });

  it('still records names when alerts are off, so turning them on later does not flood', () => {
    const cfg = policyFileSchema.parse({ anomalies: { first_seen: { tools: false } } }).anomalies;
    expect(firstSeenSignals(call({}), cfg).map((s) => [s.kind, s.alert])).toEqual([
      ['agent', true],
      ['tool', false],
    ]);
  });
});

describe('keys', () => {
  it('bounds keys to 256 characters without making two long keys equal or cutting a pair', () => {
    const a = boundedKey(`${'x'.repeat(300)}a`);
    const b = boundedKey(`${'x'.repeat(300)}b`);
    expect(a.length).toBeLessThanOrEqual(256);
    expect(a).not.toBe(b);
    // The cut falls between the halves of an emoji: both go, not one.
    const cut = boundedKey(`${'x'.repeat(238)}😀${'y'.repeat(100)}`);
    expect(cut.startsWith(`${'x'.repeat(238)}~`)).toBe(true);
  });

  it('replaces what PostgreSQL cannot store: U+0000 and lone surrogate halves', () => {
    expect(boundedKey('s\u0000id')).toBe('s\uFFFDid');
    expect(boundedKey('evil\uD800')).toBe('evil\uFFFD');
    expect(boundedKey('\uDC00x😀')).toBe('\uFFFDx😀');
  });

  it('derives one alert id per event, type and key, valid as a UUID', () => {
    const e = '0b0f2a9e-5b1e-4c3a-9d6e-1f2a3b4c5d6e';
    const id = alertIdOf(e, 'denial_spike', 'acme');
    expect(alertIdOf(e, 'denial_spike', 'acme')).toBe(id);
    expect(alertSchema.shape.alert_id.parse(id)).toBe(id);
    expect(
      new Set([
        id,
        alertIdOf(e, 'new_agent', 'acme'),
        alertIdOf(e, 'denial_spike', 'acme2'),
        alertIdOf('0b0f2a9e-5b1e-4c3a-9d6e-1f2a3b4c5d6f', 'denial_spike', 'acme'),
      ]).size,
    ).toBe(4);
  });
});

describe('alerts', () => {
  it('builds contract-valid alerts for every detector', () => {
    const facts = {
      alert_id: '6f1c1d4e-2a3b-4c5d-8e9f-0a1b2c3d4e5f',
      raised_at: new Date('2030-01-01T00:00:01Z'),
      count: 12,
      trace_ids: ['t1', 't2', 't1'],
    };
    const denial = call({
      outcome: 'denied',
      code: 'POLICY.TOOL_NOT_ALLOWED',
      session_id: 'x\u0000y',
    });
    const spike = windowAlert(denial, windowSignals(denial, defaults)[0]!, facts);
    expect(alertSchema.parse(spike)).toEqual(spike);
    expect(spike).toMatchObject({
      type: 'denial_spike',
      severity: 'high',
      key: 'acme',
      count: 12,
      threshold: 10,
      window_s: 120,
      agent_id: null,
      trace_ids: ['t1', 't2'],
    });
    expect(spike.summary).toBe('12 denied calls within 120 s in project acme (alert at 10)');

    const risky = call({ risk_score: 0.95, session_id: 's7' });
    const session = windowAlert(risky, windowSignals(risky, defaults)[0]!, facts);
    expect(alertSchema.parse(session)).toEqual(session);
    expect(session).toMatchObject({
      type: 'high_risk_session',
      severity: 'high',
      key: 'gpt-4o',
      agent_id: 'gpt-4o',
      session_id: 's7',
      threshold: 0.8,
      window_s: 600,
    });
    expect(session.summary).toBe(
      'agent gpt-4o reached risk score 0.95 in session s7 (alert at 0.8); 12 such calls by this agent within 600 s',
    );
    // A summary cut at 500 does not end in half an emoji.
    const long = call({ risk_score: 0.95, session_id: '😀'.repeat(300) });
    const cut = windowAlert(long, windowSignals(long, defaults)[0]!, facts).summary;
    expect(cut.length).toBeLessThanOrEqual(500);
    expect(cut).toMatch(/^[^\uD800-\uDFFF]*(😀)+$/u);

    const [agent, tool] = firstSeenSignals(call({}), defaults);
    const newTool = firstSeenAlert(call({}), tool!, facts);
    expect(alertSchema.parse(newTool)).toEqual(newTool);
    expect(newTool).toMatchObject({
      type: 'new_tool',
      severity: 'low',
      key: 'calendar.list_events',
      count: 1,
      threshold: null,
      trace_ids: ['trace-1'],
    });
    expect(firstSeenAlert(call({}), agent!, facts)).toMatchObject({
      type: 'new_agent',
      key: 'gpt-4o',
    });
  });
});
