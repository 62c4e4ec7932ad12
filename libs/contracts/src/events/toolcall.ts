import { z } from 'zod';
import { argumentsSchema, channelSchema } from '../common.js';
import { errorCodeSchema } from '../errors.js';
import { decisionSchema } from '../policy/decide.js';
import { maskingReportSchema } from '../executor/execute.js';

/**
 * ingress: an authenticated, well-formed call entered the gateway. No longer published: its
 * fields travel in toolcall.completed. Kept so that events stored before can still be read.
 */
export const TOOLCALL_RECEIVED = 'gw.evt.toolcall.received.v1';
export const toolCallReceivedSchema = z.object({
  channel: channelSchema,
  agent_id: z.string(),
  agent_version: z.string().nullable(),
  /** X-User-Id, when the caller named the person it acts for (absent in events before it was added). */
  user_id: z.string().nullable().optional(),
  session_id: z.string(),
  request_id: z.string(),
  tool: z.string(),
  arguments: argumentsSchema,
});
export type ToolCallReceived = z.infer<typeof toolCallReceivedSchema>;

/**
 * policy: the decision on one call, with its full explanation. No longer published: the
 * decision travels in toolcall.completed. Kept so that events stored before can still be read.
 */
export const DECISION_MADE = 'gw.evt.decision.made.v1';
export const decisionMadeSchema = z.object({
  agent_id: z.string(),
  session_id: z.string(),
  request_id: z.string(),
  tool: z.string(),
  decision: decisionSchema,
});
export type DecisionMade = z.infer<typeof decisionMadeSchema>;

/**
 * executor: the upstream was called (or could not be), for a caller that sent no call record
 * (older than ADR 0011); otherwise the run is the `execution` of the call's toolcall.completed.
 * Published before it answers, so a run is audited even if the ingress dies.
 */
export const TOOLCALL_EXECUTED = 'gw.evt.toolcall.executed.v1';
export const toolCallExecutedSchema = z.object({
  agent_id: z.string(),
  request_id: z.string(),
  tool: z.string(),
  /** What the tool was run with (absent in events stored before it was added). */
  arguments: argumentsSchema.optional(),
  status: z.enum(['ok', 'error']),
  duration_ms: z.number().nonnegative(),
  upstream_status: z.number().int().nullable(),
  error_code: errorCodeSchema.nullable(),
  /** The result, unless it is larger than the executor's event limit (then only its size). */
  result: z.unknown().optional(),
  result_bytes: z.number().int().nonnegative().optional(),
  result_truncated: z.boolean().optional(),
  /** PII masking of the result: counts by type, never the values. */
  masking: maskingReportSchema.optional(),
});
export type ToolCallExecuted = z.infer<typeof toolCallExecutedSchema>;

/** The run of a call, inside its toolcall.completed when the executor records the call (ADR 0011). */
export const executionSchema = toolCallExecutedSchema.omit({
  agent_id: true,
  request_id: true,
  tool: true,
  arguments: true,
});
export type Execution = z.infer<typeof executionSchema>;

/**
 * The answer the caller got, and the story of the call (what was asked, the decision with its
 * explanation, and the run). Every HTTP answer of the tool-call endpoints emits exactly one,
 * even a 401 or a 400, and its event id is the `audit_id` in the response (ADR 0010). A call
 * that reached the executor is recorded by the executor, with `execution`, before it answers:
 * so a run is audited even if the ingress dies (ADR 0011). Any other answer is recorded by the
 * ingress. Events stored before ADR 0010 lack the optional fields (their received and decision
 * events hold them); before ADR 0011 the run was in a toolcall.executed event of its own.
 */
export const TOOLCALL_COMPLETED = 'gw.evt.toolcall.completed.v1';
export const toolCallCompletedSchema = z.object({
  channel: channelSchema,
  agent_id: z.string().nullable(),
  session_id: z.string().nullable(),
  request_id: z.string().nullable(),
  tool: z.string().nullable(),
  outcome: z.enum(['allowed', 'pending_approval', 'denied', 'rejected', 'error']),
  http_status: z.number().int(),
  code: errorCodeSchema.nullable(),
  risk_score: z.number().nullable(),
  duration_ms: z.number().nonnegative(),
  /** The call as asked, once it was authenticated and well-formed (absent when it was not). */
  agent_version: z.string().nullable().optional(),
  user_id: z.string().nullable().optional(),
  arguments: argumentsSchema.optional(),
  /** The policy's decision with its explanation, when one was made (null when none was). */
  decision: decisionSchema.nullable().optional(),
  /** The run, when the executor recorded the call (ADR 0011). */
  execution: executionSchema.optional(),
});
export type ToolCallCompleted = z.infer<typeof toolCallCompletedSchema>;

/**
 * The outcome of an answer, from its HTTP status: the same rule wherever a call is recorded
 * (the ingress, or the executor for a call it ran).
 */
export function callOutcome(httpStatus: number, denied: boolean): ToolCallCompleted['outcome'] {
  if (httpStatus === 200) return 'allowed';
  if (httpStatus === 202) return 'pending_approval';
  if (denied) return 'denied';
  return httpStatus < 500 ? 'rejected' : 'error';
}
