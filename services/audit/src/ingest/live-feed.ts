import {
  AUDIT_FEED_DEMAND_SUBJECT,
  AUDIT_FEED_DEMAND_TTL_MS,
  AUDIT_STORED_SUBJECT,
  TOOLCALL_COMPLETED,
} from '@sg/contracts';
import type { NatsBus } from '@sg/messaging';
import type { Logger, Metrics } from '@sg/runtime';
import { toAuditRecord } from '../query/audit-record.js';
import type { EventRow } from '../store/event-store.js';

const encoder = new TextEncoder();

/**
 * Announces each stored call on `gw.audit.stored.v1` (the live feed of GET /api/audit/stream),
 * as the record the records query gives for it, built from the row's data as it was masked for
 * storage: the feed never sees more than the trail holds. Only while some ingress asks for it
 * (`gw.audit.stored.demand.v1`, younger than AUDIT_FEED_DEMAND_TTL_MS): without a stream open
 * anywhere, a stored call costs the feed one clock read.
 *
 * Fire-and-forget on core NATS: never awaited, never flushed, and nothing here can fail or slow
 * the ingest (a failure is counted and logged at debug). Only committed rows are announced, but
 * an event JetStream redelivers after its commit is announced again; clients deduplicate by
 * `audit_id`.
 */
export class LiveFeed {
  private readonly dropped;
  /** Until when the last demand asks for announcements (epoch ms). */
  private wantedUntil = 0;

  constructor(
    private readonly bus: NatsBus,
    private readonly logger: Logger,
    metrics: Metrics,
  ) {
    this.dropped = metrics.counter({
      name: 'sg_audit_live_dropped_total',
      help: 'Stored calls not announced on the live audit feed, by reason',
      labelNames: ['reason'] as const,
    });
  }

  /** Starts hearing demand; the bus is connected. */
  listen(): void {
    this.bus.nc.subscribe(this.bus.subject(AUDIT_FEED_DEMAND_SUBJECT), {
      callback: () => {
        this.wantedUntil = Date.now() + AUDIT_FEED_DEMAND_TTL_MS;
      },
    });
  }

  /** Called after `rows` were committed. */
  announce(rows: readonly EventRow[]): void {
    if (Date.now() > this.wantedUntil) return;
    for (const row of rows) {
      if (row.subject !== TOOLCALL_COMPLETED) continue;
      try {
        const record = toAuditRecord({
          event_id: row.event_id,
          trace_id: row.trace_id,
          project: row.project,
          occurred_at: new Date(row.occurred_at),
          completed: row.data,
          // A completed event carries its call, decision and run itself (ADR 0010, 0011).
          received: null,
          decided: null,
          executed: null,
        });
        const bytes = encoder.encode(JSON.stringify(record));
        if (bytes.byteLength > this.bus.maxPayload) {
          this.dropped.inc({ reason: 'too_large' });
          this.logger.debug(
            { audit_id: row.event_id, bytes: bytes.byteLength },
            'stored call larger than max_payload; not announced on the live feed',
          );
          continue;
        }
        this.bus.nc.publish(this.bus.subject(AUDIT_STORED_SUBJECT), bytes);
      } catch (err) {
        this.dropped.inc({ reason: 'error' });
        this.logger.debug(
          { audit_id: row.event_id, err: (err as Error).message },
          'stored call not announced on the live feed',
        );
      }
    }
  }
}
