import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { StoredEvent } from '@sg/contracts';
import type { Pool } from '@sg/runtime';
import { PG } from './pg.provider.js';

export interface EventRow {
  event_id: string;
  subject: string;
  source: string;
  project: string;
  trace_id: string;
  occurred_at: string;
  stream_seq: number;
  data: unknown;
}

const COLUMNS = 8;

/** The audit_events table: batched idempotent inserts and the trace query. */
@Injectable()
export class EventStore implements OnApplicationShutdown {
  constructor(@Inject(PG) private readonly pool: Pool) {}

  /** Inserts the rows in one statement; rows whose event_id is already stored are skipped. */
  async insertBatch(rows: readonly EventRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const values: unknown[] = [];
    const tuples = rows.map((r, i) => {
      values.push(r.event_id, r.subject, r.source, r.project, r.trace_id, r.occurred_at, r.stream_seq, JSON.stringify(r.data));
      const o = i * COLUMNS;
      return `($${o + 1},$${o + 2},$${o + 3},$${o + 4},$${o + 5},$${o + 6},$${o + 7},$${o + 8})`;
    });
    const res = await this.pool.query(
      `INSERT INTO audit_events (event_id, subject, source, project, trace_id, occurred_at, stream_seq, data)
       VALUES ${tuples.join(',')} ON CONFLICT (event_id) DO NOTHING`,
      values,
    );
    return res.rowCount ?? 0;
  }

  /** A call's events from every service, in the order the event log received them. */
  async byTrace(traceId: string): Promise<StoredEvent[]> {
    const res = await this.pool.query<StoredEvent & { occurred_at: Date; stream_seq: string }>(
      `SELECT event_id, subject, source, project, trace_id, occurred_at, stream_seq, data
         FROM audit_events WHERE trace_id = $1 ORDER BY stream_seq, occurred_at LIMIT 1000`,
      [traceId],
    );
    return res.rows.map((r) => ({ ...r, occurred_at: r.occurred_at.toISOString(), stream_seq: Number(r.stream_seq) }));
  }

  async onApplicationShutdown() {
    await this.pool.end().catch(() => undefined);
  }
}
