import { z } from 'zod';
import { projectIdSchema } from '../common.js';
import { errorCodeSchema } from '../errors.js';
import { alertSchema, alertTypeSchema } from '../events/alert.js';
import { storedEventSchema } from './trace.js';

const datetime = z.iso.datetime({ offset: true });
const cursorSchema = z.string().min(1).max(512);
const limitSchema = z.number().int().min(1).max(1000).default(100);

/**
 * Seed 003's audit-log status of a call: `success` for an allowed call that ran, otherwise
 * the gateway's outcome (`pending_approval`, `denied`, `rejected` for malformed or
 * unauthenticated calls, `error` when a dependency or the upstream failed).
 */
export const RECORD_STATUSES = [
  'success',
  'pending_approval',
  'denied',
  'rejected',
  'error',
] as const;
export const recordStatusSchema = z.enum(RECORD_STATUSES);

/** Filters of GET /api/audit/records and /api/audit/export; every one optional, all must match. */
export const recordFilterSchema = z.object({
  project: projectIdSchema.optional(),
  trace_id: z.string().min(1).max(64).optional(),
  session_id: z.string().min(1).max(256).optional(),
  /** The agent (model) id of the call. */
  agent_id: z.string().min(1).max(256).optional(),
  tool: z.string().min(1).max(256).optional(),
  status: recordStatusSchema.optional(),
  /** occurred_at >= from */
  from: datetime.optional(),
  /** occurred_at < to */
  to: datetime.optional(),
});
export type RecordFilter = z.infer<typeof recordFilterSchema>;

/** A `from`/`to` pair that no time can satisfy (from at or after to): an error, not an empty page. */
export function isEmptyTimeRange(r: {
  from?: string | undefined;
  to?: string | undefined;
}): boolean {
  return r.from !== undefined && r.to !== undefined && Date.parse(r.from) >= Date.parse(r.to);
}

/** One call as seed 003's JSONL audit log has it, plus the gateway's ids. Arguments and result are redacted. */
export const auditRecordSchema = z.object({
  audit_id: z.string(),
  trace_id: z.string(),
  project: z.string(),
  timestamp: z.string(),
  channel: z.string(),
  agent_id: z.string().nullable(),
  session_id: z.string().nullable(),
  request_id: z.string().nullable(),
  user_id: z.string().nullable(),
  tenant_id: z.string().nullable(),
  tool_name: z.string().nullable(),
  arguments: z.unknown(),
  result: z.unknown(),
  validation: z
    .object({
      allowed: z.boolean(),
      code: errorCodeSchema.nullable(),
      reason: z.string(),
      risk_score: z.number(),
      requires_approval: z.boolean(),
      policy_version: z.string(),
    })
    .nullable(),
  execution_time_ms: z.number().nullable(),
  error: z.object({ code: errorCodeSchema, http_status: z.number().int() }).nullable(),
  status: recordStatusSchema,
  http_status: z.number().int(),
});
export type AuditRecord = z.infer<typeof auditRecordSchema>;

export const AUDIT_RECORDS_SUBJECT = 'gw.audit.records.v1';
export const recordsQuerySchema = recordFilterSchema.extend({
  cursor: cursorSchema.optional(),
  limit: limitSchema,
});
export type RecordsQuery = z.infer<typeof recordsQuerySchema>;
export const recordsPageSchema = z.object({
  records: z.array(auditRecordSchema),
  /** Pass it as `cursor` for the next page; null on the last page. */
  next_cursor: z.string().nullable(),
});
export type RecordsPage = z.infer<typeof recordsPageSchema>;

/** GET /api/session/:sid (seed 002): one session's calls and events, from the stored events. */
export const AUDIT_SESSION_SUBJECT = 'gw.audit.session.v1';
export const sessionQuerySchema = z.object({
  project: projectIdSchema,
  session_id: z.string().min(1).max(256),
});
export const sessionTraceSchema = z.object({
  project: z.string(),
  session_id: z.string(),
  agent_ids: z.array(z.string()),
  started_at: z.string(),
  last_at: z.string(),
  /** Calls by status. */
  counts: z.record(z.string(), z.number().int()),
  max_risk_score: z.number(),
  calls: z.array(auditRecordSchema),
  /** Every stored event of the session's calls, in stream order (at most 1,000). */
  events: z.array(storedEventSchema),
  truncated: z.boolean(),
});
export type SessionTrace = z.infer<typeof sessionTraceSchema>;

