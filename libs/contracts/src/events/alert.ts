import { z } from 'zod';
import { projectIdSchema, storableTextSchema } from '../common.js';

/**
 * What the audit service's anomaly detectors look for (seed 002), and `chain_broken`: a row of the
 * audit trail changed in PostgreSQL after the audit service stored it.
 */
export const ALERT_TYPES = [
  'denial_spike',
  'rate_limit_storm',
  'high_risk_session',
  'new_tool',
  'new_agent',
  'chain_broken',
  /** An MCP server changed a pinned tool's description or schema (EXECUTOR.TOOL_PIN_MISMATCH). */
  'tool_drift',
  /** A burst of refused peer-gateway calls (POST /forward answered 401: bad signatures, replays, unknown peers). */
  'forged_peer_calls',
  /** A policy version whose signature or content digest does not verify: changed in PostgreSQL, not activated. */
  'policy_tampered',
] as const;
export const alertTypeSchema = z.enum(ALERT_TYPES);
export type AlertType = z.infer<typeof alertTypeSchema>;

export const alertSeveritySchema = z.enum(['low', 'medium', 'high', 'critical']);
export type AlertSeverity = z.infer<typeof alertSeveritySchema>;

/**
 * One anomaly, as stored in PostgreSQL (table `alerts`), published and sent to the SIEM.
 * Alerts with the same project, type and key within the project's cooldown are one alert
 * (`suppressed` counts the repeats); `alert_id` is its event id, so a replay publishes nothing twice.
 */
export const alertSchema = z.object({
  alert_id: z.uuid(),
  type: alertTypeSchema,
  severity: alertSeveritySchema,
  project: z.string(),
  /** What the alert is about within its type: the project (spikes, storms), an agent, a tool, or the audit row (chain_broken). */
  key: z.string().max(256),
  summary: z.string().max(500),
  /** Events counted in the window when the alert was raised (1 for first-seen alerts). */
  count: z.number().int().nonnegative(),
  threshold: z.number().nullable(),
  window_s: z.number().int().nullable(),
  agent_id: z.string().nullable(),
  session_id: z.string().nullable(),
  tool: z.string().nullable(),
  /** A few traces that led to the alert, newest last, for GET /api/trace/:id. */
  trace_ids: z.array(z.string()).max(20),
  raised_at: z.iso.datetime({ offset: true }),
});
export type Alert = z.infer<typeof alertSchema>;

/** audit: an anomaly detector raised an alert (after the project's cooldown; duplicates suppressed), or the chain check found a stored row changed. */
export const ALERT_RAISED = 'gw.evt.alert.raised.v1';
export const alertRaisedSchema = alertSchema;
export type AlertRaised = Alert;

/**
 * audit: an admin acknowledged an alert (POST /api/alerts/:id/ack), once per alert. Published in
 * the alert's project before the acknowledgement commits, so the trail holds every one that did.
 */
export const ALERT_ACKNOWLEDGED = 'gw.evt.alert.acknowledged.v1';
export const alertAcknowledgedSchema = z.object({
  alert_id: z.uuid(),
  type: alertTypeSchema,
  severity: alertSeveritySchema,
  /** The admin who acknowledged it (kept unmasked in the trail, as admin.action's principal). */
  principal: z.string(),
  note: z.string().nullable(),
  acknowledged_at: z.iso.datetime({ offset: true }),
});
export type AlertAcknowledged = z.infer<typeof alertAcknowledgedSchema>;

/**
 * another service → audit: raise an alert found outside the audit's detectors (stored, queued for
 * the SIEM, published like theirs). Only the types other services find: `policy_tampered`.
 */
export const AUDIT_RAISE_ALERT_SUBJECT = 'gw.audit.raise_alert.v1';
export const raiseAlertSchema = z.object({
  type: z.literal('policy_tampered'),
  project: projectIdSchema,
  /** What it is about (a policy version id): one alert per key. */
  key: storableTextSchema(256),
  summary: storableTextSchema(500),
});
export const alertRaisedAnswerSchema = z.object({ alert_id: z.uuid(), raised: z.boolean() });
