import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { StoredEvent } from '@sg/contracts';
import { canonicalJson, setOwn, withTransaction, type Pool } from '@sg/runtime';
import { GENESIS, rowHash, type ChainedRow } from '../chain/row-hash.js';
import { PG } from './pg.provider.js';

/** An event as the ingest hands it over: redacted, occurred_at normalised to UTC milliseconds. */
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

/** U+0000 and unpaired surrogate halves. */
const UNSTORABLE_SOURCE =
  '\\u0000|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]';
const UNSTORABLE = new RegExp(UNSTORABLE_SOURCE);
const UNSTORABLE_ALL = new RegExp(UNSTORABLE_SOURCE, 'g');

/**
 * What PostgreSQL's JSON functions (->>, casts to jsonb) can read: no U+0000 (an agent can put one in
 * its arguments) and no lone surrogate halves. The hash is computed over this form.
 */
export function storableJson(value: unknown): unknown {
  if (typeof value === 'string')
    return UNSTORABLE.test(value) ? value.replace(UNSTORABLE_ALL, '\uFFFD') : value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = storableJson(value[i]);
      if (v !== value[i]) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  if (value && typeof value === 'object') {
    // Copied only when something in it had to change (most events have nothing to replace).
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      const key = storableJson(k) as string;
      const val = storableJson(v);
      if (key !== k || val !== v) {
        out ??= { ...value };
        if (key !== k) delete out[k];
        setOwn(out, key, val);
      }
    }
    return out ?? value;
  }
  return value;
}

/** SQLSTATE class 22 (data exception): this row can never be stored as it is. */
export function isDataError(err: unknown): boolean {
  return (
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('22')
  );
}

/**
 * Every project's chain lock (64-bit advisory lock key; hashtextextended is stable across
 * servers), taken in the order of the sorted array, in one statement.
 */
const CHAIN_LOCKS = `SELECT pg_advisory_xact_lock(hashtextextended('audit_chain:' || p, 0)) FROM unnest($1::text[]) AS p`;

const UNIQUE_VIOLATION = '23505';

/** The columns of audit_events, in the order of APPEND's arrays. */
const COLUMN_NAMES = [
  'project',
  'chain_seq',
  'event_id',
  'subject',
  'source',
  'trace_id',
  'occurred_at',
  'stream_seq',
  'data',
  'stored_at',
  'prev_hash',
  'hash',
] as const;

/**
 * The rows (one array per column: one statement text whatever the batch size), their event ids
 * (audit_event_ids: a stored id makes the statement fail with a unique violation, whatever
 * partition the first copy went to) and the moved heads.
 */
const APPEND = `WITH ids AS (
    INSERT INTO audit_event_ids (event_id, stored_at) SELECT unnest($3::uuid[]), $16::timestamptz
    RETURNING 1
  ), appended AS (
    INSERT INTO audit_events (${COLUMN_NAMES.join(', ')})
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[], $9::json[], $10::timestamptz[], $11::text[], $12::text[])
    RETURNING 1
  )
  INSERT INTO audit_chain_heads (project, chain_seq, hash, updated_at)
  SELECT p, s, h, $16::timestamptz FROM unnest($13::text[], $14::bigint[], $15::text[]) AS x(p, s, h)
  ON CONFLICT (project) DO UPDATE SET chain_seq = EXCLUDED.chain_seq, hash = EXCLUDED.hash, updated_at = EXCLUDED.updated_at`;

/**
 * A change to what an instance wrote: its newest row in a project (`what: 'row'`: `found` is the
 * hash PostgreSQL holds there, null if the row is gone) or the chain head (`what: 'head'`: the
 * row is intact, the head is missing, behind it or names another hash; `found` describes it).
 */
export interface Rewrite {
  what: 'row' | 'head';
  chain_seq: number;
  computed: string;
  found: string | null;
}

