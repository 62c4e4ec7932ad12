import type { KeyObject } from 'node:crypto';
import type { Checkpoint, VerifyReport } from '@sg/contracts';
import { withTransaction, type Pool } from '@sg/runtime';
import { encodeVerifyCursor, type VerifyPosition } from '../query/cursor.js';
import {
  CHECKPOINT_COLUMNS,
  checkpointOf,
  checkpointValid,
  keyIdOf,
  type CheckpointRow,
} from './checkpoint-signer.js';
import { GENESIS, rowHash, type ChainedRow } from './row-hash.js';

const PAGE = 2000;

interface DbRow extends Omit<ChainedRow, 'chain_seq' | 'stream_seq' | 'occurred_at' | 'stored_at'> {
  chain_seq: string;
  stream_seq: string;
  occurred_at: Date;
  stored_at: Date;
  /** The checkpoint stored at this row's position, if any. */
  cp_hash: string | null;
  cp_created_at: Date | null;
  cp_key_id: string | null;
  cp_signature: string | null;
}

/** A page of rows, each with the checkpoint at its position (at most one: their primary key). */
const SELECT_ROWS = `SELECT e.project, e.chain_seq, e.event_id, e.subject, e.source, e.trace_id, e.occurred_at, e.stream_seq, e.data::text AS data, e.stored_at, e.prev_hash, e.hash,
       c.hash AS cp_hash, c.created_at AS cp_created_at, c.key_id AS cp_key_id, c.signature AS cp_signature
  FROM audit_events e LEFT JOIN audit_checkpoints c ON c.project = e.project AND c.chain_seq = e.chain_seq
 WHERE e.project = $1 AND e.chain_seq > $2 ORDER BY e.chain_seq LIMIT ${PAGE}`;

function fromDb(r: DbRow): ChainedRow {
  return {
    project: r.project,
    chain_seq: Number(r.chain_seq),
    event_id: r.event_id,
    subject: r.subject,
    source: r.source,
    trace_id: r.trace_id,
    occurred_at: r.occurred_at.toISOString(),
    stream_seq: Number(r.stream_seq),
    data: r.data,
    stored_at: r.stored_at.toISOString(),
    prev_hash: r.prev_hash,
    hash: r.hash,
  };
}

function checkpointAt(project: string, r: DbRow): Checkpoint | null {
  if (
    r.cp_hash === null ||
    r.cp_created_at === null ||
    r.cp_key_id === null ||
    r.cp_signature === null
  )
    return null;
  return checkpointOf(project, {
    chain_seq: r.chain_seq,
    hash: r.cp_hash,
    created_at: r.cp_created_at,
    key_id: r.cp_key_id,
    signature: r.cp_signature,
  });
}

/** Checkpoints stored beyond a chain's last row, looked at once the walk reached it. */
const BEYOND = 100;

export interface VerifyOptions {
  /** Without it, checkpoints cannot be trusted and are not checked. */
  publicKey?: KeyObject;
  /** Checkpoints kept elsewhere (an export), checked besides those in PostgreSQL. */
  extraCheckpoints?: readonly Checkpoint[];
  /** Continue after this row (a previous answer's next_cursor), instead of from row 1. */
  after?: VerifyPosition;
  /** Stop at the first page boundary after this time (ms since the epoch), with a cursor to continue. */
  deadline?: number;
}

type Mismatch = NonNullable<VerifyReport['first_mismatch']>;

/**
 * Walks a project's chain from its first row (or after `opts.after`): each row must have the next
 * chain_seq, a hash that matches its content, the previous row's hash as prev_hash, and the hash
 * of every signed checkpoint at its position. Stops at the first row that does not match and
 * names it, or at `opts.deadline` with a cursor: pieces chain on the hash of the last row checked,
 * so a walk in pieces checks what one walk does (each piece in its own snapshot).
 */
export async function verifyChain(
  pool: Pool,
  project: string,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  // One snapshot: rows appended while the walk runs are neither seen nor mistaken for damage.
  return withTransaction(
    pool,
    (client) => walk(client, project, opts),
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
  );
}

type Db = Pick<Pool, 'query'>;

/** verifyChain inside a transaction the caller opened (retention: in the snapshot it drops in). */
export function verifyIn(db: Db, project: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  return walk(db, project, opts);
}

