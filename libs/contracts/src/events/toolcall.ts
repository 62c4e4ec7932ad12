import { z } from 'zod';
import { argumentsSchema, channelSchema } from '../common.js';
import { errorCodeSchema } from '../errors.js';
import { decisionSchema } from '../policy/decide.js';
import { maskingReportSchema } from '../executor/execute.js';

/** ingress: an authenticated, well-formed call entered the gateway. */
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

/** policy: the decision on one call, with its full explanation. */
export const DECISION_MADE = 'gw.evt.decision.made.v1';
export const decisionMadeSchema = z.object({
  agent_id: z.string(),
  session_id: z.string(),
  request_id: z.string(),
  tool: z.string(),
  decision: decisionSchema,
});
export type DecisionMade = z.infer<typeof decisionMadeSchema>;

/** executor: the upstream was called (or could not be). */
export const TOOLCALL_EXECUTED = 'gw.evt.toolcall.executed.v1';
export const toolCallExecutedSchema = z.object({
  agent_id: z.string(),
  request_id: z.string(),
  tool: z.string(),
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

/**
 * ingress: the answer the caller got. Every HTTP answer of the tool-call endpoints emits
 * exactly one, even a 401 or a 400, and its event id is the `audit_id` in the response.
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
});
export type ToolCallCompleted = z.infer<typeof toolCallCompletedSchema>;