/** GET /api/alerts */
export const AUDIT_ALERTS_SUBJECT = 'gw.audit.alerts.v1';
export const alertsQuerySchema = z.object({
  project: projectIdSchema.optional(),
  type: alertTypeSchema.optional(),
  from: datetime.optional(),
  to: datetime.optional(),
  /** true: only acknowledged alerts; false: only those nobody acknowledged yet. */
  acknowledged: z.boolean().optional(),
  cursor: cursorSchema.optional(),
  limit: limitSchema,
});
export type AlertsQuery = z.infer<typeof alertsQuerySchema>;
/** Who acknowledged an alert, when, and their note (POST /api/alerts/:id/ack). */
export const alertAcknowledgementSchema = z.object({
  at: z.string(),
  by: z.string(),
  note: z.string().nullable(),
});
export type AlertAcknowledgement = z.infer<typeof alertAcknowledgementSchema>;
export const storedAlertSchema = alertSchema.extend({
  /** Repeats within the cooldown that were folded into this alert. */
  suppressed: z.number().int().nonnegative(),
  last_seen_at: z.string(),
  /** SIEM delivery per sink: delivered, pending (with attempts) or not configured. */
  delivery: z.array(
    z.object({
      sink: z.string(),
      delivered_at: z.string().nullable(),
      attempts: z.number().int(),
      last_error: z.string().nullable(),
    }),
  ),
  /** null until an admin acknowledges it; the first acknowledgement stays. */
  acknowledged: alertAcknowledgementSchema.nullable(),
});
export type StoredAlert = z.infer<typeof storedAlertSchema>;
export const alertsPageSchema = z.object({
  alerts: z.array(storedAlertSchema),
  next_cursor: z.string().nullable(),
});
export type AlertsPage = z.infer<typeof alertsPageSchema>;

/**
 * POST /api/alerts/:id/ack: an admin acknowledges an alert, once. Answers the alert as
 * gw.audit.alerts.v1 lists it; ALERT.NOT_FOUND, or ALERT.ALREADY_ACKNOWLEDGED (the first stays).
 */
export const AUDIT_ACK_ALERT_SUBJECT = 'gw.audit.ack_alert.v1';
export const ALERT_NOTE_MAX = 500;
/** Why it was acknowledged, in the admin's words: plain text PostgreSQL can store (no U+0000). */
export const alertNoteSchema = z
  .string()
  .trim()
  .min(1, 'a note is 1-500 characters; leave note out for none')
  .max(ALERT_NOTE_MAX, `a note is at most ${ALERT_NOTE_MAX} characters; shorten it`)
  .refine((v) => !v.includes('\u0000'), 'a note cannot hold U+0000; send plain text');
export const ackAlertSchema = z.object({
  alert_id: z.uuid(),
  /** The admin who acknowledges it (AdminAuth's principal name). */
  by: z.string().min(1).max(128),
  note: alertNoteSchema.optional(),
});
export type AckAlert = z.infer<typeof ackAlertSchema>;

/**
 * GET /api/audit/verify?project= : the hash chain and signed checkpoints of one project. A long
 * chain is walked in pieces of bounded time: `cursor` continues where the previous answer stopped.
 */
export const AUDIT_VERIFY_SUBJECT = 'gw.audit.verify.v1';
export const verifyQuerySchema = z.object({
  project: projectIdSchema,
  cursor: cursorSchema.optional(),
});
export const verifyReportSchema = z.object({
  project: z.string(),
  /** True only when the walk reached the chain head and every row and checkpoint matched. */
  ok: z.boolean(),
  /** False when the time budget ended the walk first: continue with next_cursor. */
  complete: z.boolean(),
  next_cursor: z.string().nullable(),
  rows_checked: z.number().int(),
  /** chain_seq of the first and last row this answer checked, and of the chain head PostgreSQL records. */
  from_seq: z.number().int(),
  last_seq: z.number().int(),
  head_seq: z.number().int(),
  checkpoints_checked: z.number().int(),
  /** Checkpoints signed with another key (before a key rotation): they cannot be checked with this one. */
  checkpoints_other_key: z.number().int(),
  /** The first row (by chain_seq) that does not match, and why; null when all match. */
  first_mismatch: z
    .object({
      chain_seq: z.number().int(),
      event_id: z.string().nullable(),
      reason: z.string(),
    })
    .nullable(),
  verified_at: z.string(),
});
export type VerifyReport = z.infer<typeof verifyReportSchema>;

/** GET /api/audit/checkpoints?project= : signed checkpoints, to keep somewhere else. */
export const AUDIT_CHECKPOINTS_SUBJECT = 'gw.audit.checkpoints.v1';
export const checkpointsQuerySchema = z.object({
  project: projectIdSchema,
  after_seq: z.number().int().nonnegative().default(0),
});
export const checkpointSchema = z.object({
  project: z.string(),
  chain_seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  created_at: z.string(),
  key_id: z.string(),
  /** Ed25519 over canonical JSON of {project, chain_seq, hash, created_at, key_id}, base64. */
  signature: z.string(),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;
export const checkpointsExportSchema = z.object({
  project: z.string(),
  /** The Ed25519 public key (SPKI PEM) the signatures verify with, and its id. */
  public_key: z.string().nullable(),
  key_id: z.string().nullable(),
  checkpoints: z.array(checkpointSchema),
});
export type CheckpointsExport = z.infer<typeof checkpointsExportSchema>;