async function walk(pool: Db, project: string, opts: VerifyOptions): Promise<VerifyReport> {
  let checkpointsChecked = 0;
  let firstMismatch: Mismatch | null = null;
  const note = (m: Mismatch) => {
    if (!firstMismatch || m.chain_seq < firstMismatch.chain_seq) firstMismatch = m;
  };
  // Retention may have dropped the chain's oldest rows: it then starts after a signed checkpoint.
  const base = await chainStart(pool, project);
  const start = opts.after && opts.after.seq >= base.seq ? opts.after : base;
  const key = opts.publicKey ? { publicKey: opts.publicKey, id: keyIdOf(opts.publicKey) } : null;
  // Checkpoints before `start` were checked by the answer that gave the cursor. Each is checked
  // when the walk reaches its row, so the work of a piece stays within its pages.
  const extra = new Map<number, Checkpoint[]>();
  for (const c of opts.extraCheckpoints ?? []) {
    if (c.project === project && c.chain_seq > start.seq)
      extra.set(c.chain_seq, [...(extra.get(c.chain_seq) ?? []), c]);
  }
  /** The signed checkpoints at a row that can be trusted; a bad signature is noted, and the walk goes on to find a broken row before it. */
  const trusted = (list: readonly Checkpoint[]): Checkpoint[] => {
    if (!key) return [];
    return list.filter((c) => {
      if (c.key_id !== key.id) return false;
      if (checkpointValid(c, key.publicKey)) return true;
      note({
        chain_seq: c.chain_seq,
        event_id: null,
        reason: `the checkpoint at chain_seq ${c.chain_seq} (${c.created_at}) does not verify with key ${c.key_id}: it was forged or altered`,
      });
      return false;
    });
  };

  if (key && base.seq > 0 && start === base) {
    // The start is only as trustworthy as the signed checkpoint at its position: without one, a
    // start moved forward in audit_chain_starts would hide the rows before it.
    const at = await pool.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE project = $1 AND chain_seq = $2`,
      [project, base.seq],
    );
    const vouching = trusted([
      ...at.rows.map((c) => checkpointOf(project, c)),
      ...(opts.extraCheckpoints ?? []).filter(
        (c) => c.project === project && c.chain_seq === base.seq,
      ),
    ]);
    checkpointsChecked += vouching.length;
    if (!vouching.some((c) => c.hash === base.hash)) {
      note({
        chain_seq: base.seq + 1,
        event_id: null,
        reason: `the chain starts after row ${base.seq} (older rows were dropped by retention), but no checkpoint signed with key ${key.id} vouches for row ${base.seq}'s hash: the start was moved or rows were deleted`,
      });
    }
  }

  let expected = start.seq + 1;
  let prevHash = start.hash;
  let rowsChecked = 0;
  let broken = false;
  let complete = true;
  const breaks = (m: Mismatch) => {
    note(m);
    broken = true;
  };
  type Page = { rows: DbRow[] };
  const fetchAfter = (seq: number): Promise<Page> => {
    const page = pool.query<DbRow>(SELECT_ROWS, [project, seq]);
    // Handled here so a failure while the previous page is hashed is not an unhandled rejection;
    // awaiting the page still throws it.
    page.catch(() => undefined);
    return page;
  };
  let next: Promise<Page> | undefined = fetchAfter(start.seq);
  while (next) {
    const page: Page = await next;
    // The next page is read while this one is hashed: PostgreSQL and the hashing overlap.
    const last = page.rows.at(-1);
    next = page.rows.length === PAGE && last ? fetchAfter(Number(last.chain_seq)) : undefined;
    for (const db of page.rows) {
      const row = fromDb(db);
      if (row.chain_seq === expected - 1) {
        breaks(await repeatedRow(pool, project, row.chain_seq));
        break;
      }
      if (row.chain_seq !== expected) {
        breaks(await missingRow(pool, project, expected, prevHash));
        break;
      }
      const { hash, ...content } = row;
      if (rowHash(content) !== hash) {
        breaks({
          chain_seq: row.chain_seq,
          event_id: row.event_id,
          reason: `row ${row.chain_seq} does not match its hash: a column of this row was changed`,
        });
        break;
      }
      if (row.prev_hash !== prevHash) {
        breaks({
          chain_seq: row.chain_seq,
          event_id: row.event_id,
          reason: `row ${row.chain_seq}'s prev_hash is not the hash of row ${row.chain_seq - 1}: the chain was rewritten or rows were inserted`,
        });
        break;
      }
      const stored = checkpointAt(project, db);
      const here = [...(stored ? [stored] : []), ...(extra.get(row.chain_seq) ?? [])];
      for (const c of here.length > 0 ? trusted(here) : []) {
        checkpointsChecked++;
        if (c.hash !== hash) {
          breaks({
            chain_seq: row.chain_seq,
            event_id: row.event_id,
            reason: `row ${row.chain_seq} differs from the checkpoint signed at ${c.created_at}: the chain was rewritten at or before this row`,
          });
        }
      }
      if (broken) break;
      rowsChecked++;
      expected++;
      prevHash = hash;
    }
    if (broken) break;
    if (next && opts.deadline !== undefined && Date.now() >= opts.deadline) {
      complete = false;
      break;
    }
  }
  // A page read ahead and not needed: wait for it, so the snapshot's transaction ends cleanly.
  if (next) await next.catch(() => undefined);

  const lastSeq = expected - 1;
  const head = await pool.query<{ chain_seq: string; hash: string }>(
    'SELECT chain_seq, hash FROM audit_chain_heads WHERE project = $1',
    [project],
  );
  const headSeq = head.rows[0] ? Number(head.rows[0].chain_seq) : 0;
  if (!broken && complete) {
    if (headSeq > lastSeq) {
      note({
        chain_seq: lastSeq + 1,
        event_id: null,
        reason: `rows ${lastSeq + 1} to ${headSeq} are missing: the chain head records ${headSeq} rows (rows were deleted from the end)`,
      });
    } else if (headSeq < lastSeq || (headSeq > 0 && head.rows[0]!.hash !== prevHash)) {
      note({
        chain_seq: lastSeq,
        event_id: null,
        reason: `the chain head (row ${headSeq}) does not match the last row ${lastSeq}: audit_chain_heads was changed`,
      });
    }
    if (key) {
      // A trusted checkpoint beyond the last row: rows it covers were deleted.
      const stored = await pool.query<CheckpointRow>(
        `SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE project = $1 AND chain_seq > $2 ORDER BY chain_seq LIMIT ${BEYOND}`,
        [project, lastSeq],
      );
      const beyond = [
        ...stored.rows.map((c) => checkpointOf(project, c)),
        ...[...extra.values()].flat().filter((c) => c.chain_seq > lastSeq),
      ].sort((a, b) => a.chain_seq - b.chain_seq);
      const covering = trusted(beyond)[0];
      if (covering)
        note({
          chain_seq: covering.chain_seq,
          event_id: null,
          reason: `row ${covering.chain_seq} is missing although a signed checkpoint covers it: rows were deleted`,
        });
    }
    const extraFound = await extraRow(pool, project, base.seq, lastSeq);
    if (extraFound) note(extraFound);
  }
  // Checkpoints of another key (signed before a rotation) in what this answer covers: not checkable with this one.
  let otherKey = 0;
  if (key) {
    const upTo = complete ? Number.MAX_SAFE_INTEGER : lastSeq;
    const other = await pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM audit_checkpoints WHERE project = $1 AND chain_seq > $2 AND chain_seq <= $3 AND key_id <> $4',
      [project, start.seq, upTo, key.id],
    );
    otherKey =
      Number(other.rows[0]?.n ?? 0) +
      [...extra.values()].flat().filter((c) => c.chain_seq <= upTo && c.key_id !== key.id).length;
  }
  const found = firstMismatch !== null;
  return {
    project,
    ok: complete && !found,
    complete: complete || found,
    next_cursor:
      complete || found ? null : encodeVerifyCursor(project, { seq: lastSeq, hash: prevHash }),
    rows_checked: rowsChecked,
    from_seq: start.seq + 1,
    last_seq: lastSeq,
    head_seq: headSeq,
    checkpoints_checked: checkpointsChecked,
    checkpoints_other_key: otherKey,
    first_mismatch: firstMismatch,
    verified_at: new Date().toISOString(),
  };
}

