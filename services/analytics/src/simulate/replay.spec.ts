import {
  contextualFileSchema,
  modelKeysFileSchema,
  policyFileSchema,
  toolFileSchema,
} from '@sg/config';
import { compileKeys, compilePolicy, compileRegistry } from '@sg/policy-engine';
import { replay, summarize, type ReplayCall, type SimulationPolicy } from './replay.js';
import { fit } from './simulate.service.js';

const tool = (name: string) =>
  toolFileSchema.parse({
    name,
    upstream: { type: 'http', url: 'http://127.0.0.1:9/x' },
    input_schema: { type: 'object', properties: { q: { type: 'string' } } },
  });
const registry = compileRegistry(
  new Map(
    ['calendar.list_events', 'db.read_sensitive', 'email.send', 'db.write_rows'].map((t) => [
      t,
      tool(t),
    ]),
  ),
  '/cfg',
);

function target(policyOver: object = {}, contextual: object = {}): SimulationPolicy {
  return {
    version: 'v-test',
    registry,
    policy: compilePolicy(
      policyFileSchema.parse({
        rules: [{ model: 'gpt-4o', allow_tools: ['*'] }],
        rate_limits: { agent: { limit: 2, window_s: 60 } },
        ...policyOver,
      }),
      'policies/default.yaml',
      contextualFileSchema.parse({
        forbidden_sequences: [{ after: 'db.read_sensitive', deny: 'email.*' }],
        ...contextual,
      }),
      'contextual_policies/default.yaml',
    ),
    keys: compileKeys(
      modelKeysFileSchema.parse({ models: { 'gpt-4o': { key: 'k-gpt-4o-0000000' } } }),
      'model_keys/default.yaml',
    ),
  };
}

const T0 = Date.parse('2026-12-01T10:00:00Z');
function c(tool: string, seconds: number, over: Partial<ReplayCall> = {}): ReplayCall {
  return {
    at: new Date(T0 + seconds * 1000),
    trace_id: `t-${seconds}`,
    agent_id: 'gpt-4o',
    session_id: 's1',
    user_id: null,
    channel: 'rest',
    tool,
    arguments: {},
    recorded: { allowed: true, code: null, requires_approval: false, outcome: 'allowed' },
    ...over,
  };
}

describe('replay', () => {
  it('counts rate limits in fixed windows on the recorded times', () => {
    const out = replay(
      [
        c('calendar.list_events', 0),
        c('calendar.list_events', 1),
        c('calendar.list_events', 2),
        c('calendar.list_events', 61),
      ],
      target(),
    );
    expect(out.map((o) => o.simulated.code)).toEqual([null, null, 'POLICY.RATE_LIMITED', null]);
    expect(out[2]!.difference).toBe('allow→deny');
    // Another agent has its own window.
    const other = replay(
      [
        c('calendar.list_events', 0),
        c('calendar.list_events', 1),
        c('calendar.list_events', 2, { agent_id: 'x' }),
      ],
      target({ rules: [{ model: '*', allow_tools: ['*'] }] }),
    );
    expect(other.map((o) => o.simulated.allowed)).toEqual([true, true, true]);
  });

  it('keeps each session’s history in memory: a forbidden sequence applies within it only', () => {
    const limits = { rate_limits: { agent: { limit: 100, window_s: 60 } } };
    const out = replay(
      [c('db.read_sensitive', 0), c('email.send', 1, { session_id: 's2' }), c('email.send', 2)],
      target(limits),
    );
    expect(out.map((o) => o.simulated.code)).toEqual([null, null, 'POLICY.FORBIDDEN_SEQUENCE']);
    expect(out[2]!.simulated).toMatchObject({ check: 'forbidden_sequence', allowed: false });
  });

  it('raises the risk with the session’s earlier denials and writes, as the gateway does', () => {
    const out = replay(
      [c('db.write_rows', 0), c('nope.tool', 1), c('calendar.list_events', 2)],
      target({ rate_limits: { agent: { limit: 100, window_s: 60 } } }),
    );
    expect(out[1]!.simulated.code).toBe('POLICY.TOOL_NOT_REGISTERED');
    // write_tool 0.3 + prior_denial 0.2
    expect(out[2]!.simulated.risk_score).toBe(0.5);
  });

  it('compares with the recorded decision and sums the differences', () => {
    const out = replay(
      [
        c('calendar.list_events', 0),
        c('calendar.list_events', 1, {
          recorded: {
            allowed: false,
            code: 'POLICY.TOOL_NOT_ALLOWED',
            requires_approval: false,
            outcome: 'denied',
          },
        }),
        c('calendar.list_events', 2, { recorded: null }),
      ],
      target({
        rules: [{ model: 'gpt-4o', allow_tools: ['*'], requires_approval: ['calendar.*'] }],
        rate_limits: { agent: { limit: 100, window_s: 60 } },
      }),
    );
    expect(out.map((o) => o.difference)).toEqual(['approval', 'deny→allow', 'none']);
    expect(summarize(out)).toEqual({
      calls: 3,
      compared: 2,
      changed: 2,
      allow_to_deny: 0,
      deny_to_allow: 1,
      code_changed: 0,
      approval_changed: 1,
      simulated_allowed: 3,
      simulated_denied: 0,
    });
  });

  it('decides a peer’s tool on every check but its schema', () => {
    const out = replay(
      [c('gw-b/crm.lookup', 0, { arguments: { anything: 1 } })],
      target({ rules: [{ model: 'gpt-4o', allow_tools: ['gw-b/*'] }] }),
    );
    expect(out[0]!.simulated).toMatchObject({ allowed: true });
    const denied = replay(
      [c('gw-b/crm.lookup', 0)],
      target({ rules: [{ model: 'gpt-4o', allow_tools: ['calendar.*'] }] }),
    );
    expect(denied[0]!.simulated.code).toBe('POLICY.TOOL_NOT_ALLOWED');
  });
});

describe('fit', () => {
  it('keeps the changed calls first, then unchanged ones while they fit, in their order', () => {
    const out = replay(
      [
        c('calendar.list_events', 0),
        c('calendar.list_events', 1),
        c('calendar.list_events', 2),
        c('calendar.list_events', 3),
      ],
      target(),
    );
    // Calls 2 and 3 are rate limited (changed); one more call fits beside them.
    // Sizes in bytes: "→" is three.
    const bytes = (i: number) => Buffer.byteLength(JSON.stringify(out[i])) + 1;
    const budget = bytes(2) + bytes(3) + bytes(0);
    const { kept, omitted } = fit(out, budget);
    expect(kept.map((k) => k.index)).toEqual([0, 2, 3]);
    expect(omitted).toBe(1);
    expect(fit(out, 1e9)).toEqual({ kept: out, omitted: 0 });
  });
});
