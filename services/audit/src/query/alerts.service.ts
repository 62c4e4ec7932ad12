import { Inject, Injectable } from '@nestjs/common';
import { type AlertsPage, type AlertsQuery, GatewayError, isEmptyTimeRange } from '@sg/contracts';
import type { Pool } from '@sg/runtime';
import { PG } from '../store/pg.provider.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { pageOf } from './fit.js';
import { selectStoredAlerts, toStoredAlert, type AlertRow } from './stored-alert.js';

const ALERTS_SQL = (where: string, limitParam: string) => `${selectStoredAlerts('alerts')}
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
    if (query.acknowledged !== undefined)
      where.push(`a.acknowledged_at IS ${query.acknowledged ? 'NOT NULL' : 'NULL'}`);
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