/** Where the chain starts: after the row retention dropped last (audit_chain_starts), or at row 1. */
export async function chainStart(pool: Db, project: string): Promise<VerifyPosition> {
  const res = await pool.query<{ chain_seq: string; hash: string }>(
    'SELECT chain_seq, hash FROM audit_chain_starts WHERE project = $1',
    [project],
  );
  const r = res.rows[0];
  return r ? { seq: Number(r.chain_seq), hash: r.hash } : { seq: 0, hash: GENESIS };
}

/**
 * The walk reads rows 1, 2, 3, ... once each; a row it cannot reach would still show in every
 * query. So the project must hold exactly `lastSeq` rows: more means a row at chain_seq 0 or
 * below, or a second row at a position (inserted where the walk's pages or pieces meet).
 * Names the first such row.
 */
async function extraRow(
  pool: Db,
  project: string,
  baseSeq: number,
  lastSeq: number,
): Promise<Mismatch | null> {
  const counted = await pool.query<{ n: string }>(
    'SELECT count(*) AS n FROM audit_events WHERE project = $1',
    [project],
  );
  const n = Number(counted.rows[0]?.n ?? 0);
  if (n === lastSeq - baseSeq) return null;
  if (n < lastSeq - baseSeq) {
    // Fewer rows than the pieces walked: rows an earlier piece checked were deleted since.
    const gap = await pool.query<{ seq: string }>(
      `SELECT $3::bigint + 1 AS seq WHERE NOT EXISTS (SELECT 1 FROM audit_events WHERE project = $1 AND chain_seq = $3::bigint + 1)
       UNION ALL
       (SELECT a.chain_seq + 1 FROM audit_events a
         WHERE a.project = $1 AND a.chain_seq < $2 AND a.chain_seq > $3
           AND NOT EXISTS (SELECT 1 FROM audit_events b WHERE b.project = $1 AND b.chain_seq = a.chain_seq + 1)
         ORDER BY a.chain_seq LIMIT 1)
       ORDER BY seq LIMIT 1`,
      [project, lastSeq, baseSeq],
    );
    const seq = Number(gap.rows[0]?.seq ?? baseSeq + 1);
    return {
      chain_seq: seq,
      event_id: null,
      reason: `row ${seq} is missing: it was deleted after an earlier piece of this verification checked it`,
    };
  }
  const below = await pool.query<{ chain_seq: string; event_id: string }>(
    'SELECT chain_seq, event_id FROM audit_events WHERE project = $1 AND chain_seq <= $2 ORDER BY chain_seq LIMIT 1',
    [project, baseSeq],
  );
  if (below.rows[0]) {
    const seq = Number(below.rows[0].chain_seq);
    return {
      chain_seq: seq,
      event_id: below.rows[0].event_id,
      reason: `a row at chain_seq ${seq}, before the chain's first row${baseSeq > 0 ? ` (retention dropped rows up to ${baseSeq})` : ''}, is not part of the chain: it was inserted`,
    };
  }
  const twice = await pool.query<{ chain_seq: string }>(
    'SELECT chain_seq FROM audit_events WHERE project = $1 GROUP BY chain_seq HAVING count(*) > 1 ORDER BY chain_seq LIMIT 1',
    [project],
  );
  if (twice.rows[0]) return repeatedRow(pool, project, Number(twice.rows[0].chain_seq));
  return {
    chain_seq: lastSeq,
    event_id: null,
    reason: `the project holds more rows than its chain of ${lastSeq}: rows were inserted`,
  };
}

