import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { Deltas, type Counted } from '../ingest/fold.js';
import { PG } from './pg.provider.js';

/** A column of an upsert: its name and the PostgreSQL array type its values are sent as. */
type Column = [name: string, type: string];

const CALLS: Column[] = [
  ['project', 'text[]'],
  ['bucket', 'timestamptz[]'],
  ['tool', 'text[]'],
  ['agent_id', 'text[]'],
  ['user_id', 'text[]'],
  ['outcome', 'text[]'],
  ['code', 'text[]'],
  ['calls', 'bigint[]'],
  ['risk_n', 'bigint[]'],
  ['risk_sum', 'float8[]'],
  ['risk_max', 'float8[]'],
  ['first_seen', 'timestamptz[]'],
  ['last_seen', 'timestamptz[]'],
];
const CALLS_SET = `calls = t.calls + excluded.calls, risk_n = t.risk_n + excluded.risk_n,
  risk_sum = t.risk_sum + excluded.risk_sum, risk_max = greatest(t.risk_max, excluded.risk_max),
  first_seen = least(t.first_seen, excluded.first_seen), last_seen = greatest(t.last_seen, excluded.last_seen)`;
const LATENCY: Column[] = [
  ['project', 'text[]'],
  ['bucket', 'timestamptz[]'],
  ['outcome', 'text[]'],
  ['le_ms', 'float8[]'],
  ['calls', 'bigint[]'],
];
const LATENCY_SET = 'calls = t.calls + excluded.calls';
/** Up to five example trace ids: the first ones seen stay. */
const EXAMPLES = `trace_ids = CASE WHEN cardinality(t.trace_ids) >= 5 THEN t.trace_ids
  ELSE (t.trace_ids || excluded.trace_ids)[1:5] END`;

/**
 * Adds events to the aggregates, once each: in one transaction, the ids not counted before are
 * recorded in analytics_events and only their events are folded in. Two instances (or the
 * consumer and the backfill) counting the same event: the second waits on the first's id and
 * then skips it.
 */
@Injectable()
export class AggregateStore {
  constructor(@Inject(PG) private readonly pg: Pool) {}

