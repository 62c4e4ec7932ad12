import { auditRecordSchema } from '@sg/contracts';
import { type CallRow, toAuditRecord } from './audit-record.js';

const decision = {
  allowed: true,
  code: null,
  reason: 'allowed by rule 0',
  rule_trace: [],
  reasoning: [],
  suggestions: [],
  risk_score: 0.2,
  requires_approval: false,
  policy_version: 'abcdef012345',
};

function row(
  over: Partial<CallRow> & { outcome?: string; http_status?: number; code?: string | null } = {},
): CallRow {
  const { outcome = 'allowed', http_status = 200, code = null, ...rest } = over;
  return {
    event_id: '7c2a3f7e-1d2b-4c3d-8e4f-5a6b7c8d9e0f',
    trace_id: 'trace-0001',
    project: 'acme',
    occurred_at: new Date('2026-05-01T12:00:00.123Z'),
    completed: {
      channel: 'mcp',
      agent_id: 'gpt-4o',
      session_id: 's1',
      request_id: 'r1',
      tool: 'crm.lookup',
      outcome,
      http_status,
      code,
      risk_score: 0.2,
      duration_ms: 9,
    },
    received: {
      channel: 'mcp',
      agent_id: 'gpt-4o',
      user_id: 'u-7',
      session_id: 's1',
      request_id: 'r1',
      tool: 'crm.lookup',
      arguments: { id: 42 },
    },
    decided: {
      agent_id: 'gpt-4o',
      session_id: 's1',
      request_id: 'r1',
      tool: 'crm.lookup',
      decision,
    },
    executed: {
      agent_id: 'gpt-4o',
      request_id: 'r1',
      tool: 'crm.lookup',
      status: 'ok',
      duration_ms: 4.5,
      upstream_status: 200,
      error_code: null,
      result: { ok: true },
    },
    ...rest,
  };
}

describe('toAuditRecord', () => {
  it("gives an allowed call that ran seed 003's fields", () => {
    const record = toAuditRecord(row());
    expect(auditRecordSchema.parse(record)).toEqual(record);
    expect(record).toMatchObject({
      timestamp: '2026-05-01T12:00:00.123Z',
      user_id: 'u-7',
      tenant_id: 'acme',
      tool_name: 'crm.lookup',
      arguments: { id: 42 },
      result: { ok: true },
      validation: {
        allowed: true,
        code: null,
        reason: 'allowed by rule 0',
        risk_score: 0.2,
        requires_approval: false,
        policy_version: 'abcdef012345',
      },
      execution_time_ms: 4.5,
      error: null,
      status: 'success',
      http_status: 200,
      channel: 'mcp',
    });
  });

  it('gives a denied call its code and HTTP status as error, and no execution', () => {
    const denied = {
      ...decision,
      allowed: false,
      code: 'POLICY.TOOL_NOT_ALLOWED',
      reason: 'not allowed',
    };
    const record = toAuditRecord(
      row({
        outcome: 'denied',
        http_status: 403,
        code: 'POLICY.TOOL_NOT_ALLOWED',
        decided: { decision: denied },
        executed: null,
      }),
    );
    expect(record).toMatchObject({
      status: 'denied',
      error: { code: 'POLICY.TOOL_NOT_ALLOWED', http_status: 403 },
      execution_time_ms: null,
      result: null,
    });
    expect(record.validation).toMatchObject({ allowed: false, code: 'POLICY.TOOL_NOT_ALLOWED' });
  });

  it('does not call a pending approval an error', () => {
    const record = toAuditRecord(
      row({ outcome: 'pending_approval', http_status: 202, executed: null }),
    );
    expect(record).toMatchObject({ status: 'pending_approval', error: null, http_status: 202 });
  });

  it('records a call refused before anything else ran with nulls where nothing is known', () => {
    const record = toAuditRecord(
      row({
        outcome: 'rejected',
        http_status: 401,
        code: 'AUTH.MISSING_KEY',
        received: null,
        decided: null,
        executed: null,
        completed: {
          channel: 'rest',
          agent_id: null,
          session_id: null,
          request_id: null,
          tool: null,
          outcome: 'rejected',
          http_status: 401,
          code: 'AUTH.MISSING_KEY',
          risk_score: null,
          duration_ms: 1,
        },
      }),
    );
    expect(auditRecordSchema.safeParse(record).success).toBe(true);
    expect(record).toMatchObject({
      status: 'rejected',
      user_id: null,
      agent_id: null,
      tool_name: null,
      arguments: null,
      validation: null,
      error: { code: 'AUTH.MISSING_KEY', http_status: 401 },
    });
  });

  it('says a result too large for the trail was left out, with its size', () => {
    const executed = { status: 'ok', duration_ms: 3, result_bytes: 70_000, result_truncated: true };
    expect(toAuditRecord(row({ executed })).result).toEqual({ truncated: true, bytes: 70_000 });
  });

  it('keeps a page valid when masking changed a field it reads', () => {
    const record = toAuditRecord(
      row({ decided: { decision: { ...decision, code: '[redacted]', risk_score: '***' } } }),
    );
    expect(auditRecordSchema.safeParse(record).success).toBe(true);
    expect(record.validation).toMatchObject({ code: null, risk_score: 0 });
  });
});
