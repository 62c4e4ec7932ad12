import { createHash } from 'node:crypto';
import { canonicalJson } from '@sg/runtime';

/** One audit_events row, every column, as stored and as read back. */
export interface ChainedRow {
  project: string;
  chain_seq: number;
  event_id: string;
  subject: string;
  source: string;
  trace_id: string;
  /** ISO-8601 UTC with milliseconds (Date#toISOString), as PostgreSQL gives it back. */
  occurred_at: string;
  stream_seq: number;
  /** The event data as canonical JSON text: exactly what the `json` column holds. */
  data: string;
  stored_at: string;
  prev_hash: string;
  hash: string;
}

/** The hash of the first row's predecessor. */
export const GENESIS = '';

/**
 * sha256 over the previous row's hash and the canonical JSON (keys sorted at every depth) of
 * every other column of this row. Changing any column, or the order of rows, changes it.
 */
export function rowHash(row: Omit<ChainedRow, 'hash'>): string {
  const { prev_hash, ...content } = row;
  return createHash('sha256')
    .update(prev_hash)
    .update('\n')
    .update(canonicalJson(content))
    .digest('hex');
}
