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
  return toCursor({ k: kind, at: p.at, id: p.id });
}

export function decodeCursor(kind: CursorKind, cursor: string): Position {
  const parsed = cursorSchema.safeParse(fromCursor(cursor));
  if (!parsed.success || parsed.data.k !== kind) {
    throw new GatewayError(
      'AUDIT.INVALID_CURSOR',
      `cursor is not one this ${kind === 'records' ? 'audit records' : 'alerts'} list returned; pass next_cursor of the previous page unchanged, or leave cursor out to start from the first page`,
    );
  }
  return { at: parsed.data.at, id: parsed.data.id };
}

/** Where a verification stopped: the last row it checked and that row's hash, which the next row must link to. */
export interface VerifyPosition {
  seq: number;
  hash: string;
}

const verifyCursorSchema = z.strictObject({
  k: z.literal('verify'),
  p: z.string(),
  seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});

export function encodeVerifyCursor(project: string, p: VerifyPosition): string {
  return toCursor({ k: 'verify', p: project, seq: p.seq, hash: p.hash });
}

export function decodeVerifyCursor(project: string, cursor: string): VerifyPosition {
  const parsed = verifyCursorSchema.safeParse(fromCursor(cursor));
  if (!parsed.success || parsed.data.p !== project) {
    throw new GatewayError(
      'AUDIT.INVALID_CURSOR',
      `cursor is not one a verification of project ${project} returned; pass next_cursor of the previous answer unchanged with the same project, or leave cursor out to verify from the first row`,
    );
  }
  return { seq: parsed.data.seq, hash: parsed.data.hash };
}

function toCursor(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
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
