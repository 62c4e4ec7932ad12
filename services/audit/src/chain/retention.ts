import { randomUUID } from 'node:crypto';
import { AUDIT_PARTITION_DROPPED, type PartitionDropped } from '@sg/contracts';
import { withTransaction, type Pool } from '@sg/runtime';
import type { EventStore } from '../store/event-store.js';
import { listPartitions, type Partition } from '../store/partitions.js';
import {
  CHECKPOINT_COLUMNS,
  checkpointOf,
  checkpointValid,
  type CheckpointRow,
  type CheckpointSigner,
} from './checkpoint-signer.js';
import { verifyIn } from './verify.js';

export interface DroppedPartition {
  partition: string;
  /** The stored_at range it held. */
  from: string;
  to: string;
  rows: number;
  /** Of `ms`, the verification of the chains it cuts (the drop itself is the rest). */
  verify_ms: number;
  /** Per project, the last chain_seq dropped: verification now starts after it. */
  through: { project: string; chain_seq: number }[];
  ms: number;
}

export interface RetentionResult {
  dropped: DroppedPartition[];
  /** The oldest expired partition that was kept, and why (the ones after it wait for it). */
  kept: { partition: string; reason: string } | null;
}

/**
 * Drops the monthly partitions of audit_events that ended before `cutoff`, oldest first, each in
 * one transaction, and only while every project's rows in it are covered by a checkpoint signed
 * with `signer`'s key and its chain verifies to the head: a drop must never take the evidence of
 * a change with it, nor rows no checkpoint vouches for. For each project it signs a checkpoint
 * at the last dropped row and makes it the chain's start (audit_chain_starts); rows of the
 * dropped range left in other partitions (a clock behind at the month's edge) go with it, so
 * what stays is a whole suffix of every chain. Each drop is then recorded in the trail.
 */
export async function dropExpiredPartitions(
  pool: Pool,
  store: EventStore,
  signer: CheckpointSigner,
  cutoff: Date,
  now: () => Date = () => new Date(),
): Promise<RetentionResult> {
  // One instance at a time: the others find the lock taken and leave it to that one. The lock
  // is the schema's: gateways sharing a database in their own schemas do not wait for each other.
  const holder = await pool.connect();
  try {
    const got = await holder.query<{ ok: boolean }>(
      'SELECT pg_try_advisory_lock(hashtextextended($1 || current_schema(), 0)) AS ok',
      [RETENTION_LOCK],
    );
    if (!got.rows[0]?.ok) return { dropped: [], kept: null };
    try {
      return await dropInTurn(pool, store, signer, cutoff, now);
    } finally {
      await holder.query('SELECT pg_advisory_unlock(hashtextextended($1 || current_schema(), 0))', [
        RETENTION_LOCK,
      ]);
    }
  } finally {
    holder.release();
  }
}

const RETENTION_LOCK = 'audit_retention:';

async function dropInTurn(
  pool: Pool,
  store: EventStore,
  signer: CheckpointSigner,
  cutoff: Date,
  now: () => Date,
): Promise<RetentionResult> {
  const dropped: DroppedPartition[] = [];
  for (const p of await listPartitions(pool)) {
    if (p.to.getTime() > cutoff.getTime()) break;
    const started = performance.now();
    const outcome = await withTransaction(
      pool,
      (client) => dropOne(client, p, signer, now()),
      'BEGIN ISOLATION LEVEL REPEATABLE READ',
    );
    if (typeof outcome === 'string')
      return { dropped, kept: { partition: p.name, reason: outcome } };
    const done: DroppedPartition = {
      partition: p.name,
      from: p.from.toISOString(),
      to: p.to.toISOString(),
      rows: outcome.rows,
      verify_ms: Math.round(outcome.verifyMs),
      through: outcome.through,
      ms: Math.round(performance.now() - started),
    };
    dropped.push(done);
    await store.append(
      done.through.map((t) => ({
        event_id: randomUUID(),
        subject: AUDIT_PARTITION_DROPPED,
        source: 'audit',
        project: t.project,
        trace_id: `retention-${p.name}`,
        occurred_at: now().toISOString(),
        stream_seq: 0,
        data: {
          partition: p.name,
          from: done.from,
          to: done.to,
          through_seq: t.chain_seq,
          key_id: signer.keyId,
        } satisfies PartitionDropped,
      })),
      now(),
    );
  }
  return { dropped, kept: null };
}

type Client = Pick<Pool, 'query'>;

/** One partition: its drop, or why it stays. */
async function dropOne(
  db: Client,
  p: Partition,
  signer: CheckpointSigner,
  now: Date,
): Promise<
  string | { rows: number; verifyMs: number; through: { project: string; chain_seq: number }[] }
> {
  // No row can be added to or changed in it while it is checked and dropped.
  await db.query(`LOCK TABLE ${p.name} IN ACCESS EXCLUSIVE MODE`);
  const spans = await db.query<{ project: string; last: string; n: string }>(
    `SELECT project, max(chain_seq) AS last, count(*) AS n FROM ${p.name} GROUP BY project ORDER BY project`,
  );
  const through: { project: string; chain_seq: number }[] = [];
  let verifyMs = 0;
  for (const s of spans.rows) {
    const last = Number(s.last);
    const covering = await db.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints
        WHERE project = $1 AND chain_seq >= $2 AND key_id = $3 ORDER BY chain_seq`,
      [s.project, last, signer.keyId],
    );
    if (!covering.rows.some((c) => checkpointValid(checkpointOf(s.project, c), signer.publicKey)))
      return `project ${s.project}: row ${last} is newer than its last signed checkpoint`;
    const verifyStart = performance.now();
    const report = await verifyIn(db, s.project, { publicKey: signer.publicKey });
    verifyMs += performance.now() - verifyStart;
    if (!report.ok)
      return `project ${s.project}: the chain does not verify (${report.first_mismatch?.reason ?? 'incomplete'}); kept as evidence`;
    const row = await db.query<{ hash: string }>(
      'SELECT hash FROM audit_events WHERE project = $1 AND chain_seq = $2',
      [s.project, last],
    );
    const hash = row.rows[0]!.hash;
    // Verified up to a signed checkpoint at or after it, so this hash is the chain's own.
    await signer.signAndStore(db, { project: s.project, chain_seq: last, hash }, now);
    await db.query(
      `INSERT INTO audit_chain_starts (project, chain_seq, hash, dropped_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (project) DO UPDATE SET chain_seq = EXCLUDED.chain_seq, hash = EXCLUDED.hash, dropped_at = EXCLUDED.dropped_at
       WHERE audit_chain_starts.chain_seq < EXCLUDED.chain_seq`,
      [s.project, last, hash, now.toISOString()],
    );
    through.push({ project: s.project, chain_seq: last });
  }
  await db.query(`DELETE FROM audit_event_ids i USING ${p.name} e WHERE i.event_id = e.event_id`);
  await db.query(`DROP TABLE ${p.name}`);
  let rows = spans.rows.reduce((sum, s) => sum + Number(s.n), 0);
  for (const t of through) {
    const stray = await db.query(
      `WITH gone AS (DELETE FROM audit_events WHERE project = $1 AND chain_seq <= $2 RETURNING event_id)
       DELETE FROM audit_event_ids WHERE event_id IN (SELECT event_id FROM gone)`,
      [t.project, t.chain_seq],
    );
    rows += stray.rowCount ?? 0;
  }
  return { rows, verifyMs, through };
}