  /** Counts the events not counted yet; returns how many were new. */
  async count(events: Counted[]): Promise<number> {
    if (events.length === 0) return 0;
    // Ids locked in one order by every batch (the backfill's, each consumer's): no deadlock.
    const ids = [...new Set(events.map((e) => e.event_id))].sort();
    const at = new Map(events.map((e) => [e.event_id, e.at]));
    const client = await this.pg.connect();
    try {
      await client.query('BEGIN');
      const fresh = await client.query<{ event_id: string }>(
        `INSERT INTO analytics_events (event_id, occurred_at)
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[])
         ON CONFLICT DO NOTHING RETURNING event_id`,
        [ids, ids.map((id) => at.get(id))],
      );
      const counted = new Set(fresh.rows.map((r) => r.event_id));
      const deltas = new Deltas();
      const seen = new Set<string>();
      for (const e of events) {
        // A batch may hold one event twice (a redelivery beside its first delivery).
        if (counted.has(e.event_id) && !seen.has(e.event_id)) {
          seen.add(e.event_id);
          deltas.add(e);
        }
      }
      await this.apply(client, deltas);
      await client.query('COMMIT');
      return seen.size;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Each table in the same order, each one's rows sorted: concurrent batches cannot deadlock. */
  private async apply(c: PoolClient, d: Deltas) {
    await upsert(c, 'analytics_calls_hourly', CALLS, 7, CALLS_SET, d.hourly);
    await upsert(c, 'analytics_calls_daily', CALLS, 7, CALLS_SET, d.daily);
    await upsert(c, 'analytics_latency_hourly', LATENCY, 4, LATENCY_SET, d.latencyHourly);
    await upsert(c, 'analytics_latency_daily', LATENCY, 4, LATENCY_SET, d.latencyDaily);
    await upsert(
      c,
      'analytics_denials',
      [
        ['project', 'text[]'],
        ['bucket', 'timestamptz[]'],
        ['agent_id', 'text[]'],
        ['tool', 'text[]'],
        ['code', 'text[]'],
        ['check_name', 'text[]'],
        ['rule', 'text[]'],
        ['reason', 'text[]'],
        ['calls', 'bigint[]'],
        ['first_seen', 'timestamptz[]'],
        ['last_seen', 'timestamptz[]'],
        ['trace_ids', 'text[]'],
      ],
      7,
      `calls = t.calls + excluded.calls, first_seen = least(t.first_seen, excluded.first_seen),
       last_seen = greatest(t.last_seen, excluded.last_seen), ${EXAMPLES}`,
      d.denials,
    );
    await upsert(
      c,
      'analytics_grants',
      [
        ['project', 'text[]'],
        ['bucket', 'timestamptz[]'],
        ['agent_id', 'text[]'],
        ['tool', 'text[]'],
        ['calls', 'bigint[]'],
        ['last_seen', 'timestamptz[]'],
      ],
      4,
      'calls = t.calls + excluded.calls, last_seen = greatest(t.last_seen, excluded.last_seen)',
      d.grants,
    );
    await upsert(
      c,
      'analytics_limits',
      [
        ['project', 'text[]'],
        ['bucket', 'timestamptz[]'],
        ['agent_id', 'text[]'],
        ['scope', 'text[]'],
        ['lim', 'int[]'],
        ['window_s', 'int[]'],
        ['calls', 'bigint[]'],
        ['peak_used', 'int[]'],
        ['hits', 'bigint[]'],
        ['trace_ids', 'text[]'],
      ],
      6,
      `calls = t.calls + excluded.calls, peak_used = greatest(t.peak_used, excluded.peak_used),
       hits = t.hits + excluded.hits, ${EXAMPLES}`,
      d.limits,
    );
    await upsert(
      c,
      'analytics_risk',
      [
        ['project', 'text[]'],
        ['bucket', 'timestamptz[]'],
        ['agent_id', 'text[]'],
        ['tenth', 'smallint[]'],
        ['calls', 'bigint[]'],
      ],
      4,
      'calls = t.calls + excluded.calls',
      d.risk,
    );
    await upsert(
      c,
      'analytics_sessions',
      [
        ['project', 'text[]'],
        ['session_id', 'text[]'],
        ['agent_id', 'text[]'],
        ['first_seen', 'timestamptz[]'],
        ['last_seen', 'timestamptz[]'],
        ['calls', 'bigint[]'],
        ['denials', 'bigint[]'],
        ['max_risk', 'float8[]'],
        ['last_risk', 'float8[]'],
        ['factors', 'text[]'],
        ['trace_id', 'text[]'],
      ],
      3,
      `calls = t.calls + excluded.calls, denials = t.denials + excluded.denials,
       first_seen = least(t.first_seen, excluded.first_seen),
       last_risk = CASE WHEN excluded.last_seen >= t.last_seen THEN excluded.last_risk ELSE t.last_risk END,
       last_seen = greatest(t.last_seen, excluded.last_seen),
       factors = CASE WHEN excluded.max_risk > t.max_risk THEN excluded.factors ELSE t.factors END,
       trace_id = CASE WHEN excluded.max_risk > t.max_risk THEN excluded.trace_id ELSE t.trace_id END,
       max_risk = greatest(t.max_risk, excluded.max_risk)`,
      d.sessions,
    );
    await upsert(
      c,
      'analytics_shadow',
      [
        ['project', 'text[]'],
        ['bucket', 'timestamptz[]'],
        ['tool', 'text[]'],
        ['agent_id', 'text[]'],
        ['live', 'text[]'],
        ['shadow', 'text[]'],
        ['shadow_rule', 'text[]'],
        ['differs', 'bool[]'],
        ['calls', 'bigint[]'],
        ['trace_ids', 'text[]'],
      ],
      7,
      `calls = t.calls + excluded.calls, ${EXAMPLES}`,
      d.shadow,
    );
  }
}

/**
 * One INSERT … SELECT FROM unnest(…) ON CONFLICT (the first `keys` columns) DO UPDATE. Array
 * columns (trace ids) are sent as JSON and unpacked, since unnest flattens a text[][].
 */
async function upsert(
  c: PoolClient,
  table: string,
  columns: Column[],
  keys: number,
  set: string,
  rows: Map<string, object>,
) {
  if (rows.size === 0) return;
  const sorted = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const params = columns.map(([name, type]) => {
    // PostgreSQL text cannot hold U+0000.
    const values = sorted.map(([, r]) => {
      const v = (r as Record<string, unknown>)[name];
      return typeof v === 'string' ? v.replaceAll('\u0000', '\ufffd') : v;
    });
    return name === 'trace_ids' && type === 'text[]'
      ? values.map((v) => JSON.stringify(v))
      : values;
  });
  const select = columns
    .map(([name], i) =>
      name === 'trace_ids' ? `ARRAY(SELECT jsonb_array_elements_text(c${i}::jsonb))` : `c${i}`,
    )
    .join(', ');
  const from = columns.map(([, type], i) => `$${i + 1}::${type}`).join(', ');
  const names = columns.map(([n]) => n);
  await c.query(
    `INSERT INTO ${table} AS t (${names.join(', ')})
     SELECT ${select} FROM unnest(${from}) AS u(${columns.map((_, i) => `c${i}`).join(', ')})
     ON CONFLICT (${names.slice(0, keys).join(', ')}) DO UPDATE SET ${set}`,
    params,
  );
}
