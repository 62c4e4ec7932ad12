import {
  type AuditRecord,
  type ErrorCode,
  errorCodeSchema,
  type ToolCallCompleted,
} from '@sg/contracts';

type RecordStatus = AuditRecord['status'];
type Outcome = ToolCallCompleted['outcome'];

/** Seed 003's status of a call from the ingress's outcome: an allowed call that ran is a `success`. */
export const STATUS_OF_OUTCOME: Record<Outcome, RecordStatus> = {
  allowed: 'success',
  pending_approval: 'pending_approval',
  denied: 'denied',
  rejected: 'rejected',
  error: 'error',
};

export const OUTCOME_OF_STATUS = Object.fromEntries(
  Object.entries(STATUS_OF_OUTCOME).map(([o, s]) => [s, o]),
) as Record<RecordStatus, Outcome>;

/**
 * One call as the records query selects it: its toolcall.completed row and the data of the
 * received, decision and executed events of its trace and request_id (null when there is none).
 * A completed event carries the call and its decision itself (ADR 0010), and its run (ADR
 * 0011); the other events are only found for calls stored before it did.
 */
export interface CallRow {
  event_id: string;
  trace_id: string;
  project: string;
  occurred_at: Date;
  completed: unknown;
  received: unknown;
  decided: unknown;
  executed: unknown;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json | null =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const code = (v: unknown): ErrorCode | null => {
  const parsed = errorCodeSchema.safeParse(v);
  return parsed.success ? parsed.data : null;
};

/**
 * The record of one call. The stored data was redacted at ingest and is read defensively: a
 * field the masking changed becomes null rather than failing the whole page.
 * `tenant_id` is the project: the gateway's unit of tenancy (policies, keys and the audit
 * chain are per project).
 */
export function toAuditRecord(row: CallRow): AuditRecord {
  const c = obj(row.completed) ?? {};
  const received = 'arguments' in c ? c : obj(row.received);
  const decision = 'decision' in c ? obj(c.decision) : obj(obj(row.decided)?.decision);
  // The run: inside the completed event since ADR 0011, in an executed event of its own before.
  const executed = obj(c.execution) ?? obj(row.executed);
  const outcome = str(c.outcome) as Outcome | null;
  const status = (outcome && STATUS_OF_OUTCOME[outcome]) || 'error';
  const httpStatus = num(c.http_status) ?? 0;
  const errorCode = code(c.code);
  return {
    audit_id: row.event_id,
    trace_id: row.trace_id,
    project: row.project,
    timestamp: row.occurred_at.toISOString(),
    channel: str(c.channel) ?? 'rest',
    agent_id: str(c.agent_id),
    session_id: str(c.session_id),
    request_id: str(c.request_id),
    user_id: str(received?.user_id),
    tenant_id: row.project,
    tool_name: str(c.tool),
    arguments: received?.arguments ?? null,
    result: executed ? resultOf(executed) : null,
    validation: decision
      ? {
          allowed: decision.allowed === true,
          code: code(decision.code),
          reason: str(decision.reason) ?? '',
          risk_score: num(decision.risk_score) ?? 0,
          requires_approval: decision.requires_approval === true,
          policy_version: str(decision.policy_version) ?? '',
        }
      : null,
    execution_time_ms: executed ? num(executed.duration_ms) : null,
    // A pending approval is no error: it has no code, and the call may still run.
    error: status !== 'success' && errorCode ? { code: errorCode, http_status: httpStatus } : null,
    status,
    http_status: httpStatus,
  };
}

/** The executor keeps results up to 64 KiB in its event; a larger one is recorded by size only. */
function resultOf(executed: Json): unknown {
  if (executed.result_truncated === true)
    return { truncated: true, bytes: num(executed.result_bytes) };
  return executed.result ?? null;
}
