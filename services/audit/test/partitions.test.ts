import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPgPool, migrate, type Pool } from '@sg/runtime';
import { isolate, TEST_SERVERS } from '@sg/testing';
import { CheckpointSigner } from '../src/chain/checkpoint-signer.js';
import { AUDIT_PARTITION_DROPPED, partitionDroppedSchema } from '@sg/contracts';
import { dropExpiredPartitions } from '../src/chain/retention.js';
import { GENESIS, rowHash, type ChainedRow } from '../src/chain/row-hash.js';
import { verifyChain } from '../src/chain/verify.js';
import { EventStore, type EventRow } from '../src/store/event-store.js';
import { ensurePartitions, listPartitions } from '../src/store/partitions.js';
import { MIGRATIONS_DIR } from '../src/store/pg.provider.js';

const keyDir = mkdtempSync(join(tmpdir(), 'sg-partitions-'));
const keyFile = join(keyDir, 'signing.pem');
writeFileSync(
  keyFile,
  generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }),
);
const signer = CheckpointSigner.fromFile(keyFile);

let n = 0;
function event(project: string, over: Partial<EventRow> = {}): EventRow {
  n++;
  return {
    event_id: randomUUID(),
    subject: 'gw.evt.toolcall.completed.v1',
    source: 'ingress',
    project,
    trace_id: `trace-part-${n}`,
    occurred_at: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString(),
    stream_seq: n,
    data: { agent_id: 'a', n },
    ...over,
  };
}

const at = (month: number, day = 15) => new Date(Date.UTC(2025, month - 1, day, 12));

/** Signs every chain's head as it is now (the service signs the hash it computed; same here). */
async function signHeads(pool: Pool, now: Date) {
  const heads = await pool.query<{ project: string; chain_seq: string; hash: string }>(
    'SELECT project, chain_seq, hash FROM audit_chain_heads',
  );
  for (const h of heads.rows)
    await signer.signAndStore(
      pool,
      { project: h.project, chain_seq: Number(h.chain_seq), hash: h.hash },
      now,
    );
}

const partitionOfRow = async (pool: Pool, eventId: string) =>
  (
    await pool.query<{ part: string }>(
      'SELECT tableoid::regclass::text AS part FROM audit_events WHERE event_id = $1',
      [eventId],
    )
  ).rows.map((r) => r.part.replace(/^.*\./, ''));

afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

describe('audit_events partitioned by month of stored_at', () => {
  const iso = isolate('partitions');
  let pool: Pool;
  let store: EventStore;

  beforeAll(async () => {
    pool = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 4);
    await migrate(pool, iso.schema, MIGRATIONS_DIR);
    await ensurePartitions(pool, at(1), 2);
    store = new EventStore(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await iso.cleanup();
  });

  it('stores each row in the partition of the month it was stored in', async () => {
    const jan = event('acme');
    const feb = event('acme');
    await store.append([jan], at(1));
    await store.append([feb], at(2));
    expect(await partitionOfRow(pool, jan.event_id)).toEqual(['audit_events_p202501']);
    expect(await partitionOfRow(pool, feb.event_id)).toEqual(['audit_events_p202502']);
  });

  it('stores a row of a month without a partition in DEFAULT, and moves it when the month gets one', async () => {
    const later = event('acme');
    await store.append([later], at(9));
    expect(await partitionOfRow(pool, later.event_id)).toEqual(['audit_events_default']);
    await ensurePartitions(pool, at(9), 0);
    expect(await partitionOfRow(pool, later.event_id)).toEqual(['audit_events_p202509']);
  });

  it('stores an event redelivered in a later month once', async () => {
    const e = event('dup');
    expect(await store.append([e, event('dup')], at(1))).toBe(2);
    // A new instance (nothing remembered), a month later: the first copy is in another partition.
    const again = new EventStore(pool);
    expect(await again.append([e, event('dup')], at(2))).toBe(1);
    expect(await again.append([e], at(3))).toBe(0);
    const stored = await pool.query('SELECT 1 FROM audit_events WHERE event_id = $1', [e.event_id]);
    expect(stored.rowCount).toBe(1);
    expect(await verifyChain(pool, 'dup')).toMatchObject({ ok: true, rows_checked: 3 });
  });

  it('verifies a chain that spans partitions, and names a changed row in any of them', async () => {
    for (const m of [1, 2, 3]) await store.append([event('span'), event('span')], at(m));
    await signHeads(pool, at(3, 20));
    const report = await verifyChain(pool, 'span', { publicKey: signer.publicKey });
    expect(report).toMatchObject({ ok: true, rows_checked: 6, checkpoints_checked: 1 });
    await pool.query(
      `UPDATE audit_events_p202502 SET trace_id = 'forged' WHERE project = 'span' AND chain_seq = 4`,
    );
    const broken = await verifyChain(pool, 'span', { publicKey: signer.publicKey });
    expect(broken.ok).toBe(false);
    expect(broken.first_mismatch?.chain_seq).toBe(4);
  });
});

