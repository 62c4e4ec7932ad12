import { type ApprovalListQuery, type ApprovalStatus, GatewayError } from '@sg/contracts';
import { z } from 'zod';

/**
 * The approvals queue's keyset (gw.policy.approval_list.v1). `pending` is listed soonest expiry
 * first, so what is about to lapse is on top, and only while unexpired (what an approver can
 * still resolve); every other status newest first. The sort time is taken as PostgreSQL holds
 * it (UTC, microseconds): a JavaScript Date would drop the microseconds and repeat or skip rows
 * that share a millisecond. The id breaks ties.
 */
export interface Position {
  at: string;
  id: string;
}

/** The column a status is sorted by, and which way. */
export function orderOf(status: ApprovalStatus): { column: string; direction: 'ASC' | 'DESC' } {
  return status === 'pending'
    ? { column: 'expires_at', direction: 'ASC' }
    : { column: 'created_at', direction: 'DESC' };
}

const AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** SQL giving a timestamptz column as a Position's `at`. */
const positionSql = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const cursorSchema = z.strictObject({
  k: z.literal('approvals'),
  s: z.string(),
  p: z.string().nullable(),
  at: z.string().regex(AT),
  id: z.uuid(),
});

/**
 * Opaque to clients: base64url of the position, with the status and project of the list it
 * belongs to, so that it cannot continue another list.
 */
export function encodeCursor(
  q: Pick<ApprovalListQuery, 'status' | 'project'>,
  p: Position,
): string {
  const value = { k: 'approvals', s: q.status, p: q.project ?? null, at: p.at, id: p.id };
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor(
  q: Pick<ApprovalListQuery, 'status' | 'project'>,
  cursor: string,
): Position {
  const parsed = cursorSchema.safeParse(fromCursor(cursor));
  if (!parsed.success || parsed.data.s !== q.status || parsed.data.p !== (q.project ?? null))
    throw new GatewayError(
      'AUDIT.INVALID_CURSOR',
      'cursor is not one this approvals list returned (the same status and project); pass next_cursor of the previous page unchanged, or leave cursor out to start from the first page',
    );
  return { at: parsed.data.at, id: parsed.data.id };
}

/** The JSON inside a cursor, or undefined when it is not base64url JSON. */
function fromCursor(cursor: string): unknown {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The one query of a page: one row more than `limit`, so the store knows whether there is a
 * next page. Every value is a parameter; the column and direction come from `orderOf`.
 */
export function listQuery(q: ApprovalListQuery): { text: string; values: unknown[] } {
  const { column, direction } = orderOf(q.status);
  const values: unknown[] = [];
  const param = (v: unknown) => `$${values.push(v)}`;
  // Spelled out for `pending`, so the planner matches the partial index on it.
  const where =
    q.status === 'pending'
      ? [`status = 'pending'`, 'expires_at > now()']
      : [`status = ${param(q.status)}`];
  if (q.project !== undefined) where.push(`project = ${param(q.project)}`);
  if (q.cursor !== undefined) {
    const after = decodeCursor(q, q.cursor);
    where.push(
      `(${column}, id) ${direction === 'ASC' ? '>' : '<'} (${param(after.at)}::timestamptz, ${param(after.id)}::uuid)`,
    );
  }
  return {
    text: `SELECT *, ${positionSql(column)} AS position_at FROM approvals WHERE ${where.join(' AND ')} ORDER BY ${column} ${direction}, id ${direction} LIMIT ${param(q.limit + 1)}`,
    values,
  };
}
