import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Checkpoint } from '@sg/contracts';
import { createPgPool, migrate, type Pool } from '@sg/runtime';
import { isolate, TEST_SERVERS } from '@sg/testing';
import { ChainService } from '../src/chain/chain.service.js';
import { CheckpointSigner, keyIdOf } from '../src/chain/checkpoint-signer.js';
import { loadAuditEnv } from '../src/config/env.js';
import { HealthService } from '@sg/runtime';
import { AlertStore } from '../src/anomaly/alert-store.js';
import { connectBus, logger } from './support.js';
import { rowHash } from '../src/chain/row-hash.js';
import { verifyChain } from '../src/chain/verify.js';
import { decodeVerifyCursor, encodeVerifyCursor } from '../src/query/cursor.js';
import { EventStore, type EventRow } from '../src/store/event-store.js';
import { MIGRATIONS_DIR } from '../src/store/pg.provider.js';

const keyDir = mkdtempSync(join(tmpdir(), 'sg-chain-'));
function keyFile(name: string): string {
  const file = join(keyDir, name);
  writeFileSync(
    file,
    generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
  );
  return file;
}
const signer = CheckpointSigner.fromFile(keyFile('signing.pem'));
const other = CheckpointSigner.fromFile(keyFile('other.pem'));

let n = 0;
function event(project: string, over: Partial<EventRow> = {}): EventRow {
  n++;
  return {
    event_id: randomUUID(),
    subject: 'gw.evt.toolcall.completed.v1',
    source: 'ingress',
    project,
    trace_id: `trace-chain-${n}`,
    occurred_at: new Date(Date.UTC(2026, 10, 23, 12, 0, n)).toISOString(),
    stream_seq: 1000 + n,
    data: {
      agent_id: 'gpt-4o',
      outcome: n % 3 === 0 ? 'denied' : 'allowed',
      nested: { list: [1, 2.5, 'x', null, true], ünïcode: 'é😀' },
      n,
    },
    ...over,
  };
}

const COLUMN_TAMPERS: [string, string][] = [
  ['project', `project = 'zz-moved'`],
  ['chain_seq', 'chain_seq = 100000'],
  ['event_id', 'event_id = gen_random_uuid()'],
  ['subject', `subject = 'gw.evt.forged.v1'`],
  ['source', `source = 'policy'`],
  ['trace_id', `trace_id = 'trace-forged'`],
  ['occurred_at', `occurred_at = occurred_at + interval '1 millisecond'`],
  [
    'occurred_at (to the microsecond it cannot hold: rounded to a change)',
    `occurred_at = occurred_at + interval '999 microseconds'`,
  ],
  ['stream_seq', 'stream_seq = stream_seq + 1'],
  ['data', `data = jsonb_set(data::jsonb, '{outcome}', '"forged"')::json`],
  ['data (an added key)', `data = (data::jsonb || '{"forged": true}')::json`],
  ['data (a nested number)', `data = jsonb_set(data::jsonb, '{nested,list,1}', '2.50001')::json`],
  [
    'data (a number changed past double precision)',
    `data = regexp_replace(data::text, '"n":(\\d+)', '"n":\\1.0000000000000000001')::json`,
  ],
  ['data (text only: the same JSON value, written otherwise)', `data = (data::text || ' ')::json`],
  ['stored_at', `stored_at = stored_at - interval '1 day'`],
  ['prev_hash', `prev_hash = repeat('0', 64)`],
  ['hash', `hash = repeat('f', 64)`],
];

