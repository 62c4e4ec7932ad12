import { GatewayError } from '@sg/contracts';
import { z } from 'zod';

/**
 * A keyset position: the sort time exactly as PostgreSQL holds it (UTC, microseconds, from
 * POSITION_SQL) and the id that breaks ties. A JavaScript Date would drop the microseconds and
 * repeat or skip rows that share a millisecond.
 */
export interface Position {
  at: string;
  id: string;
}

export type CursorKind = 'records' | 'alerts';

/** SQL giving a timestamptz column as a Position's `at`. */
export const positionSql = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const cursorSchema = z.strictObject({
  k: z.enum(['records', 'alerts']),
  at: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
  id: z.uuid(),
});

/** Opaque to clients: base64url of the position and the kind of list it belongs to. */
export function encodeCursor(kind: CursorKind, p: Position): string {
  return Buffer.from(JSON.stringify({ k: kind, at: p.at, id: p.id })).toString('base64url');
}

export function decodeCursor(kind: CursorKind, cursor: string): Position {
  const invalid = () =>
    new GatewayError(
      'AUDIT.INVALID_CURSOR',
      `cursor is not one this ${kind === 'records' ? 'audit records' : 'alerts'} list returned; pass next_cursor of the previous page unchanged, or leave cursor out to start from the first page`,
    );
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success || parsed.data.k !== kind) throw invalid();
  return { at: parsed.data.at, id: parsed.data.id };
}
