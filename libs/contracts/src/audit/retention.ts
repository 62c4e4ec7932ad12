import { z } from 'zod';

/**
 * The trail row that records a retention drop (AUDIT_RETENTION_DAYS): one per project whose
 * chain lost its oldest rows with the partition, appended to that project's own chain by the
 * audit service (source `audit`). It is written straight to audit_events, never published on
 * the bus, so it is not in EVENTS; readers of the trail (a verifier, the dashboard) find it by
 * this subject. `through_seq` is the last chain_seq dropped: verification now starts after it,
 * from the checkpoint signed with `key_id`.
 */
export const AUDIT_PARTITION_DROPPED = 'gw.evt.audit.partition_dropped.v1';
export const partitionDroppedSchema = z.object({
  /** The dropped partition, audit_events_pYYYYMM. */
  partition: z.string(),
  /** The stored_at range it held (UTC, ISO 8601). */
  from: z.string(),
  to: z.string(),
  through_seq: z.number().int().nonnegative(),
  key_id: z.string(),
});
export type PartitionDropped = z.infer<typeof partitionDroppedSchema>;
