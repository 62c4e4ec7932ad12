import { Inject, Injectable } from '@nestjs/common';
import {
  type AuditRecord,
  DECISION_MADE,
  GatewayError,
  isEmptyTimeRange,
  RECORD_STATUSES,
  type RecordFilter,
  type RecordsPage,
  type RecordsQuery,
  type SessionTrace,
  type StoredEvent,
  TOOLCALL_COMPLETED,
  TOOLCALL_EXECUTED,
  TOOLCALL_RECEIVED,
} from '@sg/contracts';
import type { Pool } from '@sg/runtime';
import { PG } from '../store/pg.provider.js';
import {
  type CallRow,
  OUTCOME_OF_STATUS,
  STATUS_OF_OUTCOME,
  toAuditRecord,
} from './audit-record.js';
import { decodeCursor, encodeCursor, positionSql, type Position } from './cursor.js';
import { fitInBytes, pageOf } from './fit.js';

/** Most calls and events a session trace holds; beyond them it is `truncated`. */
export const SESSION_CALLS = 500;
export const SESSION_EVENTS = 1000;

/**
 * The event of a call's trace that belongs to a completed row `c`: same project, trace and
 * request_id; the latest at or before `c` (an approved call has a second completed row after
 * its approved run, and each row gets the events that led to it). Should clock skew between
 * services put every candidate after `c`, the nearest one after it is taken.
 */
const eventOfCall = (alias: string, subjectParam: string) => `LEFT JOIN LATERAL (
    SELECT e.data FROM audit_events e
     WHERE e.trace_id = c.trace_id AND e.project = c.project AND e.subject = ${subjectParam}
       AND e.data->>'request_id' = c.data->>'request_id'
     ORDER BY e.occurred_at > c.occurred_at, greatest(c.occurred_at - e.occurred_at, e.occurred_at - c.occurred_at), e.stream_seq DESC
     LIMIT 1) ${alias} ON true`;

/**
 * One SQL statement per page: the completed rows (one per call) with their received, decision
 * and executed events joined LATERAL. $1-$4 are the four subjects. Only a call that was let
 * through (allowed, or failed as an error) can have run, so the later approved run of a call
 * is never attached to its pending_approval record.
 */
const CALLS_SQL = (where: string, order: 'ASC' | 'DESC', limitParam: string, budgetParam: string) =>
  byteBounded(
    `SELECT c.event_id, c.trace_id, c.project, c.occurred_at, ${positionSql('c.occurred_at')} AS position,
            c.data AS completed, r.data AS received, d.data AS decided,
            CASE WHEN c.data->>'outcome' IN ('allowed', 'error') THEN x.data END AS executed,
            octet_length(c.data::text) + coalesce(octet_length(r.data::text), 0) + coalesce(octet_length(d.data::text), 0) + coalesce(octet_length(x.data::text), 0) AS bytes
       FROM audit_events c
       ${eventOfCall('r', '$2')}
       ${eventOfCall('d', '$3')}
       ${eventOfCall('x', '$4')}
      WHERE c.subject = $1 AND ${where}
      ORDER BY c.occurred_at ${order}, c.event_id ${order}
      LIMIT ${limitParam}`,
    `occurred_at ${order}, event_id ${order}`,
    budgetParam,
  );

/**
 * The rows of `sql` (which has a `bytes` column), in `orderBy` order, up to the first whose
 * running total of `bytes` passes the budget: PostgreSQL keeps back rows that could never fit
 * in one answer (a call's arguments can take hundreds of KB) instead of sending them to be
 * dropped. Each row carries `candidates`, the number of rows before the cut.
 */
const byteBounded = (sql: string, orderBy: string, budgetParam: string) => `
  SELECT * FROM (
    SELECT q.*, sum(q.bytes) OVER (ORDER BY ${orderBy} ROWS UNBOUNDED PRECEDING) - q.bytes AS bytes_before, count(*) OVER () AS candidates
      FROM (${sql}) q
  ) t WHERE t.bytes_before <= ${budgetParam}
  ORDER BY ${orderBy}`;

type Bounded = { candidates: string };
type Row = CallRow & { position: string } & Bounded;

/** True when byteBounded() left rows out. */
const cut = (rows: readonly Bounded[]) =>
  rows.length > 0 && rows.length < Number(rows[0]!.candidates);

/** Audit records (one per call) and session traces, built from the stored events. */
@Injectable()
export class RecordsService {
  constructor(@Inject(PG) private readonly pool: Pool) {}

  /**
   * One page, oldest first, keyset-paginated on (occurred_at, audit_id). A page holds at most
   * `limit` records and fewer when they would not fit in `maxBytes`; only a null next_cursor
   * means the end.
   */
  async page(query: RecordsQuery, maxBytes: number): Promise<RecordsPage> {
    const after = query.cursor === undefined ? undefined : decodeCursor('records', query.cursor);
    const rows = await this.calls(query, 'ASC', query.limit + 1, maxBytes, after);
    const page = pageOf(
      rows,
      query.limit,
      maxBytes,
      toAuditRecord,
      (r) => encodeCursor('records', { at: r.position, id: r.event_id }),
      cut(rows),
    );
    return { records: page.items, next_cursor: page.next_cursor };
  }