describe('the audit hash chain', () => {
  const iso = isolate('chain');
  let pool: Pool;
  let store: EventStore;
  const ids: string[] = [];

  const verify = (project = 'acme', extra: Checkpoint[] = []) =>
    verifyChain(pool, project, { publicKey: signer.publicKey, extraCheckpoints: extra });
  const snapshot = async () => {
    for (const t of ['audit_events', 'audit_chain_heads', 'audit_checkpoints']) {
      await pool.query(
        `DROP TABLE IF EXISTS ${t}_backup; CREATE TABLE ${t}_backup AS SELECT * FROM ${t}`,
      );
    }
  };
  const restore = async () => {
    for (const t of ['audit_events', 'audit_chain_heads', 'audit_checkpoints']) {
      await pool.query(`DELETE FROM ${t}; INSERT INTO ${t} SELECT * FROM ${t}_backup`);
    }
  };
  const signHeads = async () => {
    const heads = await pool.query<{ project: string; chain_seq: string; hash: string }>(
      'SELECT project, chain_seq, hash FROM audit_chain_heads',
    );
    for (const h of heads.rows) {
      const c = signer.sign({
        project: h.project,
        chain_seq: Number(h.chain_seq),
        hash: h.hash,
        created_at: new Date().toISOString(),
      });
      await pool.query(
        'INSERT INTO audit_checkpoints VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING',
        [c.project, c.chain_seq, c.hash, c.created_at, c.key_id, c.signature],
      );
    }
  };

  beforeAll(async () => {
    pool = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 4);
    await migrate(pool, iso.schema, MIGRATIONS_DIR);
    store = new EventStore(pool);
    // Two projects interleaved, in batches, the way the ingest appends them.
    for (let b = 0; b < 4; b++) {
      const batch = Array.from({ length: 6 }, (_, i) => event(i % 2 === 0 ? 'acme' : 'globex'));
      ids.push(...batch.filter((e) => e.project === 'acme').map((e) => e.event_id));
      await store.append(batch);
    }
    await signHeads(); // a checkpoint at acme row 12
    for (let b = 0; b < 2; b++) {
      const batch = Array.from({ length: 4 }, () => event('acme'));
      ids.push(...batch.map((e) => e.event_id));
      await store.append(batch);
    }
    await snapshot();
  });

  afterEach(restore);

  afterAll(async () => {
    await pool?.end();
    await iso.cleanup();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it('verifies an untouched chain of each project, with its checkpoints', async () => {
    const acme = await verify('acme');
    expect(acme).toMatchObject({
      project: 'acme',
      ok: true,
      rows_checked: 20,
      last_seq: 20,
      head_seq: 20,
      checkpoints_checked: 1,
      first_mismatch: null,
    });
    expect(await verify('globex')).toMatchObject({
      ok: true,
      rows_checked: 12,
      checkpoints_checked: 1,
    });
    expect(await verify('nobody')).toMatchObject({
      ok: true,
      rows_checked: 0,
      last_seq: 0,
      head_seq: 0,
    });
  });

  it('recomputes each hash from the row as PostgreSQL gives it back (json text, timestamps)', async () => {
    const res = await pool.query(
      'SELECT *, data::text AS data FROM audit_events ORDER BY project, chain_seq',
    );
    for (const r of res.rows) {
      const { hash, ...content } = r;
      expect(
        rowHash({
          ...content,
          chain_seq: Number(r.chain_seq),
          stream_seq: Number(r.stream_seq),
          occurred_at: r.occurred_at.toISOString(),
          stored_at: r.stored_at.toISOString(),
        }),
      ).toBe(hash);
    }
  });

  it.each(COLUMN_TAMPERS)('names the row when its %s is changed with SQL', async (_column, set) => {
    const target = ids[6]!; // acme row 7
    await pool.query(`UPDATE audit_events SET ${set} WHERE event_id = $1`, [target]);
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.first_mismatch?.chain_seq).toBe(7);
    expect(report.rows_checked).toBe(6);
    if (!set.startsWith('event_id')) expect(report.first_mismatch?.event_id).toBe(target);
    // The other project's chain is untouched (unless the row was moved into it).
    if (!set.startsWith('project')) expect((await verify('globex')).ok).toBe(true);
  });

  it('names a deleted row', async () => {
    await pool.query('DELETE FROM audit_events WHERE event_id = $1', [ids[3]]);
    const report = await verify();
    expect(report.first_mismatch).toEqual({
      chain_seq: 4,
      event_id: null,
      reason: 'row 4 is missing: it was deleted',
    });
  });

  it('notices rows deleted from the end (the head, and the checkpoint)', async () => {
    await pool.query(`DELETE FROM audit_events WHERE project = 'acme' AND chain_seq > 15`);
    expect((await verify()).first_mismatch).toMatchObject({ chain_seq: 16, event_id: null });
    await pool.query(
      `UPDATE audit_chain_heads SET chain_seq = 15, hash = (SELECT hash FROM audit_events WHERE project = 'acme' AND chain_seq = 15) WHERE project = 'acme'`,
    );
    await pool.query(`DELETE FROM audit_events WHERE project = 'acme' AND chain_seq > 10`);
    await pool.query(
      `UPDATE audit_chain_heads SET chain_seq = 10, hash = (SELECT hash FROM audit_events WHERE project = 'acme' AND chain_seq = 10) WHERE project = 'acme'`,
    );
    // Head rewritten to match: only the signed checkpoint at row 12 still shows it.
    const report = await verify();
    expect(report.first_mismatch).toMatchObject({ chain_seq: 12, event_id: null });
    expect(report.first_mismatch?.reason).toMatch(/signed checkpoint/);
  });

  it('catches a chain rewritten after the change by its signed checkpoint, even one kept only outside PostgreSQL', async () => {
    const exported = (
      await pool.query('SELECT * FROM audit_checkpoints WHERE project = $1', ['acme'])
    ).rows.map((c) => ({
      project: 'acme',
      chain_seq: Number(c.chain_seq),
      hash: c.hash,
      created_at: c.created_at.toISOString(),
      key_id: c.key_id,
      signature: c.signature,
    }));
    // The attacker changes row 5 and recomputes every later hash, the head, and drops the checkpoints.
    await pool.query(
      `UPDATE audit_events SET data = (data::jsonb || '{"outcome":"allowed"}')::json WHERE project = 'acme' AND chain_seq = 5`,
    );
    const rows = (
      await pool.query(
        `SELECT *, data::text AS data FROM audit_events WHERE project = 'acme' ORDER BY chain_seq`,
      )
    ).rows;
    let prev = '';
    for (const r of rows) {
      const content = {
        ...r,
        chain_seq: Number(r.chain_seq),
        stream_seq: Number(r.stream_seq),
        occurred_at: r.occurred_at.toISOString(),
        stored_at: r.stored_at.toISOString(),
        prev_hash: prev,
      };
      delete content.hash;
      const hash = rowHash(content);
      await pool.query(
        `UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE project = 'acme' AND chain_seq = $3`,
        [prev, hash, r.chain_seq],
      );
      prev = hash;
    }
    await pool.query(`UPDATE audit_chain_heads SET hash = $1 WHERE project = 'acme'`, [prev]);
    const withDbCheckpoint = await verify();
    expect(withDbCheckpoint.first_mismatch).toMatchObject({ chain_seq: 12, event_id: ids[11] });
    await pool.query('DELETE FROM audit_checkpoints');
    expect((await verify()).ok).toBe(true); // what the export is for
    const withExport = await verify('acme', exported);
    expect(withExport.first_mismatch).toMatchObject({ chain_seq: 12, event_id: ids[11] });
  });

  it('refuses checkpoints that do not verify with the key', async () => {
    const forged = other.sign({
      project: 'acme',
      chain_seq: 3,
      hash: 'a'.repeat(64),
      created_at: new Date().toISOString(),
    });
    await pool.query('INSERT INTO audit_checkpoints VALUES ($1,$2,$3,$4,$5,$6)', [
      forged.project,
      forged.chain_seq,
      forged.hash,
      forged.created_at,
      keyIdOf(signer.publicKey),
      forged.signature,
    ]);
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.first_mismatch).toMatchObject({ chain_seq: 3, event_id: null });
    expect(report.first_mismatch?.reason).toMatch(/does not verify/);
    // Nothing wrong with the rows themselves: the walk went through all of them.
    expect(report.rows_checked).toBe(20);
  });

  it('counts checkpoints of another key (a rotated one) without failing on them', async () => {
    const old = other.sign({
      project: 'acme',
      chain_seq: 4,
      hash: 'b'.repeat(64),
      created_at: new Date().toISOString(),
    });
    await pool.query('INSERT INTO audit_checkpoints VALUES ($1,$2,$3,$4,$5,$6)', [
      old.project,
      old.chain_seq,
      old.hash,
      old.created_at,
      old.key_id,
      old.signature,
    ]);
    expect(await verify()).toMatchObject({
      ok: true,
      checkpoints_checked: 1,
      checkpoints_other_key: 1,
    });
    // With that key, it is checked, and its (wrong) hash is found.
    const withOld = await verifyChain(pool, 'acme', { publicKey: other.publicKey });
    expect(withOld).toMatchObject({
      ok: false,
      checkpoints_other_key: 1,
      first_mismatch: { chain_seq: 4 },
    });
  });

  /** Rewrites `project`'s newest row `seq` and the head to match it: a chain that still verifies. */
  const rewriteHead = async (project: string, seq: number): Promise<string> => {
    await pool.query(
      `UPDATE audit_events SET data = (data::jsonb || '{"outcome":"allowed"}')::json WHERE project = $1 AND chain_seq = $2`,
      [project, seq],
    );
    const row = (
      await pool.query(
        `SELECT *, data::text AS data FROM audit_events WHERE project = $1 AND chain_seq = $2`,
        [project, seq],
      )
    ).rows[0];
    const forged = rowHash({
      ...row,
      hash: undefined,
      chain_seq: seq,
      stream_seq: Number(row.stream_seq),
      occurred_at: row.occurred_at.toISOString(),
      stored_at: row.stored_at.toISOString(),
    });
    await pool.query(`UPDATE audit_events SET hash = $1 WHERE project = $2 AND chain_seq = $3`, [
      forged,
      project,
      seq,
    ]);
    await pool.query(`UPDATE audit_chain_heads SET hash = $1 WHERE project = $2`, [
      forged,
      project,
    ]);
    return forged;
  };
  const chainService = async (writer: EventStore) => {
    const env = loadAuditEnv({ ...iso.env, AUDIT_SIGNING_KEY_FILE: join(keyDir, 'signing.pem') });
    const bus = await connectBus(iso, 'audit');
    return {
      chain: new ChainService(
        pool,
        writer,
        bus,
        new HealthService(),
        env,
        logger,
        new AlertStore(pool, env),
      ),
      bus,
    };
  };
  const alertsOf = async (project: string) =>
    (
      await pool.query<{ type: string; severity: string; key: string; data: { summary: string } }>(
        'SELECT type, severity, key, data FROM alerts WHERE project = $1',
        [project],
      )
    ).rows;

  it('signs the head this instance wrote, not one rewritten in PostgreSQL before the checkpoint, and raises chain_broken', async () => {
    const writer = new EventStore(pool);
    const batch = [event('initech'), event('initech'), event('initech')];
    await writer.append(batch);
    // Before the next checkpoint, someone rewrites the newest row and the head to match it.
    await rewriteHead('initech', 3);
    expect((await verify('initech')).ok).toBe(true); // self-consistent, and no checkpoint yet

    const { chain, bus } = await chainService(writer);
    try {
      expect(await chain.check()).toBe(1);
      expect(await chain.check()).toBe(0); // the same row is one alert
      expect(await alertsOf('initech')).toEqual([
        expect.objectContaining({
          type: 'chain_broken',
          severity: 'critical',
          key: '3',
          data: expect.objectContaining({
            summary: expect.stringMatching(
              /^audit row 3 of project initech was changed in PostgreSQL after it was stored/,
            ),
          }),
        }),
      ]);
      expect(await chain.checkpoint()).toBe(1);
      expect(await chain.checkpoint()).toBe(0); // nothing new written since
    } finally {
      await bus.close();
    }
    const report = await verify('initech');
    expect(report.first_mismatch).toMatchObject({ chain_seq: 3, event_id: batch[2]!.event_id });
    expect(report.first_mismatch?.reason).toMatch(/checkpoint/);
  });

  // What someone with SQL access does to the newest row of a project before the next append,
  // what verification then reports, and what the chain_broken alert says.
  // The mismatch: the row verification names (3: the next row, whose link shows the change) and why.
  const TAMPERS: [
    string,
    string,
    (p: string) => Promise<unknown>,
    { chain_seq: number; reason: RegExp } | null,
    RegExp,
  ][] = [
    [
      'rewrites the newest row and the head to match',
      'row',
      (p) => rewriteHead(p, 2),
      { chain_seq: 3, reason: /prev_hash is not the hash of row 2/ },
      /^audit row 2 of project \S+ was changed .*now hash/,
    ],
    [
      'deletes the newest row and moves the head back',
      'row',
      async (p) => {
        await pool.query(`DELETE FROM audit_events WHERE project = $1 AND chain_seq = 2`, [p]);
        await pool.query(
          `UPDATE audit_chain_heads SET chain_seq = 1, hash = (SELECT hash FROM audit_events WHERE project = $1 AND chain_seq = 1) WHERE project = $1`,
          [p],
        );
      },
      { chain_seq: 2, reason: /row 2 is missing: it was deleted/ },
      /^audit row 2 of project \S+ was changed .*now gone/,
    ],
    [
      'changes the head only',
      'head',
      (p) =>
        pool.query(`UPDATE audit_chain_heads SET hash = repeat('e', 64) WHERE project = $1`, [p]),
      null,
      /^the audit chain head of project \S+ was changed in PostgreSQL .*names row 2, hash eeee/,
    ],
  ];
  it.each(TAMPERS)(
    'never chains onto a head it did not write when someone %s: the next append raises chain_broken',
    async (_what, kind, tamper, mismatch, summary) => {
      const project = `hooli-${kind}-${n}`;
      const writer = new EventStore(pool);
      await writer.append([event(project), event(project)]);
      const { chain, bus } = await chainService(writer);
      const raised = new Promise<void>((resolve) => (writer.onRewrite = resolve));
      try {
        await tamper(project);
        const next = event(project);
        await writer.append([next]);
        await raised; // the append reports it at once (the service raises the alert then)
        expect(await chain.check()).toBe(1);
        expect(await chain.check()).toBe(0);
        const report = await verify(project);
        if (mismatch) {
          expect(report).toMatchObject({
            ok: false,
            first_mismatch: {
              chain_seq: mismatch.chain_seq,
              event_id: mismatch.chain_seq === 3 ? next.event_id : null,
            },
          });
          expect(report.first_mismatch?.reason).toMatch(mismatch.reason);
        } else {
          expect(report).toMatchObject({ ok: true, rows_checked: 3 }); // the chain itself is whole again
        }
        expect(await alertsOf(project)).toEqual([
          expect.objectContaining({
            type: 'chain_broken',
            key: '2',
            data: expect.objectContaining({ summary: expect.stringMatching(summary) }),
          }),
        ]);
      } finally {
        await bus.close();
      }
    },
  );

  it('names a changed chain head', async () => {
    await pool.query(`UPDATE audit_chain_heads SET hash = repeat('e', 64) WHERE project = 'acme'`);
    expect((await verify()).first_mismatch).toMatchObject({ chain_seq: 20 });
  });

  /** A copy of `project`'s row `from` as a new row at `seq`, with a hash that matches its content (what an attacker can compute). */
  const insertForged = async (project: string, from: number, seq: number): Promise<string> => {
    const row = (
      await pool.query(
        `SELECT *, data::text AS data FROM audit_events WHERE project = $1 AND chain_seq = $2`,
        [project, from],
      )
    ).rows[0];
    const forged = {
      ...row,
      event_id: randomUUID(),
      trace_id: 'trace-forged',
      chain_seq: seq,
      stream_seq: Number(row.stream_seq),
      occurred_at: row.occurred_at.toISOString(),
      stored_at: row.stored_at.toISOString(),
    };
    delete forged.hash;
    await pool.query(
      `INSERT INTO audit_events (project, chain_seq, event_id, subject, source, trace_id, occurred_at, stream_seq, data, stored_at, prev_hash, hash)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
      [
        project,
        seq,
        forged.event_id,
        forged.subject,
        forged.source,
        forged.trace_id,
        forged.occurred_at,
        forged.stream_seq,
        forged.data,
        forged.stored_at,
        forged.prev_hash,
        rowHash(forged),
      ],
    );
    return forged.event_id;
  };
  /** Runs `fn` with a constraint of audit_events dropped (as an attacker with DDL could), then removes `project`'s forged rows and puts it back. */
  const withoutConstraint = async (type: 'p' | 'c', project: string, fn: () => Promise<void>) => {
    const { conname, def } = (
      await pool.query(
        `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'audit_events'::regclass AND contype = $1`,
        [type],
      )
    ).rows[0];
    await pool.query(`ALTER TABLE audit_events DROP CONSTRAINT ${conname}`);
    try {
      await fn();
    } finally {
      await pool.query(
        `DELETE FROM audit_events WHERE project = $1 AND trace_id = 'trace-forged'`,
        [project],
      );
      await pool.query(`ALTER TABLE audit_events ADD CONSTRAINT ${conname} ${def}`);
    }
  };

  it('names a row inserted before row 1, which the walk from row 1 never reads (with the CHECK that refuses it dropped)', async () => {
    await expect(insertForged('acme', 1, 0)).rejects.toMatchObject({ code: '23514' });
    await withoutConstraint('c', 'acme', async () => {
      const forged = await insertForged('acme', 1, 0);
      const report = await verify();
      expect(report).toMatchObject({
        ok: false,
        rows_checked: 20,
        first_mismatch: { chain_seq: 0, event_id: forged },
      });
      expect(report.first_mismatch?.reason).toMatch(/before the chain's first row/);
    });
  });

  describe('verified in pieces (a deadline already past: one page of 2,000 rows per piece)', () => {
    const LONG = 4500;
    const piece = (cursor?: string) =>
      verifyChain(pool, 'longco', {
        publicKey: signer.publicKey,
        deadline: Date.now() - 1,
        ...(cursor ? { after: decodeVerifyCursor('longco', cursor) } : {}),
      });
    /** Every piece, following next_cursor. */
    const pieces = async () => {
      const out = [await piece()];
      while (out.at(-1)!.next_cursor && out.length < 10)
        out.push(await piece(out.at(-1)!.next_cursor!));
      return out;
    };

    beforeAll(async () => {
      for (let b = 0; b < LONG / 500; b++)
        await store.append(Array.from({ length: 500 }, () => event('longco')));
      await signHeads(); // a checkpoint at row 4500
      await snapshot();
    });

    it('checks every row once, each piece starting where the last stopped, and is ok only at the end', async () => {
      const all = await pieces();
      expect(all.map((p) => [p.from_seq, p.last_seq, p.rows_checked, p.complete, p.ok])).toEqual([
        [1, 2000, 2000, false, false],
        [2001, 4000, 2000, false, false],
        [4001, 4500, 500, true, true],
      ]);
      expect(all.every((p) => p.first_mismatch === null)).toBe(true);
      expect(all.at(-1)).toMatchObject({
        head_seq: LONG,
        checkpoints_checked: 1,
        next_cursor: null,
      });
      // Without a deadline (the CLI), one walk does it all.
      expect(await verifyChain(pool, 'longco', { publicKey: signer.publicKey })).toMatchObject({
        ok: true,
        complete: true,
        rows_checked: LONG,
      });
    });

    it('names a changed row in the piece that reaches it', async () => {
      await pool.query(
        `UPDATE audit_events SET trace_id = 'forged' WHERE project = 'longco' AND chain_seq = 3000`,
      );
      const all = await pieces();
      expect(all).toHaveLength(2);
      expect(all[0]).toMatchObject({ ok: false, complete: false, first_mismatch: null });
      expect(all[1]).toMatchObject({
        ok: false,
        complete: true,
        next_cursor: null,
        rows_checked: 999,
        first_mismatch: { chain_seq: 3000 },
      });
    });

    it('links each piece to the hash the cursor carries, so a forged cursor is a broken link', async () => {
      const report = await piece(encodeVerifyCursor('longco', { seq: 2000, hash: 'f'.repeat(64) }));
      expect(report).toMatchObject({
        ok: false,
        complete: true,
        rows_checked: 0,
        first_mismatch: { chain_seq: 2001 },
      });
      expect(report.first_mismatch?.reason).toMatch(/prev_hash is not the hash of row 2000/);
    });

    it('reports a forged checkpoint in the piece that covers it', async () => {
      const forged = other.sign({
        project: 'longco',
        chain_seq: 3500,
        hash: 'a'.repeat(64),
        created_at: new Date().toISOString(),
      });
      await pool.query('INSERT INTO audit_checkpoints VALUES ($1,$2,$3,$4,$5,$6)', [
        forged.project,
        forged.chain_seq,
        forged.hash,
        forged.created_at,
        keyIdOf(signer.publicKey),
        forged.signature,
      ]);
      const all = await pieces();
      expect(all).toHaveLength(2);
      expect(all[0]).toMatchObject({ complete: false, first_mismatch: null });
      expect(all[1]).toMatchObject({
        ok: false,
        complete: true,
        first_mismatch: { chain_seq: 3500, event_id: null },
      });
    });

    it('names a second row at a position, inside a page or where pages and pieces meet (with the primary key dropped)', async () => {
      for (const seq of [2500, 2000]) {
        await withoutConstraint('p', 'longco', async () => {
          // The forged copy links to the row before and hashes right: only the next row's link tells them apart.
          const forged = await insertForged('longco', seq, seq);
          for (const report of [
            (await pieces()).at(-1)!,
            await verifyChain(pool, 'longco', { publicKey: signer.publicKey }),
          ]) {
            expect(report).toMatchObject({
              ok: false,
              complete: true,
              first_mismatch: { chain_seq: seq, event_id: forged },
            });
            expect(report.first_mismatch?.reason).toMatch(/second row at chain_seq/);
          }
        });
      }
    });

    it('checks each checkpoint in the piece that reaches its row (a checkpoint at every row)', async () => {
      const rows = (
        await pool.query<{ chain_seq: string; hash: string }>(
          `SELECT chain_seq, hash FROM audit_events WHERE project = 'longco' ORDER BY chain_seq`,
        )
      ).rows;
      const created = new Date().toISOString();
      for (const r of rows) {
        const seq = Number(r.chain_seq);
        const c = signer.sign({
          project: 'longco',
          chain_seq: seq,
          hash: seq === 2500 ? 'c'.repeat(64) : r.hash,
          created_at: created,
        });
        await pool.query(
          'INSERT INTO audit_checkpoints VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (project, chain_seq) DO UPDATE SET hash = EXCLUDED.hash, signature = EXCLUDED.signature',
          [c.project, c.chain_seq, c.hash, c.created_at, c.key_id, c.signature],
        );
      }
      const all = await pieces();
      expect(all.map((p) => [p.checkpoints_checked, p.first_mismatch?.chain_seq ?? null])).toEqual([
        [2000, null],
        [500, 2500],
      ]);
      expect(all[1]!.first_mismatch?.reason).toMatch(/differs from the checkpoint/);
    });

    it('names a row deleted from a piece already checked, at the end of the walk', async () => {
      const first = await piece();
      await pool.query(`DELETE FROM audit_events WHERE project = 'longco' AND chain_seq = 1500`);
      const second = await piece(first.next_cursor!);
      const last = await piece(second.next_cursor!);
      expect(last).toMatchObject({
        ok: false,
        complete: true,
        first_mismatch: { chain_seq: 1500, event_id: null },
      });
      expect(last.first_mismatch?.reason).toMatch(/deleted after an earlier piece/);
    });

    it('takes a cursor only for the project it came from', () => {
      const cursor = encodeVerifyCursor('longco', { seq: 2000, hash: 'f'.repeat(64) });
      expect(decodeVerifyCursor('longco', cursor)).toEqual({ seq: 2000, hash: 'f'.repeat(64) });
      for (const [project, bad] of [
        ['acme', cursor],
        ['longco', 'not-a-cursor'],
        [
          'longco',
          Buffer.from('{"k":"verify","p":"longco","seq":0,"hash":"x"}').toString('base64url'),
        ],
      ]) {
        expect(() => decodeVerifyCursor(project!, bad!)).toThrow(
          expect.objectContaining({ code: 'AUDIT.INVALID_CURSOR' }),
        );
      }
    });
  });
});
