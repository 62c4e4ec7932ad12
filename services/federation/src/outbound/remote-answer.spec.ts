import { agentAnswerOf } from './remote-answer.js';

const decision = { allowed: true, reason: 'ok', rule_trace: [] };

it("answers 200 with the peer's decision and result when it ran the tool", () => {
  const out = agentAnswerOf('gw-b', {
    status: 200,
    headers: {},
    body: {
      success: true,
      allowed: true,
      result: { n: 1 },
      decision,
      trace_id: 't-1',
      audit_id: 'a-1',
    },
  });
  expect(out).toEqual({
    status: 200,
    headers: {},
    remote_decision: {
      gateway: 'gw-b',
      http_status: 200,
      allowed: true,
      status: 'executed',
      decision,
      result: { n: 1 },
      trace_id: 't-1',
      audit_id: 'a-1',
    },
  });
});

it('answers 202 with the approval id when the peer waits for its own approval', () => {
  const out = agentAnswerOf('gw-b', {
    status: 202,
    headers: {},
    body: { success: false, status: 'pending_approval', approval_id: 'ap-1', decision },
  });
  expect(out.status).toBe(202);
  expect(out.error).toBeUndefined();
  expect(out.remote_decision).toMatchObject({ status: 'pending_approval', approval_id: 'ap-1' });
});

it("passes a refusal on with the peer's status and code, its message prefixed by the peer", () => {
  const out = agentAnswerOf('gw-b', {
    status: 429,
    headers: { 'retry-after': '3' },
    body: {
      success: false,
      allowed: false,
      error: { code: 'POLICY.RATE_LIMITED', message: 'too many calls' },
      decision: { ...decision, allowed: false },
    },
  });
  expect(out).toMatchObject({
    status: 429,
    headers: { 'retry-after': '3' },
    error: {
      code: 'POLICY.RATE_LIMITED',
      message: 'gw-b: too many calls',
      details: { peer: 'gw-b' },
    },
    remote_decision: { status: 'refused', allowed: false, error: { code: 'POLICY.RATE_LIMITED' } },
  });
});

it("makes the peer's refusal of this gateway itself (401) an operator's 502, not the agent's", () => {
  const out = agentAnswerOf('gw-b', {
    status: 401,
    headers: {},
    body: { success: false, error: { code: 'AUTH.SIGNATURE_INVALID', message: 'bad signature' } },
  });
  expect(out.status).toBe(502);
  expect(out.error).toMatchObject({ code: 'FEDERATION.PEER_REJECTED' });
  expect(out.error!.message).toContain('AUTH.SIGNATURE_INVALID');
});

it('makes a code this gateway does not know, or no decision at all, a 502 FEDERATION.PEER_ERROR', () => {
  for (const body of [
    { error: { code: 'OTHER.THING', message: 'x' } },
    { hello: 'world' },
    { success: true },
  ]) {
    const out = agentAnswerOf('gw-b', { status: body.success ? 201 : 403, headers: {}, body });
    expect([out.status, out.error?.code]).toEqual([502, 'FEDERATION.PEER_ERROR']);
    expect(out.remote_decision.status).toBe('refused');
  }
});