/** The audit_events table: chained, idempotent appends and the trace query. */
@Injectable()
export class EventStore implements OnApplicationShutdown {
  /**
   * The newest row this instance appended to each project's chain, with the hash it computed.
   * Checkpoints sign these, never a head read back from PostgreSQL, which anyone with SQL
   * access could have rewritten in between.
   */
  readonly written = new Map<string, { chain_seq: number; hash: string }>();
  /**
   * Changes found to what this instance wrote (by an append or by ChainService.check()), until
   * ChainService has raised their alert.
   */
  readonly rewritten = new Map<string, Rewrite>();
  /** Called when an append finds a change, so that its alert goes out at once. */
  onRewrite: (() => void) | undefined;

  constructor(@Inject(PG) private readonly pool: Pool) {}

  /**
   * Compares, for each project, the newest row this instance wrote with what PostgreSQL holds:
   * that row (changed or gone) and the chain head (missing, behind it, or naming another hash
   * at its position). Records what it finds in `rewritten`; returns the table's last row per
   * project, for an append to chain onto.
   */
  async inspect(
    db: Pick<Pool, 'query'>,
    projects: readonly string[],
  ): Promise<Map<string, { seq: number; hash: string }>> {
    const mine = projects.flatMap((p) => {
      const w = this.written.get(p);
      return w ? [{ project: p, ...w }] : [];
    });
    const tails = new Map<string, { seq: number; hash: string }>();
    if (mine.length === 0) return tails;
    const res = await db.query<{
      project: string;
      row_hash: string | null;
      head_seq: string | null;
      head_hash: string | null;
      tail_seq: string | null;
      tail_hash: string | null;
    }>(
      `SELECT w.project, e.hash AS row_hash, h.chain_seq AS head_seq, h.hash AS head_hash, t.chain_seq AS tail_seq, t.hash AS tail_hash
         FROM unnest($1::text[], $2::bigint[]) AS w(project, chain_seq)
         LEFT JOIN audit_events e ON e.project = w.project AND e.chain_seq = w.chain_seq
         LEFT JOIN audit_chain_heads h ON h.project = w.project
         LEFT JOIN LATERAL (SELECT chain_seq, hash FROM audit_events x WHERE x.project = w.project ORDER BY chain_seq DESC LIMIT 1) t ON true`,
      [mine.map((m) => m.project), mine.map((m) => m.chain_seq)],
    );
    const found = new Map(res.rows.map((r) => [r.project, r]));
    for (const m of mine) {
      const r = found.get(m.project);
      if (r?.tail_seq) tails.set(m.project, { seq: Number(r.tail_seq), hash: r.tail_hash! });
      const headSeq = r?.head_seq ? Number(r.head_seq) : null;
      if ((r?.row_hash ?? null) !== m.hash) {
        this.rewritten.set(m.project, {
          what: 'row',
          chain_seq: m.chain_seq,
          computed: m.hash,
          found: r?.row_hash ?? null,
        });
      } else if (
        headSeq === null ||
        headSeq < m.chain_seq ||
        (headSeq === m.chain_seq && r!.head_hash !== m.hash)
      ) {
        this.rewritten.set(m.project, {
          what: 'head',
          chain_seq: m.chain_seq,
          computed: m.hash,
          found: headSeq === null ? null : `row ${headSeq}, hash ${r!.head_hash}`,
        });
      }
    }
    return tails;
  }

  /**
   * Appends the events that are not stored yet to their projects' chains, in one transaction.
   * Each project's chain is extended under its advisory lock, so any number of audit instances
   * can append at once: they queue per project, and an event delivered to two of them is stored
   * by the first and skipped by the second. Returns the number of rows inserted.
   *
   * Four round trips in the usual case (the locks, the heads, the rows with their heads, the
   * commit): events are assumed new, and only if one is already stored (a redelivery) is the
   * batch rolled back and appended again with a check of the stored ids.
   */
  async append(rows: readonly EventRow[], now: Date = new Date()): Promise<number> {
    try {
      return await this.appendOnce(rows, now, false);
    } catch (err) {
      if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
      return this.appendOnce(rows, now, true);
    }
  }

