import type { StoredAlert } from '@sg/contracts';
import { positionSql } from './cursor.js';

/** One alert as selectStoredAlerts gives it. */
export interface AlertRow {
  alert_id: string;
  data: Record<string, unknown>;
  suppressed: number;
  last_seen_at: Date;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  ack_note: string | null;
  /** raised_at as a cursor position (microseconds). */
  position: string;
  delivery: Array<{
    sink: string;
    delivered_at: string | null;
    attempts: number;
    last_error: string | null;
  }>;
}

/**
 * The columns of an AlertRow, from `source` (the alerts table, or the rows an UPDATE returned),
 * with each alert's SIEM outbox rows aggregated LATERAL: one statement, whatever the page size.
 */
export const selectStoredAlerts = (source: string) => `
  SELECT a.alert_id, a.data, a.suppressed, a.last_seen_at,
         a.acknowledged_at, a.acknowledged_by, a.ack_note,
         ${positionSql('a.raised_at')} AS position,
         coalesce(o.delivery, '[]'::jsonb) AS delivery
    FROM ${source} a
    LEFT JOIN LATERAL (
      SELECT jsonb_agg(jsonb_build_object('sink', s.sink, 'delivered_at', s.delivered_at, 'attempts', s.attempts, 'last_error', s.last_error) ORDER BY s.sink) AS delivery
        FROM siem_outbox s WHERE s.alert_id = a.alert_id) o ON true`;

/** The alert as GET /api/alerts shows it: as published, with its repeats, delivery and acknowledgement. */
export function toStoredAlert(row: AlertRow): StoredAlert {
  return {
    ...(row.data as Omit<StoredAlert, 'suppressed' | 'last_seen_at' | 'delivery' | 'acknowledged'>),
    alert_id: row.alert_id,
    suppressed: row.suppressed,
    last_seen_at: row.last_seen_at.toISOString(),
    delivery: row.delivery.map((d) => ({
      sink: d.sink,
      // jsonb holds PostgreSQL's own time format; answer ISO 8601 like every other time.
      delivered_at: d.delivered_at === null ? null : new Date(d.delivered_at).toISOString(),
      attempts: d.attempts,
      last_error: d.last_error,
    })),
    // Both or neither: the table's alerts_ack_whole constraint.
    acknowledged:
      row.acknowledged_at === null || row.acknowledged_by === null
        ? null
        : { at: row.acknowledged_at.toISOString(), by: row.acknowledged_by, note: row.ack_note },
  };
}