/** Two rows at chain_seq `seq`: names the one the chain does not link to (by the next row's prev_hash, or the head). */
async function repeatedRow(pool: Db, project: string, seq: number): Promise<Mismatch> {
  const rows = await pool.query<{ event_id: string; hash: string; linked: string | null }>(
    `SELECT e.event_id, e.hash,
            COALESCE((SELECT n.prev_hash FROM audit_events n WHERE n.project = $1 AND n.chain_seq = $2 + 1 LIMIT 1),
                     (SELECT h.hash FROM audit_chain_heads h WHERE h.project = $1)) AS linked
       FROM audit_events e WHERE e.project = $1 AND e.chain_seq = $2 ORDER BY e.event_id`,
    [project, seq],
  );
  const extra = rows.rows.find((r) => r.hash !== r.linked) ?? rows.rows[0];
  return {
    chain_seq: seq,
    event_id: extra?.event_id ?? null,
    reason: `a second row at chain_seq ${seq} is not part of the chain: it was inserted`,
  };
}

/** Row `seq` is not where it should be: find it by its link to the row before (its chain_seq or project changed), or report it deleted. */
async function missingRow(
  pool: Db,
  project: string,
  seq: number,
  prevHash: string,
): Promise<Mismatch> {
  const moved = await pool.query<{ project: string; chain_seq: string; event_id: string }>(
    `SELECT project, chain_seq, event_id FROM audit_events
      WHERE prev_hash = $1 AND NOT (prev_hash = '' AND chain_seq = 1) LIMIT 1`,
    [prevHash],
  );
  const m = moved.rows[0];
  if (m) {
    return {
      chain_seq: seq,
      event_id: m.event_id,
      reason: `row ${seq} is now stored as project ${m.project} chain_seq ${m.chain_seq}: its chain_seq or project was changed`,
    };
  }
  return { chain_seq: seq, event_id: null, reason: `row ${seq} is missing: it was deleted` };
}