  private async appendOnce(
    rows: readonly EventRow[],
    now: Date,
    skipStored: boolean,
  ): Promise<number> {
    if (rows.length === 0) return 0;
    let foundRewrite = false;
    const chained = await withTransaction(this.pool, async (client) => {
      const projects = [...new Set(rows.map((r) => r.project))].sort();
      await client.query(CHAIN_LOCKS, [projects]);
      const skip = new Set<string>();
      if (skipStored) {
        const stored = await client.query<{ event_id: string }>(
          'SELECT event_id FROM audit_event_ids WHERE event_id = ANY($1::uuid[])',
          [rows.map((r) => r.event_id)],
        );
        for (const r of stored.rows) skip.add(r.event_id);
      }
      const heads = await client.query<{ project: string; chain_seq: string; hash: string }>(
        'SELECT project, chain_seq, hash FROM audit_chain_heads WHERE project = ANY($1::text[])',
        [projects],
      );
      const head = new Map(
        heads.rows.map((h) => [h.project, { seq: Number(h.chain_seq), hash: h.hash }]),
      );
      // A head at or behind the row this instance wrote last, other than that row as written, or
      // none at all: that row, the rows before it, or the head were changed (perhaps all together,
      // so that the chain looks whole). Never chain onto such a head, which would seal the change:
      // chain onto the hash computed here (the next row's link then shows the change to
      // verification), or past the table's last row if rows lie beyond it.
      const suspect = projects.filter((p) => {
        const mine = this.written.get(p);
        const h = head.get(p);
        return (
          mine !== undefined &&
          (h === undefined ||
            h.seq < mine.chain_seq ||
            (h.seq === mine.chain_seq && h.hash !== mine.hash))
        );
      });
      if (suspect.length > 0) {
        const tails = await this.inspect(client, suspect);
        for (const p of suspect) {
          const mine = this.written.get(p)!;
          const tail = tails.get(p);
          head.set(
            p,
            tail && tail.seq > mine.chain_seq ? tail : { seq: mine.chain_seq, hash: mine.hash },
          );
        }
        foundRewrite = true;
      }
      const storedAt = now.toISOString();
      const chained: ChainedRow[] = [];
      for (const r of rows) {
        if (skip.has(r.event_id)) continue;
        skip.add(r.event_id);
        const prev = head.get(r.project) ?? { seq: 0, hash: GENESIS };
        const row = {
          ...r,
          data: canonicalJson(r.data),
          chain_seq: prev.seq + 1,
          stored_at: storedAt,
          prev_hash: prev.hash,
        };
        const hash = rowHash(row);
        chained.push({ ...row, hash });
        head.set(r.project, { seq: row.chain_seq, hash });
      }
      if (chained.length > 0) {
        const moved = [...new Set(chained.map((r) => r.project))];
        await client.query(APPEND, [
          ...COLUMN_NAMES.map((c) => chained.map((r) => r[c])),
          moved,
          moved.map((p) => head.get(p)!.seq),
          moved.map((p) => head.get(p)!.hash),
          storedAt,
        ]);
      }
      return chained;
    });
    for (const r of chained) this.written.set(r.project, { chain_seq: r.chain_seq, hash: r.hash });
    if (foundRewrite) this.onRewrite?.();
    return chained.length;
  }

  /** A call's events from every service, in the order the event log received them. */
  async byTrace(traceId: string): Promise<StoredEvent[]> {
    const res = await this.pool.query<StoredEvent & { occurred_at: Date; stream_seq: string }>(
      `SELECT event_id, subject, source, project, trace_id, occurred_at, stream_seq, data
         FROM audit_events WHERE trace_id = $1 ORDER BY stream_seq, occurred_at LIMIT 1000`,
      [traceId],
    );
    return res.rows.map((r) => ({
      ...r,
      occurred_at: r.occurred_at.toISOString(),
      stream_seq: Number(r.stream_seq),
    }));
  }

  async onApplicationShutdown() {
    await this.pool.end().catch(() => undefined);
  }
}
