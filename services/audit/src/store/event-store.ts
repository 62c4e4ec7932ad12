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

/** PostgreSQL jsonb cannot hold U+0000; an agent can put one in its arguments. */
function jsonbText(data: unknown): string {
  const json = JSON.stringify(data);
  return json.includes('\\u0000') ? JSON.stringify(replaceNul(data)) : json;
}

function replaceNul(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('\u0000', '\uFFFD');
  if (Array.isArray(value)) return value.map(replaceNul);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replaceAll('\u0000', '\uFFFD'), replaceNul(v)]));
  }
  return value;
}

/** SQLSTATE class 22 (data exception): this row can never be stored as it is. */
export function isDataError(err: unknown): boolean {
  return typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('22');
}

/** The audit_events table: batched idempotent inserts and the trace query. */
@Injectable()
export class EventStore implements OnApplicationShutdown {
  constructor(@Inject(PG) private readonly pool: Pool) {}

  /** Inserts the rows in one statement; rows whose event_id is already stored are skipped. */
  async insertBatch(rows: readonly EventRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const values: unknown[] = [];
    const tuples = rows.map((r, i) => {
      values.push(r.event_id, r.subject, r.source, r.project, r.trace_id, r.occurred_at, r.stream_seq, jsonbText(r.data));
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