  /**
   * A session's trace: totals over all its calls, its most recent calls (oldest first) and
   * their events in stream order; `truncated` when calls or events were left out (by count, or
   * to fit in `maxBytes`). Null when the session has no calls in the project.
   */
  async session(
    project: string,
    sessionId: string,
    maxBytes: number,
  ): Promise<SessionTrace | null> {
    const totals = await this.pool.query<{
      outcome: string | null;
      n: number;
      first: Date;
      last: Date;
      max_risk: number | null;
      agents: string[] | null;
    }>(
      `SELECT data->>'outcome' AS outcome, count(*)::int AS n, min(occurred_at) AS first, max(occurred_at) AS last,
              max(CASE WHEN json_typeof(data->'risk_score') = 'number' THEN (data->>'risk_score')::float8 END) AS max_risk,
              array_agg(DISTINCT data->>'agent_id') FILTER (WHERE data->>'agent_id' IS NOT NULL) AS agents
         FROM audit_events
        WHERE subject = $1 AND project = $2 AND data->>'session_id' = $3
        GROUP BY 1`,
      [TOOLCALL_COMPLETED, project, sessionId],
    );
    if (totals.rows.length === 0) return null;
    const counts: Record<string, number> = Object.fromEntries(RECORD_STATUSES.map((s) => [s, 0]));
    for (const t of totals.rows) {
      const status = STATUS_OF_OUTCOME[t.outcome as keyof typeof STATUS_OF_OUTCOME] ?? 'error';
      counts[status] = (counts[status] ?? 0) + t.n;
    }
    const total = totals.rows.reduce((n, t) => n + t.n, 0);

    const rows = (
      await this.calls({ project, session_id: sessionId }, 'DESC', SESSION_CALLS, maxBytes)
    ).reverse();
    const traces = [...new Set(rows.map((r) => r.trace_id))];
    const events = await this.pool.query<
      StoredEvent & Bounded & { occurred_at: Date; stream_seq: string }
    >(
      byteBounded(
        `SELECT event_id, subject, source, project, trace_id, occurred_at, stream_seq, data, octet_length(data::text) AS bytes
           FROM audit_events WHERE project = $1 AND trace_id = ANY($2::text[])
          ORDER BY stream_seq DESC LIMIT ${SESSION_EVENTS + 1}`,
        'stream_seq DESC',
        '$3',
      ),
      [project, traces, maxBytes],
    );
    const allEvents = events.rows
      .slice(0, SESSION_EVENTS)
      .reverse()
      .map((e) => ({
        event_id: e.event_id,
        subject: e.subject,
        source: e.source,
        project: e.project,
        trace_id: e.trace_id,
        occurred_at: e.occurred_at.toISOString(),
        stream_seq: Number(e.stream_seq),
        data: e.data,
      }));

    // To fit the answer in one message, the oldest events go first, then the oldest calls.
    let keptCalls: AuditRecord[] = rows.map(toAuditRecord);
    let keptEvents: StoredEvent[] = [];
    const callBytes = Buffer.byteLength(JSON.stringify(keptCalls));
    if (callBytes <= maxBytes) keptEvents = fitInBytes(allEvents, maxBytes - callBytes, 'newest');
    else keptCalls = fitInBytes(keptCalls, maxBytes, 'newest');
    return {
      project,
      session_id: sessionId,
      agent_ids: [...new Set(totals.rows.flatMap((t) => t.agents ?? []))].sort(),
      started_at: new Date(Math.min(...totals.rows.map((t) => t.first.getTime()))).toISOString(),
      last_at: new Date(Math.max(...totals.rows.map((t) => t.last.getTime()))).toISOString(),
      counts,
      max_risk_score: Math.max(0, ...totals.rows.map((t) => t.max_risk ?? 0)),
      calls: keptCalls,
      events: keptEvents,
      truncated:
        total > keptCalls.length || cut(events.rows) || events.rows.length > keptEvents.length,
    };
  }

  private async calls(
    filter: RecordFilter,
    order: 'ASC' | 'DESC',
    limit: number,
    maxBytes: number,
    after?: Position,
  ): Promise<Row[]> {
    const params: unknown[] = [
      TOOLCALL_COMPLETED,
      TOOLCALL_RECEIVED,
      DECISION_MADE,
      TOOLCALL_EXECUTED,
    ];
    if (isEmptyTimeRange(filter)) {
      throw new GatewayError('AUDIT.INVALID_QUERY', '`from` must be earlier than `to`');
    }
    const where: string[] = [];
    const p = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (filter.project !== undefined) where.push(`c.project = ${p(filter.project)}`);
    if (filter.trace_id !== undefined) where.push(`c.trace_id = ${p(filter.trace_id)}`);
    if (filter.session_id !== undefined)
      where.push(`c.data->>'session_id' = ${p(filter.session_id)}`);
    if (filter.agent_id !== undefined) where.push(`c.data->>'agent_id' = ${p(filter.agent_id)}`);
    if (filter.tool !== undefined) where.push(`c.data->>'tool' = ${p(filter.tool)}`);
    if (filter.status !== undefined)
      where.push(`c.data->>'outcome' = ${p(OUTCOME_OF_STATUS[filter.status])}`);
    if (filter.from !== undefined) where.push(`c.occurred_at >= ${p(filter.from)}::timestamptz`);
    if (filter.to !== undefined) where.push(`c.occurred_at < ${p(filter.to)}::timestamptz`);
    if (after)
      where.push(
        `(c.occurred_at, c.event_id) > (${p(after.at)}::timestamptz, ${p(after.id)}::uuid)`,
      );
    const res = await this.pool.query<Row>(
      CALLS_SQL(where.join(' AND ') || 'TRUE', order, p(limit), p(maxBytes)),
      params,
    );
    return res.rows;
  }
}
