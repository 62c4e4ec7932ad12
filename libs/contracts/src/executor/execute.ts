import { z } from 'zod';
import {
  argumentsSchema,
  channelSchema,
  idSchema,
  projectIdSchema,
  toolNameSchema,
} from '../common.js';
import { errorBodySchema } from '../errors.js';
import { decisionSchema } from '../policy/decide.js';

export const EXECUTE_SUBJECT = 'gw.executor.execute.v1';

/**
 * What the executor needs to publish the call's one record, toolcall.completed, itself (ADR
 * 0011): the part of the story only the ingress knows. `audit_id` is the record's event id and
 * the answer's audit_id; `elapsed_ms` is the time the call spent in the ingress before it was
 * sent here, so the record's duration needs no clock shared between hosts.
 */
export const callRecordSchema = z.object({
  audit_id: z.uuid(),
  channel: channelSchema,
  agent_version: z.string().nullable(),
  user_id: z.string().nullable(),
  decision: decisionSchema,
  elapsed_ms: z.number().nonnegative(),
});
export type CallRecord = z.infer<typeof callRecordSchema>;

export const executeRequestSchema = z.object({
  project: projectIdSchema,
  agent_id: idSchema,
  session_id: idSchema,
  request_id: idSchema,
  tool: toolNameSchema,
  arguments: argumentsSchema,
  /**
   * With it, the executor publishes the call's toolcall.completed (with its execution); without
   * it (a caller older than ADR 0011), a toolcall.executed of the run.
   */
  record: callRecordSchema.optional(),
});
export type ExecuteRequest = z.infer<typeof executeRequestSchema>;

export const maskingReportSchema = z.object({
  level: z.enum(['standard', 'strict', 'off']),
  masked: z.record(z.string(), z.number().int().nonnegative()),
  rejected: z.record(z.string(), z.number().int().nonnegative()),
});
export type MaskingReport = z.infer<typeof maskingReportSchema>;

/**
 * The run's outcome as a value: a failed run (upstream error, timeout, open breaker, missing
 * secret) is `ok: false` with its error, answered like a success, so the caller knows the
 * executor handled the call (and recorded it, if asked to). A thrown error (an error reply)
 * means the handler never ran or its answer was lost.
 */
export const executeResultSchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    result: z.unknown(),
    upstream_status: z.number().int(),
    duration_ms: z.number().nonnegative(),
    masking: maskingReportSchema.optional(),
  }),
  z.object({
    ok: z.literal(false),
    error: errorBodySchema,
    upstream_status: z.number().int().nullable(),
    duration_ms: z.number().nonnegative(),
  }),
]);
export type ExecuteResult = z.infer<typeof executeResultSchema>;
