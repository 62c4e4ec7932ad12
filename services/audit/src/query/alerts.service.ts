import { Inject, Injectable } from '@nestjs/common';
import {
  type AlertsPage,
  type AlertsQuery,
  GatewayError,
  isEmptyTimeRange,
  type StoredAlert,
} from '@sg/contracts';
import type { Pool } from '@sg/runtime';
import { PG } from '../store/pg.provider.js';
import { decodeCursor, encodeCursor, positionSql } from './cursor.js';
import { pageOf } from './fit.js';

interface AlertRow {
  alert_id: string;
  data: Record<string, unknown>;
  suppressed: number;
  last_seen_at: Date;
  position: string;
  delivery: Array<{
    sink: string;
    delivered_at: string | null;
    attempts: number;
    last_error: string | null;
  }>;
}

/** One SQL statement per page: the alerts and, aggregated LATERAL, their SIEM outbox rows. */
const ALERTS_SQL = (where: string, limitParam: string) => `
  SELECT a.alert_id, a.data, a.suppressed, a.last_seen_at, ${positionSql('a.raised_at')} AS position,
         coalesce(o.delivery, '[]'::jsonb) AS delivery
    FROM alerts a
    LEFT JOIN LATERAL (
      SELECT jsonb_agg(jsonb_build_object('sink', s.sink, 'delivered_at', s.delivered_at, 'attempts', s.attempts, 'last_error', s.last_error) ORDER BY s.sink) AS delivery
        FROM siem_outbox s WHERE s.alert_id = a.alert_id) o ON true
   WHERE ${where}
   ORDER BY a.raised_at DESC, a.alert_id DESC
   LIMIT ${limitParam}`;

/** The alerts table, newest first, with each alert's SIEM delivery state per sink. */
@Injectable()
export class AlertsService {
  constructor(@Inject(PG) private readonly pool: Pool) {}

  /**
   * One page, newest first, keyset-paginated on (raised_at, alert_id) going back in time. An
   * alert raised while a client pages lands before its first page, so no page repeats or skips one.
   */
  async page(query: AlertsQuery, maxBytes: number): Promise<AlertsPage> {
    if (isEmptyTimeRange(query)) {
      throw new GatewayError('AUDIT.INVALID_QUERY', '`from` must be earlier than `to`');
    }
    const before = query.cursor === undefined ? undefined : decodeCursor('alerts', query.cursor);
    const params: unknown[] = [];
    const where: string[] = [];
    const p = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (query.project !== undefined) where.push(`a.project = ${p(query.project)}`);
    if (query.type !== undefined) where.push(`a.type = ${p(query.type)}`);
    if (query.from !== undefined) where.push(`a.raised_at >= ${p(query.from)}::timestamptz`);
    if (query.to !== undefined) where.push(`a.raised_at < ${p(query.to)}::timestamptz`);
    if (before)
      where.push(
        `(a.raised_at, a.alert_id) < (${p(before.at)}::timestamptz, ${p(before.id)}::uuid)`,
      );
    const res = await this.pool.query<AlertRow>(
      ALERTS_SQL(where.join(' AND ') || 'TRUE', p(query.limit + 1)),
      params,
    );
    const page = pageOf(res.rows, query.limit, maxBytes, toStoredAlert, (r) =>
      encodeCursor('alerts', { at: r.position, id: r.alert_id }),
    );
    return { alerts: page.items, next_cursor: page.next_cursor };
  }
}

function toStoredAlert(row: AlertRow): StoredAlert {
  return {
    ...(row.data as Omit<StoredAlert, 'suppressed' | 'last_seen_at' | 'delivery'>),
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
  };
}