describe('migration 0006 on a table that holds rows', () => {
  const iso = isolate('partmig');
  const oldDir = mkdtempSync(join(tmpdir(), 'sg-migrations-'));
  let pool: Pool;

  beforeAll(() => {
    for (const f of [
      '0001_audit_events.sql',
      '0002_hash_chain.sql',
      '0003_alerts.sql',
      '0004_chain_seq_positive.sql',
      '0005_alert_ack.sql',
    ])
      cpSync(join(MIGRATIONS_DIR, f), join(oldDir, f));
    pool = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 2);
  });
  afterAll(async () => {
    await pool?.end();
    await iso.cleanup();
    rmSync(oldDir, { recursive: true, force: true });
  });

  it('keeps every row and its chain, and the event ids stay unique', async () => {
    await migrate(pool, iso.schema, oldDir);
    // Rows chained as the ingest did before 0006, stored over three months.
    let prev = GENESIS;
    const rows: ChainedRow[] = [];
    for (let seq = 1; seq <= 9; seq++) {
      const e = event('old');
      const row = {
        ...e,
        data: JSON.stringify(e.data),
        chain_seq: seq,
        stored_at: at(Math.ceil(seq / 3)).toISOString(),
        prev_hash: prev,
      };
      prev = rowHash(row);
      rows.push({ ...row, hash: prev });
    }
    for (const r of rows)
      await pool.query(
        `INSERT INTO audit_events (project, chain_seq, event_id, subject, source, trace_id, occurred_at, stream_seq, data, stored_at, prev_hash, hash)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
        [
          r.project,
          r.chain_seq,
          r.event_id,
          r.subject,
          r.source,
          r.trace_id,
          r.occurred_at,
          r.stream_seq,
          r.data,
          r.stored_at,
          r.prev_hash,
          r.hash,
        ],
      );
    await pool.query(`INSERT INTO audit_chain_heads VALUES ('old', 9, $1, now())`, [prev]);

    expect(await migrate(pool, iso.schema, MIGRATIONS_DIR)).toEqual(['0006_partition_by_time.sql']);
    const names = (await listPartitions(pool)).map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'audit_events_p202501',
        'audit_events_p202502',
        'audit_events_p202503',
      ]),
    );
    expect(await partitionOfRow(pool, rows[4]!.event_id)).toEqual(['audit_events_p202502']);
    expect(await verifyChain(pool, 'old')).toMatchObject({
      ok: true,
      rows_checked: 9,
      head_seq: 9,
    });
    const store = new EventStore(pool);
    expect(await store.append([{ ...event('old'), event_id: rows[0]!.event_id }])).toBe(0);
    expect(await store.append([event('old')])).toBe(1);
    expect(await verifyChain(pool, 'old')).toMatchObject({ ok: true, rows_checked: 10 });
  });
});

describe('retention', () => {
  const iso = isolate('retention');
  let pool: Pool;
  let store: EventStore;

  beforeAll(async () => {
    pool = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 4);
    await migrate(pool, iso.schema, MIGRATIONS_DIR);
    await ensurePartitions(pool, at(1), 4);
    store = new EventStore(pool);
    // acme: rows 1-4 in January, 5-8 in February, 9-12 in March; globex only in January and March.
    for (const m of [1, 2, 3]) {
      await store.append([event('acme'), event('acme'), event('acme'), event('acme')], at(m));
      if (m !== 2) await store.append([event('globex'), event('globex')], at(m));
      // Signed at the end of February: nothing of March is covered.
      if (m === 2) await signHeads(pool, at(2, 28));
    }
  });
  afterAll(async () => {
    await pool?.end();
    await iso.cleanup();
  });

  it('drops nothing without a checkpoint covering the oldest partition', async () => {
    const fresh = isolate('retention-none');
    const p = createPgPool(TEST_SERVERS.databaseUrl, fresh.schema, 2);
    try {
      await migrate(p, fresh.schema, MIGRATIONS_DIR);
      await ensurePartitions(p, at(1), 1);
      await new EventStore(p).append([event('x')], at(1));
      const res = await dropExpiredPartitions(p, new EventStore(p), signer, at(12));
      expect(res.dropped).toEqual([]);
      expect(res.kept?.partition).toBe('audit_events_p202501');
      expect((await listPartitions(p)).map((x) => x.name)).toContain('audit_events_p202501');
    } finally {
      await p.end();
      await fresh.cleanup();
    }
  });

  it('drops the expired partitions a signed checkpoint covers, never one with newer rows', async () => {
    const res = await dropExpiredPartitions(
      pool,
      store,
      signer,
      new Date(Date.UTC(2025, 3, 1)),
      () => at(4, 2),
    );
    expect(res.dropped.map((d) => d.partition)).toEqual([
      'audit_events_p202501',
      'audit_events_p202502',
    ]);
    expect(res.dropped[0]).toMatchObject({
      rows: 6,
      through: [
        { project: 'acme', chain_seq: 4 },
        { project: 'globex', chain_seq: 2 },
      ],
    });
    expect(res.dropped[1]).toMatchObject({ rows: 4, through: [{ project: 'acme', chain_seq: 8 }] });
    // March holds rows 9-12, newer than the checkpoint at row 8.
    expect(res.kept).toMatchObject({ partition: 'audit_events_p202503' });
    expect(res.kept?.reason).toMatch(/newer than its last signed checkpoint/);
    const names = (await listPartitions(pool)).map((p) => p.name);
    expect(names).not.toContain('audit_events_p202501');
    expect(names).toContain('audit_events_p202503');
    // Each drop is in the trail, chained like any row.
    const recorded = await pool.query<{ project: string; data: unknown }>(
      'SELECT project, data FROM audit_events WHERE subject = $1 ORDER BY project, chain_seq',
      [AUDIT_PARTITION_DROPPED],
    );
    // In the shape the contracts give readers of the trail.
    expect(
      recorded.rows.map((r) => [r.project, partitionDroppedSchema.parse(r.data).through_seq]),
    ).toEqual([
      ['acme', 4],
      ['acme', 8],
      ['globex', 2],
    ]);
  });

  it('then verifies from the checkpoint, and still names a changed row in a kept partition', async () => {
    const acme = await verifyChain(pool, 'acme', { publicKey: signer.publicKey });
    expect(acme).toMatchObject({ ok: true, from_seq: 9, first_mismatch: null });
    expect(acme.rows_checked).toBe(acme.last_seq - 8);
    expect(await verifyChain(pool, 'globex', { publicKey: signer.publicKey })).toMatchObject({
      ok: true,
      from_seq: 3,
    });

    await pool.query(
      `UPDATE audit_events SET trace_id = 'forged' WHERE project = 'acme' AND chain_seq = 10`,
    );
    const tampered = await verifyChain(pool, 'acme', { publicKey: signer.publicKey });
    expect(tampered.ok).toBe(false);
    expect(tampered.first_mismatch?.chain_seq).toBe(10);
  });

  it('refuses a start moved forward without a signed checkpoint at its position', async () => {
    const row = await pool.query<{ hash: string }>(
      `SELECT hash FROM audit_events WHERE project = 'globex' AND chain_seq = 3`,
    );
    await pool.query(`DELETE FROM audit_events WHERE project = 'globex' AND chain_seq = 3`);
    await pool.query(
      `UPDATE audit_chain_starts SET chain_seq = 3, hash = $1 WHERE project = 'globex'`,
      [row.rows[0]!.hash],
    );
    const report = await verifyChain(pool, 'globex', { publicKey: signer.publicKey });
    expect(report.ok).toBe(false);
    expect(report.first_mismatch?.reason).toMatch(/no checkpoint signed with key/);
  });
});

describe('retention with an instance clock behind at the month edge', () => {
  const iso = isolate('retention-skew');
  let pool: Pool;

  beforeAll(async () => {
    pool = createPgPool(TEST_SERVERS.databaseUrl, iso.schema, 2);
    await migrate(pool, iso.schema, MIGRATIONS_DIR);
    await ensurePartitions(pool, at(1), 2);
  });
  afterAll(async () => {
    await pool?.end();
    await iso.cleanup();
  });

  it('drops the rows of the cut prefix that landed in a kept month, and the rest verifies', async () => {
    const store = new EventStore(pool);
    // Row 1 by an instance already in February, rows 2 and 3 by one whose clock is still in January.
    await store.append([event('skew')], new Date(Date.UTC(2025, 1, 1, 0, 0, 1)));
    await store.append([event('skew'), event('skew')], new Date(Date.UTC(2025, 0, 31, 23, 59)));
    await store.append([event('skew')], at(2));
    await signHeads(pool, at(2, 20));
    const res = await dropExpiredPartitions(pool, store, signer, at(2, 1), () => at(3, 2));
    expect(res.dropped).toMatchObject([
      { partition: 'audit_events_p202501', rows: 3, through: [{ project: 'skew', chain_seq: 3 }] },
    ]);
    const left = await pool.query<{ chain_seq: string }>(
      `SELECT chain_seq FROM audit_events WHERE project = 'skew' AND subject <> $1 ORDER BY chain_seq`,
      [AUDIT_PARTITION_DROPPED],
    );
    expect(left.rows.map((r) => Number(r.chain_seq))).toEqual([4]);
    expect(await verifyChain(pool, 'skew', { publicKey: signer.publicKey })).toMatchObject({
      ok: true,
      from_seq: 4,
    });
  });
});
