import { z } from 'zod';
import { type AuditRecord, auditRecordSchema, recordFilterSchema } from './query.js';

/**
 * The live audit feed: one message per `toolcall.completed` row the audit service has just
 * committed, as the AuditRecord GET /api/audit/records returns for it (arguments and result
 * masked at ingest). The ingress relays it to `GET /api/audit/stream`.
 *
 * A live view, never the record of anything: core NATS (deliberately not under `gw.evt.>`, so
 * GW_EVENTS does not store it and the audit does not audit its own announcements),
 * fire-and-forget, with no retry. A message is lost when nobody listens, on a reconnect, or
 * when the record is larger than max_payload; PostgreSQL stays the record. An event that
 * JetStream redelivers after its commit is announced again: clients deduplicate by `audit_id`.
 */
export const AUDIT_STORED_SUBJECT = 'gw.audit.stored.v1';
export const auditStoredSchema = auditRecordSchema;
export type AuditStored = AuditRecord;

/**
 * Demand for the live feed (core NATS, no payload). An ingress with streams open says so when
 * its first stream opens and every AUDIT_FEED_DEMAND_INTERVAL_MS after that; the audit announces
 * stored calls only while the last demand is younger than AUDIT_FEED_DEMAND_TTL_MS. A gateway
 * nobody watches live pays nothing for the feed.
 */
export const AUDIT_FEED_DEMAND_SUBJECT = 'gw.audit.stored.demand.v1';
export const AUDIT_FEED_DEMAND_INTERVAL_MS = 2000;
/** Three intervals: one lost or late demand does not stop the feed. */
export const AUDIT_FEED_DEMAND_TTL_MS = 3 * AUDIT_FEED_DEMAND_INTERVAL_MS;

/**
 * Filters of GET /api/audit/stream: the records filters that a single record can be matched
 * against as it arrives. Every one optional; all must match.
 */
export const auditStreamFilterSchema = recordFilterSchema.pick({
  project: true,
  agent_id: true,
  tool: true,
  status: true,
});
export type AuditStreamFilter = z.infer<typeof auditStreamFilterSchema>;
