import type { Pool } from '@sg/runtime';

/** How many months past the current one have their partition created ahead. */
export const MONTHS_AHEAD = 3;

const NAME = /^audit_events_p(\d{4})(\d{2})$/;

/** A monthly partition of audit_events: its name and the stored_at range it holds (UTC). */
export interface Partition {
  name: string;
  from: Date;
  to: Date;
}

/** The partition of the month of `at` (UTC). */
export function partitionOf(at: Date): Partition {
  const y = at.getUTCFullYear();
  const m = at.getUTCMonth();
  return {
    name: `audit_events_p${y}${String(m + 1).padStart(2, '0')}`,
    from: new Date(Date.UTC(y, m, 1)),
    to: new Date(Date.UTC(y, m + 1, 1)),
  };
}

/**
 * Creates the partitions of `from`'s month through `monthsAhead` months after it, where missing
 * (rows of those months in the DEFAULT partition move in). Returns their names.
 */
export async function ensurePartitions(
  pool: Pick<Pool, 'query'>,
  from: Date = new Date(),
  monthsAhead = MONTHS_AHEAD,
): Promise<string[]> {
  const months = Array.from(
    { length: monthsAhead + 1 },
    (_, i) => new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + i, 1)),
  );
  const res = await pool.query<{ name: string }>(
    'SELECT audit_ensure_partition(m) AS name FROM unnest($1::timestamptz[]) AS m',
    [months.map((m) => m.toISOString())],
  );
  return res.rows.map((r) => r.name);
}

/** The monthly partitions (not DEFAULT), oldest first. */
export async function listPartitions(pool: Pick<Pool, 'query'>): Promise<Partition[]> {
  const res = await pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'audit_events'::regclass`,
  );
  return res.rows
    .flatMap((r) => {
      const m = NAME.exec(r.name);
      return m ? [partitionOf(new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)))] : [];
    })
    .sort((a, b) => a.from.getTime() - b.from.getTime());
}
